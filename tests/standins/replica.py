"""A stand-in endpoint's replica and its URL, as Inference Endpoints runs them.

A replica is one revision of a repository, downloaded from the Hub stand-in into a folder of
its own, its requirements.txt installed as production installs it, and served by
**production's real server** (``handler_kit.production.servers.ProductionServer``). The
endpoint's URL is a small server in front of it that asks for a token (unless the endpoint
is public), answers 503 while there is no replica, and wakes a scaled-to-zero endpoint when
the request carries ``X-Scale-Up-Timeout``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handler_kit.production.processes import LOG_TAIL
from handler_kit.production.servers import ProductionServer
from handler_kit.production.toolkit import Toolkit
from handler_kit.production.venvs import ensure_venv, with_requirements

SCALE_UP = "X-Scale-Up-Timeout"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
FORWARDED = ("content-type", "accept")  # the request headers production reads
REQUEST_TIMEOUT = 120.0


class Replica:
    """Production's real server on ``repo_id`` at ``revision``, from ``start()`` to ``stop()``."""

    def __init__(
        self,
        hub_url: str,
        repo_id: str,
        revision: str,
        token: str,
        env: dict[str, str],
        toolkit: Toolkit,
        python: Path | None = None,
    ) -> None:
        self.hub_url, self.repo_id, self.revision, self.token = hub_url, repo_id, revision, token
        self.env = env
        self.toolkit = toolkit
        self.python = python
        self.server: ProductionServer | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._stopped = False  # stop() came, maybe while start() runs in another thread

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self, timeout: float) -> Replica:
        """Download the revision, install its requirements, start the server (``timeout`` s).

        Raises what failed: the download, pip (HandlerKitError) or the server (ToolkitError,
        whose ``log_tail`` is the end of what the server printed: the traceback).
        """
        self._folder = tempfile.TemporaryDirectory(prefix="endpoint-replica-")
        repo = Path(self._folder.name) / "repository"
        download(self.hub_url, self.repo_id, self.revision, self.token, repo)
        python = with_requirements(repo, self.python or ensure_venv(self.toolkit))
        # AIP_MODE empty: production's routes, whatever Vertex AI variable this shell has.
        self.server = ProductionServer(repo, self.toolkit, python, env={"AIP_MODE": "", **self.env})
        try:
            if self._stopped:
                raise RuntimeError("the replica was stopped before its server started")
            self.server.start(timeout)
            if self._stopped:
                raise RuntimeError("the replica was stopped while its server started")
        except Exception:
            self.stop()
            raise
        return self

    def log_tail(self) -> str:
        """The last lines the server printed (kept after it stopped)."""
        log = self.server.log if self.server is not None else ""
        return "\n".join(log.rstrip().splitlines()[-LOG_TAIL:])

    def stop(self) -> None:
        """Stop the server (a start under way in another thread then fails) and its files."""
        self._stopped = True
        if self.server is not None:
            self.server.stop()
        folder, self._folder = self._folder, None
        if folder is not None:
            folder.cleanup()


def download(hub_url: str, repo_id: str, revision: str, token: str, folder: Path) -> None:
    """Every file of ``repo_id`` at ``revision`` into ``folder``, through the Hub's routes."""
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub_url, headers=headers, trust_env=False, timeout=60) as hub:
        listed = hub.get(f"/api/models/{repo_id}/tree/{revision}", params={"recursive": "true"})
        listed.raise_for_status()
        for entry in listed.json():
            if entry["type"] != "file":
                continue
            got = hub.get(f"/{repo_id}/resolve/{revision}/{entry['path']}")
            got.raise_for_status()
            file = folder / entry["path"]
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(got.content)


class Fronted(Protocol):
    """What the endpoint's URL asks of its endpoint."""

    def allows(self, authorization: str | None) -> bool: ...

    def serving(self) -> str | None: ...

    def wake(self, timeout: float) -> str | None: ...


def front(endpoint: Fronted) -> Starlette:
    """The app behind an endpoint's URL: every request goes to its replica, when it has one."""

    async def forward(request: Request) -> Response:
        if not endpoint.allows(request.headers.get("authorization")):
            return JSONResponse(
                {"error": "Authorization header is correct, but the token seems invalid"}, 401
            )
        url = endpoint.serving()
        if url is None and SCALE_UP in request.headers:
            try:
                timeout = float(request.headers[SCALE_UP])
            except ValueError:
                return JSONResponse({"error": f"{SCALE_UP} takes a number of seconds"}, 400)
            url = await anyio.to_thread.run_sync(_call(endpoint.wake, timeout))
        if url is None:
            said = f"Service Unavailable: no replica runs; send {SCALE_UP} to wait for one"
            return JSONResponse({"error": said}, 503)
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        async with httpx.AsyncClient(trust_env=False, timeout=REQUEST_TIMEOUT) as client:
            answer = await client.request(
                request.method,
                f"{url}{request.url.path}",
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        kept = (
            {"content-type": answer.headers["content-type"]}
            if "content-type" in answer.headers
            else {}
        )
        return Response(answer.content, answer.status_code, headers=kept)

    return Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)])


def _call(function: Callable[[float], str | None], timeout: float) -> Callable[[], str | None]:
    return lambda: function(timeout)
