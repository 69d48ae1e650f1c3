"""Images and audio found in answers and requests, made into what a notebook shows.

An image is a PIL image, or its file as bytes, base64 or a data URL (how the endpoint returns a
PIL image); audio is a file's bytes (wav, flac, ogg, mp3), their base64, or the text-to-audio
shape ``{"audio": samples, "sampling_rate": n}``. ``find_media`` tells which a value holds;
images become PNG data URLs (never a network address), audio a player.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any

from .. import style
from ..endpoint.answers import is_image
from ..endpoint.media import sniff

MAX_PIXELS = 256  # an image answer is shown scaled down to fit this square
# How the files a value may hold begin, raw and in base64 (what JSON answers carry).
BASE64_PREFIXES = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "ZkxhQ", "T2dnU", "SUQz")
MIN_BASE64 = 64  # characters: shorter strings are text, whatever they look like


@dataclass(frozen=True)
class Media:
    """An image or audio file found in a value: its type, bytes and how to describe it."""

    mime: str
    data: bytes
    description: str

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")

    def image(self) -> Any:
        """The file as a PIL image (None for audio, or an image PIL cannot read)."""
        return open_image(self.data) if self.is_image else None

    def html(self) -> str:
        image = self.image()
        if image is not None:
            return image_html(image, self.description)
        url = f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"
        label = html.escape(self.description)
        if self.mime.startswith("audio/"):
            return (
                f'<audio controls preload="none" src="{url}" title="{label}"></audio>'
                f'<br><small style="color:{style.MUTED}">{label}</small>'
            )
        return label


def find_media(value: Any) -> Media | None:
    """The image or audio file that ``value`` holds (bytes, base64, text-to-audio), if any."""
    if isinstance(value, dict) and "sampling_rate" in value:
        samples = value.get("audio", value.get("array"))
        rate = value["sampling_rate"]
        if samples is not None and isinstance(rate, int) and rate > 0:
            return _wav(samples, rate)
        return None
    data = value
    if isinstance(value, str):
        data = _base64_file(value)
    if not isinstance(data, (bytes, bytearray)) or len(data) < 4:
        return None
    data = bytes(data)
    mime = _sniff(data)
    if mime is None:
        return None
    kind = "image" if mime.startswith("image/") else "audio"
    encoded = " (base64)" if isinstance(value, str) else ""
    return Media(mime, data, f"{kind} {mime.split('/')[1]}, {len(data)} bytes{encoded}")


def as_image(value: Any) -> Any:
    """``value`` as a PIL image when it is one or holds an image file, else None."""
    if is_image(value):
        return value
    media = find_media(value)
    return media.image() if media is not None else None


def holds_image(value: Any) -> bool:
    """Whether ``value`` is a PIL image or an image file's bytes or base64."""
    if is_image(value):
        return True
    media = find_media(value)
    return media is not None and media.is_image


def open_image(data: bytes) -> Any:
    """The PIL image of an image file's bytes, or None when PIL cannot read them."""
    try:
        from PIL import Image

        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # a file PIL cannot read is still shown by its description
        return None


def png_url(image: Any, fit: int = MAX_PIXELS) -> str | None:
    """The image, scaled down to fit a ``fit`` pixels square, as a PNG data URL (None when
    PNG cannot hold it)."""
    small = image.copy()
    small.thumbnail((fit, fit))
    if small.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        small = small.convert("RGB")  # CMYK, float and others have no PNG form
    buffer = io.BytesIO()
    try:
        small.save(buffer, format="PNG")
    except (OSError, ValueError):
        return None
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def image_html(image: Any, alt: str) -> str:
    """An <img> with the image, scaled down, as a PNG data URL (``alt`` when PNG cannot)."""
    url = png_url(image)
    if url is None:
        return html.escape(alt)
    return f'<img src="{url}" alt="{html.escape(alt)}">'


def _sniff(data: bytes) -> str | None:
    """The media type of an image or audio file's bytes (``endpoint.media.sniff`` tells)."""
    sniffed = sniff(data)
    return sniffed.media_type if sniffed is not None and sniffed.is_file else None


def _base64_file(text: str) -> bytes | None:
    """The bytes of an image or audio file given as base64 (or a data URL), else None."""
    if text.startswith("data:") and ";base64," in text[:64]:
        text = text.split(",", 1)[1]
    if len(text) < MIN_BASE64 or not text.startswith(BASE64_PREFIXES):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error: not base64 after all
        return None


def _wav(samples: Any, rate: int) -> Media | None:
    """Samples (-1..1, mono or channels last) as a 16-bit WAV file, for a player."""
    import wave

    try:
        import numpy as np

        audio = np.asarray(samples, dtype=np.float32)
    except (ImportError, TypeError, ValueError):
        return None
    if audio.ndim == 2 and audio.shape[0] < audio.shape[1]:
        audio = audio.T  # (channels, samples), as some pipelines answer
    if audio.ndim not in (1, 2) or audio.size == 0:
        return None
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes((audio.clip(-1, 1) * 32767).astype("<i2").tobytes())
    seconds = audio.shape[0] / rate
    return Media("audio/wav", buffer.getvalue(), f"audio {seconds:.2f} s at {rate} Hz")
