"""An ASGI app served on 127.0.0.1 in a background thread: how each stand-in listens."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

START_TIMEOUT = 10.0  # seconds for uvicorn to start listening
STOP_TIMEOUT = 10.0


class Served:
    """``app`` on a free port of 127.0.0.1 from ``start()`` to ``stop()``."""

    def __init__(self, app, name: str) -> None:
        self.app = app
        self.name = name
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} is not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", log_config=None, lifespan="off", access_log=False
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            server.should_exit = True
            raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT} s")
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
