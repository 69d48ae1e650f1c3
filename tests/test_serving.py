"""serving.py: the command line's serve, its reload on save and serve --reload's supervisor."""

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import fixture_text, wait_for_no_reload_threads

from handler_kit.serving import run


@contextlib.contextmanager
def running(repo, **options):
    """``run`` (the CLI's serve) in a thread: yields the lines it echoed (a live list) and
    its URL; stopped on exit."""
    lines: list[str] = []
    stop = threading.Event()
    options = dict(repo=str(repo.path), port=0, stop=stop, echo=lines.append, **options)
    worker = threading.Thread(target=run, kwargs=options)
    worker.start()
    try:
        wait_for(lines, 1)
        yield lines, lines[0].split(" at ")[1].split(" ")[0]
    finally:
        stop.set()
        worker.join(10)


def wait_for(lines: list[str], count: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_run_hot_reloads_on_save(repo):
    repo.write("handler.py", "server/version_v1.py")
    with running(repo, reload=True, interval=0.05) as (lines, url):
        assert httpx.post(url, json={"inputs": "a"}).json()["version"] == 1
        repo.write("handler.py", "server/version_v2.py")
        wait_for(lines, 2)
        assert lines[1].startswith("handler.py reloaded hot in ")
        assert httpx.post(url, json={"inputs": "a"}).json()["version"] == 2
        repo.write("handler.py", "syntax_error.py")
        wait_for(lines, 3)
        assert lines[2].startswith("reload failed: ") and "SyntaxError" in lines[2]
        assert lines[2].count("keeps serving") == 1  # said once: by the error
        assert lines[2].endswith(
            "The last good handler keeps serving: fix the file and reload again."
        )
        assert httpx.post(url, json={"inputs": "a"}).json()["version"] == 2
        repo.write("handler.py", "server/version_v2.py")  # put back as it was
        wait_for(lines, 4)
        assert lines[3] == "handler.py back to the last good version: nothing to reload"
    assert lines[-1] == "stopped"


def test_the_command_line_serves_a_repository(repo):
    repo.write("handler.py", "server/version_v1.py")
    command = [Path(sys.executable).parent / "handler-kit", "serve", str(repo.path), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(
            f"serving {repo.path.resolve() / 'handler.py'} at http://127.0.0.1:"
        )
        url = first.split(" at ")[1].split(" ")[0]
        assert httpx.post(url + "/predict", json={"inputs": "cli"}).json() == {
            "version": 1,
            "inputs": "cli",
        }
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow  # twenty seconds of edits: out of the fast lane
def test_serve_reload_survives_a_stream_of_good_broken_fatal_and_hanging_edits(repo):
    """4 clients for 20 s, an edit every second: no request fails, the server stays up."""
    good = fixture_text("stress/good.py")
    lazy = fixture_text("stress/lazymod.py")
    edits = [
        ("handler.py", lambda v: good.replace("VERSION = 0", f"VERSION = {v}")),
        ("lazymod.py", lambda v: lazy.replace("TAG = 0", f"TAG = {v}")),
        ("handler.py", lambda v: fixture_text("syntax_error.py")),
        ("handler.py", lambda v: good.replace("VERSION = 0", f"VERSION = {v}")),
        ("handler.py", lambda v: fixture_text("fatal/sys_exit.py")),
        ("handler.py", lambda v: good.replace("VERSION = 0", f"VERSION = {v}")),
        ("handler.py", lambda v: fixture_text("fatal/busy_loop.py")),
        ("handler.py", lambda v: fixture_text("fatal/argparse_at_import.py")),
        ("handler.py", lambda v: fixture_text("stress/hanging_init.py")),
        ("handler.py", lambda v: fixture_text("fatal/keyboard_interrupt_init.py")),
        ("lazymod.py", lambda v: lazy.replace("TAG = 0", f"TAG = {v}")),
    ]
    repo.write("handler.py", text=good)
    repo.write("lazymod.py", text=lazy)
    command = [
        Path(sys.executable).parent / "handler-kit",
        "serve", str(repo.path), "--port", "0", "--reload", "--reload-timeout", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as session:
            while not stop.is_set():
                try:
                    response = session.post("/predict", json={"inputs": "x"})
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    continue
                statuses.append(response.status_code)
                if response.status_code != 200:
                    failures.append(response.text)

    try:
        url = process.stdout.readline().split(" at ")[1].split(" ")[0]
        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        started = time.monotonic()
        version = 0
        while time.monotonic() - started < 20:
            name, text = edits[version % len(edits)]
            version += 1
            repo.write(name, text=text(version))
            time.sleep(1)
        repo.write("handler.py", text=good.replace("VERSION = 0", "VERSION = 999"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if httpx.post(url, json={"inputs": "x"}).json()["version"] == 999:
                break
            time.sleep(0.2)
        stop.set()
        for thread in clients:
            thread.join(30)
        assert process.poll() is None, "the server stopped"
        assert httpx.get(url + "/health").text == "Ok"
        assert httpx.post(url, json={"inputs": "x"}).json()["version"] == 999
    finally:
        stop.set()
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert not failures, failures[:3]
    assert len(statuses) > 100
    assert output.count("reload failed: ") >= 6, output
    assert output.count("reload failed: ") == output.count("The last good handler keeps serving")
    assert "ran past its time limit of 1 s" in output


@pytest.mark.parametrize("verbose", [False, True])
def test_the_command_line_prints_handler_errors_and_with_verbose_every_request(repo, verbose):
    repo.write("handler.py", "server/inspect_handler.py")
    with running(repo, verbose=verbose) as (lines, url):
        assert httpx.post(url, json={"inputs": "a"}).status_code == 200
        assert httpx.post(url, json={"inputs": "a", "fail": "no"}).status_code == 400
    printed = "\n".join(lines)
    assert "ERROR handler error on /:\nTraceback (most recent call last):" in printed
    assert "handler.py" in printed and "ValueError: the handler refused: no" in printed
    assert "anyio" not in printed
    assert ("INFO POST / 200 | " in printed) is verbose


def test_a_base_exception_in_call_is_500_as_in_production_and_is_printed(repo):
    repo.write("handler.py", "hostile/base_exception_call.py")
    long = {"inputs": "a story", "parameters": {"max_new_tokens": 2000}}
    with running(repo) as (lines, url):
        response = httpx.post(url, json=long, timeout=10)
        assert httpx.post(url, json={"inputs": "hi"}, timeout=10).status_code == 200
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    printed = "\n".join(lines)
    assert "ERROR handler error on /, answered 500 as production does" in printed
    assert "GenerationTimedOut is a BaseException, not an Exception" in printed
    assert "handler.py:19 in __call__" in printed
    assert "GenerationTimedOut: generate() did not finish within 30 s" in printed


def test_serve_reload_builds_the_handler_again_when_the_files_are_put_back(repo):
    repo.write("handler.py", "hostile/reads_config.py")
    repo.write("config.json", text='{"labels": ["joy", "sadness"]}')
    good = (repo.path / "handler.py").read_text()
    with running(repo, reload=True, interval=0.05, reinit_memory="free-first") as (lines, url):
        repo.write("config.json", text='{"labels": [')  # half-written while handler.py breaks
        repo.write("handler.py", text=good.replace("config =", "raise KeyError('x')\n        c ="))
        wait_for(lines, 2)
        assert lines[1].startswith("reload failed: ") and "There is no handler now" in lines[1]
        assert "keeps serving" not in lines[1]
        assert httpx.post(url, json={"inputs": "a"}).status_code == 400
        repo.write("config.json", text='{"labels": ["joy", "sadness"]}')
        repo.write("handler.py", text=good)  # the last good text again
        wait_for(lines, 3)
        assert lines[2].startswith("handler.py re-initialised in ")
        assert "there was no handler (a free-first re-init lost it): built it again" in lines[2]
        assert httpx.post(url, json={"inputs": "a"}).json() == {"label": "sadness", "version": 1}


def test_serve_reload_serves_a_fix_saved_while_an_edit_hangs(repo):
    repo.write("handler.py", "server/version_v1.py")
    with running(repo, reload=True, interval=0.05) as (lines, url):
        repo.write("handler.py", "hostile/retry_forever_init.py")  # hangs; its limit: 60 s
        time.sleep(0.5)
        repo.write("handler.py", "server/version_v2.py")
        wait_for(lines, 2)
        assert lines[1].startswith("handler.py reloaded hot in "), lines
        assert "the reload was superseded by a newer save after " in lines[1]
        assert httpx.post(url, json={"inputs": "a"}).json()["version"] == 2
    wait_for_no_reload_threads()


@pytest.mark.slow  # three processes start: seconds
def test_serve_reload_starts_the_server_again_when_an_edit_crashes_it(repo, tmp_path):
    repo.write("handler.py", "server/version_v1.py")
    command = [
        Path(sys.executable).parent / "handler-kit", "serve", str(repo.path), "--port", "0",
        "--reload",
    ]  # fmt: skip
    env = {**os.environ, "HANDLER_KIT_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))
    reader.start()
    try:
        wait_for(lines, 1)
        url = lines[0].split(" at ")[1].split(" ")[0]
        assert httpx.post(url, json={"inputs": "a"}).json()["version"] == 1
        repo.write("handler.py", "hostile/segfault_at_import.py")
        wait_for(lines, 5, seconds=30)
        said = "".join(lines[1:5])
        assert "the server ended (SIGSEGV) while reloading handler.py (saved " in said
        assert "Fatal Python error: Segmentation fault; handler.py:7 in <module>" in said
        assert "starting it again with the last good version of the code; the files that " in said
        assert lines[3].startswith(f"serving {repo.path.resolve() / 'handler.py'} at {url} ")
        assert lines[4] == "(the last good version of the code, not the files on disk)\n"
        # The same address, the last good code; the crashing files are not loaded again.
        assert httpx.post(url, json={"inputs": "b"}, timeout=10).json()["version"] == 1
        repo.write("handler.py", "server/version_v2.py")
        wait_for(lines, 6)
        assert lines[5].startswith("handler.py reloaded hot in ")
        assert httpx.post(url, json={"inputs": "c"}).json()["version"] == 2
    finally:
        process.terminate()  # the supervisor stops its server too
        process.wait(20)
        reader.join(10)
    assert lines[-1] == "stopped\n" and process.returncode == 0
