"""patches.py: a library patch made at import is made once, as production makes it.

The handler fixtures patch ``libstub`` (a stand-in for a library, on sys.path outside the
repository) at module level; the reload runs handler.py again each time, and must neither wrap
the previous run's wrapper nor keep a patch whose line was removed.
"""

import os

import pytest

import handler_kit
from handler_kit import HandlerReloadError


def test_a_patch_that_init_reaches_through_the_library_reinitialises(repo, library):
    repo.copy("patterns/patch_indirect")
    live = handler_kit.load(repo.path)
    assert live({"inputs": "x"}) == {"made": ["v1", "start"], "now": ["v1", "x"]}
    repo.edit("patterns/patch_indirect")
    report = live.reload()
    assert (report.mode, report.reason) == (
        "reinit",
        "helper _lenient changed (used at handler.py:10)",
    )
    # One layer of the new wrapper, as a fresh process would have: not ["v2", "v1", ...].
    assert live({"inputs": "x"}) == {"made": ["v2", "start"], "now": ["v2", "x"]}


def test_a_patch_does_not_stack_over_reloads(repo, library):
    import libstub

    repo.copy("patterns/patch_call_only")
    live = handler_kit.load(repo.path)
    patched = libstub.Base.parse
    for n in range(3):
        repo.edit("patterns/patch_call_only") if n % 2 == 0 else repo.copy(
            "patterns/patch_call_only"
        )
        assert live.reload().hot
        assert live({"inputs": "x"})["now"] == ["v1", "x"]  # one wrapper, not n + 1
    assert libstub.Base.parse is not patched  # the new run's wrapper, around the original
    assert libstub.Base.parse.__module__ == "handler.EndpointHandler"


def test_a_setattr_patch_counts_as_start_up(repo, library):
    repo.copy("patterns/patch_setattr")
    live = handler_kit.load(repo.path)
    repo.edit("patterns/patch_setattr")
    report = live.reload()
    assert report.mode == "reinit" and "_lenient changed" in report.reason
    assert live({"inputs": "x"}) == {"made": ["v2", "start"], "now": ["v2", "x"]}


def test_a_removed_patch_is_undone(repo, library):
    import libstub

    original = libstub.Base.parse
    repo.copy("patterns/patch_call_only")
    live = handler_kit.load(repo.path)
    assert libstub.Base.parse is not original
    text = (repo.path / "handler.py").read_text()
    repo.write("handler.py", text=text.replace("libstub.Base.parse = _lenient\n", ""))
    report = live.reload()
    assert report.mode == "reinit"  # the patch (a start-up effect) is gone
    assert libstub.Base.parse is original
    assert live({"inputs": "x"})["now"] == ["x"]


def test_a_failed_reload_puts_the_last_good_patch_back(repo, library):
    import libstub

    repo.copy("patterns/patch_call_only")
    live = handler_kit.load(repo.path)
    good = libstub.Base.parse
    text = (repo.path / "handler.py").read_text()
    repo.write("handler.py", text=text + "\nraise RuntimeError('broken after the patch')\n")
    with pytest.raises(HandlerReloadError, match="broken after the patch"):
        live.reload()
    assert libstub.Base.parse is good
    assert live({"inputs": "x"})["now"] == ["v1", "x"]


def test_an_environment_variable_set_at_import_is_put_back_when_its_line_goes(repo):
    os.environ.pop("HANDLER_KIT_TEST_MODE", None)
    repo.copy("patterns/environment")
    live = handler_kit.load(repo.path)
    assert os.environ["HANDLER_KIT_TEST_MODE"] == "fast"
    text = (repo.path / "handler.py").read_text()
    repo.write(
        "handler.py",
        text=text.replace('os.environ["HANDLER_KIT_TEST_MODE"] = "fast"\n', "").replace(
            'os.environ["HANDLER_KIT_TEST_MODE"]', 'os.environ.get("HANDLER_KIT_TEST_MODE", "-")'
        ),
    )
    report = live.reload()
    assert report.mode == "reinit"
    assert "HANDLER_KIT_TEST_MODE" not in os.environ  # as in a fresh process
    assert live({"inputs": "x"}) == {"answer": "-"}


