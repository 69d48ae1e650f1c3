"""A deploy's error, and what huggingface_hub's errors mean for one, said with what to do."""

from __future__ import annotations

from ..errors import HandlerKitError, describe

LOGIN = (
    "Log in with `hf auth login` (a token with write access: huggingface.co/settings/tokens), "
    "or set HF_TOKEN, or pass token=... (--token)."
)


class DeployError(HandlerKitError):
    """A deploy step that cannot go on: the token, the repository, the upload, the endpoint."""


def hub_error(doing: str, error: BaseException, hint: str | None = None) -> DeployError:
    """What went wrong when ``doing`` (``creating the repository x/y``) raised ``error``.

    huggingface_hub's errors are told by their kind and HTTP status, with the server's own
    message; ``hint`` says what to do when the status alone does not.
    """
    from huggingface_hub.errors import HFValidationError, LocalTokenNotFoundError

    if isinstance(error, LocalTokenNotFoundError):
        return DeployError(f"{doing}: there is no Hugging Face token", hint=LOGIN)
    if type(error).__name__ == "OfflineModeIsEnabled":
        return DeployError(
            f"{doing}: huggingface_hub is offline (HF_HUB_OFFLINE is set)",
            hint="Unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) in the environment that "
            "deploys, then deploy again.",
        )
    if isinstance(error, HFValidationError):
        return DeployError(f"{doing}: {error}", hint=hint)
    status = http_status(error)
    said = server_message(error)
    if status == 401:
        return DeployError(f"{doing}: the Hub refused the token ({said})", hint=LOGIN)
    if status is not None and status >= 500:
        return DeployError(
            f"{doing}: the Hub failed (HTTP {status}: {said})",
            hint=hint or "Nothing was changed by this step: deploy again in a moment.",
        )
    if status is not None:
        return DeployError(f"{doing}: HTTP {status}: {said}", hint=hint)
    return DeployError(f"{doing}: {causes(error)}", hint=hint)


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a huggingface_hub error (or of the error it wraps), if it has one."""
    while error is not None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        error = error.__cause__
    return None


def server_message(error: BaseException) -> str:
    """What the server said (its ``X-Error-Message`` or ``error``), else the error's text."""
    current: BaseException | None = error
    while current is not None:
        said = getattr(current, "server_message", None)
        if said:
            return " ".join(said.split())
        current = current.__cause__
    return causes(error)


def causes(error: BaseException) -> str:
    """``RuntimeError: ...: HfHubHTTPError: ...``: the error and what caused it, once each."""
    said: list[str] = []
    while error is not None:
        text = " ".join(describe(error).split())
        if not any(text in earlier for earlier in said):
            said.append(text)
        error = error.__cause__ or error.__context__
    return ": ".join(said)
