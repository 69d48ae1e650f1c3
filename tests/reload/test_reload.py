"""reload.py: edits take effect without a restart; the model survives request-time edits."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import fixture_text, wait_for_no_reload_threads

import handler_kit
from handler_kit import HandlerReloadError

GOOD = {"inputs": "a good day"}


# base.py edited into each fixture: (fixture, mode, reason, the label answered afterwards)
RULES = [
    ("call_edited.py", "hot", "__call__ changed", "POSITIVE"),
    ("helper_call_edited.py", "hot", "helper postprocess changed", "positive"),
    ("comments_only.py", "hot", "only comments or formatting changed", "positive"),
    ("init_edited.py", "reinit", "__init__ changed", "positive"),
    (
        "constant_edited.py",
        "reinit",
        "module constant LABELS changed (reached from __init__)",
        "POS",
    ),
    ("import_added.py", "hot", "import json added", "positive"),
    (
        "helper_init_edited.py",
        "reinit",
        "helper load_model changed (reached from __init__)",
        "negative",
    ),
    (
        "method_init_edited.py",
        "reinit",
        "method _tokenizer changed (reached from __init__)",
        "positive",
    ),
    ("class_attr_edited.py", "hot", "class attribute EndpointHandler.version changed", None),
    ("bases_edited.py", "reinit", "bases or decorators of EndpointHandler changed", None),
]


@pytest.mark.parametrize(("after", "mode", "reason", "answer"), RULES)
def test_each_rule_decides_hot_or_reinit(live, repo, after, mode, reason, answer):
    model = live.instance.model
    repo.write("handler.py", after)
    report = live.reload()
    assert (report.mode, report.reason) == (mode, reason)
    assert (live.instance.model is model) == (mode == "hot")
    if answer:
        assert live(GOOD)[0]["label"] == answer
    assert live.reloads == 1


def test_hot_reload_keeps_state_and_reports_it_in_one_line(live, repo):
    model = live.instance.model
    repo.write("handler.py", "call_edited.py")
    report = live.reload()
    assert live.instance.model is model
    assert type(live.instance) is live.module.EndpointHandler  # the new class, the old state
    assert report.kept == ("model", "split")
    line = str(report)
    assert line.startswith("handler.py reloaded hot in ")
    assert line.endswith(" ms: __call__ changed; kept model, split")
    assert "\n" not in line
    assert repr(report) == line
    assert "__call__ changed" in report._repr_html_()


def test_nothing_changed_reloads_nothing(live):
    instance = live.instance
    report = live.reload()
    assert report.mode == "unchanged"
    assert str(report) == "handler.py unchanged: nothing to reload"
    assert live.instance is instance and live.reloads == 0


def test_modes_can_be_forced(live, repo):
    model = live.instance.model
    repo.write("handler.py", "init_edited.py")
    report = live.reload("hot")
    assert report.hot and report.forced and "(forced)" in str(report)
    assert live.instance.model is model and not hasattr(live.instance, "threshold")

    report = live.reload("reinit")  # nothing changed since: a forced re-init still runs
    assert report.mode == "reinit" and live.instance.model is not model
    assert live.instance.threshold == 0.5
    with pytest.raises(ValueError, match="mode must be one of auto, hot, reinit"):
        live.reload("warm")


@pytest.mark.parametrize(
    ("broken", "line", "cause"),
    [
        ("syntax_error.py", 27, "SyntaxError: '(' was never closed"),
        ("import_error.py", 3, "ModuleNotFoundError: No module named"),
        ("module_error.py", 4, "ZeroDivisionError: division by zero (while running handler.py)"),
        ("init_error.py", 18, "KeyError: 'weights' (in EndpointHandler.__init__)"),
        ("class_renamed.py", None, "class EndpointHandler is missing in handler.py"),
        ("no_call.py", 14, "EndpointHandler has no __call__ method"),
        ("keyword_only_init.py", 17, "cannot take the repository path"),
    ],
)
def test_a_failed_reload_names_file_and_line_and_keeps_the_last_good_handler(
    live, repo, broken, line, cause
):
    repo.write("handler.py", "call_edited.py")
    live.reload()
    instance, module = live.instance, live.module
    repo.write("handler.py", broken)
    with pytest.raises(HandlerReloadError) as info:
        live.reload()
    error = info.value
    assert error.file == str(repo.path.resolve() / "handler.py")
    assert error.line == line
    assert cause in str(error)
    assert "The last good handler keeps serving" in str(error)
    # Nothing was swapped in: same instance, same module, under production's module key.
    assert live.instance is instance and live.module is module
    assert sys.modules["handler.EndpointHandler"] is module
    assert live(GOOD)[0]["label"] == "POSITIVE"
    assert live.reloads == 1

    repo.write("handler.py", "base.py")  # the fix: a good file again
    assert live.reload().mode == "hot"
    assert live(GOOD)[0]["label"] == "positive"


def test_putting_the_last_good_version_back_after_a_failure_says_so(live, repo):
    repo.write("handler.py", "syntax_error.py")
    with pytest.raises(HandlerReloadError):
        live.reload()
    repo.write("handler.py", "base.py")
    report = live.reload()
    assert report.mode == "unchanged" and live.reloads == 0
    assert str(report) == "handler.py back to the last good version: nothing to reload"


def test_a_broken_file_is_reported_once_not_on_every_check(live, repo):
    repo.write("handler.py", "syntax_error.py")
    assert live.changed()
    with pytest.raises(HandlerReloadError):
        live.reload_if_changed()
    assert not live.changed()
    assert live.reload_if_changed() is None  # same broken file: silent
    repo.write("handler.py", "call_edited.py")
    assert live.changed()
    assert live.reload_if_changed().reason == "__call__ changed"
    assert live.reload_if_changed() is None


def test_an_explicit_reload_retries_a_broken_file(live, repo):
    repo.write("handler.py", "syntax_error.py")
    for _ in range(2):
        with pytest.raises(HandlerReloadError, match="SyntaxError"):
            live.reload()


def test_deleted_handler_py_is_an_error_not_a_crash(live, repo):
    (repo.path / "handler.py").unlink()
    with pytest.raises(HandlerReloadError, match=r"handler\.py is gone"):
        live.reload()
    assert live(GOOD)[0]["label"] == "positive"


@pytest.fixture
def siblings(repo):
    for name in ("handler.py", "utils.py", "consts.py"):
        repo.write(name, f"siblings/{name}")
    return handler_kit.load(repo.path)


def test_sibling_modules_are_tracked(siblings):
    assert set(siblings.sources) == {"handler.EndpointHandler", "utils", "consts"}


def test_edited_sibling_used_at_request_time_reloads_hot(siblings, repo):
    model = siblings.instance.model
    repo.write("utils.py", "siblings/utils_clean_edited.py")
    report = siblings.reload()
    assert report.files == ("handler.py", "utils.py")
    assert (report.mode, report.reason) == ("hot", "helper utils.clean changed")
    assert str(report).startswith("handler.py and utils.py reloaded hot in ")
    assert siblings({"inputs": " ABC "})[0]["text"] == "> abc"
    assert siblings.instance.model is model


def test_edited_sibling_called_from_init_reinitialises(siblings, repo):
    repo.write("utils.py", "siblings/utils_load_edited.py")
    report = siblings.reload()
    assert report.reason == "helper utils.load_model changed (reached from __init__)"
    assert siblings({"inputs": "x"})[0]["label"] == "OK"


def test_siblings_run_again_in_dependency_order(siblings, repo):
    repo.write("consts.py", "siblings/consts_edited.py")
    report = siblings.reload()
    # utils imports PREFIX from consts, so it runs again too, after consts.
    assert report.files == ("handler.py", "consts.py", "utils.py")
    # Only clean() reads PREFIX, at request time: the model stays.
    assert (report.mode, report.reason) == ("hot", "module constant consts.PREFIX changed")
    assert siblings({"inputs": "x"})[0]["text"] == ">> x"


def test_broken_sibling_rolls_back_every_module(siblings, repo):
    utils = sys.modules["utils"]
    repo.write("consts.py", "siblings/consts_edited.py")
    repo.write("utils.py", "siblings/utils_syntax_error.py")
    with pytest.raises(HandlerReloadError) as info:
        siblings.reload()
    assert info.value.where == f"{repo.path.resolve() / 'utils.py'}:9"
    assert sys.modules["utils"] is utils
    assert sys.modules["consts"].PREFIX == "> "
    assert siblings({"inputs": "x"})[0]["text"] == "> x"


def test_a_new_sibling_module_is_tracked_after_the_reload(live, repo):
    repo.write("helpers.py", text="def shout(text):\n    return text.upper() + '!'\n")
    handler = (repo.path / "handler.py").read_text()
    repo.write(
        "handler.py",
        text="from helpers import shout\n"
        + handler.replace("return postprocess(label)", "return postprocess(shout(label))"),
    )
    report = live.reload()  # a new import that only __call__ uses: no need to rebuild
    assert (report.mode, report.reason) == ("hot", "__call__ changed, import shout added")
    assert live(GOOD)[0]["label"] == "POSITIVE!"
    assert "helpers" in live.sources
    repo.write("helpers.py", text="def shout(text):\n    return text.upper() + '!!'\n")
    report = live.reload()
    assert (report.mode, report.files) == ("hot", ("handler.py", "helpers.py"))
    assert live(GOOD)[0]["label"] == "POSITIVE!!"


def test_a_call_in_flight_finishes_on_the_old_code(repo):
    repo.write("handler.py", "slow.py")
    live = handler_kit.load(repo.path)
    started, gate, answers = threading.Event(), threading.Event(), []
    worker = threading.Thread(
        target=lambda: answers.append(live({"inputs": "", "started": started, "gate": gate}))
    )
    worker.start()
    assert started.wait(5)
    repo.write("handler.py", "slow_edited.py")
    report = live.reload()  # does not wait for the call in flight
    assert report.hot
    assert live({"inputs": ""}) == "v2"
    gate.set()
    worker.join(5)
    assert answers == ["v1"]


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_reinit_releases_the_old_instance(repo):
    repo.write("handler.py", "big.py")
    live = handler_kit.load(repo.path)
    live.reload("reinit")
    after_one = _rss()
    for _ in range(19):
        live.reload("reinit")
    assert _rss() <= after_one * 1.10


@pytest.mark.model
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_reinit_releases_the_real_model(tmp_path):
    from handler_kit.templates import samples

    examples = Path(__file__).parents[2] / "examples"
    repo = samples.model_repo(tmp_path / "minilm", examples / "embeddings" / "handler.py")
    live = handler_kit.load(repo)
    live.reload("reinit")
    live({"inputs": "warm up"})
    after_one = _rss()
    for _ in range(19):
        live.reload("reinit")
        live({"inputs": "warm up"})
    # Each leaked copy of MiniLM would add about 90 MB.
    assert _rss() <= after_one * 1.10


@pytest.fixture
def lazy(repo):
    for name in ("handler.py", "lazyutils.py"):
        repo.write(name, f"lazy/{name}")
    live = handler_kit.load(repo.path)
    assert "lazyutils" not in live.sources  # handler.py imports it inside __call__ only
    return live


def test_a_sibling_imported_inside_call_is_reloaded_when_edited(lazy, repo):
    model = lazy.instance.model
    assert lazy({"inputs": "x"}) == [{"answer": "v1 x"}]  # imports lazyutils
    # Edited right after the import (same second, same size): the baseline is the text the
    # import ran, not the file as the reload finds it.
    repo.write("lazyutils.py", "lazy/lazyutils_edited.py")
    report = lazy.reload()
    assert report.files == ("handler.py", "lazyutils.py")
    assert report.hot and lazy.instance.model is model
    assert lazy({"inputs": "x"}) == [{"answer": "v2 x"}]
    assert lazy.sources["lazyutils"].text == (repo.path / "lazyutils.py").read_text()
    assert lazy.reload().mode == "unchanged"


def test_an_edit_of_a_lazily_imported_sibling_is_seen_by_changed(lazy, repo):
    lazy({"inputs": "x"})
    assert not lazy.changed()
    assert "lazyutils" in lazy.sources
    repo.write("lazyutils.py", "lazy/lazyutils_edited.py")
    assert lazy.changed()
    report = lazy.reload_if_changed()
    assert report is not None and "lazyutils.py" in report.files
    assert lazy({"inputs": "x"}) == [{"answer": "v2 x"}]
    assert not lazy.changed() and lazy.reload_if_changed() is None


def test_an_edit_before_the_lazy_import_is_not_a_change(lazy, repo):
    repo.write("lazyutils.py", "lazy/lazyutils_edited.py")
    assert lazy({"inputs": "x"}) == [{"answer": "v2 x"}]  # the import ran the edited file
    assert not lazy.changed()
    assert lazy.reload().mode == "unchanged"


def test_a_broken_lazily_imported_sibling_keeps_the_last_good_handler(lazy, repo):
    lazy({"inputs": "x"})
    module = sys.modules["lazyutils"]
    repo.write("lazyutils.py", "lazy/lazyutils_syntax_error.py")
    with pytest.raises(HandlerReloadError) as info:
        lazy.reload()
    assert info.value.where == f"{repo.path.resolve() / 'lazyutils.py'}:5"
    assert sys.modules["lazyutils"] is module
    assert lazy({"inputs": "x"}) == [{"answer": "v1 x"}]
    assert not lazy.changed()  # the same broken file fails once
    repo.write("lazyutils.py", "lazy/lazyutils_edited.py")
    assert lazy.reload().files == ("handler.py", "lazyutils.py")
    assert lazy({"inputs": "x"}) == [{"answer": "v2 x"}]


# --- never fatal, never stuck -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "line", "cause"),
    [
        ("fatal/sys_exit.py", 12, "SystemExit: 3 (while running handler.py)"),
        ("fatal/argparse_at_import.py", 5, "SystemExit: 2 (while running handler.py)"),
        (
            "fatal/keyboard_interrupt_init.py",
            3,
            "KeyboardInterrupt (in EndpointHandler.__init__)",
        ),
        (
            "fatal/memory_error_init.py",
            3,
            "MemoryError: CUDA out of memory (simulated) (in EndpointHandler.__init__)",
        ),
    ],
)
def test_an_edit_that_ends_the_program_is_a_reload_error(live, repo, fixture, line, cause):
    instance = live.instance
    repo.write("handler.py", fixture)
    with pytest.raises(HandlerReloadError) as info:
        live.reload()
    assert info.value.where == f"{repo.path.resolve() / 'handler.py'}:{line}"
    assert cause in str(info.value)
    assert live.instance is instance and live(GOOD)[0]["label"] == "positive"
    repo.write("handler.py", "call_edited.py")
    assert live.reload().hot and live(GOOD)[0]["label"] == "POSITIVE"


def test_an_expression_too_deep_for_python_is_a_reload_error(live, repo):
    terms = " + ".join(["1"] * 20_000)  # what a generated table pasted into code can look like
    repo.write("handler.py", text=fixture_text("base.py") + f"\nTOTAL = {terms}\n")
    with pytest.raises(HandlerReloadError, match=r"RecursionError: an expression nests too"):
        live.reload()
    assert live(GOOD)[0]["label"] == "positive"


def test_a_hanging_module_is_abandoned_and_does_not_block_the_next_reload(live, repo):
    instance = live.instance
    repo.write("handler.py", "fatal/busy_loop.py")
    started = time.monotonic()
    with pytest.raises(HandlerReloadError) as info:
        live.reload(timeout=0.5)
    assert time.monotonic() - started < 5
    assert info.value.where == f"{repo.path.resolve() / 'handler.py'}:9"
    assert "ran past its time limit of 0.5 s while running <module>" in str(info.value)
    assert live.instance is instance and live(GOOD)[0]["label"] == "positive"
    assert sys.modules["handler.EndpointHandler"] is live.module
    wait_for_no_reload_threads()  # the busy loop was stopped, not left spinning
    repo.write("handler.py", "call_edited.py")
    assert live.reload().hot and live(GOOD)[0]["label"] == "POSITIVE"


def test_an_abandoned_reload_that_finishes_later_never_commits(live, repo):
    instance, module = live.instance, live.module
    repo.write("handler.py", "fatal/sleep_init.py")
    with pytest.raises(HandlerReloadError, match=r"handler\.py:6: .* while running __init__"):
        live.reload(timeout=0.3)
    wait_for_no_reload_threads(timeout=5)  # the sleep ended, __init__ finished: too late
    assert live.instance is instance and live.module is module
    assert sys.modules["handler.EndpointHandler"] is module
    assert live(GOOD)[0]["label"] == "positive"


def test_ctrl_c_during_a_hung_reload_stops_it_and_says_where(live, repo):
    import _thread

    repo.write("handler.py", "fatal/busy_loop.py")
    handler = str(repo.path / "handler.py")
    stop = threading.Event()

    def ctrl_c_once_it_loops() -> None:
        # Pressed while the loop runs, as a person does: not at a fixed time, which a loaded
        # machine may reach before the reload has even started waiting.
        while not stop.wait(0.02):
            frames = sys._current_frames().values()
            if any(f.f_code.co_filename == handler for f in frames):
                _thread.interrupt_main()
                return

    # Ctrl-C as a terminal's Python (and a kernel) has it: a runner started in the
    # background by a shell ignores SIGINT, and interrupt_main then does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = threading.Thread(target=ctrl_c_once_it_loops)
    presser.start()
    try:
        with pytest.raises(HandlerReloadError) as info:
            live.reload(timeout=30)
    finally:
        stop.set()
        presser.join(5)
        signal.signal(signal.SIGINT, previous)
    assert "was interrupted (Ctrl-C) while running <module>" in str(info.value)
    assert info.value.line == 9
    wait_for_no_reload_threads()  # the busy loop was stopped
    assert live(GOOD)[0]["label"] == "positive"


# --- never half-run ----------------------------------------------------------------------------


def test_a_request_never_sees_a_half_run_sibling(repo):
    repo.write("handler.py", "lazy/handler.py")
    repo.write("lazyutils.py", text=_slow_lazyutils("v1"))
    live = handler_kit.load(repo.path)
    assert live({"inputs": "x"}) == [{"answer": "v1 x"}]  # imported lazily, inside __call__
    repo.write("lazyutils.py", text=_slow_lazyutils("v2"))
    reloading = threading.Thread(target=live.reload)
    reloading.start()
    answers = []
    try:
        deadline = time.monotonic() + 5
        # While the new lazyutils runs (0.3 s), requests import it inside __call__.
        while reloading.is_alive() and time.monotonic() < deadline:
            answers.append(live({"inputs": "x"}))
    finally:
        reloading.join(5)
    # The old module, whole, while the new one runs; then the new one: never a half-run one
    # (which would have raised AttributeError: module 'lazyutils' has no attribute 'answer').
    assert answers[0] == [{"answer": "v1 x"}]
    assert all(a in ([{"answer": "v1 x"}], [{"answer": "v2 x"}]) for a in answers)
    assert live({"inputs": "x"}) == [{"answer": "v2 x"}]


def _slow_lazyutils(version: str) -> str:
    return (
        "import time\n\n"
        "time.sleep(0.3)  # a module that takes a while to run: a big table, a slow import\n\n\n"
        f"def answer(text):\n    return '{version} ' + text\n"
    )


# --- what the messages say ----------------------------------------------------------------------


def test_a_handler_py_that_is_not_utf8_is_reported_as_such_not_as_gone(live, repo):
    (repo.path / "handler.py").write_bytes("# café\n".encode("latin-1") + b"X = 1\n")
    with pytest.raises(HandlerReloadError) as info:
        live.reload()
    message = str(info.value)
    assert "is gone" not in message
    assert "handler.py is not readable as Python source" in message
    assert "Save it as UTF-8" in message


def test_a_sibling_that_is_not_utf8_is_blamed_not_handler_py(siblings, repo):
    (repo.path / "utils.py").write_bytes(b"PREFIX = '\xe9'\n")
    with pytest.raises(HandlerReloadError) as info:
        siblings.reload()
    assert info.value.file == str(repo.path.resolve() / "utils.py")
    assert "utils.py is not readable as Python source" in str(info.value)


def test_a_deleted_sibling_that_is_still_imported_says_so_not_pip_install(siblings, repo):
    (repo.path / "consts.py").unlink()
    with pytest.raises(HandlerReloadError) as info:
        siblings.reload()
    message = str(info.value)
    assert "pip install" not in message
    assert "consts.py is gone (deleted or renamed?) and utils.py:1 still imports it" in message
    assert siblings({"inputs": "x"})[0]["text"] == "> x"


# --- re-init memory: swap, or free the old model first ----------------------------------------


@pytest.fixture
def model_handler(repo, library):
    repo.write("handler.py", "memory/model_v1.py")
    live = handler_kit.load(repo.path)
    repo.write("handler.py", "memory/model_v2.py")
    return live


def test_a_swap_reinit_builds_the_new_model_beside_the_old_one(model_handler):
    report = model_handler.reload(memory="swap")
    assert report.mode == "reinit" and not any("freed" in n for n in report.notes)
    assert model_handler({"inputs": "x"}) == {"tag": "v2", "others_alive": 1}


def test_a_free_first_reinit_frees_the_old_model_before_building(model_handler):
    answers = []
    caller = threading.Thread(target=lambda: answers.append(model_handler({"inputs": "x"})))
    reloading = threading.Thread(
        target=lambda: answers.append(model_handler.reload(memory="free-first"))
    )
    reloading.start()
    time.sleep(0.1)  # __init__ is building: a request arrives and waits for it
    caller.start()
    reloading.join(10)
    caller.join(10)
    report = next(a for a in answers if not isinstance(a, dict))
    assert "freed the old model before building the new one" in str(report)
    assert {"tag": "v2", "others_alive": 0} in answers  # one model at a time
    assert model_handler({"inputs": "x"}) == {"tag": "v2", "others_alive": 0}


def test_auto_frees_first_when_there_is_no_room_for_two_models(model_handler, monkeypatch):
    import handler_kit.reload.live

    monkeypatch.setattr(handler_kit.reload.live, "room_for_two", lambda footprint: False)
    report = model_handler.reload()
    assert "freed the old model before building the new one: there was no room for two" in str(
        report
    )
    assert model_handler({"inputs": "x"})["others_alive"] == 0


def test_a_failed_free_first_reinit_builds_the_last_good_handler_again(repo, library):
    repo.write("handler.py", "memory/model_v1.py")
    live = handler_kit.load(repo.path)
    repo.write("handler.py", "memory/model_broken.py")
    with pytest.raises(HandlerReloadError) as info:
        live.reload(memory="free-first")
    message = str(info.value)
    assert "CUDA out of memory (simulated)" in message
    assert "the last good handler was built again from its code: nothing is lost" in message
    assert live({"inputs": "x"}) == {"tag": "v1", "others_alive": 0}
    repo.write("handler.py", "memory/model_v2.py")
    assert live.reload().mode == "reinit" and live({"inputs": "x"})["tag"] == "v2"


def test_memory_must_be_one_of_the_three(model_handler):
    with pytest.raises(ValueError, match="memory must be one of auto, swap, free-first"):
        model_handler.reload(memory="lots")


LAZY = """def load(kind):
    return {{"kind": kind, "version": {version}}}


