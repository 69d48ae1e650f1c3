"""live.py: calling a LiveHandler checks the payload as production's server checks a request."""

import pytest

import handler_kit
from handler_kit import HandlerKitError

RECORDER = """
class EndpointHandler:
    def __init__(self, path=""):
        self.calls = []

    def __call__(self, data):
        self.calls.append(data)
        return []
"""


@pytest.fixture
def live(repo):
    repo.write("handler.py", text=RECORDER)
    return handler_kit.load(repo.path)


@pytest.mark.parametrize(
    ("data", "got"),
    [({"text": "a good day"}, "got keys ['text']"), (["a good day"], "got a list")],
)
def test_a_payload_production_would_refuse_is_refused_saying_so(live, data, got):
    with pytest.raises(HandlerKitError) as error:
        live(data)
    message = str(error.value)
    assert (
        f"the payload must be a JSON object with an `inputs` key (or `instances`); {got}" in message
    )
    assert "Production refuses it with HTTP 400" in message
    assert "handler(data, check=False)" in message
    assert live.instance.calls == []  # the handler never saw it


def test_inputs_or_instances_pass_and_check_false_passes_anything(live):
    live({"inputs": "x"})
    live({"instances": ["x"]})
    live({"text": "x"}, check=False)
    assert live.instance.calls == [{"inputs": "x"}, {"instances": ["x"]}, {"text": "x"}]
