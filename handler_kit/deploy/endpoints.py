"""The Inference Endpoint of a deploy: created or updated at a commit, waited for, looked at.

``ensure_endpoint`` creates the endpoint at the pushed commit, or updates an existing one to
it (an endpoint with other settings is left alone unless the deploy may update it);
``wait_until_running`` polls its state, tells each change, and fails fast on ``failed`` and
``updateFailed`` with what the platform said (a start-up traceback); ``EndpointStatus`` is an
endpoint as a report shows it, and ``endpoint_status``, ``pause_endpoint``,
``resume_endpoint``, ``delete_endpoint`` are what ``handler-kit endpoint`` runs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import style
from ..report import Status
from .errors import DeployError, hub_error
from .settings import EndpointSettings

if TYPE_CHECKING:
    from huggingface_hub import HfApi, InferenceEndpoint

WAIT_TIMEOUT = 1800.0  # seconds: a large model's image can take many minutes to start
REFRESH_EVERY = 5.0  # seconds between two looks at the endpoint's state
FAILED = frozenset({"failed", "updateFailed"})
SERVING = frozenset({"running", "scaledToZero"})  # scaled to zero: a request wakes it
FIXED = frozenset({"type", "vendor", "region"})  # settings an update cannot change


@dataclass(frozen=True)
class EndpointStatus:
    """An endpoint as the platform describes it: state, message, URL, repository, revision."""

    name: str
    namespace: str
    state: str
    message: str
    url: str | None
    repository: str
    revision: str
    instance: str

    @classmethod
    def of(cls, endpoint: InferenceEndpoint) -> EndpointStatus:
        raw = endpoint.raw
        compute, provider = raw.get("compute", {}), raw.get("provider", {})
        instance = " ".join(
            str(value)
            for value in (
                compute.get("accelerator"),
                compute.get("instanceType"),
                compute.get("instanceSize"),
                "on",
                provider.get("vendor"),
                provider.get("region"),
            )
            if value
        )
        return cls(
            endpoint.name,
            endpoint.namespace,
            str(getattr(endpoint.status, "value", endpoint.status)),
            raw.get("status", {}).get("message") or "",
            endpoint.url,
            endpoint.repository,
            endpoint.revision or "",
            instance,
        )

    @property
    def outcome(self) -> Status:
        """How the state reads: serving is a pass, failed a fail, the rest a warning."""
        if self.state in SERVING:
            return Status.PASS
        return Status.FAIL if self.state in FAILED else Status.WARN

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"Endpoint {self.namespace}/{self.name}: {self.state}",
            f"  model     {self.repository} at {self.revision[:12] or '(main)'}",
            f"  instance  {self.instance}",
            f"  url       {self.url or '(none yet)'}",
        ]
        if self.message:
            first, *rest = self.message.splitlines()
            lines.append(f"  message   {first}")
            lines += [f"            {line}" for line in rest]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        rows = [
            ("model", f"{self.repository} at {self.revision[:12] or '(main)'}"),
            ("instance", self.instance),
            ("url", self.url or "(none yet)"),
        ]
        body = "".join(
            f'<tr><td style="{cell}">{name}</td><td style="{cell}">{html.escape(value)}</td></tr>'
            for name, value in rows
        )
        message = (
            f'<pre style="white-space:pre-wrap;font-family:{style.MONOSPACE};color:inherit;'
            f'background:transparent">{html.escape(self.message)}</pre>'
            if self.message
            else ""
        )
        return (
            f'<div style="color:{style.TEXT}"><b>Endpoint {html.escape(self.namespace)}/'
            f"{html.escape(self.name)}</b>: {style.bold(self.state, self.outcome.colour)}"
            f'<table style="{style.table_style()}">{body}</table>{message}</div>'
        )


def get_endpoint(name: str, namespace: str | None, token: str | None) -> InferenceEndpoint | None:
    """The endpoint called ``name``, or None when there is none; DeployError otherwise."""
    from huggingface_hub import HfApi

    try:
        return HfApi(token=token).get_inference_endpoint(name, namespace=namespace)
    except Exception as error:
        if getattr(getattr(error, "response", None), "status_code", None) == 404:
            return None
        raise hub_error(f"looking for the endpoint {name}", error) from error


def ensure_endpoint(
    settings: EndpointSettings,
    name: str,
    repo_id: str,
    revision: str,
    token: str,
    update: bool = False,
) -> tuple[InferenceEndpoint, str]:
    """The endpoint ``name`` serving ``repo_id`` at ``revision``, and what was done to it.

    A new endpoint is created with ``settings`` (defaults for what they leave out). An
    existing one is updated to the revision (with ``env`` and ``secrets`` when given); when
    it has other settings than those asked (another repository, other hardware), DeployError,
    unless ``update``: then it takes them.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    found = get_endpoint(name, settings.namespace, token)
    if found is not None:
        return _update(api, found, settings, repo_id, revision, update)
    new = settings.for_new()
    try:
        endpoint = api.create_inference_endpoint(name, repository=repo_id, revision=revision, **new)
    except Exception as error:
        raise hub_error(f"creating the endpoint {name}", error, hint=_create_hint()) from error
    return endpoint, f"created {name} ({settings.hardware()}, {new['type']})"


