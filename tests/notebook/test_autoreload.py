"""autoreload.py: a handler whose files were saved reloads before it answers, whoever calls."""

import threading

import pytest

from handler_kit import HandlerReloadError, ReloadReport
from handler_kit.notebook.autoreload import AutoReload, taken

GOOD = {"inputs": "a good day"}


@pytest.fixture
def said():
    return []


@pytest.fixture
def hook(live, said):
    hook = AutoReload(said.append)
    hook.attach(live)
    yield hook
    hook.detach()


def from_threads(live, calls=8):
    """``calls`` calls of ``live`` at once, each from its own thread; their answers' labels."""
    start, labels = threading.Barrier(calls), []

    def call():
        start.wait(5)
        labels.append(live(GOOD)[0]["label"])

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(labels) == calls
    return labels


def test_without_the_hook_a_call_answers_with_the_code_last_loaded(live, repo):
    repo.write("handler.py", "call_edited.py")
    assert live(GOOD)[0]["label"] == "positive" and live.reloads == 0


def test_a_burst_of_calls_after_an_edit_reloads_once_and_answers_with_the_saved_code(
    live, repo, hook
):
    repo.write("handler.py", "call_edited.py")
    assert from_threads(live) == ["POSITIVE"] * 8
    assert live.reloads == 1
    (report,) = hook.take(live)  # kept for whoever shows it: no cell made these calls
    assert isinstance(report, ReloadReport) and report.hot
    assert hook.take(live) == [] and from_threads(live) == ["POSITIVE"] * 8
    assert live.reloads == 1


def test_a_failed_reload_keeps_the_last_good_handler_answering_and_is_said_once(live, repo, hook):
    repo.write("handler.py", "call_edited.py")
    live(GOOD)
    hook.take(live)
    repo.write("handler.py", "syntax_error.py")
    assert from_threads(live) == ["POSITIVE"] * 8  # the last good handler
    (error,) = taken(live)
    assert isinstance(error, HandlerReloadError) and ":27: SyntaxError" in str(error)
    assert from_threads(live) == ["POSITIVE"] * 8 and taken(live) == []  # said once
    repo.write("handler.py", "base.py")  # changed again: tried again
    assert from_threads(live) == ["positive"] * 8
    assert [r.hot for r in taken(live)] == [True]


def test_a_call_from_the_main_thread_says_what_it_reloaded_at_once(live, repo, hook, said):
    repo.write("handler.py", "call_edited.py")
    assert live(GOOD)[0]["label"] == "POSITIVE"
    assert [str(r).startswith("handler.py reloaded hot in ") for r in said] == [True]
    assert hook.take(live) == []


def test_detach_stops_the_reloads_before_calls(live, repo, hook):
    hook.detach()
    assert live.autoreload is None
    repo.write("handler.py", "call_edited.py")
    assert live(GOOD)[0]["label"] == "positive"


def test_kept_outcomes_are_said_in_the_next_cell(live, repo, hook, said):
    repo.write("handler.py", "call_edited.py")
    from_threads(live, 2)
    assert said == []
    hook.say_kept()
    assert len(said) == 1 and said[0].hot and hook.take(live) == []
