"""examples/: `make demo` runs the guide's notebook and prints what a user came to see."""

import subprocess
import sys
from pathlib import Path

import pytest

# Model builds, notebook runs, production's server: out of the fast lane (make test-fast).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent


@pytest.mark.model
def test_the_demo_prints_the_guides_predictions_the_reload_and_both_copies():
    done = subprocess.run(
        [sys.executable, ROOT / "examples" / "demo.py"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "normal day (2022-08-08): joy (" in out
    assert "holiday (2022-07-04):    happy" in out
    assert "edit:  handler.py reloaded hot in " in out and ": __call__ changed; kept" in out
    notebook = ROOT / "build" / "demo" / "01_custom_handler.ipynb"
    assert f"executed notebook: {notebook}" in out and notebook.is_file()
    assert f"as HTML:           {notebook.with_suffix('.html')}" in out
    assert notebook.with_suffix(".html").is_file()
    # Nothing a newcomer would take for a problem with the kit (the kernel's TCP warning).
    assert "WARNING" not in out + done.stderr and "encryption" not in out + done.stderr
