"""What a load's or reload's code does to the whole process: signal handlers, ``os._exit``.

While a load or reload runs its code, the thread that runs it is guarded (:func:`guarded`):

- ``os._exit(n)`` there would end the process at once, the notebook's kernel or the server with
  it, without a word: it raises :class:`ProcessExit` instead, reported as the edit's error
  (production's server, which imports the same code, would stop at start-up).
- ``signal.signal(...)`` is made as production makes it, in the main thread (below).

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
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..report import name_of

_original = signal.signal
_original_exit = os._exit
_guarded: dict[int, Route | None] = {}  # thread id -> where its signal.signal calls go
_lock = threading.Lock()
_pid = os.getpid()  # a process forked by the code is not guarded: its os._exit is its own
_OUTSIDE = object()


class ProcessExit(SystemExit):
    """``os._exit(n)`` called by a load's or reload's code: refused, and said."""


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
def guarded(route: Route | None = None) -> Iterator[None]:
    """In the thread that runs a load's or reload's code: ``os._exit`` is refused, and
    ``signal.signal`` calls go by ``route`` (None: straight through, as in the main thread)."""
    global _pid, _original, _original_exit
    me = threading.get_ident()
    with _lock:
        if not _guarded:  # what is in place now is what is put back (another patch, say)
            _pid = os.getpid()
            if signal.signal is not _signal:
                _original, signal.signal = signal.signal, _signal
            if os._exit is not _exit:
                _original_exit, os._exit = os._exit, _exit
        outer = _guarded.get(me, _OUTSIDE)
        _guarded[me] = route
    try:
        yield
    finally:
        with _lock:
            if outer is _OUTSIDE:
                _guarded.pop(me, None)
            else:
                _guarded[me] = outer
            if not _guarded:
                if signal.signal is _signal:
                    signal.signal = _original
                if os._exit is _exit:
                    os._exit = _original_exit


def restore(before: dict[int, Any]) -> None:
    """Put back the signal handlers of ``before`` (a rolled-back reload's), from the main thread."""
    if threading.current_thread() is threading.main_thread():
        for signalnum, handler in before.items():
            with contextlib.suppress(TypeError, ValueError, OSError):
                _original(signalnum, handler)


def _signal(signalnum: int, handler: Any) -> Any:
    """``signal.signal`` while a reload runs (a module may keep it: ``from signal import
    signal``); the reload thread's calls go by its route, every other call straight through."""
    route = _guarded.get(threading.get_ident())
    return _original(signalnum, handler) if route is None else route.install(signalnum, handler)


def _exit(status: int) -> None:
    """``os._exit`` while a load or reload runs: refused in the thread that runs its code."""
    if threading.get_ident() in _guarded and os.getpid() == _pid:
        raise ProcessExit(
            f"os._exit({status}) would end this process at once, without a word or any "
            "cleanup (the kernel, the server)"
        )
    _original_exit(status)


def _name(value: Any) -> str:
    if isinstance(value, int):
        with contextlib.suppress(ValueError):
            return signal.Signals(value).name
    return name_of(value)
