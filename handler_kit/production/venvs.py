"""The venvs production's server runs in: production's pins, then a repository's requirements.

``ensure_venv`` builds (once, cached) a venv with the versions production's image pins, for
the toolkit's server; ``with_requirements`` installs a repository's requirements.txt over it,
as production does at start-up, into a venv of its own cached by what pip reads. Both are
entries of the kit's cache (``handler_kit.cache``): built under a lock, stamped last.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..cache import CachedFolder, cache_dir, digest
from ..errors import HandlerKitError
from ..packages.environment import ask
from ..packages.image import production
from ..packages.requirements import Requirements
from .processes import CommandLog, tail
from .toolkit import Toolkit, ToolkitError

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
INSTALL_TIMEOUT = 900.0  # seconds for pip to install a repository's requirements.txt
STAMP = ".handler-kit-pins"  # the pins a venv was built with, written last
INSTALLED = ".installed"  # requirements.txt's text, written once it is installed
PIP_ENV = {"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def default_cache() -> Path:
    """Where ``ensure_venv`` keeps its venv: ``<HANDLER_KIT_CACHE>/toolkit-venv``."""
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

    def make(folder: Path) -> str:
        _build(folder, python, timeout)
        return wanted

    entry = _entry(venv, STAMP)
    entry.build(
        make,
        lambda stamped: stamped == wanted and python.exists(),
        timeout,
        what="the toolkit's venv",
        error=ToolkitError,
    )
    return python


def _entry(venv: Path, stamp: str) -> CachedFolder:
    """A venv of the cache: built in place (its paths are fixed), locked beside it."""
    return CachedFolder(venv, stamp, lock=venv.parent / f"{venv.name}.lock")


def _stamp_text() -> str:
    version = ".".join(map(str, sys.version_info[:2]))
    return "\n".join((f"python {version}", *PINS)) + "\n"


def _build(venv: Path, python: Path, timeout: float) -> None:
    log_file = venv.parent / f"{venv.name}.log"

    def failure(step: Sequence[str], why: str) -> ToolkitError:
        return ToolkitError(
            f"building the production toolkit's venv in {venv} failed "
            f"({' '.join(step[2:5])}...: {why}); the end of its log:\n{tail(log_file)}",
            hint=f"The full log: {log_file}. Pins: {', '.join(PINS)}.",
        )

    env = {**os.environ, **PIP_ENV}
    with CommandLog(log_file, timeout, failure) as log:
        log.run([sys.executable, "-m", "venv", str(venv)], env=env)
        log.run([str(python), "-m", "pip", "install", "--quiet", TORCH_PIN], env=env)
        log.run([str(python), "-m", "pip", "install", "--quiet", *PINS], env=env)


def venv_python(venv: Path) -> Path:
    """The interpreter of the venv in ``venv`` (``bin/python``, or ``Scripts/python.exe``)."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def with_requirements(repo: Path, python: Path, timeout: float = INSTALL_TIMEOUT) -> Path:
    """A python that has ``python``'s packages and the repository's requirements.txt installed.

    Production runs ``pip install -r requirements.txt`` before its server starts. Here the
    packages go into a venv of its own, cached by the text of every file pip reads, that sees
    ``python``'s packages through a ``.pth`` file: pip installs only what is missing or pinned
    otherwise (those shadow production's), and the venv with production's pins stays as it
    is. Without requirements.txt, ``python`` itself.
    """
    found = Requirements.read(repo)
    if found is None:
        return python
    text = found.file.read_text(encoding="utf-8", errors="replace")
    base = _site_packages(python)
    # Keyed by what the base has too: over a rebuilt base (other pins), pip decides afresh.
    installed = sorted(p.name for p in base.glob("*.dist-info"))
    read = "\n".join(
        f"{name}\n{name.read_text(encoding='utf-8', errors='replace')}" for name in found.files()
    )
    key = digest(f"{python.absolute()}\n{text}\n{read}\n{installed}")[:16]
    venv = cache_dir() / "production-requirements" / key
    layered = venv_python(venv)

    def make(folder: Path) -> str:
        _install(found.file, python, base, folder, timeout)
        return text

    what = f"the venv with {found.file}"
    _entry(venv, INSTALLED).build(make, lambda _: layered.exists(), timeout, what)
    return layered


def _install(file: Path, python: Path, base: Path, venv: Path, timeout: float) -> None:
    """A venv in ``venv`` that sees ``base``'s packages, with ``file`` installed into it."""
    log_file = venv.parent / f"{venv.name}.log"

    def failure(_: Sequence[str], why: str) -> HandlerKitError:
        return HandlerKitError(
            f"installing requirements.txt for production's server failed ({why}); the end "
            f"of pip's log:\n{tail(log_file)}",
            hint="Production runs the same `pip install -r requirements.txt` (in /app, not in "
            "the repository: a relative path such as ./mylib or -e . names nothing there) and "
            f"would fail to start too: fix requirements.txt. The full log: {log_file}",
        )

    layered = venv_python(venv)
    env = {**os.environ, **PIP_ENV}
    with (
        CommandLog(log_file, timeout, failure) as log,
        tempfile.TemporaryDirectory(prefix="handler-kit-pip-") as scratch,
    ):
        log.run([str(python), "-m", "venv", str(venv)], env=env)
        pth = _site_packages(layered) / "_production_packages.pth"
        pth.write_text(f"{base}\n", encoding="utf-8")
        # In an empty folder, not the repository: production's pip runs in /app, where a
        # relative path (./mylib, -e .) names nothing, and its server does not start.
        log.run([str(layered), "-m", "pip", "install", "-r", str(file)], cwd=scratch, env=env)


def _site_packages(python: Path) -> Path:
    """The site-packages folder of ``python``'s environment."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    try:
        done = ask(python, code, timeout=60)
        done.check_returncode()
    except (OSError, subprocess.SubprocessError) as error:
        said = error.stderr.strip() if isinstance(error, subprocess.CalledProcessError) else ""
        raise HandlerKitError(
            f"{python} did not say where its packages are ({error}){': ' + said if said else ''}",
            hint="Pass a python that runs (--python), or delete the cached venv with "
            "production's pins so that it is built again.",
        ) from error
    return Path(done.stdout.strip())
