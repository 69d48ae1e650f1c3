"""A local endpoint: the live handler served over HTTP with production's contract.

Starlette under uvicorn, as production uses, in a background thread so a notebook stays
usable. ``GET /`` and ``GET /health`` answer ``Ok``; ``POST /`` and ``POST /predict`` run the
handler, one call at a time in a worker thread, so ``/health`` answers while a call runs;
``GET /metrics`` counts the calls running and waiting; under Vertex AI (``AIP_MODE``) its two
routes replace these. Requests are decoded and answers written by contract.py, as production
does (tests/test_parity.py compares the two). It serves a LiveHandler: after a reload the next
request uses the new code.

An endpoint keeps its own log (requests, handler errors with their traceback trimmed to the
user's files, uvicorn's warnings): ``endpoint.log``, its repr and its HTML. Nothing is printed,
so nothing lands in whichever notebook cell ran last; the command line prints handler errors,
and every request with ``--verbose``.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import itertools
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .. import style
from ..errors import HandlerKitError, ReloadInterrupted, describe, handler_frames
from ..notebook import colab
from . import contract
from .vertex import describe_routes, vertex_port, vertex_routes

MAX_BODY = 32 * 2**20
LOG_LINES = 200  # records an endpoint keeps
_numbers = itertools.count(1)


@dataclass
class Stats:
    """What an endpoint has answered so far."""

    requests: int = 0
    ok: int = 0
    errors: int = 0
    last_error: str | None = None  # the traceback of the last handler error (the user's frames)
    recent: deque = field(default_factory=lambda: deque(maxlen=20))  # (path, status, ms)


class EndpointLog(logging.Handler):
    """The last records of one endpoint's log, as text lines (for its repr and HTML)."""

    def __init__(self, keep: int = LOG_LINES) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=keep)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def endpoint_logger(*handlers: logging.Handler) -> logging.Logger:
    """A logger of one endpoint's own, with ``handlers``; not in logging's registry, so no
    configuration of the root logger (or its absence: the last-resort stderr) reaches it."""
    logger = logging.Logger(f"handler_kit.endpoint.{next(_numbers)}", logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    return logger


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
    stats = stats if stats is not None else Stats()
    log = log if log is not None else endpoint_logger(logging.NullHandler())
    env = os.environ if env is None else env
    task = contract.hf_task(env)
    repo = getattr(handler, "path", None)
    limiter = anyio.CapacityLimiter(concurrency)

    def refused(status: int, message: str) -> Response:
        return Response(
            contract.encode_answer({"error": message}), status, media_type=contract.JSON
        )

    # The kit's extras (a token, a body limit, tracebacks in the log) answer before the
    # contract or beside it; without a token and under the limit, answers are production's.
    def unauthorised(request: Request) -> Response | None:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return refused(401, "missing or wrong token: send `Authorization: Bearer <token>`")
        return None

    async def health(request: Request) -> Response:
        return unauthorised(request) or PlainTextResponse("Ok")

    async def metrics(request: Request) -> Response:
        # Production's two Prometheus lines: calls running now, calls waiting for a worker.
        running = limiter.borrowed_tokens
        waiting = limiter.statistics().tasks_waiting
        text = f"inf_batch_current_size {running}\ninf_queue_size {waiting}\n"
        return unauthorised(request) or PlainTextResponse(text)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        stats.requests += 1
        response = unauthorised(request) or await answer(request)
        if response.status_code == 200:
            stats.ok += 1
        else:
            stats.errors += 1
        ms = (time.perf_counter() - started) * 1000
        stats.recent.append((request.url.path, response.status_code, round(ms, 2)))
        log.info("POST %s %s | %.2f ms", request.url.path, response.status_code, ms)
        return response

    async def answer(request: Request) -> Response:
        body = await read_body(request, max_body)
        if body is None:
            return refused(413, f"the body is over {max_body} bytes; send less, or raise max_body")
        headers = request.headers
        try:
            data = contract.request_data(
                headers.get("content-type"), body, dict(request.query_params), task
            )
        except HandlerKitError as error:
            return refused(400, error.one_line())
        except Exception as error:  # what production's own code fails on (odd bodies)
            return refused(400, str(error))
        try:
            result = await anyio.to_thread.run_sync(partial(handler, data), limiter=limiter)
        except HandlerKitError as error:
            return refused(400, error.one_line())
        except Exception as error:
            # Production answers any handler error with 400 and the message; the traceback,
            # trimmed to the user's files, goes to this endpoint's log and its last_error.
            frames = handler_frames(error, repo)
            stats.last_error = f"Traceback (most recent call last):\n{frames}\n{describe(error)}"
            log.error("handler error on %s:\n%s", request.url.path, stats.last_error)
            return refused(400, str(error))
        # As production: the handler runs first, then the answer is written by Accept.
        try:
            content, media = contract.encode_response(result, headers.get("accept"))
        except HandlerKitError as error:
            return refused(400, error.one_line())
        except Exception as error:  # production's predict answers any error with 400
            return refused(400, str(error))
        return Response(content, media_type=media)

    return Starlette(routes=routes(env, health, predict, metrics))


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


class Endpoint:
    """A running local endpoint: ``.url``, ``.log``, ``.stop()``, and a context manager."""

    def __init__(
        self,
        server: Any,
        thread: threading.Thread,
        host: str,
        port: int,
        stats: Stats,
        logger: logging.Logger,
        memory: EndpointLog,
    ):
        self._server, self._thread = server, thread
        self.host, self.port, self.stats = host, port, stats
        self.logger = logger  # add a handler to it to follow the log elsewhere
        self._memory = memory
        self.warning: str | None = None  # e.g. reachable from other machines without a token
        self.browser_url: str | None = None  # where a browser reaches it (Colab's proxy)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10) -> None:
        """Stop serving and wait (at most ``timeout`` seconds) for the server thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        logging.getLogger("uvicorn.error").removeHandler(self._memory)

    @property
    def log(self) -> str:
        """The endpoint's log: requests, handler errors with their traceback, warnings."""
        return self._memory.text

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def last_error(self) -> str | None:
        """The traceback of the last exception the handler raised (your files), if any."""
        return self.stats.last_error

    def _summary(self) -> str:
        state = "serving" if self.running else "stopped"
        s = self.stats
        return f"{self.url} {state}: {s.requests} requests, {s.ok} ok, {s.errors} errors"

    def __repr__(self) -> str:
        last = self.last_error.strip().splitlines()[-1] if self.last_error else ""
        lines = [f"<Endpoint {self._summary()}{f'; last handler error: {last}' if last else ''}>"]
        if self.browser_url:
            lines.append(f"from your browser: {self.browser_url}")
        if self.warning:
            lines.append(f"warning: {self.warning}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<b>Endpoint</b> <code>{html.escape(self._summary())}</code>"]
        if self.browser_url:
            url = html.escape(self.browser_url)
            parts.append(f'<br>from your browser: <a href="{url}" target="_blank">{url}</a>')
        if self.warning:
            parts.append(f"<br>{style.status('warn', 'warning')}: {html.escape(self.warning)}")
        if self.last_error:
            # The traceback production keeps to itself: here it is one click away.
            parts.append(
                "<details><summary>last handler error</summary>"
                f"{style.error_box(self.last_error.strip().splitlines()[-1], self.last_error)}"
                "</details>"
            )
        if self.log:
            lines = len(self._memory.lines)
            parts.append(
                f"<details><summary>log ({lines} line{'s' * (lines != 1)})</summary>"
                f'<pre style="color:{style.TEXT};font-family:{style.MONOSPACE}">'
                f"{html.escape(self.log)}</pre></details>"
            )
        return f'<div style="color:{style.TEXT}">{"".join(parts)}</div>'


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
) -> Endpoint:
    """Serve ``handler`` (a LiveHandler or any callable) over HTTP in a background thread.

    ``port=0`` picks a free port; the endpoint's ``url`` says which. ``concurrency`` is how
    many calls may run at once in worker threads (production: one at a time). The endpoint
    keeps its log (``endpoint.log``); ``log`` is one more handler for it, such as a
    ``logging.StreamHandler()`` to print it. ``env`` holds production's variables (default:
    this process's environment): HF_TASK, AIP_MODE and the Vertex AI routes. In Colab,
    ``browser_url`` is Colab's proxy to the port, the address a browser can open.
    """
    import uvicorn

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
    stats, memory = Stats(), EndpointLog()
    logger = endpoint_logger(memory, *([log] if log is not None else []))
    app = create_app(handler, token, max_body, concurrency, stats, logger, env)
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
    deadline = time.monotonic() + start_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        logging.getLogger("uvicorn.error").removeHandler(memory)
        raise HandlerKitError(f"the endpoint did not start within {start_timeout} s on {host}")
    endpoint = Endpoint(server, thread, host, sock.getsockname()[1], stats, logger, memory)
    if exposed(host) and token is None:
        endpoint.warning = (
            f"serving on {host} without a token: anyone who can reach this machine can call "
            "your handler; pass a token (token=..., --token)"
        )
        logger.warning(endpoint.warning)
    endpoint.browser_url = colab.proxy_url(endpoint.port)
    return endpoint


