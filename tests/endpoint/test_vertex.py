"""endpoint/vertex.py: Vertex AI's AIP_* variables, read as production reads them."""

import pytest

from handler_kit.endpoint import vertex
from handler_kit.errors import HandlerKitError

PREDICTION = {"AIP_MODE": "PREDICTION", "AIP_PREDICT_ROUTE": "/p", "AIP_HEALTH_ROUTE": "/h"}


def test_prediction_mode_serves_its_two_routes_and_needs_both():
    assert vertex.vertex_routes({}) is None
    assert vertex.vertex_routes({"AIP_MODE": "OTHER"}) is None
    assert vertex.vertex_routes(PREDICTION) == vertex.Routes(predict="/p", health="/h")
    with pytest.raises(HandlerKitError, match="needs AIP_PREDICT_ROUTE and AIP_HEALTH_ROUTE"):
        vertex.vertex_routes({"AIP_MODE": "PREDICTION", "AIP_PREDICT_ROUTE": "/p"})


def test_health_is_asked_where_the_server_answers_it():
    assert vertex.health_route({}) == "/health"
    assert vertex.health_route(PREDICTION) == "/h"
    assert vertex.health_route({**PREDICTION, "AIP_MODE": "OTHER"}) == "/health"


def test_the_port_is_vertex_ais_only_when_its_mode_is_set():
    assert vertex.http_port({"AIP_HTTP_PORT": "9000"}) is None
    assert vertex.http_port({"AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": "9000"}) == 9000
    assert vertex.http_port({"AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": "nine"}) is None


def test_a_server_kept_off_vertex_ai_is_given_none_of_its_variables():
    env = {**PREDICTION, "AIP_HTTP_PORT": "9000", "PATH": "/bin"}
    assert vertex.without_vertex(env) == {"PATH": "/bin"}
    # An empty AIP_MODE is production's "not set": the other variables no longer count.
    off = {**env, **vertex.OFF}
    assert vertex.vertex_routes(off) is None and vertex.http_port(off) is None
    assert vertex.describe_routes(off) == "POST / or /predict; GET /health, /metrics"
