"""replay.py: a repository's cases sent over HTTP to an endpoint, each answer checked."""

import http.server
import io
import re
import socket
import threading

import pytest
from PIL import Image

import handler_kit
from handler_kit.cases.case import save_case
from handler_kit.cases.replay import Answer, replay
from handler_kit.cli import main
from handler_kit.endpoint.server import serve
from handler_kit.errors import HandlerKitError
from handler_kit.report import Status

SAID = {"type": "builtins.str", "parameters": None, "keys": ["inputs"]}


@pytest.fixture
def live(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    return handler_kit.load(repo.path)


@pytest.fixture
def endpoint(live):
    with serve(live) as endpoint:
        yield endpoint


def png(width=3, height=2) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 255, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),  # a deployed endpoint's own spelling
        ("Application/JSON", True),
        ("text/plain; charset=utf-8", False),
        ("image/png", False),
        ("", False),
    ],
)
def test_an_answer_is_json_by_its_media_type_whatever_its_charset_or_case(content_type, is_json):
    assert Answer(200, content_type, b"{}", 0.0).is_json is is_json


def test_cases_whose_answers_match_pass(endpoint, tmp_path):
    cases = tmp_path / "cases"
    save_case(cases, "text", {"inputs": "hi"}, expect={"expected": SAID})
    save_case(cases, "no_expectation", {"inputs": "hi"})
    report = replay(endpoint.url, cases)
    assert [(row.case, row.outcome, row.status) for row in report.rows] == [
        ("no_expectation", Status.PASS, 200),
        ("text", Status.PASS, 200),
    ]
    assert report.ok and report.verdict == "all 2 cases pass"
    assert '"type":"builtins.str"' in report.rows[1].detail  # the answer, shortened
    assert endpoint.stats.requests == 2  # sent over HTTP, not called in-process


def test_an_answer_that_differs_says_where_and_the_command_exits_1(endpoint, tmp_path, capsys):
    cases = tmp_path / "cases"
    save_case(cases, "text", {"inputs": "hi"}, expect={"expected": {**SAID, "type": "x"}})
    report = replay(endpoint.url, cases)
    (row,) = report.rows
    assert row.outcome is Status.DIFFERS and not report.ok
    assert 'answer["type"] is "builtins.str", expected "x"' in row.detail
    assert report.verdict == "0 of 1 pass, 1 differs"
    assert main(["replay", endpoint.url, "--cases", str(cases)]) == 1
    out = capsys.readouterr().out
    assert f"Replay of {cases} against {endpoint.url}" in out
    assert "text  differs  200" in out and out.rstrip().endswith("0 of 1 pass, 1 differs")


def test_a_binary_image_case_sends_its_file_with_its_content_type(endpoint, tmp_path):
    cases = tmp_path / "cases"
    expected = {**SAID, "type": "PIL.Image", "mode": "RGB", "size": [3, 2]}
    save_case(cases, "photo", body=png(), content_type="image/png", suffix=".png", expect={})
    save_case(cases, "photo_checked", body=png(), content_type="image/png", suffix=".png",
              expect={"expected": expected})  # fmt: skip
    report = replay(endpoint.url, cases)
    assert [row.outcome for row in report.rows] == [Status.PASS, Status.PASS], report


def test_an_endpoint_with_a_token_refuses_without_it_and_says_to_pass_it(live, tmp_path, capsys):
    cases = tmp_path / "cases"
    save_case(cases, "text", {"inputs": "hi"}, expect={"expected": SAID})
    with serve(live, token="s3cret") as endpoint:
        (row,) = replay(endpoint.url, cases).rows
        assert (row.outcome, row.status) == (Status.ERROR, 401)
        assert "the endpoint wants a token" in row.detail and "pass --token T" in row.detail
        (wrong,) = replay(endpoint.url, cases, token="nope").rows
        assert wrong.outcome is Status.ERROR and "refused the token" in wrong.detail
        assert replay(endpoint.url, cases, token="s3cret").ok
        assert main(["replay", endpoint.url, "--cases", str(cases), "--token", "s3cret"]) == 0
    assert "s3cret" not in capsys.readouterr().out  # the token is never printed


def test_a_handler_error_is_an_error_row_with_the_endpoints_message(endpoint, tmp_path):
    cases = tmp_path / "cases"
    save_case(cases, "bad", {"inputs": "hi", "fail": "no dates"})
    (row,) = replay(endpoint.url, cases).rows
    assert (row.outcome, row.status) == (Status.ERROR, 400)
    assert row.detail == "HTTP 400: the handler failed or the request was refused: " + (
        "the handler refused: no dates"
    )


