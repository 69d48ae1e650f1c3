"""Parity: the kit's endpoint and production's real server answer every request alike.

The production toolkit's own server (its source in ../shared/reference, run with production's
pins in a venv that venvs.ensure_venv builds once and caches) and the kit's endpoint serve
the same fixture repositories (tests/fixtures/parity); each request below goes to both, which
must answer with the same status, the same Content-Type and the same body (JSON equal, bytes
equal). Where production answers 400 with a message of its own machinery ("'NoneType' object
has no attribute 'deserialize'"), the kit deliberately answers a clearer one: for those the
status and Content-Type must match and the kit's message must say what to send (``says``).
Sample images and audio files are read from the toolkit's tests/resources at test time.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import handler_kit
from handler_kit.endpoint import contract
from handler_kit.endpoint.server import serve
from handler_kit.production.servers import ProductionServer
from handler_kit.production.toolkit import ToolkitError, find_toolkit
from handler_kit.production.venvs import ensure_venv
from handler_kit.templates import samples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "parity"

try:
    TOOLKIT = find_toolkit()
except ToolkitError:
    TOOLKIT = None
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        TOOLKIT is None or TOOLKIT.source is None,
        reason="the production toolkit's source is not here (../shared/reference/"
        "huggingface-inference-toolkit beside the checkout, or $HANDLER_KIT_TOOLKIT): "
        "nothing to compare the kit's endpoint with",
    ),
]

JSON = {"content-type": "application/json"}
VERTEX = {
    "AIP_MODE": "PREDICTION",
    "AIP_PREDICT_ROUTE": "/v1/models/m:predict",
    "AIP_HEALTH_ROUTE": "/v1/health",
}
# name: (fixture repository, production's environment variables)
SERVERS = {
    "echo": ("echo", {}),
    "values": ("values", {}),
    "raises": ("raises", {}),
    "asr": ("echo", {"HF_TASK": "automatic-speech-recognition"}),
    "vertex": ("echo", VERTEX),
    "minilm": ("minilm", {}),  # the packaged MiniLM next to the handler (samples.model_repo)
    "legacy": ("custom_handler", {}),  # the toolkit's own legacy pipeline.py (tests/resources)
}


@dataclass
class Call:
    """One request, sent alike to both servers."""

    name: str
    body: bytes | str = b'{"inputs": "a"}'  # str: a file of the toolkit's tests/resources
    headers: dict[str, str | None] = field(default_factory=lambda: dict(JSON))
    path: str = "/"
    method: str = "POST"
    says: str | None = None  # the kit's clearer 400 message contains this

    def content(self) -> bytes:
        if isinstance(self.body, str):
            return (TOOLKIT.source / "tests" / "resources" / self.body).read_bytes()
        return self.body


def ct(name: str, content_type: str | None, body: bytes | str = b'{"inputs": "a"}', **kw) -> Call:
    return Call(name, body, {"content-type": content_type}, **kw)


def accept(name: str, value: str | None, inputs: str = "a", **kw) -> Call:
    body = json.dumps({"inputs": inputs}).encode()
    return Call(name, body, {**JSON, "accept": value}, **kw)


def body(name: str, text: bytes, path: str = "/", **kw) -> Call:
    return Call(name, text, dict(JSON), path, **kw)


SEND_JSON = "send `application/json`"
ECHO = [
    # Content types: production's exact table, with its variants.
    ct("json", "application/json"),
    ct("json-charset-UTF-8", "application/json; charset=UTF-8"),
    ct("json-charset-utf-8", "application/json; charset=utf-8", says=SEND_JSON),
    ct("json-charset-no-space", "application/json;charset=UTF-8", says=SEND_JSON),
    ct("json-capitals", "Application/JSON", says=SEND_JSON),
    ct("json-upper", "APPLICATION/JSON", says=SEND_JSON),
    ct("text-json", "text/json", says="Send `application/json`"),
    ct("text-csv", "text/csv", b"inputs\na\n", says="Send the text inside JSON"),
    ct("text-plain", "text/plain", b"a", says="Send the text inside JSON"),
    Call("no-content-type", b'{"inputs": "a"}', {}, says="Send `application/json`"),
    ct("empty-content-type", "", says="Send `application/json`"),
    ct("form", "application/x-www-form-urlencoded", b"inputs=a", says="Send `application/json`"),
    ct("octet-stream", "application/octet-stream", "audio/sample1.wav", says="audio/wav"),
    # A file with another kind's type: the kit says what the body is and the type to send.
    ct("png-as-json", "application/json", "image/tiger.png", says="Content-Type: image/png"),
    ct("wav-as-json", "application/json", "audio/sample1.wav", says="Content-Type: audio/wav"),
    ct("flac-as-png", "image/png", "audio/sample1.flac", says="Content-Type: audio/flac"),
    ct("json-as-png", "image/png", says="Content-Type: application/json"),
    Call("jpeg-without-type", "image/tiger.jpeg", {}, says="Send `image/jpeg`"),
    # Images: every sample with its type; the two types production reads but cannot write.
    ct("png", "image/png", "image/tiger.png"),
    ct("jpeg", "image/jpeg", "image/tiger.jpeg"),
    ct("jpg", "image/jpg", "image/tiger.jpeg"),
    ct("bmp", "image/bmp", "image/tiger.bmp"),
    ct("gif", "image/gif", "image/tiger.gif"),
    ct("tiff", "image/tiff", "image/tiger.tiff"),
    ct("webp", "image/webp", "image/tiger.webp"),
    ct("x-image", "image/x-image", "image/tiger.png"),
    ct("png-as-jpeg", "image/jpeg", "image/tiger.png"),
    ct("image-capitals", "image/PNG", "image/tiger.png", says="send `image/png`"),
    ct("image-not-an-image", "image/png", b"not a png", says="not a readable image"),
    ct("image-empty", "image/png", b"", says="the body is empty"),
    # Audio: every sample with the types production lists (bytes as they came).
    ct("wav", "audio/wav", "audio/sample1.wav"),
    ct("wave", "audio/wave", "audio/sample1.wav"),
    ct("x-wav", "audio/x-wav", "audio/sample1.wav"),
    ct("flac", "audio/flac", "audio/sample1.flac"),
    ct("x-flac", "audio/x-flac", "audio/sample1.flac"),
    ct("mpeg", "audio/mpeg", "audio/sample1.mp3"),
    ct("x-mpeg-3", "audio/x-mpeg-3", "audio/long_sample.mp3"),
    ct("mp3", "audio/mp3", "audio/sample1.mp3", says="send `audio/mpeg`"),
    ct("ogg", "audio/ogg", "audio/sample1.ogg"),
    ct("webm", "audio/webm", "audio/sample1.webm"),
    ct("webm-opus", "audio/webm;codecs=opus", "audio/sample1.webm"),
    ct("webm-opus-space", "audio/webm; codecs=opus", "audio/sample1.webm", says="audio/webm"),
    ct("amr", "audio/amr", "audio/sample.amr"),
    ct("AMR", "audio/AMR", "audio/sample.amr"),
    ct("AMR-WB", "audio/AMR-WB", "audio/sample.amr"),
    ct("AMR-WB+", "audio/AMR-WB+", "audio/sample.amr"),
    ct("m4a", "audio/m4a", "audio/sample.m4a"),
    ct("x-m4a", "audio/x-m4a", "audio/sample.m4a"),
    ct("x-audio", "audio/x-audio", "audio/sample1.ogg"),
    ct("audio-empty", "audio/wav", b""),
    ct("audio-capitals", "AUDIO/WAV", "audio/sample1.wav", says="send `audio/wav`"),
    # Accept: every class.
    accept("accept-missing", None),
    accept("accept-any", "*/*"),
    accept("accept-json", "application/json"),
    accept("accept-json-charset", "application/json; charset=UTF-8"),
    accept("accept-json-lower-charset", "application/json; charset=utf-8", says="Accept"),
    accept("accept-axios", "application/json, text/plain, */*", says="`Accept: application/json`"),
    accept("accept-any-q", "*/*; q=0.8", says="`Accept: application/json`"),
    accept("accept-empty", "", says="`Accept: application/json`"),
    accept("accept-text-plain", "text/plain", says="Ask for `application/json`"),
    accept("accept-text-csv", "text/csv", says="Ask for `application/json`"),
    accept("accept-audio", "audio/wav", says="base64-encoded"),
    accept("accept-image-not-an-image", "image/png", says="Return a PIL image"),
    # Bodies.
    body("inputs-string", b'{"inputs": "I am happy"}'),
    body("inputs-list", b'{"inputs": ["a", "b"]}'),
    body("inputs-dict", b'{"inputs": {"question": "q", "context": "c"}}'),
    body("inputs-null", b'{"inputs": null}'),
    body("instances", b'{"instances": [{"x": 1}, {"x": 2}]}'),
    body("parameters", b'{"inputs": "a", "parameters": {"top_k": 2, "flag": true}}'),
    body("extra-keys", b'{"inputs": "a", "date": "2022-07-04"}'),
    body("duplicate-keys", b'{"inputs": "a", "inputs": "b"}'),
    body("unicode", '{"inputs": "héllo ✓ 你好"}'.encode()),
    body("string-body", b'"hello"', says="must be a JSON object"),
    body("string-with-inputs", b'"my inputs"'),  # production's `in` finds the word
    body("list-body", b"[1, 2]", says="must be a JSON object"),
    body("list-with-inputs", b'["inputs"]'),
    body("number-body", b"42", says="must be a JSON object"),
    body("null-body", b"null", says="must be a JSON object"),
    body("empty-object", b"{}", says="must be a JSON object"),
    body("typo-key", b'{"input": "a"}', says="`inputs` key"),
    body("empty-body", b"", says="the body is empty"),
    body("truncated", b'{"inputs": ', says="not valid JSON"),
    body("not-json", b"inputs=a", says="not valid JSON"),
    body("nan", b'{"inputs": NaN}', says="not valid JSON"),
    body("bom", b'\xef\xbb\xbf{"inputs": "a"}', says="not valid JSON"),
    body("latin-1", '{"inputs": "café"}'.encode("latin-1"), says="not valid JSON"),
    # Query parameters.
    body("query", b'{"inputs": "a"}', "/?top_k=2"),
    body("query-converted", b'{"inputs": "a"}', "/?a=true&b=false&n=007&neg=-1&f=1.5&s=x"),
    body("query-repeated", b'{"inputs": "a"}', "/predict?k=1&k=2"),
    body("query-empty-value", b'{"inputs": "a"}', "/?k="),
    body("query-superscript", b'{"inputs": "a"}', "/?k=%C2%B2"),
    body("query-body-parameters-win", b'{"inputs": "a", "parameters": {"x": 1}}', "/?top_k=2"),
    body("query-on-string-body", b'"my inputs"', "/?top_k=2", says="not a JSON object"),
    body("query-on-list-body", b'["inputs"]', "/?top_k=2", says="not a JSON object"),
    Call("query-on-image", "image/tiger.png", {"content-type": "image/png"}, "/?top_k=2"),
    # Routes.
    Call("get-root", b"", {}, "/", "GET"),
    Call("get-health", b"", {}, "/health", "GET"),
    Call("get-metrics", b"", {}, "/metrics", "GET"),
    Call("head-health", b"", {}, "/health", "HEAD"),
    body("post-predict", b'{"inputs": "a"}', "/predict"),
    Call("get-predict", b"", {}, "/predict", "GET"),
    body("post-health", b'{"inputs": "a"}', "/health"),
    body("post-nowhere", b'{"inputs": "a"}', "/nowhere"),
    body("put-root", b'{"inputs": "a"}', "/", method="PUT"),
    body("post-predict-slash", b'{"inputs": "a"}', "/predict/"),
    Call("get-health-slash", b"", {}, "/health/", "GET"),
    Call("options-root", b"", {}, "/", "OPTIONS"),
]

VALUE_ANSWERS = [
    "list",
    "dict",
    "string",
    "number",
    "none",
    "tuple",
    "nan",
    "unicode",
    "numpy-array",
    "numpy-int",
    "numpy-float",
    "numpy-bool",
    "numpy-list",
    "image",
    "image-rgba",
    "image-gray",
    "images",
    "datetime",
    "dataclass",
]
UNSERIALISABLE = {
    "set": "Return a list",
    "bytes": "base64",
    "object": "Convert it",
    "int-keys": "keys must be strings",
    "complex": "Convert it",
    "loop": "refers to itself",
}
IMAGE_ACCEPTS = ["image/png", "image/jpeg", "image/tiff", "image/bmp", "image/gif", "image/webp"]
VALUES = [
    *(accept(f"answer-{name}", None, name) for name in VALUE_ANSWERS),
    *(accept(f"answer-{name}", None, name, says=says) for name, says in UNSERIALISABLE.items()),
    *(accept(f"image-as-{a}", a, "image") for a in IMAGE_ACCEPTS),
    accept("image-as-jpg", "image/jpg", "image", says="Ask for one of"),
    accept("image-as-x-image", "image/x-image", "image", says="Ask for one of"),
    accept("rgba-as-png", "image/png", "image-rgba"),
    accept("rgba-as-webp", "image/webp", "image-rgba"),
    accept("rgba-as-jpeg", "image/jpeg", "image-rgba", says="cannot write mode RGBA as JPEG"),
    accept("gray-as-jpeg", "image/jpeg", "image-gray"),
    accept("images-as-png", "image/png", "images", says="Return a PIL image"),
    accept("image-as-json", "application/json", "image"),
    accept("image-as-json-charset", "application/json; charset=UTF-8", "image"),
    accept("numpy-as-axios", "application/json, text/plain, */*", "numpy-array", says="Accept"),
]

RAISES = [
    body("value-error", b'{"inputs": "boom"}'),
    body("key-error", b'{"inputs": "key"}'),
    body("zero-division", b'{"inputs": "zero"}'),
    body("empty-message", b'{"inputs": "empty"}'),
    body("multiline-message", b'{"inputs": "multiline"}'),
    body("error-on-predict", b'{"inputs": "boom"}', "/predict"),
    accept("error-before-accept", "image/png", "boom"),  # the handler runs first
    accept("error-before-bad-accept", "text/plain", "boom"),
    Call("error-on-image", "image/tiger.png", {"content-type": "image/png"}),  # dict inputs
]

AUDIO = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode()
ASR = [
    body("base64-with-parameters", json.dumps({"inputs": AUDIO, "parameters": {}}).encode()),
    body("base64-without-parameters", json.dumps({"inputs": AUDIO}).encode()),
    body("base64-with-query", json.dumps({"inputs": AUDIO}).encode(), "/?top_k=2"),
    body(
        "base64-invalid",
        b'{"inputs": "not base64!", "parameters": {}}',
        says="not valid base64",
    ),
    body("base64-not-a-string", b'{"inputs": [1], "parameters": {}}', says="not valid base64"),
    ct("asr-audio-file", "audio/flac", "audio/sample1.flac"),
]

VERTEX_CALLS = [
    Call("vertex-health", b"", {}, VERTEX["AIP_HEALTH_ROUTE"], "GET"),
    body("vertex-predict", b'{"instances": [{"text": "a"}]}', VERTEX["AIP_PREDICT_ROUTE"]),
    body("vertex-root", b'{"instances": [1]}', "/"),
    body("vertex-predict-route", b'{"instances": [1]}', "/predict"),
    Call("vertex-no-default-health", b"", {}, "/health", "GET"),
    Call("vertex-no-metrics", b"", {}, "/metrics", "GET"),
]

MINILM = [
    body("minilm-sentence", b'{"inputs": "I am quite excited how this will turn out"}'),
    body(
        "minilm-sentences",
        b'{"inputs": ["I love this phone", "I adore this phone", "The train is late"]}',
        "/predict",
    ),
    accept("minilm-as-image", "image/png", "Today is a though day", says="Return a PIL image"),
]

LEGACY = [
    body("legacy-string-with-inputs", b'"my inputs"'),  # pipeline.py reverses what it gets
    body("legacy-dict", b'{"inputs": "abc"}'),  # a dict cannot be reversed: its TypeError
    body("legacy-list", b'["inputs", "x"]', "/predict"),
]

CALLS = [
    *(("echo", c) for c in ECHO),
    *(("values", c) for c in VALUES),
    *(("raises", c) for c in RAISES),
    *(("asr", c) for c in ASR),
    *(("vertex", c) for c in VERTEX_CALLS),
    *(("minilm", c) for c in MINILM),
    *(("legacy", c) for c in LEGACY),
]


class Pair:
    """Production's server and the kit's endpoint on copies of one fixture repository."""

    def __init__(self, repo: Path, env: dict[str, str], python: Path) -> None:
        self.production = ProductionServer(repo, TOOLKIT, python=python, env=env).start()
        try:
            self.kit = serve(handler_kit.load(repo), env=env)
        except BaseException:
            self.production.stop()
            raise

    def stop(self) -> None:
        self.kit.stop()
        self.production.stop()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Starts each server pair on first use; all of them stop at the end of the module."""
    python = ensure_venv(TOOLKIT)  # built once into the cache (about 1-2 minutes)
    started: dict[str, Pair] = {}

    def get(name: str) -> Pair:
        if name not in started:
            fixture, env = SERVERS[name]
            repo = tmp_path_factory.mktemp(name) / "repo"
            resources = TOOLKIT.source / "tests" / "resources"
            shutil.copytree(
                resources / fixture if fixture == "custom_handler" else FIXTURES / fixture, repo
            )
            if fixture == "minilm":
                samples.model_repo(repo)  # the model's files beside the handler
            started[name] = Pair(repo, env, python)
        return started[name]

    yield get
    for pair in started.values():
        pair.stop()


