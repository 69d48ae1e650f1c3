"""Shared fixtures: small handler repositories written into tmp_path from tests/fixtures."""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
from pathlib import Path

import pytest

import handler_kit
from handler_kit.reload.repository import ENTRY_STEMS, Repository

FIXTURES = Path(__file__).parent / "fixtures"
ENTRY = "handler.EndpointHandler"  # the module key production imports handler.py under


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

    def repository(self) -> Repository:
        """The repository as the kit finds it (its handler.py must be written first)."""
        return Repository.find(self.path)

    def write(self, name: str, fixture: str | None = None, text: str | None = None) -> Path:
        """Write ``name`` in the repository from a fixture file or from text."""
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(fixture_text(fixture) if fixture else text or "", encoding="utf-8")
        return file


def wait_for_no_reload_threads(timeout: float = 5) -> None:
    """Wait (at most ``timeout`` s) until every abandoned reload thread has ended."""
    deadline = time.monotonic() + timeout
    while any(t.name.endswith("(abandoned)") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "an abandoned reload thread is still running"
        time.sleep(0.02)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def live(repo: Repo) -> handler_kit.LiveHandler:
    """The handler of fixtures/base.py, loaded (its label is "positive" for a good day)."""
    repo.write("handler.py", "base.py")
    return handler_kit.load(repo.path)


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
    places = [getattr(module, "__file__", None)]
    with contextlib.suppress(TypeError):  # torch.classes: a __path__ that is no list,
        places += list(getattr(module, "__path__", None) or [])  # a __file__ of no folder
    places = [place for place in places if isinstance(place, str) and Path(place).is_absolute()]
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


# --- the fast lane: `make test-fast` runs `pytest -m "not slow"` ----------------------------

# Fixtures that start production's real server or build a venv: a test that uses one is slow.
SLOW_FIXTURES = frozenset({"production", "production_python", "alike", "unlike", "base"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as slow what the fast lane leaves out: the real model, production's server."""
    for item in items:
        if item.get_closest_marker("model") or SLOW_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before the slow tests run, build the models they use, two at a time (prebuild.py)."""
    slow = any(item.get_closest_marker("slow") for item in session.items)
    if not slow or hasattr(session.config, "workerinput"):  # an xdist worker: its controller's
        return
    from prebuild import build_models

    seconds, missing = build_models()
    said = f"template models ready in {seconds:.0f} s (built two at a time where missing)"
    if missing:
        said += f"; not built, left to their tests: {', '.join(missing)}"
    session.config.get_terminal_writer().line(said)


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