def test_nothing_listening_is_said_once_and_the_other_cases_are_not_sent(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cases = tmp_path / "cases"
    save_case(cases, "a", {"inputs": "hi"})
    save_case(cases, "b", {"inputs": "hi"})
    first, second = replay(f"http://127.0.0.1:{port}", cases).rows
    assert first.outcome is Status.ERROR and first.status is None
    assert f"nothing listens at http://127.0.0.1:{port} (connection refused)" in first.detail
    assert "handler-kit serve REPO" in first.detail
    assert (
        second.detail
        == f"not sent: nothing listens at http://127.0.0.1:{port} (connection refused)"
    )


def test_a_slow_answer_times_out_with_what_to_do(endpoint, tmp_path):
    cases = tmp_path / "cases"
    save_case(cases, "slow", {"inputs": "hi", "sleep": 1})
    (row,) = replay(endpoint.url, cases, timeout=0.2).rows
    assert row.outcome is Status.ERROR
    assert f"no answer from {endpoint.url} within 0.2 s" in row.detail and "--timeout" in row.detail


def test_the_default_cases_folder_is_the_current_ones(endpoint, tmp_path, monkeypatch):
    save_case(tmp_path / "cases", "text", {"inputs": "hi"}, expect={"expected": SAID})
    monkeypatch.chdir(tmp_path)
    assert [row.case for row in replay(endpoint.url).rows] == ["text"]


def test_a_bad_url_no_cases_and_an_unreadable_case_are_said_plainly(endpoint, tmp_path):
    with pytest.raises(HandlerKitError, match=re.escape("'127.0.0.1:8080' is not an endpoint URL")):
        replay("127.0.0.1:8080", tmp_path)
    with pytest.raises(HandlerKitError, match="no cases folder at"):
        replay(endpoint.url, tmp_path / "missing")
    with pytest.raises(HandlerKitError, match=r"no case files \(\*.json\) in"):
        replay(endpoint.url, tmp_path)
    (tmp_path / "broken.json").write_text("{")
    save_case(tmp_path, "good", {"inputs": "hi"})
    broken, good = replay(endpoint.url, tmp_path).rows
    assert broken.outcome is Status.ERROR and "cannot read the case" in broken.detail
    assert good.outcome is Status.PASS  # one bad case file does not hide the others


def test_the_report_shows_as_html_with_each_outcome(endpoint, tmp_path):
    cases = tmp_path / "cases"
    save_case(cases, "good", {"inputs": "hi"}, expect={"expected": SAID})
    save_case(cases, "off", {"inputs": "hi"}, expect={"expected": {}})
    save_case(cases, "bad", {"inputs": "hi", "fail": "no"})
    page = replay(endpoint.url, cases)._repr_html_()
    for word in ("pass", "differs", "error"):
        assert f">{word}</b>" in page
    assert "1 of 3 pass, 1 differs, 1 error" in page


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """Production's real server (the toolkit's own, its pinned venv) on a small repository."""
    from conftest import FIXTURES

    from handler_kit.production.servers import ProductionServer
    from handler_kit.production.toolkit import find_toolkit

    try:
        toolkit = find_toolkit()
    except HandlerKitError as error:
        pytest.skip(f"the production toolkit is not here, so its real server cannot run: {error}")
    repo = tmp_path_factory.mktemp("production") / "repo"
    repo.mkdir()
    (repo / "handler.py").write_text((FIXTURES / "production" / "same.py").read_text())
    with ProductionServer(repo, toolkit) as server:
        yield server


def test_replay_against_productions_real_server(production, tmp_path):
    cases = tmp_path / "cases"
    save_case(cases, "good", {"inputs": "a good day"}, expect={"expected_label": "positive"})
    photo = {"expected": [{"label": "RGB 3x2", "score": 1.0}]}
    save_case(cases, "photo", body=png(), content_type="image/png", suffix=".png", expect=photo)
    save_case(cases, "wrong", {"inputs": "a bad day"}, expect={"expected_label": "positive"})
    save_case(cases, "refused", {"text": "no inputs"})
    rows = {row.case: row for row in replay(production.url, cases).rows}
    assert {name: row.outcome for name, row in rows.items()} == {
        "good": Status.PASS,
        "photo": Status.PASS,
        "refused": Status.ERROR,
        "wrong": Status.DIFFERS,
    }
    assert rows["wrong"].detail == "label 'negative', expected 'positive'"
    assert rows["refused"].detail.startswith(
        "HTTP 400: the handler failed or the request was refused: Body needs to provide a inputs"
    )


class Odd(http.server.BaseHTTPRequestHandler):
    """A server that is not an endpoint: busy at /busy, plain text at /text."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        status, kind, body = {
            "/busy": (503, "text/plain", b"Service Unavailable"),
            "/text": (200, "text/plain", b"joy"),
        }.get(self.path, (404, "text/plain", b"Not Found"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


@pytest.fixture
def odd():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.mark.parametrize(
    ("path", "outcome", "said"),
    [
        ("/busy", Status.ERROR, "HTTP 503: the endpoint is not answering yet (starting, scaled"),
        ("/text", Status.DIFFERS, "answered text/plain (3 bytes), not JSON"),
        ("/nope", Status.ERROR, "HTTP 404: no predict route at this URL: give the endpoint's"),
    ],
)
def test_what_an_answer_that_is_no_endpoints_means(odd, tmp_path, path, outcome, said):
    save_case(tmp_path, "a", {"inputs": "hi"})
    (row,) = replay(odd + path, tmp_path).rows
    assert row.outcome is outcome and row.detail.startswith(said), row.detail


def test_an_answer_that_carries_an_error_differs_as_in_check(repo, tmp_path):
    # A handler that swallows its failure answers 200 with it: replay fails it, as check does.
    repo.write(
        "handler.py",
        text='class EndpointHandler:\n    def __init__(self, path=""):\n        pass\n\n'
        '    def __call__(self, data):\n        return [{"error": "Inference failed: x"}]\n',
    )
    save_case(tmp_path / "cases", "swallowed", {"inputs": "hi"})
    with serve(handler_kit.load(repo.path)) as endpoint:
        report = replay(endpoint.url, tmp_path / "cases")
    (row,) = report.rows
    assert row.status == 200 and row.outcome is Status.DIFFERS and not report.ok
    assert "carries an error" in row.detail