def send(url: str, call: Call) -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        request = client.build_request(call.method, url + call.path, content=call.content())
        for name, value in call.headers.items():
            if value is None:
                request.headers.pop(name, None)  # no such header at all (httpx adds Accept)
            else:
                request.headers[name] = value
        return client.send(request)


@pytest.mark.parametrize(("server", "call"), CALLS, ids=[f"{s}-{c.name}" for s, c in CALLS])
def test_the_kit_answers_as_production(pairs, server, call):
    pair = pairs(server)
    production = send(pair.production.url, call)
    kit = send(pair.kit.url, call)
    seen = f"production: {production.status_code} {production.content[:300]!r}"
    assert kit.status_code == production.status_code, seen
    assert kit.headers.get("content-type") == production.headers.get("content-type"), seen
    if call.says is not None:
        # A refusal production words with its own internals: the kit says what to send.
        assert production.status_code == 400, seen
        assert call.says in kit.json()["error"], seen
    elif production.headers.get("content-type", "").startswith("application/json"):
        assert kit.json() == production.json(), seen
    else:
        assert kit.content == production.content, seen


def test_enough_requests_are_compared():
    assert len(CALLS) >= 60
    kinds = {c.headers.get("content-type") for _, c in CALLS}
    assert set(contract.MEDIA_TYPES) <= kinds  # every entry of production's table


