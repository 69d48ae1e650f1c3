"""Benchmark the local endpoint: HTTP overhead per request against a direct call.

For a no-op handler and for the guide's emotion handler (the sample repository), it measures
the direct call, then the same payload over HTTP on 127.0.0.1 with one client (latency) and
with several concurrent clients (throughput). It prints medians, p99s, requests per second and
ratios against the direct call measured in the same run. Target: the no-op handler's median
overhead is at most 1 ms. Every loop is bounded by --requests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import handler_kit
from handler_kit import samples

NOOP = """
class EndpointHandler:
    def __init__(self, path=""):
        pass

    def __call__(self, data):
        return [{"label": "ok", "score": 1.0}]
"""
EMOTION = """
from transformers import pipeline


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("text-classification", model=path)

    def __call__(self, data):
        return self.pipeline(data["inputs"])
"""
PAYLOAD = {"inputs": "I am quite excited how this will turn out"}


def timed(call: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of ``count`` calls, after a few to warm up."""
    for _ in range(min(5, count)):
        call()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


class Client:
    """A keep-alive HTTP client from the standard library: light, so it measures the server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.body = json.dumps(PAYLOAD)

    def post(self) -> None:
        self.connection.request("POST", "/predict", self.body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        assert response.status == 200, response.status


def concurrent(port: int, clients: int, count: int) -> tuple[list[float], float]:
    """Latencies (ms) of ``count`` requests from ``clients`` threads, and requests per second."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(share: int) -> None:
        mine = timed(Client(port).post, share)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(count // clients,)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started)


def bench(name: str, repo: Path, requests: int, clients: int) -> dict[str, float]:
    live = handler_kit.load(repo)
    direct = timed(lambda: live(dict(PAYLOAD)), requests)
    with handler_kit.serve(live) as endpoint:
        single = timed(Client(endpoint.port).post, requests)
        many, rps = concurrent(endpoint.port, clients, requests)
    row = {
        "direct_ms": statistics.median(direct),
        "http_ms": statistics.median(single),
        "http_p99_ms": p99(single),
        "overhead_ms": statistics.median(single) - statistics.median(direct),
        "concurrent_ms": statistics.median(many),
        "concurrent_p99_ms": p99(many),
        "rps": rps,
        "direct_rps": 1000 / statistics.median(direct),
    }
    print(
        f"{name:8} direct {row['direct_ms']:8.3f} ms | HTTP {row['http_ms']:8.3f} ms "
        f"(p99 {row['http_p99_ms']:.3f}) = {row['http_ms'] / row['direct_ms']:.1f}x direct, "
        f"overhead {row['overhead_ms']:.3f} ms | {clients} clients: median "
        f"{row['concurrent_ms']:.3f} ms, p99 {row['concurrent_p99_ms']:.3f} ms, "
        f"{row['rps']:.0f} req/s = {row['rps'] / row['direct_rps']:.2f}x direct req/s",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--no-model", action="store_true", help="skip the emotion handler")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop"
        noop.mkdir()
        (noop / "handler.py").write_text(NOOP)
        rows = {"no-op": bench("no-op", noop, args.requests, args.clients)}
        if not args.no_model:
            emotion = samples.emotion_repo(Path(tmp) / "emotion")
            (emotion / "handler.py").write_text(EMOTION)
            rows["emotion"] = bench("emotion", emotion, args.requests // 4, args.clients)
    overhead = rows["no-op"]["overhead_ms"]
    verdict = "met" if overhead <= 1.0 else "NOT met"
    print(f"target: no-op median overhead {overhead:.3f} ms <= 1 ms: {verdict}")


if __name__ == "__main__":
    main()
