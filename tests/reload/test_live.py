"""live.py: calling a LiveHandler checks the payload as production's server checks a request."""

import re
import threading
import time

import pytest
from conftest import fixture_text, wait_for_no_reload_threads

import handler_kit
from handler_kit import HandlerKitError, HandlerReloadError

RECORDER = """
class EndpointHandler:
    def __init__(self, path=""):
        self.calls = []

    def __call__(self, data):
        self.calls.append(data)
        return []
"""


@pytest.fixture
def live(repo):
    repo.write("handler.py", text=RECORDER)
    return handler_kit.load(repo.path)


@pytest.mark.parametrize(
    ("data", "got"),
    [({"text": "a good day"}, "got keys ['text']"), (["a good day"], "got a list")],
)
def test_a_payload_production_would_refuse_is_refused_saying_so(live, data, got):
    with pytest.raises(HandlerKitError) as error:
        live(data)
    message = str(error.value)
    assert (
        f"the payload must be a JSON object with an `inputs` key (or `instances`); {got}" in message
    )
    assert "Production refuses it with HTTP 400" in message
    assert "handler(data, check=False)" in message
    assert live.instance.calls == []  # the handler never saw it


def test_inputs_or_instances_pass_and_check_false_passes_anything(live):
    live({"inputs": "x"})
    live({"instances": ["x"]})
    live({"text": "x"}, check=False)
    assert live.instance.calls == [{"inputs": "x"}, {"instances": ["x"]}, {"text": "x"}]


# --- after a failure, what the files are put back to is reloaded, and said once ----------------


@pytest.fixture
def configured(repo):
    """The handler of hostile/reads_config.py: its __init__ reads config.json."""
    repo.write("handler.py", "hostile/reads_config.py")
    repo.write("config.json", text='{"labels": ["joy", "sadness"]}')
    return handler_kit.load(repo.path)


def _lose_the_handler(live, repo):
    """A free-first re-init of a broken __init__ while config.json is half-written: building
    the last good handler again fails too, and there is no handler."""
    good = (repo.path / "handler.py").read_text()
    broken = good.replace(
        "        config =", "        raise KeyError('id2label')\n        config ="
    )
    repo.write("handler.py", text=broken)
    repo.write("config.json", text='{"labels": [')
    with pytest.raises(HandlerReloadError) as info:
        live.reload_if_changed(memory="free-first")
    return good, str(info.value)


def test_with_no_handler_left_the_message_says_so_and_only_so(configured, repo):
    _, message = _lose_the_handler(configured, repo)
    assert "KeyError: 'id2label'" in message
    assert "building the last good handler again failed too (" in message
    assert "handler.py:11: JSONDecodeError: Expecting value" in message
    assert message.count("There is no handler now") == 1
    assert "keeps serving" not in message and "nothing is lost" not in message
    with pytest.raises(HandlerKitError, match="there is no handler"):
        configured({"inputs": "x"})


def test_putting_the_files_back_builds_the_handler_again_when_there_was_none(configured, repo):
    good, _ = _lose_the_handler(configured, repo)
    assert not configured.changed()  # the same broken files: said once
    repo.write("config.json", text='{"labels": ["joy", "sadness"]}')
    repo.write("handler.py", text=good)  # the last good text, as it was
    assert configured.changed()
    report = configured.reload_if_changed()
    assert report.mode == "reinit" and not report.forced
    assert "note: there was no handler (a free-first re-init lost it): built it again" in str(
        report
    )
    assert configured({"inputs": "x"}) == {"label": "sadness", "version": 1}
    assert configured.reload_if_changed() is None


def test_a_broken_file_put_back_as_it_was_is_said_by_the_automatic_reload(configured, repo):
    good = (repo.path / "handler.py").read_text()
    repo.write("handler.py", text=good + "\ndef broken(:\n")
    with pytest.raises(HandlerReloadError) as info:
        configured.reload_if_changed()
    assert str(info.value).count("keeps serving") == 1
    repo.write("handler.py", text=good)
    report = configured.reload_if_changed()
    assert str(report) == "handler.py back to the last good version: nothing to reload"
    assert configured.reload_if_changed() is None


# --- a newer save supersedes a reload that still runs ---------------------------------------------


def _reload_in_a_thread(live):
    """``live.reload_if_changed()`` in a thread, as serve --reload and autoreload run it."""
    outcome = {}

    def reload():
        try:
            outcome["report"] = live.reload_if_changed()
        except HandlerKitError as error:
            outcome["error"] = error

    thread = threading.Thread(target=reload)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize(
    ("hanging", "lines", "where"),
    [
        # Inside the retry loop: in __init__, or in the download it retries.
        ("hostile/retry_forever_init.py", "1[0-9]|20", "(__init__|download)"),
        ("fatal/busy_loop.py", "9", "<module>"),
    ],
)
def test_a_fix_saved_while_an_edit_hangs_is_served_at_once(repo, hanging, lines, where):
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path)
    repo.write("handler.py", hanging)
    thread, outcome = _reload_in_a_thread(live)  # its time limit: 60 s
    time.sleep(0.5)
    repo.write("handler.py", "call_edited.py")  # the fix, saved while the edit hangs
    thread.join(15)
    assert not thread.is_alive() and "error" not in outcome, outcome
    report = str(outcome["report"])
    assert report.startswith("handler.py reloaded hot in")  # against the last good version
    superseded = rf"handler\.py:({lines}): the reload was superseded by a newer save after "
    assert re.search(rf"\nnote: .*{superseded}.* while running {where}; it was abandoned", report)
    assert live({"inputs": "a good day"}) == [{"label": "POSITIVE", "score": 1.0}]
    wait_for_no_reload_threads()  # the hanging one was stopped


def test_a_newer_save_is_a_new_text_seen_twice_in_a_row_not_a_write_in_progress(repo):
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path)
    newer = live._newer_save(live.current_texts())  # what a running reload asks
    assert not newer()
    repo.write("handler.py", "call_edited.py")
    assert not newer()  # seen once: it may be a write in progress
    repo.write("handler.py", text=fixture_text("call_edited.py") + "\n# still writing\n")
    assert not newer()
    assert newer()  # the same new text twice in a row: saved
    repo.write("handler.py", "base.py")  # back to what the reload runs
    assert not newer() and not newer()
