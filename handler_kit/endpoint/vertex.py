"""Vertex AI's variables (``AIP_*``): the one owner of production's rules for them.

On Vertex AI, production's entrypoint listens on ``AIP_HTTP_PORT`` when ``AIP_MODE`` is set,
and with ``AIP_MODE=PREDICTION`` its server answers on ``AIP_PREDICT_ROUTE`` and
``AIP_HEALTH_ROUTE`` only (it does not start without both). The kit's endpoint serves those
routes (``server.py``); production's side finds the toolkit's server where they put it,
and keeps a server on Inference Endpoints' routes by unsetting them.
Pure: no web stack is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import HandlerKitError

PREFIX = "AIP_"
# An empty AIP_MODE is production's "not set": a server given this stays off Vertex AI.
OFF = {"AIP_MODE": ""}
HEALTH = "/health"  # Inference Endpoints' health route


@dataclass(frozen=True)
class Routes:
    """Vertex AI's two routes: where predictions are posted, where health is asked."""

    predict: str
    health: str


def prediction(env: Mapping[str, str]) -> bool:
    """True when ``env`` puts production in Vertex AI's prediction mode."""
    return env.get("AIP_MODE") == "PREDICTION"


def vertex_routes(env: Mapping[str, str]) -> Routes | None:
    """Vertex AI's routes under ``env``, or None off Vertex AI; in prediction mode without
    both routes, the error production's server stops with."""
    if not prediction(env):
        return None
    predict, health = env.get("AIP_PREDICT_ROUTE"), env.get("AIP_HEALTH_ROUTE")
    if not predict or not health:
        raise HandlerKitError(
            "AIP_MODE=PREDICTION (Vertex AI) needs AIP_PREDICT_ROUTE and AIP_HEALTH_ROUTE; "
            "production does not start without them",
            hint="Set both, e.g. AIP_PREDICT_ROUTE=/predict AIP_HEALTH_ROUTE=/health, "
            "or unset AIP_MODE.",
        )
    return Routes(predict, health)


def health_route(env: Mapping[str, str]) -> str:
    """Where a server started with ``env`` answers health: Vertex AI's route in prediction
    mode, else ``/health``."""
    if prediction(env) and env.get("AIP_HEALTH_ROUTE"):
        return env["AIP_HEALTH_ROUTE"]
    return HEALTH


def http_port(env: Mapping[str, str]) -> int | None:
    """``AIP_HTTP_PORT`` when ``AIP_MODE`` is set (production's entrypoint listens there
    under Vertex AI, whatever else it was given), else None."""
    if env.get("AIP_MODE") and env.get("AIP_HTTP_PORT", "").isdigit():
        return int(env["AIP_HTTP_PORT"])
    return None


def vertex_port(port: int, env: Mapping[str, str] | None = None) -> int:
    """``port``, or ``AIP_HTTP_PORT`` when ``AIP_MODE`` is set in ``env`` (default: this
    process's environment)."""
    found = http_port(os.environ if env is None else env)
    return port if found is None else found


def describe_routes(env: Mapping[str, str]) -> str:
    """The routes an endpoint serves under ``env``, in a few words."""
    if prediction(env):
        return f"POST {env.get('AIP_PREDICT_ROUTE')}; GET {env.get('AIP_HEALTH_ROUTE')}"
    return "POST / or /predict; GET /health, /metrics"


def without_vertex(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without Vertex AI's variables: a server started with it stays on Inference
    Endpoints' routes and the port it is given."""
    return {name: value for name, value in env.items() if not name.startswith(PREFIX)}
