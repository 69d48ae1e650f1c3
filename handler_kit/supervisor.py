"""``handler-kit serve --reload`` under a supervising process, which starts the server again when
an edit ends it.

An edit can end the server's process without a word: a segfault in an extension imported at
the top of handler.py, ``os._exit`` from a thread, the out-of-memory killer during a re-init.
So ``serve --reload`` runs the server as a child of a small supervising process, which holds the
listening socket (requests wait in its queue while the server starts again, rather than being
refused), and when the child ends unexpectedly says what it was doing (its flight record: the
edit it was loading, the fault handler's traceback) and starts it again:

- after it ended while loading an edit, or while serving: with the last good version of the
  code (which the server keeps after every load and reload), not the files on disk; those are
  reloaded once they change again;
- after it ended during its first load, or three times in a minute: once the files change.

A child that stops normally (Ctrl-C, the exit status 0) or fails as the command line fails
(a handler that cannot be loaded: status 1, and nothing was loading) ends the supervisor too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .endpoint.server import listen
from .reload import flight

RESTARTS = 3  # ends within WINDOW seconds, after which it waits for the files to change
WINDOW = 60.0


@dataclass(frozen=True)
class Supervised:
    """What a supervised server is given: the socket to serve on, and after a crash the last
    good version to load (a file of flight's) and the fingerprint of the files that crashed it."""

    fd: int
    last_good: str | None = None
    crashed: str | None = None


def supervise(
    command: Sequence[str],
    repo: Path,
    host: str,
    port: int,
    echo: Callable[[str], None],
    stop: threading.Event | None = None,
) -> int:
    """Run ``command`` (the server: ``handler-kit serve ... --reload``) as a supervised child
    until it stops, or Ctrl-C; start it again when it ends unexpectedly. Its exit status."""
    sock = listen(host, port)
    sock.set_inheritable(True)
    stop = stop or threading.Event()
    ends: list[float] = []
    extra: list[str] = []
    with sock, _terminate_on_sigterm(stop):
        while not stop.is_set():
            child = subprocess.Popen(
                [*command, "--supervised", str(sock.fileno()), *extra], pass_fds=(sock.fileno(),)
            )
            status = _wait(child, stop)
            if status is None or stop.is_set():
                return 0
            record = flight.record_of(child.pid)
            if status == 0 or (status > 0 and not (record and record.loading)):
                return status  # stopped, or failed as the command line fails: said already
            ends = [t for t in ends if time.monotonic() - t < WINDOW] + [time.monotonic()]
            good = flight.good_file(child.pid)
            echo(f"the server ended ({_status(status)}) {_what(record)}")
            if not good.is_file() or len(ends) >= RESTARTS:
                why = "during its first load" if not good.is_file() else "again and again"
                echo(f"it ended {why}: it starts again once the files change")
                if not _wait_for_change(repo, stop):
                    return 0
                extra = []  # from the files, as they are now
                continue
            crashed = record.fingerprint if record and record.loading else ""
            extra = ["--last-good", str(good), "--crashed", crashed]
            again = "starting it again with the last good version of the code"
            if crashed:
                again += "; the files that crashed it are reloaded once they change"
            echo(again)
    return 0


def _wait(child: subprocess.Popen, stop: threading.Event) -> int | None:
    """The child's exit status; None when the supervisor was stopped (the child too)."""
    try:
        while not stop.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                return child.wait(0.2)
    except KeyboardInterrupt:  # the terminal sent Ctrl-C to both: the child stops by itself
        pass
    # Ctrl-C first (it says "stopped"); a shell that started us in the background had the
    # child ignore it: then SIGTERM, and at last SIGKILL.
    for stop_it, wait in ((signal.SIGINT, 3), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        with contextlib.suppress(OSError):
            child.send_signal(stop_it)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(wait)
            break
    return None


@contextlib.contextmanager
def _terminate_on_sigterm(stop: threading.Event):
    """SIGTERM to the supervisor stops it, and its child with it (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_for_change(repo: Path, stop: threading.Event) -> bool:
    """Wait until a file of ``repo`` changes (True) or the supervisor is stopped (False)."""
    import watchfiles

    try:
        for changes in watchfiles.watch(repo, stop_event=stop, yield_on_timeout=True):
            if changes:
                return True
    except KeyboardInterrupt:
        pass
    return False


def _status(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-status).name
        return f"signal {-status}"
    return f"exit status {status}"


def _what(record: flight.Ended | None) -> str:
    """What the child was doing, from its flight record."""
    if record is None:
        return "with no record of what it was doing"
    if not record.loading:
        said = "while serving, not loading an edit"
    else:
        saved = f" (saved {record.saved[11:]})" if record.saved else ""
        said = f"while {record.doing}{saved}"
    return said + (f": {'; '.join(record.fault)}" if record.fault else "")


def child_command(argv: Sequence[str]) -> list[str]:
    """The command that runs this command line's ``serve`` as the supervised child."""
    return [sys.executable, "-m", "handler_kit", *argv]


def supervising() -> bool:
    """Whether ``serve --reload`` runs under a supervisor here (POSIX: it hands a socket on)."""
    return os.name == "posix"