class EndpointHandler:
    def __init__(self, path=""):
        self.model = {{"path": path}}
        self.cache = {{}}

    def __call__(self, data):
        kind = data.get("kind", "canny")
        if kind not in self.cache:
            self.cache[kind] = load(kind)
            self.seen = kind
        return [{{"label": self.cache[kind]["version"]}}]
"""


def test_a_hot_swap_drops_what_the_old_code_built_lazily_and_keeps_the_model(repo):
    repo.write("handler.py", text=LAZY.format(version=1))
    live = handler_kit.load(repo.path)
    assert live(GOOD) == [{"label": 1}]
    model, cache = live.instance.model, live.instance.cache
    repo.write("handler.py", text=LAZY.format(version=2))
    report = live.reload()
    assert report.hot and report.kept == ("model",)
    assert str(report).endswith(
        "helper load changed; dropped self.cache, self.seen: the next request builds them "
        "again; kept model"
    )
    state = vars(live.instance)
    assert state["model"] is model  # __init__'s model stays loaded
    assert state["cache"] == {} and state["cache"] is not cache  # what __init__ gives it
    assert "seen" not in state  # __init__ does not set it
    assert live(GOOD) == [{"label": 2}]  # the next request runs the edited code


def test_a_forced_hot_swap_drops_what_the_edit_changed_too(repo):
    repo.write("handler.py", text=LAZY.format(version=1))
    live = handler_kit.load(repo.path)
    live(GOOD)
    repo.write("handler.py", text=LAZY.format(version=2))
    report = live.reload(mode="hot")
    assert report.hot and report.forced and "dropped self.cache" in report.reason
    assert live(GOOD) == [{"label": 2}]
