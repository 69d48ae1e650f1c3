"""server.py: the production HTTP contract over real HTTP on 127.0.0.1."""

import base64
import contextlib
import io
import logging
import socket
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import fixture_text
from PIL import Image

import handler_kit
from handler_kit.endpoint import contract, server, vertex
from handler_kit.endpoint.server import exposed, serve


@pytest.fixture
def endpoint(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    live = handler_kit.load(repo.path)
    with serve(live, max_body=1024) as endpoint:
        yield endpoint


def post(endpoint, path="/", **kwargs):
    return httpx.post(endpoint.url + path, timeout=10, **kwargs)


def test_health_routes_answer_ok(endpoint):
    for path in ("/", "/health"):
        response = httpx.get(endpoint.url + path)
        assert (response.status_code, response.text) == (200, "Ok")


@pytest.mark.parametrize("path", ["/", "/predict"])
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
def test_json_bodies_reach_the_handler(endpoint, path, content_type):
    response = post(
        endpoint, path, content=b'{"inputs": "hi"}', headers={"content-type": content_type}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"type": "builtins.str", "parameters": None, "keys": ["inputs"]}


def test_instances_is_accepted_in_place_of_inputs(endpoint):
    response = post(endpoint, json={"instances": [1, 2]})
    assert response.status_code == 200 and response.json()["keys"] == ["instances"]


def test_query_parameters_become_parameters_as_production_converts_them(endpoint):
    response = post(endpoint, "/predict?top_k=3&flag=true&off=false&name=x1", json={"inputs": "a"})
    assert response.json()["parameters"] == {"top_k": 3, "flag": True, "off": False, "name": "x1"}
    own = post(endpoint, "/?top_k=3", json={"inputs": "a", "parameters": {"top_k": 1}})
    assert own.json()["parameters"] == {"top_k": 1}  # the body's own parameters win


def test_an_image_body_arrives_as_a_pil_image_in_rgb(endpoint):
    buffer = io.BytesIO()
    Image.new("RGBA", (3, 2), (0, 0, 255, 128)).save(buffer, format="PNG")
    response = post(endpoint, content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert response.json() == {
        "type": "PIL.Image",
        "parameters": None,
        "keys": ["inputs"],
        "mode": "RGB",
        "size": [3, 2],
    }


def test_an_audio_body_arrives_as_bytes(endpoint):
    response = post(endpoint, content=b"RIFF....WAVE", headers={"content-type": "audio/wav"})
    assert response.json()["type"] == "builtins.bytes" and response.json()["length"] == 12


def test_numpy_values_and_images_in_answers_are_serialised(endpoint):
    assert post(endpoint, json={"inputs": "", "answer": "numpy"}).json() == {
        "scores": [0.5, 0.25],
        "top": 3,
    }
    png = base64.b64decode(post(endpoint, json={"inputs": "", "answer": "image"}).json()["image"])
    assert Image.open(io.BytesIO(png)).getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"json": {"input": "typo"}},
            "must be a JSON object with an `inputs` key (or `instances`); got keys",
        ),
        ({"json": [1, 2]}, "got a list"),
        (
            {"content": b'{"inputs": ', "headers": {"content-type": "application/json"}},
            "the body is not valid JSON",
        ),
        (
            {"content": b"<x/>", "headers": {"content-type": "text/xml"}},
            "production does not know Content-Type `text/xml`. Send `application/json`, or",
        ),
        ({"content": b"{}"}, "no Content-Type header: production decodes the body by it."),
        (
            {"content": b"not a png", "headers": {"content-type": "image/png"}},
            "the body is not a readable image",
        ),
        (
            {"json": {"inputs": "", "answer": "tensor"}},
            'answer[0]["score"] is a torch.Tensor, which production cannot turn into JSON',
        ),
    ],
)
def test_bad_requests_get_400_and_a_message_that_says_what_to_do(endpoint, kwargs, message):
    response = post(endpoint, **kwargs)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("content_type", "send"),
    [
        ("application/json; charset=utf-8", "application/json"),
        ("application/json;charset=UTF-8", "application/json"),
        ("Application/JSON", "application/json"),
        ("image/PNG", "image/png"),
        ("audio/mp3", "audio/mpeg"),
    ],
)
def test_content_types_production_refuses_get_400_that_says_what_to_send(
    endpoint, content_type, send
):
    response = post(endpoint, content=b'{"inputs": "hi"}', headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert f"production matches the Content-Type exactly and refuses `{content_type}`" in error
    assert f"send `{send}`" in error


def test_text_types_production_lists_but_cannot_decode_get_400(endpoint):
    response = post(endpoint, content=b"hello", headers={"content-type": "text/csv"})
    assert response.status_code == 400
    assert "lists Content-Type `text/csv` but has no decoder" in response.json()["error"]


def test_the_answer_follows_the_accept_header(endpoint):
    for accept in (None, "*/*", "application/json"):
        headers = {"accept": accept} if accept else {}
        response = post(endpoint, json={"inputs": "", "answer": "numpy"}, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
    exact = post(
        endpoint, json={"inputs": ""}, headers={"accept": "application/json; charset=UTF-8"}
    )
    assert exact.headers["content-type"] == "application/json; charset=UTF-8"
    for accept in ("text/plain", "audio/wav", "application/json, text/plain, */*", "image/png"):
        response = post(endpoint, json={"inputs": ""}, headers={"accept": accept})
        assert response.status_code == 400, accept
        assert response.headers["content-type"] == "application/json"
    axios = post(
        endpoint, json={"inputs": ""}, headers={"accept": "application/json, text/plain, */*"}
    )
    assert "send `Accept: application/json`" in axios.json()["error"]


def test_an_image_answer_comes_as_the_image_accept_asks_for(endpoint):
    response = post(endpoint, json={"inputs": "", "answer": "pil"}, headers={"accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"
    jpg = post(endpoint, json={"inputs": "", "answer": "pil"}, headers={"accept": "image/jpg"})
    assert jpg.status_code == 400 and "image/jpeg" in jpg.json()["error"]


def test_metrics_reports_productions_two_gauges(endpoint):
    response = httpx.get(endpoint.url + "/metrics")
    assert response.status_code == 200
    assert response.text == "inf_batch_current_size 0\ninf_queue_size 0\n"


def test_vertex_ai_serves_its_two_routes_only():
    env = {"AIP_MODE": "PREDICTION", "AIP_PREDICT_ROUTE": "/v1/p", "AIP_HEALTH_ROUTE": "/v1/h"}
    app = server.create_app(lambda data: {"got": data["instances"]}, env=env)
    with serve_app(app) as url:
        assert httpx.get(url + "/v1/h").text == "Ok"
        assert httpx.post(url + "/v1/p", json={"instances": [1]}).json() == {"got": [1]}
        assert httpx.post(url + "/predict", json={"instances": [1]}).status_code == 404
        assert httpx.get(url + "/metrics").status_code == 404
    with pytest.raises(handler_kit.HandlerKitError, match="AIP_PREDICT_ROUTE and AIP_HEALTH_ROUTE"):
        server.create_app(lambda data: data, env={"AIP_MODE": "PREDICTION"})


def test_the_audio_tasks_decode_base64_inputs_when_parameters_are_given():
    env = {"HF_TASK": "automatic-speech-recognition"}
    app = server.create_app(lambda data: {"type": type(data["inputs"]).__name__}, env=env)
    audio = base64.b64encode(b"RIFF....WAVE").decode()
    with serve_app(app) as url:
        decoded = httpx.post(url, json={"inputs": audio, "parameters": {}})
        assert decoded.json() == {"type": "bytes"}
        plain = httpx.post(url, json={"inputs": audio})
        assert plain.json() == {"type": "str"}  # no `parameters`: left as it is
        bad = httpx.post(url, json={"inputs": "not base64!", "parameters": {}})
        assert bad.status_code == 400 and "not valid base64" in bad.json()["error"]


def loop():
    answer = {"label": "joy"}
    answer["self"] = answer
    return answer


class BrokenImage(Image.Image):
    """An image whose writing fails with an error orjson and the contract do not know."""

    def save(self, *args, **kwargs):
        raise RuntimeError("the image cannot be written")


def test_an_answer_that_cannot_be_written_is_400_json_as_production_answers():
    answers = {"loop": loop, "broken-image": lambda: BrokenImage()}
    app = server.create_app(lambda data: answers[data["inputs"]](), env={})
    with serve_app(app) as url:
        # orjson raises "Recursion limit reached", which production answers with 400.
        looped = httpx.post(url, json={"inputs": "loop"})
        assert looped.status_code == 400
        assert looped.headers["content-type"] == "application/json"
        assert "Recursion limit reached" in looped.json()["error"]
        assert 'answer["self"] is a dict that holds it' in looped.json()["error"]
        # Any other error while writing the answer: production's 400 with its message.
        broken = httpx.post(url, json={"inputs": "broken-image"}, headers={"accept": "image/png"})
        assert broken.status_code == 400
        assert broken.headers["content-type"] == "application/json"
        assert broken.json() == {"error": "the image cannot be written"}


@contextlib.contextmanager
def serve_app(app):
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if uv.started:
            break
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        uv.should_exit = True
        thread.join(10)


def test_a_handler_error_is_400_with_its_message_and_the_traceback_in_the_log(
    endpoint, capfd, caplog
):
    with caplog.at_level(logging.DEBUG):
        response = post(endpoint, json={"inputs": "", "fail": "no"})
    assert (response.status_code, response.json()) == (400, {"error": "the handler refused: no"})
    assert "Traceback" in endpoint.stats.last_error
    assert 'raise ValueError("the handler refused: "' in endpoint.stats.last_error
    # Trimmed to the user's files, as the form does: no anyio, starlette or kit frames.
    assert "anyio" not in endpoint.last_error and "handler_kit" not in endpoint.last_error
    assert endpoint.stats.errors == 1
    # The log is the endpoint's: printed nowhere (a notebook would show it in the last cell
    # run), and not handed to the logging configuration of the process either.
    assert "handler.py" in endpoint.log and "ValueError: the handler refused: no" in endpoint.log
    assert "INFO POST / 400 | " in endpoint.log
    out, err = capfd.readouterr()
    assert "refused" not in out + err and "refused" not in caplog.text
    # In the notebook: the endpoint's repr names it, its HTML holds the traceback and the log.
    assert repr(endpoint).endswith("; last handler error: ValueError: the handler refused: no>")
    page = endpoint._repr_html_()
    assert "<details><summary>last handler error</summary>" in page
    assert "Traceback (most recent call last)" in page and "log (" in page


def test_a_body_over_the_limit_is_413(endpoint):
    response = post(endpoint, json={"inputs": "x" * 2000})
    assert response.status_code == 413
    assert "over 1024 bytes" in response.json()["error"]
    assert post(endpoint, json={"inputs": "x" * 100}).status_code == 200


def test_the_token_is_required_when_set(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    with serve(handler_kit.load(repo.path), token="s3cret") as endpoint:
        assert httpx.get(endpoint.url + "/health").status_code == 401
        refused = post(endpoint, json={"inputs": "a"})
        assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
        wrong = post(endpoint, json={"inputs": "a"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = post(endpoint, json={"inputs": "a"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_health_answers_while_a_slow_call_runs(endpoint):
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post, endpoint, json={"inputs": "", "sleep": 1.5})
        time.sleep(0.2)
        started = time.perf_counter()
        assert httpx.get(endpoint.url + "/health").text == "Ok"
        waited = time.perf_counter() - started
        assert not slow.done() and waited < 1.0
        assert slow.result().status_code == 200


def test_calls_run_one_at_a_time(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    with serve(handler_kit.load(repo.path)) as endpoint, ThreadPoolExecutor(3) as pool:
        started = time.perf_counter()
        calls = [pool.submit(post, endpoint, json={"inputs": "", "sleep": 0.3}) for _ in range(3)]
        assert all(c.result().status_code == 200 for c in calls)
        assert time.perf_counter() - started >= 0.9


def test_concurrency_lets_that_many_calls_run_at_once():
    together = threading.Barrier(3, timeout=5)  # passes only when 3 calls run at the same time

    def handler(data):
        together.wait()
        return {"ok": True}

    with serve(handler, concurrency=3) as endpoint, ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(post, endpoint, json={"inputs": ""}) for _ in range(3)]
        assert [c.result().status_code for c in calls] == [200, 200, 200]


def test_a_reload_under_load_drops_nothing_and_never_mixes(repo):
    repo.write("handler.py", "server/version_v1.py")
    live = handler_kit.load(repo.path)
    answers: dict[int, list[int]] = {}

    def client(number: int) -> None:
        with httpx.Client(base_url=endpoint.url, timeout=10) as session:
            seen = answers.setdefault(number, [])
            for i in range(60):
                response = session.post("/predict", json={"inputs": f"{number}-{i}"})
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["inputs"] == f"{number}-{i}"
                seen.append(body["version"])

    with serve(live) as endpoint:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        repo.write("handler.py", "server/version_v2.py")
        assert live.reload().hot
        for thread in threads:
            thread.join(30)
        assert post(endpoint, json={"inputs": "after"}).json()["version"] == 2
    assert sum(len(seen) for seen in answers.values()) == 240
    for seen in answers.values():
        assert set(seen) <= {1, 2}
        assert seen == sorted(seen)  # once the new code answered, the old one never did again
    assert 2 in {v for seen in answers.values() for v in seen}


def test_only_loopback_addresses_count_as_private():
    assert not exposed("127.0.0.1") and not exposed("::1") and not exposed("localhost")
    assert exposed("0.0.0.0") and exposed("192.0.2.1") and exposed("myhost")


def test_a_port_in_use_is_a_clear_error(endpoint):
    with pytest.raises(handler_kit.HandlerKitError) as error:
        serve(lambda data: data, port=endpoint.port)
    assert f"cannot listen on 127.0.0.1:{endpoint.port}" in str(error.value)
    assert "Pick another port, or 0 for any free one." in str(error.value)


def test_answers_are_not_held_back_by_nagle(endpoint):
    # Without TCP_NODELAY on accepted connections every answer waits for a delayed ACK.
    with httpx.Client(base_url=endpoint.url) as session:
        assert session.get("/health").text == "Ok"
        connections = endpoint._server.server_state.connections
        sockets = [c.transport.get_extra_info("socket") for c in connections]
        assert sockets and all(
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets
        )


def test_serving_beyond_this_machine_without_a_token_warns_every_time(monkeypatch):
    # Tests bind 127.0.0.1 only: pretend it is exposed to reach the warning.
    monkeypatch.setattr(server, "exposed", lambda host: True)
    for _ in range(2):  # each time, not once per process as Python's warnings are
        with serve(lambda data: data) as endpoint:
            assert "without a token: anyone who can reach this machine" in endpoint.warning
            assert "\nwarning: serving on 127.0.0.1 without a token" in repr(endpoint)
            assert ">warning</b>: serving on 127.0.0.1 without a token" in endpoint._repr_html_()
            assert "WARNING serving on 127.0.0.1 without a token" in endpoint.log
    with serve(lambda data: data, token="s3cret") as endpoint:
        assert endpoint.warning is None and "warning" not in repr(endpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serve(lambda data: data, token="s3cret").stop()


def test_while_an_endpoint_runs_threads_switch_often_and_the_old_interval_comes_back():
    before = sys.getswitchinterval()
    with serve(lambda data: data) as first:
        assert sys.getswitchinterval() == pytest.approx(min(server.SWITCH_INTERVAL, before))
        with serve(lambda data: data):
            pass
        assert sys.getswitchinterval() < before  # the first endpoint still runs
        assert first.running
    assert sys.getswitchinterval() == before


def test_vertex_ai_chooses_the_port_as_productions_entrypoint():
    assert vertex.vertex_port(8080, {}) == 8080
    assert vertex.vertex_port(8080, {"AIP_HTTP_PORT": "9000"}) == 8080  # only with AIP_MODE
    assert vertex.vertex_port(8080, {"AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": "9000"}) == 9000


def test_metrics_count_the_call_running_and_the_calls_waiting():
    release = threading.Event()

    def handler(data):
        release.wait(10)
        return {"ok": True}

    def metrics(url):
        lines = httpx.get(url + "/metrics").text.splitlines()
        return dict(line.split() for line in lines)

    with serve(handler) as endpoint, ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(post, endpoint, json={"inputs": ""}) for _ in range(3)]
        seen = {}
        for _ in range(500):  # at most 5 s for the three calls to arrive
            seen = metrics(endpoint.url)
            if seen == {"inf_batch_current_size": "1", "inf_queue_size": "2"}:
                break
            time.sleep(0.01)
        release.set()
        assert seen == {"inf_batch_current_size": "1", "inf_queue_size": "2"}
        assert all(call.result().status_code == 200 for call in calls)
    assert vertex.describe_routes({}) == "POST / or /predict; GET /health, /metrics"


def test_the_endpoint_imports_nothing_of_the_notebook():
    code = (
        "import sys, handler_kit.endpoint.server; "
        "print(' '.join(m for m in sys.modules if m.startswith('handler_kit.notebook') "
        "or m.split('.')[0] in ('ipywidgets', 'IPython')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == []


def test_a_request_is_checked_once_where_it_arrives(repo, monkeypatch):
    repo.write("handler.py", "server/inspect_handler.py")
    checked, check = [], contract.check_payload
    monkeypatch.setattr(
        contract, "check_payload", lambda *a, **k: checked.append(a) or check(*a, **k)
    )
    with serve(handler_kit.load(repo.path)) as endpoint:
        assert post(endpoint, json={"inputs": "a"}).status_code == 200
        assert post(endpoint, json={"input": "a"}).status_code == 400
    assert len(checked) == 2  # by the endpoint, not again by the LiveHandler it serves


def test_an_async_call_is_400_saying_production_never_awaits_it(repo, recwarn):
    repo.write("handler.py", "hostile/async_call.py")
    with serve(handler_kit.load(repo.path)) as endpoint:
        response = post(endpoint, json={"inputs": "x"})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "EndpointHandler.__call__ is `async def`" in message
    assert "Make it a plain `def __call__`" in message and "tolist" not in message
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_a_call_that_never_returns_holds_no_slot_once_a_reload_replaced_its_handler(repo):
    repo.write("handler.py", "hostile/hung_call.py")
    live = handler_kit.load(repo.path)
    old = live.module

    def lora(url):
        return {"inputs": "a cat", "parameters": {"lora": url}}

    try:
        with serve(live) as endpoint, ThreadPoolExecutor(2) as pool:
            assert post(endpoint, json=lora("a")).json()["adapter"] == "adapter:a"
            hung = pool.submit(post, endpoint, json=lora("b"))  # waits for the lock forever
            for _ in range(500):  # at most 5 s for it to start
                if endpoint.stats.requests == 2:
                    break
                time.sleep(0.01)
            queued = pool.submit(post, endpoint, json={"inputs": "x"})
            time.sleep(0.3)
            assert not queued.done()  # one call at a time, as production: it waits
            text = fixture_text("hostile/hung_call.py").replace('"version": 1', '"version": 2')
            repo.write("handler.py", text=text.replace("_LOADING.acquire()", "pass"))
            live.reload()
            # The queued request and the next ones are answered by the new handler.
            assert queued.result(timeout=15).json() == {"adapter": None, "version": 2}
            assert post(endpoint, json=lora("c")).json()["version"] == 2
            assert not hung.done()
            assert "request #2 (POST /, inputs 'a cat') running since " in endpoint.log
            assert "on the handler a reload replaced, and holds no slot any more" in endpoint.log
            assert "\nleft behind by a reload: request #2 (POST /, inputs 'a cat')" in repr(
                endpoint
            )
            old._LOADING.release()  # the hung call ends at last, on the old code
            assert hung.result(timeout=10).json() == {"adapter": "adapter:b", "version": 1}
            assert "left behind by a reload" not in repr(endpoint)
            assert "request #2, left behind by a reload, ended after" in endpoint.log
    finally:
        if old._LOADING.locked():
            old._LOADING.release()
