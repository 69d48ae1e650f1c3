"""A stand-in for the Inference Endpoints control plane on 127.0.0.1, for tests.

It answers the routes huggingface_hub 2.4 sends to ``constants.INFERENCE_ENDPOINTS_ENDPOINT``
(``/v2/endpoint/{namespace}[/{name}[/pause|/resume|/scale-to-zero]]``: create, get, update,
delete, list, pause, resume, scale to zero) with the JSON ``InferenceEndpoint`` parses
(``status.state``, ``status.message``, ``status.url``, ``model.revision``, ``healthRoute``...).
An endpoint walks pending -> initializing -> running (``Timing`` says how long each lasts,
bounded); on running, its URL serves the revision with production's real server (a
``Replica``). A handler that cannot start ends in ``failed`` (``updateFailed`` for an
update) with the tail of the server's log, its traceback, as ``status.message``. Updating
the model redeploys while the old replica serves; a scaled-to-zero endpoint answers 503
unless the request carries ``X-Scale-Up-Timeout``. Tokens are the Hub stand-in's.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handler_kit.production.toolkit import Toolkit, find_toolkit

from .accounts import User, error
from .git import stamp
from .hub import HubStandIn
from .replica import Replica, front
from .serving import Served

NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
REQUIRED = {
    "name": (),
    "type": (),
    "provider": ("vendor", "region"),
    "compute": ("accelerator", "instanceSize", "instanceType"),
    "model": ("repository", "framework"),
}
REDEPLOYS = ("repository", "revision", "framework", "task", "image", "env", "secrets")


class State(str, Enum):
    """The states of an endpoint, as the API spells them."""

    PENDING = "pending"
    INITIALIZING = "initializing"
    UPDATING = "updating"
    UPDATE_FAILED = "updateFailed"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    SCALED_TO_ZERO = "scaledToZero"


@dataclass(frozen=True)
class Timing:
    """How long the stand-in takes: seconds pending, at least this long initializing, and at
    most ``start`` seconds for production's server to answer its health route."""

    pending: float = 0.2
    initializing: float = 0.0
    start: float = 180.0