def run(
    repo: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    reload: bool = False,
    interval: float = 0.5,
    stop: threading.Event | None = None,
    echo: Any = None,
    concurrency: int = 1,
    reload_timeout: float | None = None,
    reinit_memory: str = "auto",
    verbose: bool = False,
) -> None:
    """Load ``repo`` and serve it until ``stop`` is set (or Ctrl-C); the CLI's ``serve``.

    With ``reload``, a change to a file of the repository (watchfiles) reloads the edited
    handler.py and sibling modules; each reload is echoed in one line. A reload that fails,
    ends the program (``sys.exit``) or runs past ``reload_timeout`` seconds is reported, and
    the last good handler keeps serving; the server never stops for an edit. Handler
    errors are echoed with their traceback (your files); with ``verbose``, every request too.
    """
    import watchfiles

    from ..reload.live import load

    live = load(repo)
    port = vertex_port(port)
    stop = stop or threading.Event()
    echo = echo or partial(print, flush=True)  # flushed: a pipe reader sees each line now
    printer = _Echo(echo)
    printer.setLevel(logging.INFO if verbose else logging.ERROR)
    with serve(live, host, port, token, concurrency, log=printer) as endpoint:
        echo(f"serving {live.file} at {endpoint.url} ({describe_routes(os.environ)})")
        if endpoint.warning:
            echo(f"warning: {endpoint.warning}")
        try:
            if not reload:
                while endpoint.running and not stop.wait(interval):
                    pass
            else:
                for changes in watchfiles.watch(
                    live.path,
                    stop_event=stop,
                    yield_on_timeout=True,
                    rust_timeout=int(interval * 1000),
                    debounce=100,
                ):
                    if not endpoint.running:
                        break
                    if changes or live.changed():  # a missed event costs one text compare
                        _reload_changed(live, echo, reload_timeout, reinit_memory)
        except KeyboardInterrupt:
            pass
    echo("stopped")


class _Echo(logging.Handler):
    """Log records as lines for ``echo`` (the command line's print)."""

    def __init__(self, echo: Any) -> None:
        super().__init__()
        self.echo = echo
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.echo(self.format(record))


def _reload_changed(
    live: Any, echo: Any, timeout: float | None = None, memory: str = "auto"
) -> None:
    try:
        report = live.reload_if_changed(timeout=timeout, memory=memory)
    except ReloadInterrupted:
        raise KeyboardInterrupt from None  # Ctrl-C in a terminal stops the server
    except HandlerKitError as error:
        echo(f"reload failed, still serving the last good handler:\n{error}")
    except Exception as error:  # a bug of ours must not take the endpoint down either
        echo(
            "reload failed (an error in handler_kit itself: please report it), still serving "
            f"the last good handler:\n{type(error).__name__}: {error}"
        )
    else:
        if report is not None:
            echo(str(report))
