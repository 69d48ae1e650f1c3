"""The models the slow tests use, built two at a time before the first of them runs.

Each build trains on one PyTorch thread (``templates.builds.one_thread``), so on a cold cache
(CI's) the suite used to spend four minutes building twelve models one after the other on
one core of two. Built here in two processes at once, they take half that; every test then
finds them in the cache, as it would after a first run. A build that fails here is left to
the test that needs it, which builds it again and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from handler_kit import templates

EMOTION = "emotion"  # the guide's model (training.emotion_model); the ONNX template's too
# Two lanes of about equal length (seconds measured cold): the ONNX template follows the
# emotion model it is exported from. A template not named here joins the second lane.
FIRST = (EMOTION, "onnx-text-classification", "document-layout", "sentence-embeddings")
BUILD = """\
import sys
from handler_kit import templates
from handler_kit.templates import training

for name in sys.argv[1:]:
    build = training.emotion_model if name == "emotion" else templates.get(name).model
    try:
        build(progress=False)
    except Exception as error:  # the next model of the lane is built all the same
        said = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print("failed", name, said, flush=True)
    else:
        print("built", name, flush=True)
"""
LIMIT = 900.0  # seconds for a lane: a build that hangs is left to its test


def lanes() -> list[list[str]]:
    """The models in two lists, each built in order by one process."""
    first = [name for name in FIRST if name == EMOTION or name in templates.names()]
    return [first, [name for name in templates.names() if name not in first]]


def build_models() -> tuple[float, list[str]]:
    """Build every lane's models at once; the seconds it took and what did not build."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    running = [
        (
            lane,
            subprocess.Popen(
                [sys.executable, "-c", BUILD, *lane],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # the builds' warnings: their tests show them
                text=True,
            ),
        )
        for lane in lanes()
    ]
    missing = []
    for lane, process in running:
        left = max(LIMIT - (time.monotonic() - started), 1.0)
        try:
            out, _ = process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        said = {}
        for line in out.splitlines():
            outcome, _, rest = line.partition(" ")
            name, _, why = rest.partition(" ")
            if outcome in ("built", "failed"):  # not a line a build printed itself
                said[name] = why if outcome == "failed" else None
        for name in lane:
            if name not in said:
                missing.append(f"{name} (not reached)")
            elif said[name] is not None:
                missing.append(f"{name} ({said[name]})")
    return time.monotonic() - started, missing
