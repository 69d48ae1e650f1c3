"""The production toolkit: finding it, its cached venv, its real server in a fresh process."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

from handler_kit import cache
from handler_kit.errors import HandlerKitError
from handler_kit.production import processes, servers, toolkit, venvs
from handler_kit.production.servers import ProductionServer
from handler_kit.production.toolkit import Toolkit, ToolkitError, find_toolkit
from handler_kit.production.venvs import ensure_venv

FIXTURES = Path(__file__).parents[1] / "fixtures" / "parity"


def reference() -> Path | None:
    try:
        return find_toolkit().source
    except ToolkitError:
        return None


REFERENCE = reference()
needs_reference = pytest.mark.skipif(
    REFERENCE is None,
    reason="the production toolkit's source is not here (../shared/reference/"
    "huggingface-inference-toolkit beside the checkout, or $HANDLER_KIT_TOOLKIT)",
)


@pytest.fixture(scope="module")
def production_python() -> Path:
    """The python with production's pins (built once into the cache, ~1-2 min the first time)."""
    return ensure_venv(find_toolkit())


def test_a_missing_toolkit_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(toolkit.ENV_VARIABLE, raising=False)
    monkeypatch.setattr(toolkit, "REFERENCE", Path("no-such-reference-folder"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolkitError) as caught:
        find_toolkit()
    assert isinstance(caught.value, HandlerKitError)
    assert "git clone https://github.com/huggingface/huggingface-inference-toolkit" in str(
        caught.value
    )
    assert toolkit.ENV_VARIABLE in str(caught.value)


def test_a_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ToolkitError, match="no such file or folder"):
        find_toolkit(tmp_path / "nowhere")


def test_a_folder_that_is_no_toolkit_is_refused(tmp_path):
    with pytest.raises(ToolkitError, match="neither the toolkit's source folder"):
        find_toolkit(tmp_path)


def test_a_python_without_the_toolkit_is_refused(tmp_path):
    with pytest.raises(ToolkitError, match="cannot import huggingface_inference_toolkit"):
        find_toolkit(sys.executable)


def test_a_venv_where_the_toolkit_imports_is_its_python(tmp_path):
    # A stand-in venv whose python finds a package of that name (on PYTHONPATH).
    site = tmp_path / "site" / toolkit.PACKAGE
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    python = venv / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{site.parent}" exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    found = find_toolkit(tmp_path / "venv")
    assert found == Toolkit(python=python)
    assert ensure_venv(found) == python  # a given python is used as it is


