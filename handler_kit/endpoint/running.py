"""A running endpoint: its address, the calls it runs, what it has answered, its log, and how
to stop it."""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import style
from ..report import Status, count

LOG_LINES = 200  # records an endpoint keeps
GRACE = 2.0  # seconds a call replaced by a reload may run on, at least, before it is left behind
IDLE_THREADS = 8  # call threads kept for the next calls
_numbers = itertools.count(1)


@dataclass
class Stats:
    """What an endpoint has answered so far."""

    requests: int = 0
    ok: int = 0
    errors: int = 0
    last_error: str | None = None  # the traceback of the last handler error (the user's frames)
    recent: deque = field(default_factory=lambda: deque(maxlen=20))  # (path, status, ms)
    left_behind: deque = field(default_factory=lambda: deque(maxlen=20))  # Call, see Calls


@dataclass
class Call:
    """One call of the handler: which request, since when, on which handler instance."""

    number: int  # the endpoint's request number
    path: str
    preview: str  # the request's inputs, shortened
    handler: int  # id() of the instance it runs on (the call keeps that instance alive)
    started: float = field(default_factory=time.monotonic)
    at: datetime = field(default_factory=datetime.now)
    released: bool = False  # its slot went to the calls of the handler that replaced it
    ended: bool = False

    def describe(self) -> str:
        """``request #3 (POST /, inputs 'a story') running since 12:00:01 (42 s)``."""
        took = time.monotonic() - self.started
        return (
            f"request #{self.number} (POST {self.path}, {self.preview}) running since "
            f"{self.at:%H:%M:%S} ({took:.0f} s)"
        )


class Calls:
    """The handler's calls: at most ``concurrency`` at once, each in a daemon thread.

    Production runs one call at a time, and a call that never returns holds that one slot for
    good: no request is answered again. Here, once a reload has replaced the handler instance
    (``handler()`` says which one serves now), a call still running on an older one that has
    run longer than its grace (twice the longest call answered so far, and at least ``GRACE``
    seconds) is left behind: it gives its slot to the new handler's calls, and the log says
    which request it was and since when. It runs on (a thread cannot be stopped), in a daemon
    thread that never keeps the process from ending.
    """

    def __init__(self, concurrency: int, handler: Callable[[], int], stats: Stats) -> None:
        self.concurrency, self.handler, self.stats = concurrency, handler, stats
        self.running: list[Call] = []
        self.waiting = 0
        self.longest = 0.0  # seconds: the longest call answered
        self._turn: asyncio.Condition | None = None  # made in the event loop, at the first call
        self._idle: list[queue.SimpleQueue] = []

    @property
    def busy(self) -> int:
        """The calls holding a slot now."""
        return sum(not call.released for call in self.running)

    async def run(self, work: Callable[[], Any], call: Call, log: logging.Logger) -> Any:
        """Wait for a slot, then run ``work`` (the handler's ``call``) in a thread; its result."""
        if self._turn is None:
            self._turn = asyncio.Condition()
        async with self._turn:
            self.waiting += 1
            try:
                while self.busy >= self.concurrency:
                    self._leave_behind(log)
                    if self.busy < self.concurrency:
                        break
                    # Woken when a call ends; else look again for a call to leave behind.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._turn.wait(), 0.25)
            finally:
                self.waiting -= 1
            self.running.append(call)
        try:
            return await self._in_thread(work)
        finally:
            self.running.remove(call)
            call.ended, took = True, time.monotonic() - call.started
            if call.released:
                log.warning(
                    "request #%s, left behind by a reload, ended after %.0f s", call.number, took
                )
            else:
                self.longest = max(self.longest, took)
            async with self._turn:
                self._turn.notify()

    def _leave_behind(self, log: logging.Logger) -> None:
        """Give the slots of calls that a reload replaced and that run past their grace."""
        now, serving = time.monotonic(), self.handler()
        grace = max(GRACE, 2 * self.longest)
        for call in self.running:
            if not call.released and call.handler != serving and now - call.started >= grace:
                call.released = True
                self.stats.left_behind.append(call)
                log.warning(
                    "%s on the handler a reload replaced, and holds no slot any more: the new "
                    "handler answers the next requests (the old call runs on: a thread cannot "
                    "be stopped)",
                    call.describe(),
                )

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in one of the call threads; what it returns or raises."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            jobs = self._idle.pop()
        except IndexError:
            jobs = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(jobs,), name="handler-kit-call", daemon=True
            ).start()
        jobs.put((work, loop, future))
        return await future

    def _serve(self, jobs: queue.SimpleQueue) -> None:
        """A call thread: run each job, hand its outcome to the event loop."""
        while True:
            work, loop, future = jobs.get()
            result, error = None, None
            try:
                result = work()
            except BaseException as exc:  # every outcome goes to the request that waits
                error = exc
            keep = len(self._idle) < IDLE_THREADS
            if keep:
                self._idle.append(jobs)  # before the answer: the next call may take it at once
            with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)
            del work, result, error, future
            if not keep:
                return


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (the server stopped)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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

    @property
    def left_behind(self) -> list[str]:
        """The calls a reload left running on the handler it replaced (they hold no slot)."""
        return [call.describe() for call in self.stats.left_behind if not call.ended]

    def __repr__(self) -> str:
        last = self.last_error.strip().splitlines()[-1] if self.last_error else ""
        lines = [f"<Endpoint {self._summary()}{f'; last handler error: {last}' if last else ''}>"]
        lines += [f"left behind by a reload: {call}" for call in self.left_behind]
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
            parts.append(
                f"<br>{style.bold('warning', Status.WARN.colour)}: {html.escape(self.warning)}"
            )
        for call in self.left_behind:
            said = style.bold("left behind by a reload", Status.WARN.colour)
            parts.append(f"<br>{said}: {html.escape(call)}")
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
                f"<details><summary>log ({count(lines, 'line')})</summary>"
                f'<pre style="color:{style.TEXT};font-family:{style.MONOSPACE}">'
                f"{html.escape(self.log)}</pre></details>"
            )
        return f'<div style="color:{style.TEXT}">{"".join(parts)}</div>'
