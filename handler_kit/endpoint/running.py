"""A running endpoint: its address, what it has answered, its log, and how to stop it."""

from __future__ import annotations

import html
import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .. import style
from ..report import Status

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
            parts.append(
                f"<br>{style.bold('warning', Status.WARN.colour)}: {html.escape(self.warning)}"
            )
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