def test_a_source_folder_is_found_from_itself_its_src_and_the_environment(tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    (clone / "src" / toolkit.PACKAGE).mkdir(parents=True)
    (clone / "src" / toolkit.PACKAGE / "webservice_starlette.py").write_text("")
    assert find_toolkit(clone) == Toolkit(source=clone.resolve())
    assert (
        repr(Toolkit(source=clone.resolve())) == f"production's toolkit: source {clone.resolve()}"
    )
    assert find_toolkit(clone / "src").source == clone.resolve()
    monkeypatch.setenv(toolkit.ENV_VARIABLE, str(clone))
    assert find_toolkit().src == clone.resolve() / "src"


def test_the_reference_folder_is_found_beside_an_ancestor(tmp_path, monkeypatch):
    monkeypatch.delenv(toolkit.ENV_VARIABLE, raising=False)
    clone = tmp_path / toolkit.REFERENCE
    (clone / "src" / toolkit.PACKAGE).mkdir(parents=True)
    checkout = tmp_path / "helpers" / "project"
    checkout.mkdir(parents=True)
    monkeypatch.chdir(checkout)
    monkeypatch.setattr(toolkit, "__file__", str(tmp_path / "elsewhere" / "pkg" / "toolkit.py"))
    assert find_toolkit().source == clone


def test_a_stamped_venv_is_not_built_again(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / venvs.STAMP).write_text(venvs._stamp_text())

    def build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(venvs, "_build", build)
    assert ensure_venv(Toolkit(source=tmp_path), cache=venv) == venv / "bin" / "python"


def test_a_venv_with_other_pins_is_rebuilt(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / venvs.STAMP).write_text("python 3.11\ntransformers==4.0\n")
    built = []
    monkeypatch.setattr(venvs, "_build", lambda venv, python, timeout: built.append(venv))
    ensure_venv(Toolkit(source=tmp_path), cache=venv)
    assert built == [venv]
    assert (venv / venvs.STAMP).read_text() == venvs._stamp_text()


def test_a_failed_build_quotes_the_end_of_its_log(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ERROR: no matching distribution for torch'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(venvs.sys, "executable", str(fake))
    with pytest.raises(ToolkitError) as caught:
        ensure_venv(Toolkit(source=tmp_path), cache=tmp_path / "cache" / "venv")
    message = str(caught.value)
    assert "exit status 3" in message
    assert "no matching distribution for torch" in message
    assert not (tmp_path / "cache" / "venv" / venvs.STAMP).exists()


def test_a_build_waits_for_the_lock_a_bounded_time(tmp_path):
    with cache.lock(tmp_path / "venv.lock"), pytest.raises(ToolkitError, match="another process"):
        ensure_venv(Toolkit(source=tmp_path), cache=tmp_path / "venv", timeout=0.3)


def test_the_pins_are_productions_with_torch_first():
    assert venvs.PINS[0] == venvs.TORCH_PIN == "torch==2.13.0"
    assert "transformers==4.51.3" in venvs.PINS
    assert "huggingface-hub==0.30.2" in venvs.PINS
    # What the image ships besides the server: a requirements.txt that lists it unpinned must
    # find it there, as production's pip does, not pull a release for another transformers.
    assert "sentence-transformers==4.0.2" in venvs.PINS
    assert "diffusers==0.33.1" in venvs.PINS
    assert not any(pin.startswith("torch==2.5") for pin in venvs.PINS)  # the CPU build instead


def get(url: str, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return response.status, response.read().decode()


@needs_reference
def test_the_real_server_serves_a_repository(tmp_path, production_python):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "echo", repo)
    with ProductionServer(repo, python=production_python) as server:
        assert server.running
        assert get(server.url, "/health") == (200, "Ok")
        request = urllib.request.Request(
            server.url + "/predict?top_k=2",
            data=json.dumps({"inputs": "hi"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer == {
            "inputs": {"type": "str", "value": "hi"},
            "parameters": {"type": "dict", "value": {"top_k": 2}},
        }
        assert "POST /predict" in server.log
        log_file = server._log_file
    assert not server.running
    assert "POST /predict" in server.log and not log_file.exists()  # kept, file removed


@needs_reference
def test_a_server_that_dies_at_start_up_raises_with_its_log(tmp_path, production_python):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "broken", repo)
    server = ProductionServer(repo, python=production_python)
    with pytest.raises(ToolkitError) as caught:
        server.start(timeout=120)
    assert "exited" in str(caught.value)
    assert "the model folder has no weights" in str(caught.value)
    assert not server.running
    assert "the model folder has no weights" in server.log


@needs_reference
def test_the_server_takes_vertex_ai_routes_from_its_environment(tmp_path, production_python):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "echo", repo)
    env = {
        "AIP_MODE": "PREDICTION",
        "AIP_PREDICT_ROUTE": "/v1/predict",
        "AIP_HEALTH_ROUTE": "/v1/health",
        "AIP_HTTP_PORT": str(processes.free_port()),
    }
    with ProductionServer(repo, python=production_python, env=env) as server:
        assert server.port == int(env["AIP_HTTP_PORT"])
        assert get(server.url, "/v1/health") == (200, "Ok")


def test_the_server_environment_points_at_the_repository_and_the_toolkit(tmp_path):
    clone = tmp_path / "clone"
    server = ProductionServer(tmp_path, toolkit=Toolkit(source=clone), env={"HF_TASK": "x"})
    env = server.environment()
    assert env["HF_MODEL_DIR"] == str(tmp_path.resolve())
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_TASK"] == "x"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(clone / "src")
    with pytest.raises(ToolkitError, match="not been started"):
        _ = server.url


def test_the_pins_hold_the_ranges_production_resolves_in():
    # pyctcdecode (in the image) requires numpy<2: production runs numpy 1.x, and so must
    # a venv that answers for it.
    assert "numpy>=1.17,<2.0.0" in venvs.PINS
    assert "tokenizers>=0.21,<0.22" in venvs.PINS
    assert not any(pin.startswith("huggingface-hub>=") for pin in venvs.PINS)  # pinned


def test_a_python_that_does_not_exist_leaves_no_log_and_no_port(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    server = ProductionServer(tmp_path, toolkit=Toolkit(source=tmp_path), python=tmp_path / "nope")
    with pytest.raises(ToolkitError, match="could not be started with"):
        server.start(timeout=5)
    assert list((tmp_path / "tmp").iterdir()) == []  # the log file is removed
    assert server.port is None and server._log_file is None and not server.running


def test_the_health_wait_goes_past_the_shells_proxy(tmp_path, monkeypatch):
    # A proxy of the shell cannot reach 127.0.0.1: the probe must not go through it.
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass

    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{processes.free_port()}")
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        processes.wait_until_healthy(sleeper, url, 10, tmp_path / "log", "it", "", "")
    finally:
        processes.stop_process(sleeper)
        server.shutdown()
        server.server_close()
    assert sleeper.poll() is not None


def test_two_servers_started_together_get_different_ports(monkeypatch):
    # The system may hand out a port again once it is released: the one given is avoided.
    ports = iter([8001, 8001, 8002])

    class Socket:
        def __init__(self, *_):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *_):
            pass

        def bind(self, _):
            pass

        def getsockname(self):
            return ("127.0.0.1", next(ports))

    monkeypatch.setattr(processes.socket, "socket", Socket)
    assert processes.free_port() == 8001
    assert processes.free_port(avoid={8001}) == 8002


def test_the_health_wait_names_a_process_that_exited_and_its_log(tmp_path):
    log = tmp_path / "log"
    log.write_text("one\nTraceback: boom\n")
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    done.wait(30)
    with pytest.raises(ToolkitError, match=r"(?s)it exited \(status 3\).*boom") as caught:
        processes.wait_until_healthy(done, "http://127.0.0.1:1/", 5, log, "it", "fix it", "")
    assert caught.value.hint == "fix it"


def test_the_toolkit_api_the_readme_names_is_public():
    import handler_kit

    for name, module in (
        ("find_toolkit", toolkit),
        ("ProductionServer", servers),
        ("Toolkit", toolkit),
    ):
        assert name in handler_kit.__all__ and getattr(handler_kit, name) is getattr(module, name)


def test_the_server_takes_no_port_it_is_told_to_avoid(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(servers, "free_port", lambda host, avoid: asked.append(avoid) or 8002)
    server = ProductionServer(
        tmp_path, toolkit=Toolkit(source=tmp_path), python=tmp_path / "nope", avoid={8001}
    )
    with pytest.raises(ToolkitError, match="could not be started"):
        server.start(timeout=5)
    assert asked == [frozenset({8001})]
