"""The production HTTP contract: how a request becomes ``data`` (answers.py writes the answer).

Production (Hugging Face's inference toolkit, ``webservice_starlette.py`` and
``serialization/``) looks the Content-Type header up **exactly** in one table: JSON types are
decoded with orjson, image types become ``{"inputs": <PIL image in RGB>}``, audio types
``{"inputs": <bytes>}``; ``text/csv`` and ``text/plain`` are listed but have no decoder, so
they always fail. The decoded body must hold ``inputs`` (or ``instances``); with ``HF_TASK``
set to one of the two audio tasks, a body with ``parameters`` has its ``inputs`` decoded from
base64; query-string parameters become ``parameters`` when the body has none. The answer is
serialised by the Accept header, looked up in the same table: missing or ``*/*`` is JSON
(orjson: numpy allowed, PIL images as base64 PNG), an image type gives the image's bytes in
that format, anything else is refused. Every refusal is HTTP 400 with ``{"error": ...}``.

This module is the kit's one copy of those rules (written from the toolkit's behaviour, which
tests/endpoint/test_parity.py compares it with). Where production answers 400, the kit
answers 400 too, with a message that says what production refuses and what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import inspect
import io
import mimetypes
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import HandlerKitError
from .media import Sniffed, sniff


class Kind(enum.Enum):
    """What production does with a media type of its table."""

    JSON = "json"
    IMAGE = "image"
    AUDIO = "audio"
    LISTED = "listed"  # in the table without a (de)serialiser: every request with it fails


# Production's table, exactly as it matches (case, spaces and parameters included).
MEDIA_TYPES: dict[str, Kind] = {
    "application/json": Kind.JSON,
    "application/json; charset=UTF-8": Kind.JSON,
    "text/csv": Kind.LISTED,
    "text/plain": Kind.LISTED,
    "image/png": Kind.IMAGE,
    "image/jpeg": Kind.IMAGE,
    "image/jpg": Kind.IMAGE,
    "image/tiff": Kind.IMAGE,
    "image/bmp": Kind.IMAGE,
    "image/gif": Kind.IMAGE,
    "image/webp": Kind.IMAGE,
    "image/x-image": Kind.IMAGE,
    "audio/x-flac": Kind.AUDIO,
    "audio/flac": Kind.AUDIO,
    "audio/mpeg": Kind.AUDIO,
    "audio/x-mpeg-3": Kind.AUDIO,
    "audio/wave": Kind.AUDIO,
    "audio/wav": Kind.AUDIO,
    "audio/x-wav": Kind.AUDIO,
    "audio/ogg": Kind.AUDIO,
    "audio/x-audio": Kind.AUDIO,
    "audio/webm": Kind.AUDIO,
    "audio/webm;codecs=opus": Kind.AUDIO,
    "audio/AMR": Kind.AUDIO,
    "audio/amr": Kind.AUDIO,
    "audio/AMR-WB": Kind.AUDIO,
    "audio/AMR-WB+": Kind.AUDIO,
    "audio/m4a": Kind.AUDIO,
    "audio/x-m4a": Kind.AUDIO,
}
JSON_TYPES = tuple(t for t, kind in MEDIA_TYPES.items() if kind is Kind.JSON)
IMAGE_TYPES = tuple(t for t, kind in MEDIA_TYPES.items() if kind is Kind.IMAGE)
AUDIO_TYPES = tuple(t for t, kind in MEDIA_TYPES.items() if kind is Kind.AUDIO)
SUPPORTED_TYPES = JSON_TYPES + IMAGE_TYPES + AUDIO_TYPES  # the ones a request can use
JSON = "application/json"
ANY = "*/*"
# Image types whose answer production can write: Pillow's format is the subtype in capitals,
# and Pillow knows no "JPG" or "X-IMAGE" (production answers 400 to those two).
IMAGE_FORMATS = {t: t.split("/")[-1].upper() for t in IMAGE_TYPES}
WRITABLE_IMAGES = tuple(t for t, f in IMAGE_FORMATS.items() if f not in ("JPG", "X-IMAGE"))
# HF_TASK values for which a JSON body with `parameters` carries its audio as base64 `inputs`.
AUDIO_TASKS = ("automatic-speech-recognition", "audio-classification")
# Usual names production does not know, and the one it does.
ALIASES = {
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/mp4": "audio/m4a",
    "image/pjpeg": "image/jpeg",
}


class BadRequest(HandlerKitError):
    """A request production refuses with HTTP 400: the message says why and what to send."""


def media_type(content_type: str | None) -> str:
    """``image/PNG; foo=bar`` -> ``image/png``; "" when there is none (for guessing only:
    production itself matches the whole header exactly)."""
    return (content_type or "").split(";")[0].strip().lower()


def kind_of(content_type: str | None) -> Kind | None:
    """The Kind production gives a Content-Type or Accept value, None when it knows none."""
    return MEDIA_TYPES.get(content_type) if content_type is not None else None


def meant(value: str | None) -> str | None:
    """The entry of production's table that a refused header value most likely meant."""
    bare = media_type(value)
    if not bare:
        return None
    bare = ALIASES.get(bare, bare)
    for known in MEDIA_TYPES:
        if known.lower() == bare and MEDIA_TYPES[known] is not Kind.LISTED:
            return known
    return None


