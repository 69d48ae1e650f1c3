"""What an endpoint is asked to be: its name, hardware, access, variables and secrets.

A setting left as None is the default for a new endpoint (a small CPU instance on AWS in
us-east-1, reached with a token) and stays as it is on an existing one. Only what a user
gives can differ from an existing endpoint's settings, and ``differences`` says what does.
Pure: no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..choice import Choice
from .errors import DeployError

FRAMEWORK = "custom"  # a handler.py: production's toolkit serves it
NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")  # Inference Endpoints' rule
NAME_LIMIT = 32


class Access(Choice):
    """Who may call the endpoint: anyone (public) or holders of a Hugging Face token."""

    AUTHENTICATED = "authenticated"  # the UI's "protected"; huggingface_hub's default
    PUBLIC = "public"


# The hardware and place of a new endpoint unless told otherwise: the smallest CPU instance.
DEFAULTS = {
    "accelerator": "cpu",
    "vendor": "aws",
    "region": "us-east-1",
    "instance_type": "intel-icl",
    "instance_size": "x1",
}
# Where each setting is in the API's answer about an endpoint (``InferenceEndpoint.raw``).
RAW = {
    "accelerator": ("compute", "accelerator"),
    "instance_type": ("compute", "instanceType"),
    "instance_size": ("compute", "instanceSize"),
    "vendor": ("provider", "vendor"),
    "region": ("provider", "region"),
    "type": ("type",),
    "repository": ("model", "repository"),
    "framework": ("model", "framework"),
}


@dataclass(frozen=True)
class EndpointSettings:
    """What the deploy asks of its endpoint; None: the default, or the existing value."""

    name: str | None = None  # default: from the repository's name
    namespace: str | None = None  # default: the token's user
    accelerator: str | None = None
    vendor: str | None = None
    region: str | None = None
    instance_type: str | None = None
    instance_size: str | None = None
    type: Access | None = None
    task: str | None = None  # HF_TASK for the handler; a custom handler rarely needs one
    env: dict[str, str] | None = None
    secrets: dict[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.type is not None:
            object.__setattr__(self, "type", Access.of(self.type))

    def endpoint_name(self, repo_id: str) -> str:
        """The endpoint's name: the one given, else the repository's, as endpoints spell names."""
        if self.name is not None:
            check_endpoint_name(self.name)
            return self.name
        return name_for(repo_id)

    def for_new(self) -> dict[str, Any]:
        """The keyword arguments of ``create_inference_endpoint`` besides name and repository."""
        given = {key: getattr(self, key) for key in DEFAULTS}
        chosen = {
            key: value if value is not None else DEFAULTS[key] for key, value in given.items()
        }
        return {
            **chosen,
            "framework": FRAMEWORK,
            "type": (self.type or Access.AUTHENTICATED).value,
            "task": self.task,
            "env": self.env,
            "secrets": self.secrets,
            "namespace": self.namespace,
        }

    def asked(self, repository: str) -> dict[str, str]:
        """The settings this deploy insists on: those given, the repository and framework."""
        wanted = {key: getattr(self, key) for key in DEFAULTS}
        wanted["type"] = self.type.value if self.type is not None else None
        wanted |= {"repository": repository, "framework": FRAMEWORK}
        return {key: value for key, value in wanted.items() if value is not None}

    def differences(self, raw: dict[str, Any], repository: str) -> dict[str, tuple[Any, str]]:
        """``{setting: (the endpoint's, asked)}`` for each asked setting the endpoint lacks."""
        found = {}
        for key, value in self.asked(repository).items():
            there = _dig(raw, RAW[key])
            if there != value:
                found[key] = (there, value)
        return found

    def variables(self) -> dict[str, str]:
        """The variables the endpoint's container has besides its image's: ``env``, the
        secrets and ``HF_TASK`` (the gate and the rehearsal run the handler with them too)."""
        task = {"HF_TASK": self.task} if self.task else {}
        return {**(self.env or {}), **(self.secrets or {}), **task}

    def hardware(self) -> str:
        """``cpu intel-icl x1 on aws us-east-1``: a new endpoint's instance, for a report."""
        new = self.for_new()
        return (
            f"{new['accelerator']} {new['instance_type']} {new['instance_size']} on "
            f"{new['vendor']} {new['region']}"
        )


def name_for(repo_id: str) -> str:
    """An endpoint name for a repository: its name in lowercase letters, digits and dashes."""
    name = re.sub(r"[^a-z0-9]+", "-", repo_id.split("/")[-1].lower()).strip("-")
    return name[:NAME_LIMIT].rstrip("-") or "handler"


def check_endpoint_name(name: str) -> None:
    """Raise DeployError unless ``name`` is one Inference Endpoints accepts."""
    if not NAME.fullmatch(name):
        raise DeployError(
            f"{name!r} is not a valid endpoint name",
            hint=f"Use 1 to {NAME_LIMIT} lowercase letters, digits and dashes, starting and "
            f"ending with a letter or digit, e.g. {name_for(name)!r}.",
        )


def pairs(items: list[str] | None, what: str) -> dict[str, str] | None:
    """``["A=1", "B=2"]`` (``--env A=1 --env B=2``) as a dict; None when none were given."""
    if not items:
        return None
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"{what} {item!r} is not NAME=VALUE", hint=f"e.g. {what} MAX_BATCH=8")
        found[key] = value
    return found


def _dig(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value