def _update(
    api: HfApi,
    found: InferenceEndpoint,
    settings: EndpointSettings,
    repo_id: str,
    revision: str,
    update: bool,
) -> tuple[InferenceEndpoint, str]:
    """``found`` updated to ``revision``, unless it has other settings and not ``update``."""
    name = found.name
    differences = settings.differences(found.raw, repo_id)
    said = "; ".join(
        f"{key}: {there} there, {want} asked" for key, (there, want) in differences.items()
    )
    if differences and not update:
        raise DeployError(
            f"the endpoint {name} exists with other settings ({said})",
            hint="Nothing was changed. Deploy with update=True (--update) to give it these "
            "settings, or choose another endpoint name (--endpoint NAME).",
        )
    if FIXED & set(differences):
        raise DeployError(
            f"the endpoint {name} has other settings that an update cannot change ({said})",
            hint="Nothing was changed. Delete it (handler-kit endpoint delete NAME) or "
            "choose another endpoint name (--endpoint NAME).",
        )
    unchanged = settings.env is None and settings.secrets is None and settings.task is None
    if not differences and unchanged and found.revision == revision and found.status != "paused":
        return found, f"{name} is at this revision already: nothing to update"
    asked = {key: value for key, value in settings.asked(repo_id).items() if key not in FIXED}
    try:
        endpoint = api.update_inference_endpoint(
            name, namespace=found.namespace, revision=revision, task=settings.task,
            env=settings.env, secrets=settings.secrets, **asked,
        )  # fmt: skip
        if endpoint.status == "paused":  # an update does not start a paused endpoint
            endpoint = endpoint.resume()
    except Exception as error:
        raise hub_error(f"updating the endpoint {name}", error) from error
    changed = f" and {', '.join(differences)}" if differences else ""
    return endpoint, f"updated {name} to the new revision{changed}"


def _create_hint() -> str:
    return (
        "Nothing was created. A 400 names a setting the platform refuses (instance type and "
        "size, vendor and region go together: see the Inference Endpoints catalogue); a 402 "
        "or 403 means the account has no payment method or no access to the namespace."
    )


