"""verify.py: the cases sent to an endpoint with the token and X-Scale-Up-Timeout, each answer
compared with the rehearsal's (or checked by its case's rule when there was no rehearsal).

The endpoint is a small server on 127.0.0.1 that answers from a table and records what it
was sent: what the platform adds (a wake-up, a 503) is the stand-ins' (test_standins.py).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from handler_kit.cases.case import Case
from handler_kit.cases.replay import Answer
from handler_kit.deploy.verify import verify
from handler_kit.production.comparison import ComparisonRow, ProductionComparison, compare_case
from handler_kit.report import Status

CASES = {
    "same.json": {"payload": {"inputs": "a"}, "expected": {"n": 1}},
    "close.json": {"payload": {"inputs": "b"}, "tolerance": 0.01},
    "other.json": {"payload": {"inputs": "c"}},
    "asleep.json": {"payload": {"inputs": "d"}},
}
ANSWERS = {  # what the endpoint answers for each input
    "a": (200, {"n": 1}),
    "b": (200, {"score": 0.501}),
    "c": (200, {"label": "new"}),
    "d": (503, {"error": "Service Unavailable"}),
    "long": (200, {"vector": [0.125] * 100}),
}
REHEARSED = {  # what production answered in the rehearsal
    "same": (200, {"n": 1}),
    "close": (200, {"score": 0.5}),
    "other": (200, {"label": "old"}),
    "asleep": (200, {"ok": True}),
}


@pytest.fixture
def endpoint():
    """A server that answers ANSWERS and keeps the headers of each request."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(dict(self.headers))
            status, answer = ANSWERS[body["inputs"]]
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    thread.join(10)


def repository(folder: Path) -> Path:
    (folder / "cases").mkdir(parents=True)
    for name, case in CASES.items():
        (folder / "cases" / name).write_text(json.dumps(case))
    return folder


def rehearsal(folder: Path) -> ProductionComparison:
    rows = []
    for case, (status, body) in REHEARSED.items():
        answer = Answer(status, "application/json", json.dumps(body).encode(), 0.01)
        rows.append(ComparisonRow(case, Status.SAME, "200", answer=answer))
    return ProductionComparison(folder, rows)


def test_each_answer_is_compared_with_the_rehearsals_with_its_tolerance(endpoint, tmp_path):
    url, seen = endpoint
    repo = repository(tmp_path / "repo")
    report = verify(url, repo, None, "hf_token", rehearsal(repo), scale_up=90, timeout=5)
    rows = {row.case: row for row in report.rows}
    assert {case: row.outcome for case, row in rows.items()} == {
        "asleep": Status.ERROR,
        "close": Status.SAME,
        "other": Status.DIFFERS,
        "same": Status.SAME,
    }
    assert rows["other"].detail == (
        'body differs from the rehearsal\'s: answer["label"] is "new", expected "old"'
    )
    assert "HTTP 503: the endpoint is not answering yet" in rows["asleep"].detail
    assert not report.ok and report.verdict == (
        "2 of 4 cases at the endpoint differ from the rehearsal's answer"
    )
    assert {h["X-Scale-Up-Timeout"] for h in seen} == {"90"}
    assert {h["Authorization"] for h in seen} == {"Bearer hf_token"}


def test_without_a_rehearsal_each_case_is_checked_by_its_own_rule(endpoint, tmp_path):
    url, seen = endpoint
    repo = repository(tmp_path / "repo")
    report = verify(url, repo, None, None, None, scale_up=30, timeout=5)
    rows = {row.case: row.outcome for row in report.rows}
    assert rows == {
        "asleep": Status.ERROR,
        "close": Status.PASS,
        "other": Status.PASS,
        "same": Status.PASS,
    }
    assert "Authorization" not in seen[0] and seen[0]["X-Scale-Up-Timeout"] == "30"
    assert report.heading() == f"Verify: the cases of {repo / 'cases'} at {url}"


def test_a_comparison_row_keeps_productions_whole_answer_for_the_verify_after(endpoint):
    url, _ = endpoint
    row = compare_case(Case("long", payload={"inputs": "long"}), url, url)
    assert row.match is Status.SAME and row.production.body.endswith("…")  # shown cut short
    assert row.answer.json() == {"vector": [0.125] * 100}  # kept whole
