"""How production writes an answer: JSON by default, an image by the Accept header, errors.

Production serialises a handler's answer by the request's Accept header, looked up in the
contract's one table (``contract.MEDIA_TYPES``): missing or ``*/*`` is JSON (orjson, numpy
allowed, PIL images as base64 PNG), an image type gives the image's bytes in that format,
anything else is refused with 400. An error is answered ``{"error": message}``.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from typing import Any

from .contract import (
    ANY,
    IMAGE_FORMATS,
    JSON,
    JSON_TYPES,
    WRITABLE_IMAGES,
    BadRequest,
    Kind,
    kind_of,
    meant,
    type_name,
)


class NotSerializable(BadRequest):
    """An answer that production could not turn into JSON; names the value's path and type."""


def encode_response(answer: Any, accept: str | None) -> tuple[bytes, str]:
    """The response body and its media type for ``answer``, chosen by the Accept header."""
    if accept is None or accept == ANY:
        return encode_answer(answer), JSON
    kind = kind_of(accept)
    if kind is Kind.JSON:
        return encode_answer(answer), accept
    if kind is Kind.IMAGE:
        return encode_image(answer, accept), accept
    if kind is Kind.AUDIO:
        raise BadRequest(
            f"production cannot answer in audio (Accept: `{accept}`): it answers 400",
            hint="Ask for `application/json` (or send no Accept) and return the audio "
            "base64-encoded in the JSON.",
        )
    if kind is Kind.LISTED:
        raise BadRequest(
            f"production lists Accept `{accept}` but cannot write it: it answers 400",
            hint=f"Ask for `{JSON}` or `*/*` (or send no Accept header).",
        )
    guess = meant(accept)
    send = f"`Accept: {JSON}` (or `*/*`, or no Accept header)"
    if guess is not None and guess not in JSON_TYPES:
        send = f"`Accept: {guess}` for the raw image, or `Accept: {JSON}` for JSON"
    what = f"refuses `{accept}`" if accept.strip() else "refuses an empty one"
    raise BadRequest(f"production matches the Accept header exactly and {what}: send {send}")


def encode_image(answer: Any, accept: str) -> bytes:
    """A PIL image answer as production writes it for ``Accept: image/...``."""
    if not is_image(answer):
        raise BadRequest(
            f"with `Accept: {accept}` production writes the answer as an image, and this "
            f"answer is a {type_name(answer)}, not a PIL image (production answers 400)",
            hint=f"Return a PIL image, or ask for `{JSON}`.",
        )
    if accept not in WRITABLE_IMAGES:
        raise BadRequest(
            f"production cannot write `{accept}`: Pillow knows no format "
            f"{IMAGE_FORMATS[accept]} (production answers 400)",
            hint=f"Ask for one of: {', '.join(WRITABLE_IMAGES)}.",
        )
    buffer = io.BytesIO()
    try:
        answer.save(buffer, format=IMAGE_FORMATS[accept])
    except (OSError, ValueError, KeyError) as error:
        raise BadRequest(
            f"Pillow cannot write this {answer.mode} image as {accept}: {error} "
            "(production answers 400)",
            hint='Convert it first (e.g. `image.convert("RGB")` for JPEG), or ask for `image/png`.',
        ) from None
    return buffer.getvalue()


def error_body(message: str) -> dict[str, str]:
    """Production's answer to a request that failed (HTTP 400): ``{"error": message}``."""
    return {"error": message}


def error_of(value: Any) -> str | None:
    """The message of an error body (a JSON object whose ``error`` is a string, whatever else
    it holds: a hosted endpoint adds keys), else None."""
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) else None


def encode_answer(answer: Any) -> bytes:
    """The answer as production's JSON (orjson, numpy allowed, PIL images as base64 PNG)."""
    import orjson

    try:
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY, default=_pil_to_png)
    except TypeError as error:
        found = unserializable(answer)
        if found is None:  # orjson's depth limit, with no part at fault
            raise NotSerializable(
                f"the answer nests lists and dicts deeper than production's JSON writer "
                f"allows ({error}; production answers 400)",
                hint=f"Flatten it: orjson writes at most {MAX_DEPTH} levels.",
            ) from None
        path, value = found
        if isinstance(value, (dict, list, tuple)):  # unserializable's only container: a loop
            raise NotSerializable(
                f"{path} is a {type_name(value)} that holds it: the answer refers to itself, "
                f"which production cannot turn into JSON ({error}; production answers 400)",
                hint="Return a copy of the values without the loop, e.g. a new dict or list.",
            ) from None
        hint = "Convert it to lists, numbers and strings first (e.g. `.tolist()`)."
        if type(value).__module__.split(".")[0] == "torch":
            hint = "Production cannot serialise torch tensors: return `tensor.tolist()`."
        elif isinstance(value, (set, frozenset)):
            hint = "Return a list instead of a set: `sorted(...)` or `list(...)`."
        elif isinstance(value, (bytes, bytearray)):
            hint = "Return text, or bytes base64-encoded: `base64.b64encode(b).decode()`."
        elif "key" in path:
            hint = "JSON object keys must be strings: `{str(k): v ...}`."
        raise NotSerializable(
            f"{path} is a {type_name(value)}, which production cannot turn into JSON "
            f"({error}; production answers 400)",
            hint=hint,
        ) from None


# orjson refuses lists and dicts nested deeper than this ("Recursion limit reached").
MAX_DEPTH = 254


def unserializable(
    value: Any, path: str = "answer", _holders: set[int] | None = None
) -> tuple[str, Any] | None:
    """The path and value of the first part of ``value`` that production cannot serialise.

    A list or dict that holds itself (``d["a"] = d``) is returned at the path where it comes
    back: that is the only case a container is returned. Parts nested deeper than orjson's
    limit are not searched (orjson refuses the whole, and no part is to blame).
    """
    import orjson

    # The ids of the lists and dicts this value sits in: meeting one again is a loop, which
    # would otherwise recurse forever. (A part shared by two branches is no loop.)
    holders = set() if _holders is None else _holders
    if isinstance(value, (dict, list, tuple)):
        if id(value) in holders:
            return path, value
        if len(holders) >= MAX_DEPTH:
            return None
        holders.add(id(value))
        try:
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        return f"{path} key {key!r}", key
                    found = unserializable(item, f"{path}[{json.dumps(key)}]", holders)
                    if found:
                        return found
            else:
                for i, item in enumerate(value):
                    found = unserializable(item, f"{path}[{i}]", holders)
                    if found:
                        return found
        finally:
            holders.discard(id(value))
        return None
    try:
        orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_pil_to_png)
    except TypeError:
        return path, value
    return None


def is_image(value: Any) -> bool:
    """Whether ``value`` is a PIL image."""
    # Looked up, not imported: a value can only hold a PIL image once PIL is loaded.
    image = sys.modules.get("PIL.Image")
    return image is not None and isinstance(value, image.Image)


def _pil_to_png(value: Any) -> str:
    if is_image(value):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("utf-8")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
