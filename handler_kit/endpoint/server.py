"""A local endpoint: the live handler served over HTTP with production's contract.

Starlette under uvicorn, as production uses, in a background thread so a notebook stays
usable. ``GET /`` and ``GET /health`` answer ``Ok``; ``POST /`` and ``POST /predict`` run the
handler, one call at a time in a worker thread, so ``/health`` answers while a call runs;
``GET /metrics`` counts the calls running and waiting; under Vertex AI (``AIP_MODE``) its two
routes replace these. Requests are decoded and answers written by contract.py, as production
does (tests/endpoint/test_parity.py compares the two). It serves a LiveHandler: after a reload
the next request uses the new code.

An endpoint keeps its own log (requests, handler errors with their traceback trimmed to the
user's files, uvicorn's warnings): ``endpoint.log``, its repr and its HTML. Nothing is printed,
so nothing lands in whichever notebook cell ran last; the command line prints handler errors,
and every request with ``--verbose``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .. import colab
from ..errors import HandlerKitError, describe, handler_frames
from ..report import shorten
from . import answers, contract
from .running import Call, Calls, Endpoint, EndpointLog, Stats, endpoint_logger
from .vertex import vertex_routes

MAX_BODY = 32 * 2**20
NOT_AWAITED = answers.NotSerializable(
    "the answer is a coroutine: EndpointHandler.__call__ is `async def`, and production calls "
    "it in a thread without awaiting it, then cannot turn the coroutine into JSON "
    "(production answers 400)",
    hint="Make it a plain `def __call__`; to run async code inside it, `asyncio.run(...)`.",
)


def create_app(
    handler: Any,
    token: str | None = None,
    max_body: int = MAX_BODY,
    concurrency: int = 1,
    stats: Stats | None = None,
    log: logging.Logger | None = None,
    env: Mapping[str, str] | None = None,
) -> Starlette:
    """The Starlette app that serves ``handler`` (any callable taking the request's data).

    ``env`` (default: this process's environment) holds production's variables: ``HF_TASK``
    (base64 audio for the audio tasks) and Vertex AI's ``AIP_MODE``, ``AIP_PREDICT_ROUTE`` and
    ``AIP_HEALTH_ROUTE`` (then the routes are those two only, as production's).
    """
    env = os.environ if env is None else env
    service = Service(handler, token, max_body, concurrency, stats, log, contract.hf_task(env))
    return Starlette(routes=routes(env, service.health, service.predict, service.metrics))


class Service:
    """What the routes do for one handler: production's answers, and the kit's extras.

    The extras (a token, a body limit, tracebacks in the log) answer before the contract or
    beside it; without a token and under the limit, answers are production's.
    """

    def __init__(
        self,
        handler: Any,
        token: str | None = None,
        max_body: int = MAX_BODY,
        concurrency: int = 1,
        stats: Stats | None = None,
        log: logging.Logger | None = None,
        task: str | None = None,
    ) -> None:
        self.call = contract.unchecked(handler)  # request_data checks each request, once
        self.repo = getattr(handler, "path", None)
        self.token, self.max_body, self.task = token, max_body, task
        self.stats = stats if stats is not None else Stats()
        self.log = log if log is not None else endpoint_logger(logging.NullHandler())
        # The instance serving now: a LiveHandler's changes with each reload.
        self.calls = Calls(
            concurrency, lambda: id(getattr(handler, "instance", handler)), self.stats
        )

    def unauthorised(self, request: Request) -> Response | None:
        """401 when a token is required and the request does not carry it."""
        sent = request.headers.get("authorization")
        if self.token is not None and sent != f"Bearer {self.token}":
            return refused(401, "missing or wrong token: send `Authorization: Bearer <token>`")
        return None

    async def health(self, request: Request) -> Response:
        return self.unauthorised(request) or PlainTextResponse("Ok")

    async def metrics(self, request: Request) -> Response:
        # Production's two Prometheus lines: calls running now, calls waiting for a worker.
        running, waiting = self.calls.busy, self.calls.waiting
        text = f"inf_batch_current_size {running}\ninf_queue_size {waiting}\n"
        return self.unauthorised(request) or PlainTextResponse(text)

    async def predict(self, request: Request) -> Response:
        started = time.perf_counter()
        stats = self.stats
        stats.requests += 1
        number = stats.requests
        response = self.unauthorised(request) or await self.answer(request, number)
        if response.status_code == 200:
            stats.ok += 1
        else:
            stats.errors += 1
        ms = (time.perf_counter() - started) * 1000
        stats.recent.append((request.url.path, response.status_code, round(ms, 2)))
        self.log.info("POST %s %s | %.2f ms", request.url.path, response.status_code, ms)
        return response

    async def answer(self, request: Request, number: int = 0) -> Response:
        """Production's predict: decode the request, run the handler, then write the answer
        by the Accept header; every failure is a 400 with its message. ``number``: the
        request's, for the log."""
        body = await read_body(request, self.max_body)
        if body is None:
            limit = self.max_body
            return refused(413, f"the body is over {limit} bytes; send less, or raise max_body")
        headers = request.headers
        try:
            data = contract.request_data(
                headers.get("content-type"), body, dict(request.query_params), self.task
            )
        except Exception as error:  # ours, or what production's own code fails on (odd bodies)
            return bad_request(error)
        call = Call(number, request.url.path, _preview(data), self.calls.handler())
        try:
            result = await self.calls.run(partial(self.call, data), call, self.log)
        except HandlerKitError as error:
            return bad_request(error)
        except Exception as error:
            return self.handler_failed(request, error)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # production's `except Exception` lets it by: uvicorn 500
            return self.handler_failed(request, error)
        if inspect.iscoroutine(result):
            result.close()  # never awaited, by production either: no RuntimeWarning about it
            return bad_request(NOT_AWAITED)
        try:
            content, media = answers.encode_response(result, headers.get("accept"))
        except Exception as error:  # production's predict answers any error with 400
            return bad_request(error)
        return Response(content, media_type=media)

    def handler_failed(self, request: Request, error: BaseException) -> Response:
        """Production answers a handler's Exception with 400 and the message, and anything else
        (a BaseException subclass, SystemExit) with uvicorn's 500; the traceback, trimmed to the
        user's files, goes to the log and ``stats.last_error``."""
        frames = handler_frames(error, self.repo)
        self.stats.last_error = f"Traceback (most recent call last):\n{frames}\n{describe(error)}"
        if isinstance(error, Exception):
            self.log.error("handler error on %s:\n%s", request.url.path, self.stats.last_error)
            return refused(400, str(error))
        self.log.error(
            "handler error on %s, answered 500 as production does (%s is a BaseException, "
            "not an Exception: production's server catches only Exception):\n%s",
            request.url.path,
            type(error).__name__,
            self.stats.last_error,
        )
        return PlainTextResponse("Internal Server Error", 500)


def _preview(data: Any) -> str:
    """The request's inputs in a few words, to say which request a log line is about."""
    inputs = data.get("inputs", data.get("instances")) if isinstance(data, dict) else data
    text = (
        repr(inputs) if isinstance(inputs, (str, int, float, list, dict)) else type(inputs).__name__
    )
    return f"inputs {shorten(text, 41)}"


def refused(status: int, message: str) -> Response:
    """A refusal as production writes one: ``{"error": message}`` in JSON."""
    body = answers.encode_answer(answers.error_body(message))
    return Response(body, status, media_type=contract.JSON)


def bad_request(error: Exception) -> Response:
    """400 for a request that failed: the kit's message in one line, else the error's own."""
    return refused(400, error.one_line() if isinstance(error, HandlerKitError) else str(error))


def routes(env: Mapping[str, str], health: Any, predict: Any, metrics: Any) -> list[Route]:
    """Production's routes: ``/`` and ``/health`` (GET), ``/`` and ``/predict`` (POST),
    ``/metrics``; under Vertex AI (``AIP_MODE=PREDICTION``) only its two routes."""
    vertex = vertex_routes(env)
    if vertex is not None:
        return [
            Route(vertex.health, health, methods=["GET"]),
            Route(vertex.predict, predict, methods=["POST"]),
        ]
    return [
        Route("/", health, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/", predict, methods=["POST"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def exposed(host: str) -> bool:
    """True when ``host`` is reachable from other machines (not a loopback address)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name: assume others can reach it


# While an endpoint runs, Python threads take turns with the GIL this often (seconds). The
# default, 5 ms, is what a request waits for each time it needs the GIL back from a busy
# thread of the kernel: a cell computing in a thread would hold every request up that long,
# several times per request. See bench/serve.py.
SWITCH_INTERVAL = 0.0001
_serving = 0
_serving_lock = threading.Lock()
_default_interval = sys.getswitchinterval()


@contextlib.contextmanager
def switch_interval() -> Iterator[None]:
    """A short GIL switch interval while at least one endpoint runs, the old one after."""
    global _serving, _default_interval
    with _serving_lock:
        if not _serving:
            _default_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL, _default_interval))
        _serving += 1
    try:
        yield
    finally:
        with _serving_lock:
            _serving -= 1
            if not _serving:
                sys.setswitchinterval(_default_interval)


def serve(
    handler: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    concurrency: int = 1,
    max_body: int = MAX_BODY,
    start_timeout: float = 10,
    log: logging.Handler | None = None,
    env: Mapping[str, str] | None = None,
    sock: socket.socket | None = None,
) -> Endpoint:
    """Serve ``handler`` (a LiveHandler or any callable) over HTTP in a background thread.

    ``port=0`` picks a free port; the endpoint's ``url`` says which. ``concurrency`` is how
    many calls may run at once in worker threads (production: one at a time). The endpoint
    keeps its log (``endpoint.log``); ``log`` is one more handler for it, such as a
    ``logging.StreamHandler()`` to print it. ``env`` holds production's variables (default:
    this process's environment): HF_TASK, AIP_MODE and the Vertex AI routes. In Colab,
    ``browser_url`` is Colab's proxy to the port, the address a browser can open. ``sock``: a
    socket already listening, to serve on instead (``host`` and ``port`` are then its).
    """
    sock = sock or listen(host, port)
    stats, memory = Stats(), EndpointLog()
    logger = endpoint_logger(memory, *([log] if log is not None else []))
    app = create_app(handler, token, max_body, concurrency, stats, logger, env)
    server, thread = start(app, sock, memory, start_timeout, host)
    endpoint = Endpoint(server, thread, host, sock.getsockname()[1], stats, logger, memory)
    if exposed(host) and token is None:
        endpoint.warning = (
            f"serving on {host} without a token: anyone who can reach this machine can call "
            "your handler; pass a token (token=..., --token)"
        )
        logger.warning(endpoint.warning)
    endpoint.browser_url = colab.proxy_url(endpoint.port)
    return endpoint


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host`` and ``port`` (0: any free one), for uvicorn to serve on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise HandlerKitError(
            f"cannot listen on {host}:{port}: {error.strerror}",
            hint="Pick another port, or 0 for any free one.",
        ) from None
    return sock


def start(
    app: Starlette, sock: socket.socket, memory: logging.Handler, timeout: float, host: str
) -> tuple[Any, threading.Thread]:
    """uvicorn serving ``app`` on ``sock`` (bound to ``host``) in a thread of its own, once
    it has started.

    uvicorn's warnings go to ``memory`` (the endpoint's log); it gets ``timeout`` seconds to
    start, else it is stopped and the error says so.
    """
    import uvicorn

    # log_config=None: uvicorn installs no handler of its own that prints to stderr (the
    # output of whichever cell ran last); its warnings go to this endpoint's log instead.
    logging.getLogger("uvicorn.error").addHandler(memory)
    config = uvicorn.Config(
        app, log_level="warning", log_config=None, lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread; a kernel's is not ours.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    def run_server() -> None:
        with switch_interval():
            server.run(sockets=[sock])

    thread = threading.Thread(target=run_server, name="handler-kit-endpoint", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        logging.getLogger("uvicorn.error").removeHandler(memory)
        raise HandlerKitError(f"the endpoint did not start within {timeout} s on {host}")
    return server, thread
