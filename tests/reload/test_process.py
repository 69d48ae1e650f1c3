"""process.py: what a reload's code does to the whole process, made as production makes it.

A signal handler installed at import is installed by every reload (in the main thread, as
production's import installs it), or said to be skipped; ``os._exit`` at import is an error,
not the end of the kernel.
"""

import os
import signal
import threading

import pytest
from conftest import fixture_text

import handler_kit
from handler_kit import HandlerReloadError


@pytest.fixture
def usr1():
    """SIGUSR1's handler is put back after the test."""
    before = signal.getsignal(signal.SIGUSR1)
    yield signal.SIGUSR1
    signal.signal(signal.SIGUSR1, before)


@pytest.mark.parametrize(
    "fixture", ["hostile/signal_at_import.py", "hostile/signal_in_function.py"]
)
def test_a_signal_handler_installed_at_import_is_installed_by_every_reload(repo, usr1, fixture):
    text = fixture_text(fixture)
    repo.write("handler.py", text=text)
    live = handler_kit.load(repo.path)
    for version in ("v2", "v3"):  # every later reload, not only the first
        repo.write("handler.py", text=text.replace('"v1"', f'"{version}"'))
        live.reload()  # was: ValueError: signal only works in main thread
        assert signal.getsignal(usr1) is live.module._stop
    os.kill(os.getpid(), usr1)
    stops = live.module.STOPS
    assert stops == [("v3", usr1)]
    # A reload that fails after its install puts the last good handler back.
    repo.write("handler.py", text=text.replace('"v1"', '"v4"') + "\n1 / 0\n")
    with pytest.raises(HandlerReloadError, match="ZeroDivisionError"):
        live.reload()
    assert signal.getsignal(usr1) is live.module._stop and live.module.STOPS[0][0] == "v3"


def test_a_reload_from_another_thread_says_the_signal_handler_was_not_installed(repo, usr1):
    text = fixture_text("hostile/signal_at_import.py")
    repo.write("handler.py", text=text)
    live = handler_kit.load(repo.path)
    installed = signal.getsignal(usr1)
    repo.write("handler.py", text=text.replace('"v1"', '"v2"'))
    reports = []
    thread = threading.Thread(target=lambda: reports.append(live.reload()), name="requests")
    thread.start()
    thread.join(10)
    note = (
        "note: handler.py:13: signal.signal(SIGUSR1, _stop) was not installed: only Python's "
        "main thread may install a signal handler, and this reload was started from the "
        "thread 'requests'"
    )
    assert note in str(reports[0])
    assert signal.getsignal(usr1) is installed  # the handler in place stays


def test_os_exit_at_import_is_an_error_not_the_end_of_the_process(repo):
    original = os._exit
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path)
    repo.write("handler.py", "hostile/os_exit_at_import.py")
    with pytest.raises(HandlerReloadError) as info:
        live.reload()
    assert info.value.where == f"{repo.path.resolve() / 'handler.py'}:10"
    assert "ProcessExit: os._exit(1) would end this process at once" in str(info.value)
    assert live({"inputs": "a good day"})[0]["label"] == "positive"
    with pytest.raises(handler_kit.HandlerLoadError, match=r"os\._exit\(1\) would end"):
        handler_kit.load(repo.path)  # the first load too
    assert os._exit is original  # put back once the load is over