class StandInEndpoint:
    """One endpoint: its configuration, its state, its replica and its URL."""

    def __init__(self, plane: EndpointsStandIn, namespace: str, config: dict, user: User):
        self.plane, self.namespace, self.config, self.user = plane, namespace, config, user
        self.state, self.message = State.PENDING, "Endpoint waiting to be scheduled"
        self.created = self.updated = datetime.now(timezone.utc)
        self.replica: Replica | None = None
        self._lock = threading.RLock()
        self._generation = 0  # a deploy that a newer one replaced changes nothing
        self._threads: list[threading.Thread] = []
        self._starting: set[Replica] = set()  # stopped when their deploy is called off
        self._waiting: list[threading.Event] = []  # set to end a deploy's pause at once
        self._served = Served(front(self), f"endpoint-{config['name']}").start()

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def url(self) -> str:
        return self._served.url

    def raw(self) -> dict:
        """The endpoint as the API answers it."""
        ready = 1 if self.state in (State.RUNNING, State.UPDATING, State.UPDATE_FAILED) else 0
        model = dict(self.config["model"])
        model["secrets"] = dict.fromkeys(model.get("secrets") or {}, "********")
        model.setdefault("task", None)
        return {
            **{key: value for key, value in self.config.items() if key != "model"},
            "model": model,
            "accountId": None,
            "healthRoute": "/health",
            "status": {
                "createdAt": stamp(self.created),
                "createdBy": {"id": self.user.name, "name": self.user.name},
                "updatedAt": stamp(self.updated),
                "updatedBy": {"id": self.user.name, "name": self.user.name},
                "private": None,
                "state": self.state.value,
                "message": self.message,
                "url": self.url,
                "readyReplica": ready,
                "targetReplica": 0 if self.state is State.SCALED_TO_ZERO else 1,
            },
        }

    def _set(self, state: State, message: str) -> None:
        self.state, self.message = state, message
        self.updated = datetime.now(timezone.utc)

    # --- the lifecycle ---------------------------------------------------------------------

    def deploy(self, updating: bool = False) -> None:
        """Walk to running on the configured revision, in a thread of its own."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            if updating:
                self._set(State.UPDATING, "Endpoint is updating")
            else:
                self._set(State.PENDING, "Endpoint waiting to be scheduled")
            called_off = threading.Event()
            self._waiting.append(called_off)
        thread = threading.Thread(
            target=self._deploy,
            args=(generation, updating, called_off),
            name=f"deploy-{self.name}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _deploy(self, generation: int, updating: bool, called_off: threading.Event) -> None:
        timing = self.plane.timing
        if not updating:
            called_off.wait(timing.pending)
            with self._lock:
                if generation != self._generation:
                    return
                self._set(State.INITIALIZING, "Endpoint is initializing")
        began = time.monotonic()
        replica, failure = self._start_replica(timing.start)
        called_off.wait(max(0.0, timing.initializing - (time.monotonic() - began)))
        with self._lock:
            if generation != self._generation:  # paused, deleted or updated meanwhile
                if replica is not None:
                    replica.stop()
                return
            if replica is None:
                self._set(State.UPDATE_FAILED if updating else State.FAILED, failure)
                if not updating:
                    self._drop_replica()
                return
            old, self.replica = self.replica, replica
            self._set(State.RUNNING, "Endpoint is running")
        if old is not None:
            old.stop()

    def _start_replica(self, timeout: float) -> tuple[Replica | None, str]:
        """A started replica of the configured revision, or None and what production said."""
        model = self.config["model"]
        env = {**(model.get("env") or {}), **(model.get("secrets") or {})}
        if model.get("task"):
            env["HF_TASK"] = model["task"]
        replica = Replica(
            self.plane.hub.url, model["repository"], model["revision"], self.user.token, env,
            self.plane.toolkit, self.plane.python,
        )  # fmt: skip
        with self._lock:
            self._starting.add(replica)
        try:
            return replica.start(timeout), ""
        except Exception as failure:
            return None, replica.log_tail() or f"{type(failure).__name__}: {failure}"
        finally:
            with self._lock:
                self._starting.discard(replica)

    def _call_off(self) -> None:
        """Whatever deploy is under way changes nothing, and its server stops starting."""
        with self._lock:
            self._generation += 1
            for replica in list(self._starting):
                replica.stop()
            for event in self._waiting:
                event.set()
            self._waiting.clear()
            self._drop_replica()

    def _drop_replica(self) -> None:
        replica, self.replica = self.replica, None
        if replica is not None:
            replica.stop()

    def pause(self) -> None:
        with self._lock:
            self._call_off()
            self._set(State.PAUSED, "Endpoint is paused")

    def scale_to_zero(self) -> None:
        with self._lock:
            self._call_off()
            self._set(State.SCALED_TO_ZERO, "Endpoint is scaled to zero")

    def delete(self) -> None:
        """Stop everything it runs; its deploys end within a bounded time."""
        self.pause()
        timing = self.plane.timing
        for thread in self._threads:
            thread.join(timing.pending + timing.initializing + timing.start)
        self._served.stop()

    # --- what its URL asks -----------------------------------------------------------------

    def allows(self, authorization: str | None) -> bool:
        if self.config.get("type") == "public":
            return True
        token = (authorization or "").removeprefix("Bearer ").strip()
        return token in self.plane.hub.users

    def serving(self) -> str | None:
        replica = self.replica
        return replica.url if replica is not None else None

    def wake(self, timeout: float) -> str | None:
        """Start a replica of a scaled-to-zero endpoint within ``timeout`` s; its URL or None."""
        with self._lock:
            if self.state is not State.SCALED_TO_ZERO:
                return self.serving()
            self._set(State.INITIALIZING, "Endpoint is scaling up")
            replica, failure = self._start_replica(min(timeout, self.plane.timing.start))
            if replica is None:
                self._set(State.FAILED, failure)
                return None
            self.replica = replica
            self._set(State.RUNNING, "Endpoint is running")
            return replica.url


class EndpointsStandIn:
    """The control plane for the Hub stand-in's users, served from ``start()``."""

    def __init__(
        self,
        hub: HubStandIn,
        timing: Timing = Timing(),
        toolkit: Toolkit | None = None,
        python: Path | None = None,
    ) -> None:
        self.hub, self.timing = hub, timing
        self.toolkit = toolkit if toolkit is not None else find_toolkit()
        self.python = python  # production's python; default: the venv with its pins
        self.endpoints: dict[tuple[str, str], StandInEndpoint] = {}
        self._lock = threading.RLock()
        prefix = "/v2/endpoint/{namespace}"
        routes = [
            Route(prefix, self._list_or_create, methods=["GET", "POST"]),
            Route(prefix + "/{name}", self._one, methods=["GET", "PUT", "DELETE"]),
            Route(prefix + "/{name}/{action}", self._action, methods=["POST"]),
        ]
        self._served = Served(Starlette(routes=routes), "endpoints-stand-in")

    @property
    def url(self) -> str:
        return self._served.url

    @property
    def api_url(self) -> str:
        """What ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` must be."""
        return f"{self.url}/v2"

    def start(self) -> EndpointsStandIn:
        self._served.start()
        return self

    def stop(self) -> None:
        for endpoint in list(self.endpoints.values()):
            endpoint.delete()
        self.endpoints.clear()
        self._served.stop()

    def __enter__(self) -> EndpointsStandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- the routes ------------------------------------------------------------------------

    def _caller(self, request: Request, write: bool) -> User | Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user = self.hub.users.get(token)
        if user is None:
            return error(401, "Unauthorized: a valid Hugging Face token is required")
        namespace = request.path_params["namespace"]
        if namespace not in (user.name, *user.orgs) or (write and user.role != "write"):
            return error(403, f"You don't have access to the namespace {namespace}")
        return user

    def _endpoint(self, request: Request, write: bool) -> StandInEndpoint | Response:
        user = self._caller(request, write)
        if isinstance(user, Response):
            return user
        key = (request.path_params["namespace"], request.path_params["name"])
        found = self.endpoints.get(key)
        return found if found is not None else error(404, f"Endpoint {key[1]} not found")

    async def _list_or_create(self, request: Request) -> Response:
        user = self._caller(request, write=request.method == "POST")
        if isinstance(user, Response):
            return user
        namespace = request.path_params["namespace"]
        if request.method == "GET":
            items = [e.raw() for (ns, _), e in self.endpoints.items() if ns == namespace]
            return JSONResponse({"items": items})
        config = await request.json()
        problem = self._invalid(config, user)
        if problem is not None:
            return problem
        with self._lock:
            if (namespace, config["name"]) in self.endpoints:
                return error(409, f"Endpoint {config['name']} already exists")
            endpoint = StandInEndpoint(self, namespace, config, user)
            self.endpoints[(namespace, config["name"])] = endpoint
        endpoint.deploy()
        return JSONResponse(endpoint.raw())

    def _invalid(self, config: dict, user: User) -> Response | None:
        """What the API refuses in a new endpoint's configuration, or None."""
        for key, inner in REQUIRED.items():
            if key not in config or any(config[key].get(k) is None for k in inner):
                return error(422, f"missing field `{key}` (with {', '.join(inner) or 'a value'})")
        if not NAME.fullmatch(config["name"]):
            return error(400, "Endpoint name must be 1 to 32 lowercase letters, digits or dashes")
        model = config["model"]
        repo = self.hub.repos.get(model["repository"])
        if repo is None or (repo.private and not user.can_write(repo.namespace)):
            return error(400, f"Repository {model['repository']} not found or not accessible")
        commit = repo.resolve(model.get("revision") or "main")
        if commit is None:
            return error(400, f"Revision {model['revision']} not found in {repo.repo_id}")
        model["revision"] = model.get("revision") or commit.oid  # pinned when it is created
        return None

    async def _one(self, request: Request) -> Response:
        endpoint = self._endpoint(request, write=request.method != "GET")
        if isinstance(endpoint, Response):
            return endpoint
        if request.method == "DELETE":
            with self._lock:
                self.endpoints.pop((endpoint.namespace, endpoint.name), None)
            endpoint.delete()
            return JSONResponse({})
        if request.method == "PUT":
            changes = await request.json()
            model = changes.get("model") or {}
            redeploy = any(
                key in model and model[key] != endpoint.config["model"].get(key)
                for key in REDEPLOYS
            )
            for key, value in changes.items():
                if isinstance(value, dict):
                    endpoint.config.setdefault(key, {}).update(value)
                else:
                    endpoint.config[key] = value
            if redeploy:
                endpoint.deploy(updating=endpoint.replica is not None)
        return JSONResponse(endpoint.raw())

    async def _action(self, request: Request) -> Response:
        endpoint = self._endpoint(request, write=True)
        if isinstance(endpoint, Response):
            return endpoint
        action = request.path_params["action"]
        if action == "pause":
            endpoint.pause()
        elif action == "scale-to-zero":
            endpoint.scale_to_zero()
        elif action == "resume":
            if endpoint.state is State.RUNNING:
                return error(400, f"Endpoint {endpoint.name} is already running")
            endpoint.deploy()
        else:
            return error(404, f"No action {action}")
        return JSONResponse(endpoint.raw())
