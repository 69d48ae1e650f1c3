"""flight.py: a process that dies while loading an edit leaves a record that says which."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import fixture_text

import handler_kit
from handler_kit.reload import flight

CRASH = """
import handler_kit, pathlib
live = handler_kit.load({repo!r})
pathlib.Path({repo!r}, "handler.py").write_text({edit!r})
print("reloading", flush=True)
live.reload()
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The kit's cache (where records are) in a folder of the test's own."""
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _crash(repo, cache, edit):
    """Load the repository in another process, then reload ``edit``: it dies."""
    env = {**os.environ, "HANDLER_KIT_CACHE": str(cache)}
    env.pop("PYTHONFAULTHANDLER", None)
    code = CRASH.format(repo=str(repo.path), edit=edit)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, timeout=60
    )
    assert done.stdout.decode().strip() == "reloading"
    return done


def test_a_segfault_while_reloading_is_said_by_the_next_load(repo, cache):
    repo.write("handler.py", "base.py")
    done = _crash(repo, cache, fixture_text("hostile/segfault_at_import.py"))
    assert done.returncode == -signal.SIGSEGV
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path)
    said = str(live.ended)
    assert said.startswith(f"process {live.ended.pid} ended without a word while reloading ")
    assert "reloading handler.py (saved " in said
    assert "Fatal Python error: Segmentation fault; handler.py:7 in <module>" in said
    assert "note: the last process to load this repository: process " in repr(live)
    assert handler_kit.load(repo.path).ended is None  # said once: the record is gone
    assert {p.stem for p in (cache / "flight").glob("*.log")} <= {str(os.getpid())}


def test_a_record_says_what_runs_and_is_gone_when_the_process_ends_normally(repo, cache):
    repo.write("handler.py", "base.py")
    env = {**os.environ, "HANDLER_KIT_CACHE": str(cache)}
    code = f"import handler_kit; handler_kit.load({str(repo.path)!r})"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert list((cache / "flight").glob("*.log")) == []
    assert flight.ended(repo.path) is None


def test_os_exit_from_a_thread_while_loading_is_said_too(repo, cache):
    repo.write("handler.py", "base.py")
    edit = "import os, threading\nthreading.Thread(target=os._exit, args=(3,)).start()\n"
    edit += "import time\ntime.sleep(5)\n" + fixture_text("base.py")
    done = _crash(repo, cache, edit)
    assert done.returncode == 3
    ended = flight.ended(repo.path)
    assert ended is not None and ended.doing == "reloading handler.py" and not ended.fault