def wait_until_running(
    endpoint: InferenceEndpoint,
    revision: str,
    timeout: float = WAIT_TIMEOUT,
    refresh_every: float = REFRESH_EVERY,
    echo: Callable[[str], object] | None = None,
) -> InferenceEndpoint:
    """Poll ``endpoint`` until it serves ``revision``; tell each change of state to ``echo``.

    Raises DeployError at once on ``failed`` or ``updateFailed`` (with the platform's message),
    on ``paused``, after ``timeout`` seconds (saying how to look again), and when the endpoint
    runs another revision. A scaled-to-zero endpoint counts as serving: a request wakes it.
    """
    said = echo or (lambda _: None)
    began = time.monotonic()
    seen: tuple[str, str] | None = None
    while True:
        status = EndpointStatus.of(endpoint)
        elapsed = time.monotonic() - began
        if (status.state, status.message) != seen:
            seen = (status.state, status.message)
            first = status.message.splitlines()[0] if status.message else ""
            said(f"wait: {status.state} after {elapsed:.0f} s" + (f": {first}" if first else ""))
        if status.state in SERVING:
            break
        if status.state in FAILED or status.state == "paused":
            raise _stopped(status, elapsed)
        if elapsed >= timeout:
            raise DeployError(
                f"the endpoint {status.name} is still {status.state} after {timeout:g} s",
                hint=f"It may yet start: look again with `handler-kit endpoint status "
                f"{status.name}`, or deploy with a longer wait (--wait-timeout S).",
            )
        time.sleep(max(0.0, min(refresh_every, timeout - elapsed)))
        try:
            endpoint = endpoint.fetch()
        except Exception as error:
            raise hub_error(f"looking at the endpoint {status.name}", error) from error
    if status.revision != revision:
        raise DeployError(
            f"the endpoint {status.name} runs revision {status.revision[:12]}, not the pushed "
            f"commit {revision[:12]}",
            hint="Someone else may have updated it meanwhile: deploy again.",
        )
    return endpoint


def _stopped(status: EndpointStatus, elapsed: float) -> DeployError:
    if status.state == "paused":
        return DeployError(
            f"the endpoint {status.name} was paused while it started",
            hint=f"Resume it: handler-kit endpoint resume {status.name}",
        )
    kept = " (the previous revision keeps serving)" if status.state == "updateFailed" else ""
    return DeployError(
        f"the endpoint {status.name} is {status.state} after {elapsed:.0f} s{kept}; the "
        f"platform said:",
        trace=status.message or "(no message)",
        hint="Fix what the message says (a traceback: the handler's __init__ failed in "
        "production), then deploy again.",
    )


def _endpoint(name: str, namespace: str | None, token: str | None) -> InferenceEndpoint:
    found = get_endpoint(name, namespace, token)
    if found is None:
        raise DeployError(
            f"there is no endpoint called {name}" + (f" in {namespace}" if namespace else ""),
            hint="Check the name (huggingface.co/inference-endpoints lists yours), or the "
            "namespace (--namespace).",
        )
    return found


def endpoint_status(
    name: str, namespace: str | None = None, token: str | None = None
) -> EndpointStatus:
    """The endpoint's state, message, URL and revision."""
    return EndpointStatus.of(_endpoint(name, namespace, token))


def pause_endpoint(
    name: str, namespace: str | None = None, token: str | None = None
) -> EndpointStatus:
    """Pause the endpoint: no replica runs and nothing is billed until it is resumed."""
    return _act(name, namespace, token, "pausing", lambda e: e.pause())


def resume_endpoint(
    name: str, namespace: str | None = None, token: str | None = None
) -> EndpointStatus:
    """Resume a paused or scaled-to-zero endpoint (one that runs already is left running)."""
    return _act(name, namespace, token, "resuming", lambda e: e.resume(running_ok=True))


def delete_endpoint(
    name: str, namespace: str | None = None, token: str | None = None
) -> EndpointStatus:
    """Delete the endpoint (the repository stays); its last status."""
    endpoint = _endpoint(name, namespace, token)
    last = EndpointStatus.of(endpoint)
    try:
        endpoint.delete()
    except Exception as error:
        raise hub_error(f"deleting the endpoint {name}", error) from error
    return EndpointStatus(**{**asdict(last), "state": "deleted", "message": ""})


def _act(
    name: str,
    namespace: str | None,
    token: str | None,
    doing: str,
    action: Callable[[InferenceEndpoint], InferenceEndpoint],
) -> EndpointStatus:
    endpoint = _endpoint(name, namespace, token)
    try:
        return EndpointStatus.of(action(endpoint))
    except Exception as error:
        raise hub_error(f"{doing} the endpoint {name}", error) from error


# What ``handler-kit endpoint ACTION NAME`` runs.
ACTIONS: dict[str, Callable[[str, str | None, str | None], EndpointStatus]] = {
    "status": endpoint_status,
    "pause": pause_endpoint,
    "resume": resume_endpoint,
    "delete": delete_endpoint,
}
