"""settings.py: an endpoint's name, a new endpoint's defaults, and what differs from one."""

import pytest

from handler_kit.deploy.errors import DeployError
from handler_kit.deploy.settings import (
    Access,
    EndpointSettings,
    check_endpoint_name,
    name_for,
    pairs,
)


def test_an_endpoint_is_named_after_the_repository_as_endpoints_spell_names():
    assert name_for("me/Emotion_Handler.v2") == "emotion-handler-v2"
    assert name_for("x" * 40) == "x" * 32
    assert name_for("me/" + "a" * 31 + "-b") == "a" * 31  # cut, with no dash at the end
    assert name_for("me/___") == "handler"
    assert EndpointSettings().endpoint_name("me/My.Model") == "my-model"
    assert EndpointSettings(name="given").endpoint_name("me/My.Model") == "given"


@pytest.mark.parametrize("name", ["Upper", "-dash", "dash-", "under_score", "a" * 33, ""])
def test_a_name_endpoints_refuse_is_refused_with_one_they_accept(name):
    with pytest.raises(DeployError, match="not a valid endpoint name") as refused:
        check_endpoint_name(name)
    assert "lowercase letters, digits and dashes" in refused.value.hint


def test_a_new_endpoint_gets_a_small_cpu_instance_and_a_token_unless_told_otherwise():
    new = EndpointSettings(region="eu-west-1", env={"A": "1"}).for_new()
    assert new == {
        "accelerator": "cpu",
        "vendor": "aws",
        "region": "eu-west-1",
        "instance_type": "intel-icl",
        "instance_size": "x1",
        "framework": "custom",
        "type": "authenticated",
        "task": None,
        "env": {"A": "1"},
        "secrets": None,
        "namespace": None,
    }
    assert EndpointSettings(type="public").type is Access.PUBLIC
    with pytest.raises(ValueError, match="access must be one of authenticated, public"):
        EndpointSettings(type="protected")


def test_only_what_is_asked_can_differ_from_an_existing_endpoint():
    raw = {
        "compute": {"accelerator": "gpu", "instanceType": "nvidia-t4", "instanceSize": "x1"},
        "provider": {"vendor": "aws", "region": "us-east-1"},
        "type": "public",
        "model": {"repository": "me/model", "framework": "custom"},
    }
    assert EndpointSettings().differences(raw, "me/model") == {}  # defaults are not asked
    assert EndpointSettings(accelerator="cpu", type="public").differences(raw, "me/other") == {
        "accelerator": ("gpu", "cpu"),
        "repository": ("me/model", "me/other"),
    }
    raw["model"]["framework"] = "pytorch"
    assert EndpointSettings().differences(raw, "me/model") == {"framework": ("pytorch", "custom")}


def test_env_and_secrets_are_name_value_pairs():
    assert pairs(["A=1", "B=x=y", "C="], "--env") == {"A": "1", "B": "x=y", "C": ""}
    assert pairs(None, "--env") is None
    with pytest.raises(DeployError, match="--secret 'TOKEN' is not NAME=VALUE"):
        pairs(["TOKEN"], "--secret")


def test_the_endpoints_variables_are_its_env_its_secrets_and_its_task():
    settings = EndpointSettings(env={"A": "1"}, secrets={"TOKEN": "s"}, task="text-generation")
    assert settings.variables() == {"A": "1", "TOKEN": "s", "HF_TASK": "text-generation"}
    assert EndpointSettings().variables() == {}
