"""The processes production's side runs: commands with a log and a deadline, and servers.

One way for each: ``CommandLog`` runs the commands of a build (a venv, pip) one after
another with their output in one log file, within one deadline, and raises with the end of
the log when one fails; ``spawn`` starts a server with its output in a log file, in a session
of its own; ``wait_until_healthy`` waits for it to answer, ``stop_process`` stops it.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import IO

from .toolkit import ToolkitError

LOG_TAIL = 40  # lines of a log quoted in an error


def tail(file: Path, lines: int = LOG_TAIL) -> str:
    """The last ``lines`` lines of the log ``file``, to quote in an error."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(an empty log)"


class CommandLog:
    """Commands run one after another, their output in one log file, all within ``timeout`` s.

    ``with CommandLog(file, timeout, failure) as log: log.run([...])``. Each command line is
    written to the log before it runs; a command that exits with an error, or still runs at
    the deadline, raises ``failure(command, why)`` (``why``: ``exit status 3``, ``still
    running after 900 s``), whose message quotes the log's ``tail``.
    """

    def __init__(
        self,
        file: Path,
        timeout: float,
        failure: Callable[[Sequence[str], str], Exception],
    ) -> None:
        self.file = file
        self.timeout = timeout
        self.failure = failure
        self._deadline = 0.0
        self._handle: IO[str] | None = None

    def __enter__(self) -> CommandLog:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.file, "w", encoding="utf-8")
        self._deadline = time.monotonic() + self.timeout
        return self

    def __exit__(self, *_: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def run(
        self,
        command: Sequence[str],
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run ``command``, its output appended to the log; raise if it fails or runs late."""
        log = self._handle
        if log is None:
            raise RuntimeError("CommandLog.run outside its with block")
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        try:
            done = subprocess.run(
                list(command),
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=max(self._deadline - time.monotonic(), 1),
            )
            why = f"exit status {done.returncode}" if done.returncode else ""
        except subprocess.TimeoutExpired:
            why = f"still running after {self.timeout:.0f} s"
        log.flush()
        if why:
            raise self.failure(command, why)


def spawn(
    command: Sequence[str], log_file: Path, cwd: str | Path, env: Mapping[str, str]
) -> subprocess.Popen:
    """Start ``command`` (a server) with its output in ``log_file``, in a session of its own:
    Ctrl-C in a notebook does not reach it. Raises OSError when it cannot start."""
    with open(log_file, "w", encoding="utf-8") as log:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def free_port(host: str = "127.0.0.1", avoid: Collection[int] = ()) -> int:
    """A TCP port nothing listens on at the moment, and not one of ``avoid``.

    ``avoid`` holds ports given to servers that may not have bound them yet: two servers
    started together must not be handed the same port.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise ToolkitError(
        f"no free port on {host} besides {sorted(avoid)}",
        hint="Stop some of the servers running on this machine.",
    )


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop ``process``: terminate it, then kill it if it still runs after ``timeout`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def wait_until_healthy(
    process: subprocess.Popen,
    url: str,
    timeout: float,
    log_file: Path,
    what: str,
    exited_hint: str,
    slow_hint: str,
) -> None:
    """Wait (at most ``timeout`` s) until ``url`` answers 200 while ``process`` runs.

    Raises ToolkitError naming ``what`` with the end of ``log_file`` when the process exits
    first or the URL does not answer in time. The probe goes straight to the server: a proxy
    of the shell (``http_proxy``) would not reach 127.0.0.1, and the wait would blame the
    handler.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ToolkitError(
                f"{what} exited (status {process.returncode}) before answering; the end of "
                f"its log:\n{tail(log_file)}",
                hint=exited_hint,
            )
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or not 200 yet (HTTPError is an OSError)
            pass
        time.sleep(0.2)
    raise ToolkitError(
        f"{what} did not answer {url} within {timeout:g} s; the end of its log:\n{tail(log_file)}",
        hint=slow_hint,
    )
