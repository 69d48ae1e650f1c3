"""Signal handlers a reload's code installs: in the main thread, as production's import does.

Production imports handler.py in its main thread, where ``signal.signal(...)`` works (a handler
that shuts down cleanly on SIGTERM, say). A reload runs the code in a worker thread, so that a
hanging one can be given up, and Python refuses there ("signal only works in main thread of the
main interpreter"), whether the call is at top level or in a function called at import. So
while a reload runs, ``signal.signal`` is a function that, called from the reload thread, has
the thread waiting for the reload run it: when that is the main thread (a notebook cell,
``handler-kit serve --reload``) the handler is installed as production installs it; otherwise
(a reload started from another thread) it is skipped, the handler in place is returned, and the
report says so. Called from any other thread, it is ``signal.signal`` itself.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_original = signal.signal
_routes: dict[int, Route] = {}  # reload thread id -> where its signal.signal calls go
_lock = threading.Lock()


class Route:
    """Where one reload thread's ``signal.signal`` calls go: to the thread that waits for
    the reload, when it is the main thread; else nowhere (skipped, and said).

    ``wake`` is set when a call waits for the main thread, which runs it in :meth:`serve`.
    ``before`` keeps the handlers in place before the first install of each signal, to put
    back if the reload is rolled back; ``skipped`` says what was not installed.
    """

    def __init__(self, wake: threading.Event) -> None:
        self.main = threading.current_thread() is threading.main_thread()
        self.waiter = threading.current_thread().name
        self.wake = wake
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.before: dict[int, Any] = {}
        self.skipped: list[str] = []

    def install(self, signalnum: int, handler: Any) -> Any:
        """In the reload thread: install ``handler`` through the main thread, or skip it."""
        if not self.main:
            caller = sys._getframe(2)
            where = f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno}"
            self.skipped.append(
                f"{where}: signal.signal({_name(signalnum)}, {_name(handler)}) was not "
                "installed: only Python's main thread may install a signal handler, and this "
                f"reload was started from the thread {self.waiter!r} (production installs it "
                "at import, in its main thread); the handler in place stays"
            )
            return signal.getsignal(signalnum)
        done, outcome = threading.Event(), {}
        self.calls.put((signalnum, handler, done, outcome))
        self.wake.set()
        while not done.wait(0.05):  # short waits: an abandoned reload can still be stopped
            pass
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def serve(self) -> None:
        """In the main thread: run the installs the reload thread is waiting for."""
        while True:
            try:
                signalnum, handler, done, outcome = self.calls.get_nowait()
            except queue.Empty:
                return
            try:
                previous = _original(signalnum, handler)
                self.before.setdefault(signalnum, previous)
                outcome["value"] = previous
            except BaseException as error:  # a bad signal number: the code's own error
                outcome["error"] = error
            done.set()


@contextlib.contextmanager
def routed(route: Route) -> Iterator[None]:
    """In the reload thread: its ``signal.signal`` calls go by ``route`` meanwhile."""
    me = threading.get_ident()
    with _lock:
        if not _routes:
            signal.signal = _signal
        _routes[me] = route
    try:
        yield
    finally:
        with _lock:
            _routes.pop(me, None)
            if not _routes and signal.signal is _signal:
                signal.signal = _original


def restore(before: dict[int, Any]) -> None:
    """Put back the signal handlers of ``before`` (a rolled-back reload's), from the main thread."""
    if threading.current_thread() is threading.main_thread():
        for signalnum, handler in before.items():
            with contextlib.suppress(TypeError, ValueError, OSError):
                _original(signalnum, handler)


def _signal(signalnum: int, handler: Any) -> Any:
    """``signal.signal`` while a reload runs (a module may keep it: ``from signal import
    signal``); the reload thread's calls go by its route, every other call straight through."""
    route = _routes.get(threading.get_ident())
    return _original(signalnum, handler) if route is None else route.install(signalnum, handler)


def _name(value: Any) -> str:
    if isinstance(value, int):
        with contextlib.suppress(ValueError):
            return signal.Signals(value).name
    return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
