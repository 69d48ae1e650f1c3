"""The real production toolkit: where it is, and the error when it is missing or fails.

Hugging Face's inference toolkit (``huggingface_inference_toolkit``) is the server Inference
Endpoints runs a handler in. It is not on PyPI: a user has its source folder (a clone of
github.com/huggingface/huggingface-inference-toolkit) or a venv where it is installed.
``find_toolkit`` locates it. The rest of production's side builds on this: ``venvs`` gives it
a venv with the versions production's image pins, ``servers`` runs its real server on a
repository in a fresh process (for tests and ``check --against-production`` to compare the
kit's endpoint with).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import HandlerKitError
from ..packages.environment import ask

PACKAGE = "huggingface_inference_toolkit"
APP = f"{PACKAGE}.webservice_starlette:app"
ENV_VARIABLE = "HANDLER_KIT_TOOLKIT"
# Where the project's checkouts find the reference copy: <ancestor>/shared/reference/<folder>.
REFERENCE = Path("shared") / "reference" / "huggingface-inference-toolkit"
UPSTREAM = "https://github.com/huggingface/huggingface-inference-toolkit"


class ToolkitError(HandlerKitError):
    """The production toolkit is missing, its venv could not be built, or its server failed."""


@dataclass(frozen=True)
class Toolkit:
    """Where the production toolkit is: its source folder, a python that imports it, or both."""

    source: Path | None = None  # the folder that holds src/huggingface_inference_toolkit
    python: Path | None = None  # an interpreter where the toolkit and its pins are importable

    def __repr__(self) -> str:
        found = [f"source {self.source}"] if self.source is not None else []
        found += [f"python {self.python}"] if self.python is not None else []
        return f"production's toolkit: {'; '.join(found) or 'not found'}"

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
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return ask(python, code, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
