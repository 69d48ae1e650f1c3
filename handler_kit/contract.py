"""The production HTTP contract: how request bodies become ``data`` and answers become JSON.

The inference toolkit that runs handlers on Inference Endpoints decodes ``application/json``
bodies as JSON, image bodies as ``{"inputs": <PIL image in RGB>}`` and audio bodies as
``{"inputs": <bytes>}``; the decoded body must hold ``inputs`` (or ``instances``); query-string
parameters become ``parameters`` when the body has none. Answers are JSON, made by orjson as in
production: numpy values allowed, PIL images as base64 PNG. Every refusal here says what was
wrong and what to do.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from .errors import HandlerKitError

JSON_TYPES = ("application/json",)
IMAGE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/tiff",
    "image/bmp",
    "image/gif",
    "image/webp",
    "image/x-image",
)
AUDIO_TYPES = (
    "audio/x-flac",
    "audio/flac",
    "audio/mpeg",
    "audio/x-mpeg-3",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/ogg",
    "audio/x-audio",
    "audio/webm",
    "audio/amr",
    "audio/amr-wb",
    "audio/m4a",
    "audio/x-m4a",
)
SUPPORTED_TYPES = JSON_TYPES + IMAGE_TYPES + AUDIO_TYPES


class BadRequest(HandlerKitError):
    """A request the endpoint refuses: the message says what was wrong and what to do."""


class NotSerializable(HandlerKitError):
    """An answer that production could not turn into JSON; names the value's path and type."""


def media_type(content_type: str | None) -> str:
    """``image/PNG; foo=bar`` -> ``image/png``; "" when there is none."""
    return (content_type or "").split(";")[0].strip().lower()


def decode_body(content_type: str | None, body: bytes) -> Any:
    """The handler's ``data`` for a request body of a given content type."""
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        import orjson

        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(
                f"the body is not valid JSON: {error}",
                hint='Send a JSON object such as {"inputs": "I am happy"}.',
            ) from None
    if kind in IMAGE_TYPES:
        return {"inputs": decode_image(body)}
    if kind in AUDIO_TYPES:
        return {"inputs": bytes(body)}
    said = f'content type "{content_type}"' if content_type else "no content type"
    raise BadRequest(
        f"{said} is not supported",
        hint=f"Supported content types: {', '.join(SUPPORTED_TYPES)}.",
    )


def decode_image(body: bytes) -> Any:
    """An image body as production hands it over: a PIL image in RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(body)).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise BadRequest(
            f"the body is not a readable image: {error}",
            hint="Send the file's bytes with its own image/* content type.",
        ) from None


def check_payload(data: Any, what: str = "the body", hint: str = "") -> None:
    """Refuse data that production's server refuses: a dict that holds ``inputs`` or ``instances``.

    ``what`` names the data in the message; ``hint`` is added to the default one.
    """
    if isinstance(data, dict) and ("inputs" in data or "instances" in data):
        return
    got = f"keys {sorted(map(str, data))}" if isinstance(data, dict) else f"a {_type(data)}"
    raise BadRequest(
        f"{what} must be a JSON object with an `inputs` key (or `instances`); got {got}",
        hint=f'Production refuses it with HTTP 400; send e.g. {{"inputs": "I am happy"}}.{hint}',
    )


def request_data(content_type: str | None, body: bytes, query: dict[str, str]) -> dict:
    """Decode a request as production does: body, the ``inputs`` check, query parameters."""
    data = decode_body(content_type, body)
    check_payload(data)
    if query and "parameters" not in data:
        data["parameters"] = query_parameters(query)
    return data


def query_parameters(query: dict[str, str]) -> dict[str, Any]:
    """Query-string values as production converts them: digits to int, true/false to bool."""
    converted: dict[str, Any] = {}
    for key, value in query.items():
        if value.isnumeric():
            converted[key] = int(value)
        elif value in ("true", "false"):
            converted[key] = value == "true"
        else:
            converted[key] = value
    return converted


def encode_answer(answer: Any) -> bytes:
    """The answer as production's JSON (orjson, numpy allowed, PIL images as base64 PNG)."""
    import orjson

    try:
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY, default=_pil_to_png)
    except TypeError as error:
        path, value = unserializable(answer) or ("answer", answer)
        hint = "Convert it to lists, numbers and strings first (e.g. `.tolist()`)."
        if type(value).__module__.split(".")[0] == "torch":
            hint = "Production cannot serialise torch tensors: return `tensor.tolist()`."
        raise NotSerializable(
            f"{path} is a {_type(value)}, which production cannot turn into JSON ({error})",
            hint=hint,
        ) from None


def unserializable(value: Any, path: str = "answer") -> tuple[str, Any] | None:
    """The path and value of the first part of ``value`` that production cannot serialise."""
    import orjson

    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} key {key!r}", key
            found = unserializable(item, f"{path}[{json.dumps(key)}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = unserializable(item, f"{path}[{i}]")
            if found:
                return found
        return None
    try:
        orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_pil_to_png)
    except TypeError:
        return path, value
    return None


def _pil_to_png(value: Any) -> str:
    if type(value).__module__.split(".")[0] == "PIL" and hasattr(value, "save"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("utf-8")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _type(value: Any) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