def test_a_handler_whose_init_fails_starts_neither(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "broken", repo)
    python = ensure_venv(TOOLKIT)
    with pytest.raises(ToolkitError, match="the model folder has no weights"):
        ProductionServer(repo, TOOLKIT, python=python).start()
    with pytest.raises(handler_kit.HandlerLoadError, match="the model folder has no weights"):
        handler_kit.load(repo)


KIT_IN_A_FRESH_PROCESS = """
import json, sys
import handler_kit
handler = handler_kit.load(sys.argv[1])
print(json.dumps(handler({"inputs": "a"})))
"""


@pytest.mark.parametrize(
    "env",
    [
        {"HF_DEFAULT_PIPELINE_NAME": "my_handler.py"},
        {"HF_DEFAULT_PIPELINE_NAME": "my_handler.py", "HF_MODULE_NAME": "custom.Key"},
    ],
    ids=["file-name", "file-and-module-name"],
)
def test_the_handler_file_and_module_key_come_from_the_environment(tmp_path, env):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "named", repo)
    python = ensure_venv(TOOLKIT)
    with ProductionServer(repo, TOOLKIT, python=python, env=env) as production:
        expected = httpx.post(production.url, json={"inputs": "a"}, timeout=60).json()
    # The kit reads the two variables when it is imported, as production at start-up.
    done = subprocess.run(
        [sys.executable, "-c", KIT_IN_A_FRESH_PROCESS, str(repo)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == expected
    assert expected["module"] == env.get("HF_MODULE_NAME", "my_handler.EndpointHandler")
