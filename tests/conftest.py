"""Shared fixtures: small handler repositories written into tmp_path from tests/fixtures."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

import handler_kit
from handler_kit.reload.repository import ENTRY_STEMS

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    """The text of a fixture file (``base.py``, ``siblings/utils.py``, ...)."""
    return (FIXTURES / name).read_text(encoding="utf-8")


class Repo:
    """A model repository in a temporary folder, edited file by file like a user would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def copy(self, folder: str) -> None:
        """Write every file of a fixture folder (``patterns/cycle``) but its ``after/``."""
        root = FIXTURES / folder
        for file in sorted(root.rglob("*.py")):
            relative = file.relative_to(root)
            if relative.parts[0] != "after":
                self.write(relative.as_posix(), text=file.read_text(encoding="utf-8"))

    def edit(self, folder: str) -> None:
        """Write the ``after/`` versions of a fixture folder over the repository's files."""
        root = FIXTURES / folder / "after"
        for file in sorted(root.rglob("*.py")):
            self.write(file.relative_to(root).as_posix(), text=file.read_text(encoding="utf-8"))

    def write(self, name: str, fixture: str | None = None, text: str | None = None) -> Path:
        """Write ``name`` in the repository from a fixture file or from text."""
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(fixture_text(fixture) if fixture else text or "", encoding="utf-8")
        return file


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """``libstub``, a stand-in for a library, importable from outside the repository."""
    site = tmp_path / "site"
    (site / "libstub").mkdir(parents=True)
    source = FIXTURES / "patterns" / "_library" / "libstub" / "__init__.py"
    (site / "libstub" / "__init__.py").write_text(source.read_text(encoding="utf-8"))
    sys.path.append(str(site))
    return site


# Where installed code lives: the standard library, the venv's packages, the kit itself.
INSTALLED = tuple({sys.prefix, sys.base_prefix, str(Path(handler_kit.__file__).parent)})


def _from_a_repository(name: str, module: object) -> bool:
    """A module a test's handler repository brought in: an entry (handler, pipeline) or any
    module whose files are not installed code (a sibling, wherever its repository is)."""
    if name.split(".")[0] in ENTRY_STEMS:
        return True
    folders = getattr(module, "__path__", None)
    if not isinstance(folders, Iterable):  # torch.classes: a __path__ that lists nothing
        folders = []
    places = [getattr(module, "__file__", None), *folders]
    places = [place for place in places if isinstance(place, str)]
    return bool(places) and not any(place.startswith(INSTALLED) for place in places)


@pytest.fixture(autouse=True)
def _isolated_imports():
    """Each test's repository modules (handler, utils, ...) are forgotten after the test."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if _from_a_repository(name, sys.modules[name]):
            del sys.modules[name]
    importlib.invalidate_caches()


# --- quality figures: recorded by tests, printed at the end of the run --------------------

_QUALITY: list[tuple[str, str, float, str, float | None]] = []


@pytest.fixture
def quality():
    """Record a figure a test measured: ``quality(subject, figure, value, bound, seconds)``."""

    def record(subject: str, figure: str, value: float, bound: str, seconds=None) -> None:
        _QUALITY.append((subject, figure, value, bound, seconds))

    return record


def pytest_terminal_summary(terminalreporter):
    if not _QUALITY:
        return
    terminalreporter.section("template models: quality and build time")
    for subject, figure, value, bound, seconds in _QUALITY:
        built = f"  (built in {seconds:.0f} s)" if seconds is not None else ""
        terminalreporter.write_line(f"{subject:<26} {figure:<14} {value:.4g} ({bound}){built}")