def guess_content_type(name: str, body: bytes) -> str | None:
    """The Content-Type production decodes a file by: what its bytes are (an image, audio,
    JSON), else what its name says, as the entry of production's table it means; or None."""
    sniffed = sniff(body)
    if sniffed is not None:
        return sniffed.media_type
    return meant(mimetypes.guess_type(name)[0])


def file_content_type(name: str, body: bytes) -> str:
    """``guess_content_type``, or an error that says to give the type."""
    guessed = guess_content_type(name, body)
    if guessed is None:
        raise HandlerKitError(
            f"cannot tell how production would decode {name}: its bytes are no image, audio "
            "or JSON that the kit knows, and its name says no type production's table has",
            hint="Give its Content-Type (handler-kit call --content-type TYPE), e.g. "
            "image/png, audio/wav or application/json.",
        )
    return guessed


def decode_body(content_type: str | None, body: bytes) -> Any:
    """The handler's ``data`` for a request body, decoded as production decodes it."""
    kind = kind_of(content_type)
    if kind is Kind.JSON:
        return decode_json(body, content_type)
    if kind is Kind.IMAGE:
        return {"inputs": decode_image(body, content_type)}
    if kind is Kind.AUDIO:
        return {"inputs": bytes(body)}
    if kind is Kind.LISTED:
        raise BadRequest(
            f"production lists Content-Type `{content_type}` but has no decoder for it: it "
            "answers 400 to every such request",
            hint=f"Send the text inside JSON: `{JSON}` with a body such as "
            '{"inputs": "your text"}.',
        )
    raise BadRequest(refused_content_type(content_type, body))


def refused_content_type(content_type: str | None, body: bytes = b"") -> str:
    """Why production refuses a Content-Type, and what to send instead (the type of what
    ``body`` is, when it is an image, audio or JSON)."""
    sniffed = sniff(body)
    send = (
        f"`{sniffed.media_type}` (the body is {sniffed.what})"
        if sniffed is not None
        else f"`{JSON}` (or the file's own image/* or audio/* type)"
    )
    if content_type is None:
        return f"no Content-Type header: production decodes the body by it. Send {send}"
    if not content_type.strip():
        return f"the Content-Type header is empty: production decodes the body by it. Send {send}"
    guess = meant(content_type)
    if guess is not None:
        return (
            f"production matches the Content-Type exactly and refuses `{content_type}`: "
            f"send `{guess}`"
        )
    if sniffed is not None:
        return f"production does not know Content-Type `{content_type}`. Send {send}"
    return (
        f"production does not know Content-Type `{content_type}`. Send `{JSON}`, or one "
        f"of: {', '.join(t for t in SUPPORTED_TYPES if t not in JSON_TYPES)}"
    )


def decode_json(body: bytes, content_type: str = JSON) -> Any:
    """A JSON body as production's orjson reads it (strict UTF-8, no BOM, no NaN)."""
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        sniffed = sniff(body)
        if sniffed is not None:  # a file sent as JSON
            raise _mislabelled(sniffed, content_type) from None
        what = "the body is empty" if not body else f"the body is not valid JSON: {error}"
        raise BadRequest(
            f"{what} (production answers 400)",
            hint='Send a JSON object in UTF-8, such as {"inputs": "I am happy"}.',
        ) from None


def decode_image(body: bytes, content_type: str = "image/png") -> Any:
    """An image body as production hands it over: a PIL image in RGB."""
    from PIL import Image

    try:
        return Image.open(io.BytesIO(body)).convert("RGB")
    except Exception as error:  # Pillow raises several kinds for a broken file
        sniffed = sniff(body)
        if sniffed is not None:  # audio or JSON sent as an image
            raise _mislabelled(sniffed, content_type) from None
        what = "the body is empty" if not body else f"the body is not a readable image: {error}"
        raise BadRequest(
            f"{what} (production answers 400)",
            hint="Send the image file's bytes with its own image/* content type.",
        ) from None


