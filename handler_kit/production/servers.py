"""The two servers a comparison runs, each in a fresh process: production's and the kit's.

``ProductionServer`` is the production toolkit's real server on a repository, in a venv with
production's pins (``venvs.ensure_venv``); ``kit_server`` is ``handler-kit serve`` on it. Both
write their output to a log that an error quotes, and stop when their block ends.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

from ..endpoint.vertex import health_route, http_port, without_vertex
from .processes import free_port, spawn, stop_process, wait_until_healthy
from .toolkit import APP, Toolkit, ToolkitError, find_toolkit
from .venvs import ensure_venv

START_TIMEOUT = 300.0  # seconds each server may take to build the handler and answer /health


class ProductionServer:
    """The production toolkit's real server on a repository, in a fresh process.

    ``with ProductionServer(repo) as server:`` starts it (``start``) and stops it after;
    ``server.url`` is where it listens, ``server.log`` what it printed. ``env`` adds variables
    (``HF_TASK``, ``AIP_MODE``...) to its environment; ``HF_MODEL_DIR`` is the repository and
    the Hub is off (``HF_HUB_OFFLINE=1``). ``avoid`` lists ports it must not take (those of
    servers started beside it).
    """

    def __init__(
        self,
        repo: str | Path,
        toolkit: Toolkit | None = None,
        python: str | Path | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        avoid: Collection[int] = (),
    ) -> None:
        self.repo = Path(repo).resolve()
        self.toolkit = toolkit if toolkit is not None else find_toolkit()
        self.python = Path(python) if python is not None else None
        self.env = dict(env or {})
        self.host = host
        self.avoid = frozenset(avoid)  # ports other servers started with it were given
        self.port: int | None = None
        self._process: subprocess.Popen | None = None
        self._log_file: Path | None = None
        self._kept_log = ""  # the log of a stopped server (its file is removed)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self.port is None:
            raise ToolkitError("the production server has not been started: call start()")
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        if self._log_file is None:
            return self._kept_log
        try:
            return self._log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return self._kept_log

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def environment(self) -> dict[str, str]:
        """The server process's environment: ours, the toolkit's path, the repository, env."""
        env = {
            **os.environ,
            "HF_MODEL_DIR": str(self.repo),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("HF_MODEL_ID", "PYTHONHOME"):
            env.pop(name, None)  # entrypoint.sh refuses both HF_MODEL_ID and HF_MODEL_DIR
        if self.toolkit.src is not None:
            path = [str(self.toolkit.src), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        env.update(self.env)
        return env

    def start(self, timeout: float = 120) -> ProductionServer:
        """Start the server and wait (at most ``timeout`` s) until its health route answers.

        Raises ToolkitError with the end of the server's log if it exits or does not answer.
        """
        if self.running:
            return self
        python = self.python or ensure_venv(self.toolkit)
        env = self.environment()
        # Vertex AI: entrypoint.sh listens on AIP_HTTP_PORT when AIP_MODE is set.
        port = http_port(env)
        self.port = port if port is not None else free_port(self.host, self.avoid)
        fd, name = tempfile.mkstemp(prefix="production-server-", suffix=".log")
        os.close(fd)
        self._log_file = Path(name)
        command = [str(python), "-m", "uvicorn", APP, "--host", self.host, "--port", str(self.port)]
        cwd = self.toolkit.src if self.toolkit.src is not None else self.repo
        try:
            self._process = spawn(command, self._log_file, cwd, env)
        except OSError as error:  # no such python, or no such toolkit folder
            self._log_file.unlink(missing_ok=True)
            self._log_file, self._process, self.port = None, None, None
            raise ToolkitError(
                f"the production server could not be started with {python} in {cwd}: {error}",
                hint="Pass a python that exists (--python), and the toolkit's source folder "
                "or a venv that has it (--toolkit).",
            ) from error
        try:
            wait_until_healthy(
                self._process,
                f"{self.url}{health_route(env)}",
                timeout,
                self._log_file,
                f"the production server on {self.repo}",
                exited_hint="Production would not start either: fix what the log says.",
                slow_hint="A slow __init__ (a big model) needs a longer timeout.",
            )
        except ToolkitError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop the server: terminate, then kill after ``timeout`` seconds; its log is kept
        in memory (``.log``) and its file removed."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout)
        if self._log_file is not None:
            self._kept_log = self.log
            self._log_file.unlink(missing_ok=True)
            self._log_file = None

    def __enter__(self) -> ProductionServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"serving at {self.url}" if self.running else "stopped"
        return f"<ProductionServer {self.repo} {state}>"


@contextlib.contextmanager
def kit_server(
    repo: Path,
    timeout: float = START_TIMEOUT,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Callable[[], str]]:
    """``handler-kit serve REPO`` in a fresh process on ``port`` (default: a free one) of
    127.0.0.1.

    It starts at once; the function it gives waits (at most ``timeout`` s) until the endpoint
    answers and returns its URL, so another server can start meanwhile. It serves Inference
    Endpoints' routes on that port: Vertex AI's variables of this shell are not passed on.
    ``env`` adds variables (an endpoint's), as ``ProductionServer``'s does.
    """
    port = port if port is not None else free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="handler-kit-serve-") as scratch:
        log_file = Path(scratch) / "serve.log"
        command = [sys.executable, "-m", "handler_kit", "serve", str(repo), "--port", str(port)]
        env = {**without_vertex({**os.environ, **(env or {})}), "PYTHONUNBUFFERED": "1"}
        # The scratch folder is the working directory, as in the check.
        process = spawn(command, log_file, scratch, env)
        started = time.monotonic()

        def ready() -> str:
            left = max(timeout - (time.monotonic() - started), 1.0)
            wait_until_healthy(
                process,
                f"{url}/health",
                left,
                log_file,
                "the kit's endpoint",
                exited_hint="Run `handler-kit check REPO` to see why the handler does not start.",
                slow_hint="A handler that builds a big model needs longer: raise the timeout.",
            )
            return url

        try:
            yield ready
        finally:
            stop_process(process)
