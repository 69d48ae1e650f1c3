"""Benchmark the local endpoint: HTTP overhead per request against a direct call.

For a no-op handler and for the guide's emotion handler (the sample repository), it measures
the direct call, then the same payload over HTTP on 127.0.0.1 with one client (latency) and
with several concurrent clients (throughput). It prints medians, p99s, requests per second and
ratios against the direct call measured in the same run. Target: the no-op handler's median
overhead is at most 1 ms. Every loop is bounded by --requests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import handler_kit
from handler_kit.templates import samples

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


RATE_CLIENT = """
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
body, done, end = json.dumps({"inputs": "x"}), 0, time.monotonic() + seconds
while time.monotonic() < end:
    connection.request("POST", "/", body, {"Content-Type": "application/json"})
    connection.getresponse().read()
    done += 1
print(done / seconds)
"""


def rate(port: int, seconds: float) -> float:
    """Requests per second one client in another process gets (it takes no GIL of ours)."""
    done = subprocess.run(
        [sys.executable, "-c", RATE_CLIENT, str(port), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return float(done.stdout)


def noop(data: object) -> list:
    return [{"label": "ok", "score": 1.0}]


@contextlib.contextmanager
def before_the_kit() -> Iterator[int]:
    """The endpoint as it was served before: asyncio's loop, h11, the 5 ms switch interval."""
    import socket

    import uvicorn

    from handler_kit.endpoint.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(noop), loop="asyncio", http="h11", log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def the_kit() -> Iterator[int]:
    with handler_kit.serve(noop) as endpoint:
        yield endpoint.port


@contextlib.contextmanager
def busy_thread(busy: bool) -> Iterator[None]:
    """One Python thread that computes without pause (a training loop in a cell), or none."""
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    spinner = threading.Thread(target=spin)
    if busy:
        spinner.start()
    try:
        yield
    finally:
        stop.set()
        if busy:
            spinner.join()


def busy_kernel(seconds: float, rounds: int) -> None:
    """The endpoint served from this process while another thread of it computes.

    In a notebook, ``handler_kit.serve()`` shares the kernel's GIL with whatever the kernel
    does. With one busy Python thread beside the server, each request waits for the GIL each
    time it needs it back. Measured, interleaved: the endpoint as it was before (asyncio,
    h11, a 5 ms switch interval) and as the kit serves it now (uvloop, httptools, a short
    switch interval while an endpoint runs), each idle and with the busy thread.
    """
    results: dict[tuple[str, bool], list[float]] = {}
    default = sys.getswitchinterval()
    for _ in range(rounds):
        for name, server in (("before", before_the_kit), ("kit", the_kit)):
            with server() as port:
                for busy in (False, True):
                    with busy_thread(busy):
                        results.setdefault((name, busy), []).append(rate(port, seconds))
    assert sys.getswitchinterval() == default  # the kit put the interval back
    median = {key: statistics.median(values) for key, values in results.items()}
    print(
        f"\nno-op endpoint in this process, one client in another ({rounds} rounds of "
        f"{seconds:g} s, medians):"
    )
    for name in ("before", "kit"):
        print(
            f"  {name:6}  idle {median[name, False]:6.0f} req/s, with a busy thread "
            f"{median[name, True]:6.0f} req/s = {median[name, True] / median[name, False]:.2f}x "
            "idle"
        )
    gain = median["kit", True] / median["before", True]
    print(
        f"with a busy thread, the kit answers {gain:.1f}x the requests it answered before "
        f"({'met' if gain >= 10 else 'NOT met'}: at least 10x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--no-model", action="store_true", help="skip the emotion handler")
    parser.add_argument("--seconds", type=float, default=3, help="per busy-kernel measurement")
    parser.add_argument("--rounds", type=int, default=3, help="busy-kernel rounds")
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
    busy_kernel(args.seconds, args.rounds)


if __name__ == "__main__":
    main()
