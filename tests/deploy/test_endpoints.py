"""endpoints.py against the control plane stand-in, before production's server would start.

The plane's endpoints stay pending here (``deploy_support.PENDING``): what is created, what an
existing endpoint with other settings gets, how a wait times out, and ``handler-kit endpoint``.
The waits that reach running or failed are in test_end_to_end.py.
"""

from __future__ import annotations

import json
import time

import deploy_support
import pytest
from huggingface_hub import HfApi
from standins import USER

from handler_kit.cli import main
from handler_kit.deploy.endpoints import (
    EndpointStatus,
    endpoint_status,
    ensure_endpoint,
    wait_until_running,
)
from handler_kit.deploy.errors import DeployError
from handler_kit.deploy.settings import EndpointSettings

hub, plane = deploy_support.hub, deploy_support.plane  # fixtures
REPO = f"{USER.name}/tiny"


@pytest.fixture
def revision(hub):
    """A commit of REPO on the Hub stand-in."""
    return hub.add_repo(REPO, {"handler.py": deploy_support.HANDLER.encode()}).oid


def test_a_new_endpoint_is_custom_pinned_to_the_revision_with_the_defaults(plane, revision):
    settings = EndpointSettings(env={"A": "1"}, secrets={"KEY": "s"})
    endpoint, said = ensure_endpoint(settings, "tiny", REPO, revision, USER.token)
    assert said == "created tiny (cpu intel-icl x1 on aws us-east-1, authenticated)"
    config = plane.endpoints[(USER.name, "tiny")].config
    assert config["model"] | {"image": None} == {
        "repository": REPO,
        "revision": revision,
        "framework": "custom",
        "image": None,
        "env": {"A": "1"},
        "secrets": {"KEY": "s"},
    }
    assert config["type"] == "authenticated"
    assert config["provider"] == {"vendor": "aws", "region": "us-east-1"}
    assert EndpointStatus.of(endpoint).state == "pending"


def test_an_endpoint_with_other_settings_is_left_alone_unless_asked(plane, revision, hub):
    HfApi().create_inference_endpoint(
        "tiny", repository=REPO, framework="custom", accelerator="cpu", instance_size="x4",
        instance_type="intel-spr", region="us-east-1", vendor="aws", revision=revision,
    )  # fmt: skip
    config = plane.endpoints[(USER.name, "tiny")].config
    before = json.dumps(config, sort_keys=True)
    asked = EndpointSettings(instance_size="x1")
    with pytest.raises(DeployError, match="exists with other settings") as other:
        ensure_endpoint(asked, "tiny", REPO, revision, USER.token)
    assert "instance_size: x4 there, x1 asked" in str(other.value)
    assert "--update" in other.value.hint
    assert json.dumps(config, sort_keys=True) == before  # nothing was changed
    second = hub.add_repo("stand-in-user/other", {"handler.py": b""}).oid
    with pytest.raises(DeployError, match="repository: stand-in-user/tiny there"):
        ensure_endpoint(EndpointSettings(), "tiny", "stand-in-user/other", second, USER.token)
    with pytest.raises(DeployError, match="an update cannot change"):
        ensure_endpoint(
            EndpointSettings(region="eu-west-1"), "tiny", REPO, revision, USER.token, True
        )
    _, said = ensure_endpoint(asked, "tiny", REPO, revision, USER.token, update=True)
    assert said == "updated tiny to the new revision and instance_size"
    assert config["compute"]["instanceSize"] == "x1"


def test_an_existing_endpoint_is_updated_to_the_new_revision(plane, revision, hub):
    ensure_endpoint(EndpointSettings(), "tiny", REPO, revision, USER.token)
    new = hub.add_repo("stand-in-user/tiny2", {}).oid  # any commit the plane can resolve
    config = plane.endpoints[(USER.name, "tiny")].config
    _, said = ensure_endpoint(EndpointSettings(env={"B": "2"}), "tiny", REPO, new, USER.token)
    assert said == "updated tiny to the new revision"
    assert (config["model"]["revision"], config["model"]["env"]) == (new, {"B": "2"})


def test_a_wait_that_times_out_says_how_to_look_again_within_its_bound(plane, revision):
    endpoint, _ = ensure_endpoint(EndpointSettings(), "tiny", REPO, revision, USER.token)
    seen = []
    began = time.monotonic()
    with pytest.raises(DeployError, match=r"is still pending after 0\.5 s") as late:
        wait_until_running(endpoint, revision, timeout=0.5, refresh_every=0.1, echo=seen.append)
    assert time.monotonic() - began < 1.5
    assert "`handler-kit endpoint status tiny`" in late.value.hint
    assert seen == ["wait: pending after 0 s: Endpoint waiting to be scheduled"]  # once


def test_the_endpoint_command_shows_pauses_resumes_and_deletes(plane, revision, capsys):
    ensure_endpoint(EndpointSettings(), "tiny", REPO, revision, USER.token)
    assert main(["endpoint", "status", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Endpoint stand-in-user/tiny: pending\n")
    assert f"model     {REPO} at {revision[:12]}" in out
    assert main(["endpoint", "pause", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "paused"
    assert main(["endpoint", "resume", "tiny"]) == 0
    assert endpoint_status("tiny").state == "pending"
    assert main(["endpoint", "delete", "tiny"]) == 0
    assert "tiny: deleted" in capsys.readouterr().out
    assert main(["endpoint", "status", "tiny"]) == 1
    assert "there is no endpoint called tiny" in capsys.readouterr().err
