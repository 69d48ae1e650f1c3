"""What a request body is by its first bytes: an image, an audio file or JSON.

Production decodes a body by its Content-Type alone, so a file sent with the wrong one (a PNG
as ``application/json``) fails there with a message about JSON. ``sniff`` tells what the body
really is and the Content-Type of production's table to send it with: images as Pillow reads
their header, audio files by their signature, JSON by parsing it. The contract's refusals say
it (``contract``), and ``handler-kit call`` sends a file with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Sniffed:
    """What a body looks like: words for a message, and the Content-Type to send it with."""

    what: str  # "a PNG image"
    media_type: str  # "image/png": an entry of production's table (contract.MEDIA_TYPES)

    @property
    def is_file(self) -> bool:
        """An image or audio file (not JSON)."""
        return self.media_type.startswith(("image/", "audio/"))


# The image formats of production's table, as Pillow names them (its MIME table gives the type).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
# Audio files by their signatures: (offset, bytes) that must all match, what, the type to send.
AUDIO = (
    (((0, b"RIFF"), (8, b"WAVE")), "WAV audio", "audio/wav"),
    (((0, b"fLaC"),), "FLAC audio", "audio/flac"),
    (((0, b"OggS"),), "Ogg audio", "audio/ogg"),
    (((0, b"\xff\xfb"),), "MP3 audio", "audio/mpeg"),
    (((0, b"#!AMR-WB\n"),), "AMR-WB audio", "audio/AMR-WB"),
    (((0, b"#!AMR\n"),), "AMR audio", "audio/amr"),
    (((0, b"\x1a\x45\xdf\xa3"),), "WebM audio", "audio/webm"),
    (((4, b"ftypM4A"),), "M4A audio", "audio/m4a"),
)


def sniff(body: bytes) -> Sniffed | None:
    """What ``body`` is (an image, an audio file, JSON), or None when it is none of those."""
    if not body:
        return None
    for signatures, what, media_type in AUDIO:
        if all(body[at : at + len(sign)] == sign for at, sign in signatures):
            return Sniffed(what, media_type)
    if _id3(body):
        return Sniffed("MP3 audio", "audio/mpeg")
    image = _image(body)
    if image is not None:
        return image
    if body.lstrip()[:1] in (b"{", b"["):
        import orjson

        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return Sniffed("JSON", "application/json")
    return None


def _id3(body: bytes) -> bool:
    """An MP3's ID3 tag: "ID3", version 2 to 4, and a size of four 7-bit bytes (three letters
    alone are as likely text)."""
    tagged = body[:3] == b"ID3" and len(body) >= 10 and body[3] in (2, 3, 4)
    return tagged and all(byte < 0x80 for byte in body[6:10])


def _image(body: bytes) -> Sniffed | None:
    """An image of a format production's table has, as Pillow reads its header."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(body), formats=IMAGE_FORMATS) as image:
            return Sniffed(f"a {image.format} image", Image.MIME[image.format])
    except Exception:  # Pillow raises several kinds for what is not an image
        return None
