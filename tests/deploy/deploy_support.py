"""The deploy tests' repositories and stand-ins (fixtures a test module imports by name).

``hub`` is the Hub stand-in with huggingface_hub pointed at it; ``plane`` adds the control
plane with a toolkit that is never started (its endpoints stay pending: for what happens
before production's server runs). The tests that run production's real server build their
own plane (test_end_to_end.py). Not a conftest.py: the tests of other wings import the
top one as ``conftest``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from standins import EndpointsStandIn, HubStandIn, Timing, pointed_at

from handler_kit.production.toolkit import Toolkit, ToolkitError, find_toolkit

try:
    TOOLKIT: Toolkit | None = find_toolkit()
except ToolkitError:
    TOOLKIT = None
# A test that starts production's real server: slow, and skipped without the toolkit's source.
NEEDS_PRODUCTION = [
    pytest.mark.slow,
    pytest.mark.skipif(
        TOOLKIT is None or TOOLKIT.source is None,
        reason="the production toolkit's source is not here (../shared/reference/"
        "huggingface-inference-toolkit beside the checkout, or $HANDLER_KIT_TOOLKIT)",
    ),
]

HANDLER = """\
import os


class EndpointHandler:
    def __init__(self, path=""):
        with open(os.path.join(path, "version.txt")) as file:
            self.version = file.read().strip()

    def __call__(self, data):
        return {"version": self.version, "inputs": data["inputs"]}
"""
BROKEN = """\
class EndpointHandler:
    def __init__(self, path=""):
        raise ValueError("the model folder has no weights")

    def __call__(self, data):
        return data
"""
CASE = '{"payload": {"inputs": "hello"}, "expected": {"version": "1", "inputs": "hello"}}\n'
# Endpoints of a plane with this timing stay pending for the length of a test.
PENDING = Timing(pending=60.0)  # a pause, a delete, the end of a test: ended at once


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``folder``; the folder."""
    for name, content in files.items():
        file = folder / name
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            file.write_bytes(content)
        else:
            file.write_text(content, encoding="utf-8")
    return folder


def write_repository(
    folder: Path, handler: str = HANDLER, files: dict[str, str | bytes] | None = None
) -> Path:
    """A tiny handler repository: handler.py, version.txt, a binary file, a case, ``files``."""
    tiny = {
        "handler.py": handler,
        "version.txt": "1\n",
        "weights.bin": bytes(range(256)) * 8,
        "cases/hello.json": CASE,
    }
    return write_files(folder, {**tiny, **(files or {})})


def asked(hub: HubStandIn) -> list[str]:
    """What the Hub stand-in was asked, but for huggingface_hub's own daily fetch of its
    registry of agent harnesses (a GET it sends on its first request of the day)."""
    return [request for request in hub.requests if "/api/agent-harnesses" not in request]


def writes(hub: HubStandIn) -> list[str]:
    """What was asked of the Hub stand-in that changes something: nothing, unless pushed."""
    return [request for request in hub.requests if not request.startswith("GET ")]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_repository(tmp_path / "tiny")


@pytest.fixture
def hub():
    with HubStandIn() as hub, pointed_at(hub):
        yield hub


@pytest.fixture
def plane(hub):
    """A control plane whose endpoints never start production's server (they stay pending)."""
    unused = Toolkit(source=Path("/nonexistent-toolkit"))
    with EndpointsStandIn(hub, PENDING, unused) as plane, pointed_at(hub, plane):
        yield plane