def test_a_library_base_that_calls_back_an_override_counts_it_as_start_up(repo, library):
    repo.copy("patterns/library_base")
    live = handler_kit.load(repo.path)
    assert live({"inputs": "x"}) == {"answer": "v1"}
    repo.edit("patterns/library_base")
    report = live.reload()
    assert (report.mode, report.reason) == (
        "reinit",
        "method options_for_init changed (the base class may call it)",
    )
    assert live({"inputs": "x"}) == {"answer": "v2"}


def test_a_registration_that_refuses_a_second_run_says_how_to_apply_the_edit(repo, library):
    repo.copy("patterns/registers_once")
    live = handler_kit.load(repo.path)
    repo.edit("patterns/registers_once")
    with pytest.raises(HandlerReloadError) as info:
        live.reload()
    message = str(info.value)
    assert info.value.line == 3
    assert "namespace 'myops' is already defined" in message
    assert "fails when run again in the same process" in message
    assert "restart the kernel" in message
    assert live({"inputs": "x"}) == {"answer": "v1"}


POPS = """import os

os.environ.pop("HANDLER_KIT_TEST_POPPED", None)


class EndpointHandler:
    def __init__(self, path=""):
        self.seen = os.environ.get("HANDLER_KIT_TEST_POPPED", "-")

    def __call__(self, data):
        return {"seen": self.seen}
"""


def test_a_variable_popped_at_import_is_back_when_the_line_goes(repo, monkeypatch):
    monkeypatch.setenv("HANDLER_KIT_TEST_POPPED", "set")
    repo.write("handler.py", text=POPS)
    live = handler_kit.load(repo.path)
    assert live({"inputs": "x"}) == {"seen": "-"}
    repo.write(
        "handler.py", text=POPS.replace('os.environ.pop("HANDLER_KIT_TEST_POPPED", None)', "")
    )
    assert live.reload().mode == "reinit"
    assert live({"inputs": "x"}) == {"seen": "set"}  # as in a fresh process


def test_the_ledger_records_what_each_restorable_patch_point_replaces(repo, library, monkeypatch):
    from handler_kit.reload.patches import HOOK, Ledger

    monkeypatch.delenv("HANDLER_KIT_TEST_LEDGER", raising=False)
    repo.write("handler.py", text="")
    ledger = Ledger.of(repo.repository())
    text = (
        "import os\nimport libstub\n"
        "libstub.Base.flag = 1\n"
        "os.environ['HANDLER_KIT_TEST_LEDGER'] = '1'\n"
        "libstub.registry = {}\n"
        "key = 'k'\nlibstub.registry[key] = 1\n"  # which key: not known before it runs
        "x = 1\nprint(x)\n"
    )
    code, hooked = ledger.compile("patching", text, "patching.py")
    exec(code, {HOOK: ledger.hook("patching"), "__name__": "patching"})
    assert hooked
    recorded = sorted((kind, key) for _, kind, key, _ in ledger.entries.values())
    assert recorded == [("attr", "flag"), ("attr", "registry"), ("item", "HANDLER_KIT_TEST_LEDGER")]


def test_a_patch_of_a_built_in_module_loads_reloads_and_is_made_once(repo, monkeypatch):
    import sys
    import time

    # What the handler patches is put back after the test.
    for name in ("dont_write_bytecode", "excepthook"):
        monkeypatch.setattr(sys, name, getattr(sys, name))
    monkeypatch.setattr(time, "sleep", time.sleep)
    original = time.sleep
    repo.write("handler.py", "hostile/builtin_patch.py")
    live = handler_kit.load(repo.path)  # was: module 'sys' has no attribute '__file__'
    assert sys.dont_write_bytecode is True and sys.excepthook.__name__ == "_report_crash"
    assert live({"inputs": "x"}) == {"slept": 1, "version": 1}
    text = (repo.path / "handler.py").read_text()
    repo.write("handler.py", text=text.replace('"version": 1', '"version": 2'))
    live.reload()
    # One wrapper around the original sleep, not the first run's wrapper wrapped again.
    assert live({"inputs": "x"}) == {"slept": 1, "version": 2}
    assert live.module._sleep is original
    repo.write("handler.py", text=text.replace("time.sleep = _counted_sleep\n", ""))
    live.reload()
    assert time.sleep is original  # the patch whose line is gone is undone
