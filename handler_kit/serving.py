"""The command line's ``serve``: load a repository, serve it until Ctrl-C, and with
``--reload`` reload it on each save, echoing each reload in one line.

The shell over the endpoint (``endpoint.server.serve``) and the reload (``reload.live``): it
sits above both wings, so neither imports the other. ``serve --reload`` runs it as the child
of a supervising process (``supervisor.py``), which starts it again when an edit ends it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from functools import partial
from typing import Any

from .endpoint.running import Endpoint
from .endpoint.server import listen, serve
from .endpoint.vertex import describe_routes, vertex_port
from .errors import HandlerKitError, ReloadInterrupted
from .reload import flight
from .reload.live import load
from .reload.report import Outcome
from .supervisor import Supervised


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
    supervised: Supervised | None = None,
) -> None:
    """Load ``repo`` and serve it until ``stop`` is set (or Ctrl-C); the CLI's ``serve``.

    With ``reload``, a change to a file of the repository (watchfiles) reloads the edited
    handler.py and sibling modules; each reload is echoed in one line. A reload that fails,
    ends the program (``sys.exit``) or runs past ``reload_timeout`` seconds is reported, and
    the last good handler keeps serving; the server never stops for an edit. Handler
    errors are echoed with their traceback (your files); with ``verbose``, every request too.
    ``supervised``: run as the child of ``serve --reload``'s supervisor (see supervisor.py).
    """
    if supervised and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # the supervisor's stop: as Ctrl-C, "stopped"
    port = vertex_port(port)
    if not supervised:  # the supervisor holds its port already
        listen(host, port).close()  # a taken port is said before the model loads, not after
    texts = flight.take_good(supervised.last_good) if supervised and supervised.last_good else None
    live = load(repo, texts)
    if supervised and supervised.crashed:
        live.count_as_failed(supervised.crashed)
    stop = stop or threading.Event()
    echo = echo or partial(print, flush=True)  # flushed: a pipe reader sees each line now
    printer = _Echo(echo)
    printer.setLevel(logging.CRITICAL + 1)  # the start-up's warning is echoed below, once
    sock = socket.socket(fileno=supervised.fd) if supervised else None
    with serve(live, host, port, token, concurrency, log=printer, sock=sock) as endpoint:
        echo(f"serving {live.file} at {endpoint.url} ({describe_routes(os.environ)})")
        if texts:
            echo("(the last good version of the code, not the files on disk)")
        if endpoint.warning:
            echo(f"warning: {endpoint.warning}")
        # Handler errors, calls left behind by a reload; with verbose, every request.
        printer.setLevel(logging.INFO if verbose else logging.WARNING)
        try:
            if not reload:
                while endpoint.running and not stop.wait(interval):
                    pass
            else:
                watch = partial(_reload_changed, live, echo, reload_timeout, reinit_memory)
                _watch(live, endpoint, stop, interval, watch, supervised is not None)
        except KeyboardInterrupt:
            pass
    echo("stopped")


def _watch(
    live: Any,
    endpoint: Endpoint,
    stop: threading.Event,
    interval: float,
    reload: Any,
    supervised: bool,
) -> None:
    """Reload on each change of the repository's files until ``stop`` (or the supervisor,
    when ``supervised``, is gone); a supervised server keeps each good version for the
    supervisor."""
    import watchfiles

    parent = os.getppid()
    if supervised:
        flight.keep_good({n: s.text for n, s in live.sources.items()})
    for changes in watchfiles.watch(
        live.path,
        stop_event=stop,
        yield_on_timeout=True,
        rust_timeout=int(interval * 1000),
        debounce=100,
    ):
        if not endpoint.running or (supervised and os.getppid() != parent):
            break
        if (changes or live.changed()) and reload() and supervised:  # a missed event: compare
            flight.keep_good({n: s.text for n, s in live.sources.items()})


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


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
) -> bool:
    """Reload what changed and echo what happened; True when new code serves now."""
    report = None
    try:
        report = live.reload_if_changed(timeout=timeout, memory=memory)
    except ReloadInterrupted:
        raise KeyboardInterrupt from None  # Ctrl-C in a terminal stops the server
    except HandlerKitError as error:
        echo(f"reload failed: {error}")  # it says whether the last good handler keeps serving
    except Exception as error:  # a bug of ours must not take the endpoint down either
        state = "still serving the last good handler" if live.serving else "there is no handler"
        echo(
            f"reload failed (an error in handler_kit itself: please report it), {state}:\n"
            f"{type(error).__name__}: {error}"
        )
    else:
        if report is not None:
            echo(str(report))
    return report is not None and report.mode is not Outcome.UNCHANGED
