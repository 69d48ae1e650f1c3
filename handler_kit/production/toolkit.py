"""The real production toolkit: find it, give it a venv with production's pins, run its server.

Hugging Face's inference toolkit (``huggingface_inference_toolkit``) is the server Inference
Endpoints runs a handler in. It is not on PyPI: a user has its source folder (a clone of
github.com/huggingface/huggingface-inference-toolkit) or a venv where it is installed. This
module is the one owner of that toolkit: ``find_toolkit`` locates it, ``ensure_venv`` builds
(once, cached) a venv with the versions production's image pins, and ``ProductionServer`` runs
its real server on a repository in a fresh process, for tests and ``check --against-production``
to compare the kit's endpoint with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..endpoint.vertex import health_route, http_port
from ..errors import HandlerKitError
from .image import production

PACKAGE = "huggingface_inference_toolkit"
APP = f"{PACKAGE}.webservice_starlette:app"
ENV_VARIABLE = "HANDLER_KIT_TOOLKIT"
# Where the project's checkouts find the reference copy: <ancestor>/shared/reference/<folder>.
REFERENCE = Path("shared") / "reference" / "huggingface-inference-toolkit"
UPSTREAM = "https://github.com/huggingface/huggingface-inference-toolkit"

# Production's versions: every version its image pins, as production.json lists them (the
# toolkit's setup.py and its extras: transformers, huggingface_hub, sentence-transformers,
# diffusers, accelerate, peft), so that `pip install -r requirements.txt` over this venv finds
# what production's finds already there. torch is installed first, alone: the CPU build these
# machines install, never a bare `pip install torch` that would pull CUDA wheels. The server's
# unpinned needs follow; starlette is held below 0.47, the last line the toolkit runs with.
TORCH_PIN = "torch==2.13.0"
NOT_PINNED_HERE = {"torch", "huggingface-inference-toolkit"}  # the CPU build; the source itself
SERVER_NEEDS = ("starlette<0.47", "uvicorn", "orjson", "pillow", "pandas", "librosa", "einops")
# A package production does not pin but holds in a range (numpy<2, as pyctcdecode requires)
# is installed in that range, so this venv resolves the line production runs.
PINS = (
    TORCH_PIN,
    *sorted(
        f"{package.name}=={package.version}"
        for key, package in production().packages.items()
        if package.version and key not in NOT_PINNED_HERE
    ),
    *sorted(
        f"{package.name}{package.requires}"
        for key, package in production().packages.items()
        if package.requires and not package.version and key not in NOT_PINNED_HERE
    ),
    *SERVER_NEEDS,
)
BUILD_TIMEOUT = 1200.0  # seconds for the whole venv build (measured: about 2 minutes)
STAMP = ".handler-kit-pins"  # written last: a venv without it is half-built and rebuilt
LOG_TAIL = 40  # lines of a log quoted in an error


class ToolkitError(HandlerKitError):
    """The production toolkit is missing, its venv could not be built, or its server failed."""


@dataclass(frozen=True)
class Toolkit:
    """Where the production toolkit is: its source folder, a python that imports it, or both."""

    source: Path | None = None  # the folder that holds src/huggingface_inference_toolkit
    python: Path | None = None  # an interpreter where the toolkit and its pins are importable

    @property
    def src(self) -> Path | None:
        """The folder to put on PYTHONPATH (``<source>/src``), if there is a source folder."""
        return self.source / "src" if self.source is not None else None


def find_toolkit(path: str | Path | None = None) -> Toolkit:
    """The production toolkit at ``path``, ``$HANDLER_KIT_TOOLKIT`` or the reference folder.

    ``path`` is the toolkit's source folder (it holds ``src/huggingface_inference_toolkit``), or
    a venv or python where ``huggingface_inference_toolkit`` is importable. Without it, the
    environment variable, then ``shared/reference/huggingface-inference-toolkit`` beside an
    ancestor of the project's checkout or of the current folder.
    """
    if path is None:
        path = os.environ.get(ENV_VARIABLE) or None
        if path is None:
            found = _reference_folder()
            if found is None:
                raise ToolkitError(
                    "the production inference toolkit was not found (no path given, "
                    f"${ENV_VARIABLE} unset, no {REFERENCE} beside this checkout)",
                    hint=f"Clone it (git clone {UPSTREAM}) and pass its folder (--toolkit PATH), "
                    f"or set {ENV_VARIABLE} to it, or to a venv where it is installed.",
                )
            return Toolkit(source=found)
    given = Path(path).expanduser()
    if not given.exists():
        raise ToolkitError(
            f"no such file or folder: {given}",
            hint=f"Pass the toolkit's source folder (a clone of {UPSTREAM}) or a venv "
            "where it is installed.",
        )
    given = given.resolve() if given.is_dir() else given.absolute()
    for folder in (given, given.parent):  # the clone, or its src/ folder
        if given.is_dir() and (folder / "src" / PACKAGE / "webservice_starlette.py").is_file():
            return Toolkit(source=folder)
    python = _python_of(given)
    if python is None:
        raise ToolkitError(
            f"{given} is neither the toolkit's source folder (no src/{PACKAGE} in it) "
            "nor a venv or python",
            hint=f"Pass a clone of {UPSTREAM}, or a venv where {PACKAGE} is installed.",
        )
    if not _imports(python, PACKAGE):
        raise ToolkitError(
            f"{python} cannot import {PACKAGE}",
            hint=f"Install the toolkit in that venv (pip install {UPSTREAM}/archive/main.zip), "
            "or pass its source folder instead.",
        )
    return Toolkit(python=python)


def _reference_folder() -> Path | None:
    starts = [Path(__file__).resolve().parent.parent.parent, Path.cwd().resolve()]
    for start in starts:
        for ancestor in (start, *start.parents):
            candidate = ancestor / REFERENCE
            if (candidate / "src" / PACKAGE).is_dir():
                return candidate
    return None


def _python_of(path: Path) -> Path | None:
    if path.is_file() and os.access(path, os.X_OK):
        return path
    for name in ("bin/python", "bin/python3", "Scripts/python.exe"):
        if (path / name).is_file():
            return path / name
    return None


def _imports(python: Path, module: str, timeout: float = 120) -> bool:
    try:
        done = subprocess.run(
            [
                str(python),
                "-c",
                f"import importlib.util, sys; "
                f"sys.exit(importlib.util.find_spec({module!r}) is None)",
            ],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def default_cache() -> Path:
    """Where ``ensure_venv`` keeps its venv: ``<HANDLER_KIT_CACHE>/toolkit-venv``."""
    from ..cache import cache_dir

    return cache_dir() / "toolkit-venv"


def ensure_venv(
    toolkit: Toolkit, cache: Path | None = None, timeout: float = BUILD_TIMEOUT
) -> Path:
    """The python to run ``toolkit``'s server with; builds a venv with production's pins once.

    A toolkit given as a python is used as it is. Otherwise a venv is built in ``cache``
    (default ``<HANDLER_KIT_CACHE>/toolkit-venv``) with ``PINS``, torch first; a stamp that
    lists the pins marks it complete, so the next call returns at once, and a file lock keeps
    two processes from building it together. A build that fails or runs past ``timeout``
    seconds raises with the tail of pip's log.
    """
    if toolkit.python is not None:
        return toolkit.python
    venv = Path(cache) if cache is not None else default_cache()
    python = venv_python(venv)
    wanted = _stamp_text()
    if _stamped(venv, wanted) and python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _lock(venv.parent / f"{venv.name}.lock", timeout):
        if _stamped(venv, wanted) and python.exists():  # built by another process meanwhile
            return python
        _build(venv, python, timeout)
        (venv / STAMP).write_text(wanted, encoding="utf-8")
    return python


def _stamp_text() -> str:
    version = ".".join(map(str, sys.version_info[:2]))
    return "\n".join((f"python {version}", *PINS)) + "\n"


def _stamped(venv: Path, wanted: str) -> bool:
    try:
        return (venv / STAMP).read_text(encoding="utf-8") == wanted
    except OSError:
        return False


@contextlib.contextmanager
def _lock(file: Path, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``file`` between processes, waited for at most ``timeout`` s."""
    try:
        import fcntl
    except ImportError:  # Windows: no fcntl; one build at a time is then up to the user
        yield
        return
    with open(file, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ToolkitError(
                        f"another process has been building the toolkit's venv for over "
                        f"{timeout:.0f} s (lock {file})",
                        hint="Wait for it, or stop it and delete the lock file.",
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(venv: Path, python: Path, timeout: float) -> None:
    if venv.exists():
        shutil.rmtree(venv)  # half-built or built with other pins
    log_file = venv.parent / f"{venv.name}.log"
    deadline = time.monotonic() + timeout
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", TORCH_PIN],
        [str(python), "-m", "pip", "install", "--quiet", *PINS],
    ]
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with open(log_file, "w", encoding="utf-8") as log:
        for step in steps:
            log.write(f"$ {' '.join(step)}\n")
            log.flush()
            left = deadline - time.monotonic()
            try:
                done = subprocess.run(
                    step,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=max(left, 1),
                    env=env,
                )
                failed = f"exit status {done.returncode}" if done.returncode else ""
            except subprocess.TimeoutExpired:
                failed = f"still running after {timeout:.0f} s"
            if failed:
                raise ToolkitError(
                    f"building the production toolkit's venv in {venv} failed "
                    f"({' '.join(step[2:5])}...: {failed}); the end of its log:\n"
                    f"{tail(log_file)}",
                    hint=f"The full log: {log_file}. Pins: {', '.join(PINS)}.",
                )


def venv_python(venv: Path) -> Path:
    """The interpreter of the venv in ``venv`` (``bin/python``, or ``Scripts/python.exe``)."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def tail(file: Path, lines: int = LOG_TAIL) -> str:
    """The last ``lines`` lines of the log ``file``, to quote in an error."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(an empty log)"


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
        health = health_route(env)
        fd, name = tempfile.mkstemp(prefix="production-server-", suffix=".log")
        self._log_file = Path(name)
        command = [str(python), "-m", "uvicorn", APP, "--host", self.host, "--port", str(self.port)]
        cwd = self.toolkit.src if self.toolkit.src is not None else self.repo
        try:
            with os.fdopen(fd, "w") as log:
                self._process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a notebook does not reach it
                )
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
                f"{self.url}{health}",
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
