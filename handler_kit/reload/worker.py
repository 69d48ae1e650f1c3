"""The thread reloads run in, with a time limit: a stage that hangs is given up, not waited for.

``run_bounded`` runs a stage in the reload thread and gives it up after its time limit, at
Ctrl-C, or when a newer save of the files supersedes it: the staging is rolled back at once
and the thread is asked to stop.
"""

from __future__ import annotations

import ctypes
import enum
import gc
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Abandoned, HandlerReloadError, ReloadInterrupted, ReloadSuperseded
from . import process
from .memory import release_failed
from .staging import Staging

T = TypeVar("T")
DEFAULT_TIMEOUT = 60.0  # seconds a reload may run; a re-init gets 3x the last build if longer


class _Worker:
    """The thread reloads run in, kept from one reload to the next.

    Starting a thread costs milliseconds once torch is imported (each new thread sets up the
    thread-local storage of every loaded library): a new thread per reload would cost more
    than the reload. A worker whose reload was given up is spent: it ends after that reload.
    """

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.spent = False
        self.thread = threading.Thread(target=self._loop, name="handler-kit-reload", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.spent:
            try:
                self.jobs.get()()
            except Abandoned:
                return  # asked to stop while idle: a race with the job's end; nothing to do


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def _current_worker() -> _Worker:
    global _worker
    with _worker_lock:
        if _worker is None or _worker.spent or not _worker.thread.is_alive():
            _worker = _Worker()
        return _worker


class GiveUp(enum.Enum):
    """Why a running reload was given up: each with its error and what it says to do."""

    TIMEOUT = "ran past its time limit"
    INTERRUPTED = "was interrupted (Ctrl-C)"
    SUPERSEDED = "was superseded by a newer save"

    def error(self, said: str, file: str | Path, line: int | None) -> HandlerReloadError:
        """The error that says so: ``said`` is the reason with its figure."""
        kind, hint = (
            HandlerReloadError,
            (
                "Nothing was swapped in. If the code is just slow, give it more time: "
                "reload(timeout=SECONDS), --reload-timeout SECONDS."
            ),
        )
        if self is GiveUp.INTERRUPTED:
            kind = ReloadInterrupted
        elif self is GiveUp.SUPERSEDED:
            kind, hint = ReloadSuperseded, "Nothing of it was swapped in."
        return kind(said, file=file, line=line, hint=hint)


def run_bounded(
    work: Callable[[], T],
    staging: Staging,
    timeout: float,
    superseded: Callable[[], bool] | None = None,
) -> T:
    """Run ``work`` (a stage) in the reload thread; give it up after ``timeout`` s, at Ctrl-C,
    or once ``superseded()`` (asked every quarter of a second) says a newer save is there.

    A given-up staging is rolled back at once and can never commit; its thread is asked to
    stop (which ends a busy loop, not a sleep) and left to finish on its own. The error names
    the file and line it was running (ReloadSuperseded for a newer save).
    """
    result: dict[str, Any] = {}
    finished, wake = threading.Event(), threading.Event()  # wake: finished, or a signal install
    route = process.Route(wake)  # signal.signal in the reload thread: run here, or skipped

    def job() -> None:
        try:
            with process.guarded(route):
                result["value"] = work()
        except BaseException as exc:  # every outcome is reported to the waiting thread
            result["error"] = exc
        finally:
            finished.set()
            wake.set()
        if staging.abandoned:  # given up while it ran: what it built or raised is nobody's
            _forget(result)

    worker = _current_worker()
    worker.jobs.put(job)
    why = _wait(finished, wake, route, timeout, superseded)
    staging.signals.update(route.before)  # put back if the reload is rolled back
    staging.notes += route.skipped
    if why is not None:
        raise _abandon(worker, staging, finished, *why)
    if "error" in result:
        if isinstance(result["error"], Abandoned):
            raise HandlerReloadError("the reload was abandoned")
        raise result["error"]
    return result["value"]


def _wait(
    finished: threading.Event,
    wake: threading.Event,
    route: process.Route,
    timeout: float,
    superseded: Callable[[], bool] | None,
) -> tuple[GiveUp, str] | None:
    """Wait for the job to finish; why it was given up (with the reason in words), or None."""
    started = time.monotonic()
    # Waiting on an Event, not Thread.join: a join interrupted by Ctrl-C marks a live thread
    # as stopped (CPython's bpo-45274 handling), and it could then never be asked to stop.
    try:
        while not finished.is_set():
            left = started + timeout - time.monotonic()
            if left <= 0:
                return GiveUp.TIMEOUT, f"{GiveUp.TIMEOUT.value} of {timeout:g} s"
            wake.wait(min(left, 0.25))  # short waits: Ctrl-C is seen at once
            wake.clear()
            route.serve()
            if not finished.is_set() and superseded is not None and superseded():
                took = time.monotonic() - started
                return GiveUp.SUPERSEDED, f"{GiveUp.SUPERSEDED.value} after {took:.1f} s"
    except KeyboardInterrupt:
        return GiveUp.INTERRUPTED, GiveUp.INTERRUPTED.value
    return None


def _abandon(
    worker: _Worker, staging: Staging, finished: threading.Event, why: GiveUp, said: str
) -> HandlerReloadError:
    """Roll the staging back, ask the thread to stop; the error that says where it was."""
    file, line, function = _where(worker.thread, staging.repository.path)
    staging.abandon()
    worker.spent = True
    worker.thread.name = "handler-kit-reload (abandoned)"
    if not finished.is_set():
        _stop(worker.thread)
    running = f" while running {function}" if function else ""
    message = f"the reload {said}{running}; it was abandoned"
    return why.error(message, file or staging.repository.entry.file, line)


def _forget(result: dict[str, Any]) -> None:
    """Let go of an abandoned stage's outcome (the handler it built, or its error's frames)."""
    try:
        error = result.pop("error", None)
        result.clear()
        if error is not None:
            release_failed(error)
        else:
            gc.collect()  # the built handler, if it sits in a reference cycle
    except Abandoned:
        pass  # asked to stop just now: the thread ends, and with it what it held


def _where(thread: threading.Thread, repo: Path) -> tuple[str | None, int | None, str]:
    """``(file, line, function)`` of the thread's innermost frame in the repository."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return None, None, ""
    inside = [
        f
        for f in traceback.extract_stack(frame)
        if f.filename.startswith(str(repo)) and Path(f.filename).is_file()
    ]
    if not inside:
        return None, None, ""
    last = inside[-1]
    return last.filename, last.lineno, last.name


def _stop(thread: threading.Thread) -> None:
    """Ask a thread to raise Abandoned at its next bytecode (a sleep in C ends first)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(Abandoned)
        )
