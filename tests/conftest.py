"""Shared fixtures: small handler repositories written into tmp_path from tests/fixtures."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    """The text of a fixture file (``base.py``, ``siblings/utils.py``, ...)."""
    return (FIXTURES / name).read_text(encoding="utf-8")


class Repo:
    """A model repository in a temporary folder, edited file by file like a user would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, fixture: str | None = None, text: str | None = None) -> Path:
        """Write ``name`` in the repository from a fixture file or from text."""
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(fixture_text(fixture) if fixture else text or "", encoding="utf-8")
        return file


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture(autouse=True)
def _isolated_imports():
    """Each test's repository modules (handler, utils, ...) are forgotten after the test."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.split(".")[0] in {
            "handler",
            "pipeline",
            "utils",
            "consts",
            "helpers",
            "pkg",
            "impl",
            "lazyutils",
        }:
            del sys.modules[name]
    importlib.invalidate_caches()