def _mislabelled(sniffed: Sniffed, content_type: str) -> BadRequest:
    """The refusal of a body sent with another kind's Content-Type (a PNG as JSON)."""
    gets = {
        Kind.JSON: "the decoded JSON",
        Kind.IMAGE: '{"inputs": <PIL image>}',
        Kind.AUDIO: '{"inputs": <the bytes>}',
    }[MEDIA_TYPES[sniffed.media_type]]
    read_as = "JSON" if kind_of(content_type) is Kind.JSON else "an image"
    return BadRequest(
        f"the body is {sniffed.what}, but `Content-Type: {content_type}` tells production to "
        f"read it as {read_as} (production answers 400)",
        hint=f"Send it with `Content-Type: {sniffed.media_type}`: the handler then gets {gets}.",
    )


def has_inputs(data: Any) -> bool:
    """Production's check: ``"inputs" in data or "instances" in data``, with Python's ``in``.

    So a JSON string that contains the word ``inputs`` passes too (a quirk production has),
    and a number or ``null`` fails.
    """
    try:
        return "inputs" in data or "instances" in data
    except TypeError:
        return False


def check_payload(data: Any, what: str = "the body", hint: str = "") -> None:
    """Refuse data that production's server refuses: it must hold ``inputs`` or ``instances``.

    ``what`` names the data in the message; ``hint`` is added to the default one.
    """
    if has_inputs(data):
        return
    got = f"keys {sorted(map(str, data))}" if isinstance(data, dict) else f"a {type_name(data)}"
    raise BadRequest(
        f"{what} must be a JSON object with an `inputs` key (or `instances`); got {got}",
        hint=f'Production refuses it with HTTP 400; send e.g. {{"inputs": "I am happy"}}.{hint}',
    )


def unchecked(handler: Callable[..., Any]) -> Callable[[Any], Any]:
    """``handler`` as a caller that has already checked the request (``check_payload``) calls it.

    A handler that checks what it is given itself takes a keyword-only ``check`` (a LiveHandler
    does, for calls from a notebook): it is called with ``check=False``, so that a request is
    checked once, where it arrives. Any other callable is returned as it is.
    """
    try:
        check = inspect.signature(handler).parameters.get("check")
    except (TypeError, ValueError):  # a callable without a signature (a builtin)
        return handler
    if check is not None and check.kind is inspect.Parameter.KEYWORD_ONLY:
        return functools.partial(handler, check=False)
    return handler


def hf_task(env: Mapping[str, str] | None = None) -> str | None:
    """Production's ``HF_TASK`` in ``env`` (default: this process's environment), None unset.

    The one place it is read: the endpoint, ``check`` and the pytest plugin decode a request
    for the same task.
    """
    return (os.environ if env is None else env).get("HF_TASK")


def request_data(
    content_type: str | None, body: bytes, query: dict[str, str], task: str | None = None
) -> Any:
    """Decode a request as production does: body, the ``inputs`` check, base64 audio for the
    audio tasks (``task`` is ``HF_TASK``), query parameters."""
    data = decode_body(content_type, body)
    check_payload(data)
    if task in AUDIO_TASKS and "parameters" in data:
        data["inputs"] = decode_base64_audio(data["inputs"], task)
    if query and "parameters" not in data:
        if not isinstance(data, dict):
            raise BadRequest(
                "query parameters go into the body's `parameters`, and this body is a "
                f"{type_name(data)}, not a JSON object (production answers 400)",
                hint='Send a JSON object, e.g. {"inputs": ..., "parameters": {...}}.',
            )
        data["parameters"] = query_parameters(query)
    return data


def decode_base64_audio(value: Any, task: str) -> bytes:
    """``inputs`` given as base64 text, as production decodes it for the audio tasks."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as error:
        raise BadRequest(
            f"with HF_TASK={task} and `parameters` in the body, production decodes `inputs` "
            f"as base64 audio, and this one is not valid base64 ({error})",
            hint="Send the audio file's bytes base64-encoded in `inputs`, or the file itself "
            "with its audio/* content type.",
        ) from None


def query_parameters(query: dict[str, str]) -> dict[str, Any]:
    """Query-string values as production converts them: digits to int, true/false to bool.

    "Digits" is ``str.isnumeric``, as production's: ``²`` passes it and then fails ``int()``,
    which production answers with 400 (so does this, with ValueError's message).
    """
    converted: dict[str, Any] = {}
    for key, value in query.items():
        if value.isnumeric():
            converted[key] = int(value)
        elif value in ("true", "false"):
            converted[key] = value == "true"
        else:
            converted[key] = value
    return converted


def type_name(value: Any) -> str:
    """The type of ``value`` as a message names it: ``dict``, ``torch.Tensor``."""
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
