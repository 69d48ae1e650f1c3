"""media.py: what a body is by its first bytes, and the Content-Type production decodes it by."""

import io
import json

import pytest
from PIL import Image

from handler_kit.endpoint import contract
from handler_kit.endpoint.media import IMAGE_FORMATS, Sniffed, sniff
from handler_kit.production.toolkit import ToolkitError, find_toolkit

try:
    REFERENCE = find_toolkit().source
except ToolkitError:
    REFERENCE = None


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_every_image_format_of_productions_table_is_told_by_pillow(fmt):
    sniffed = sniff(image_bytes(fmt))
    assert sniffed == Sniffed(f"a {fmt} image", Image.MIME[fmt])
    assert contract.kind_of(sniffed.media_type) is contract.Kind.IMAGE


@pytest.mark.skipif(REFERENCE is None, reason="the production toolkit's source is not here")
def test_every_sample_file_of_productions_tests_is_told_with_a_type_it_decodes():
    expected = {
        "sample1.wav": "audio/wav",
        "sample1.flac": "audio/flac",
        "sample1.ogg": "audio/ogg",
        "sample1.mp3": "audio/mpeg",
        "long_sample.mp3": "audio/mpeg",
        "sample.amr": "audio/amr",
        "sample1.webm": "audio/webm",
        "sample.m4a": "audio/m4a",
        "tiger.png": "image/png",
        "tiger.jpeg": "image/jpeg",
        "tiger.gif": "image/gif",
        "tiger.bmp": "image/bmp",
        "tiger.tiff": "image/tiff",
        "tiger.webp": "image/webp",
    }
    resources = REFERENCE / "tests" / "resources"
    found = {
        f.name: sniff(f.read_bytes())
        for f in [*resources.glob("audio/*"), *resources.glob("image/*")]
    }
    assert {name: s.media_type for name, s in found.items()} == expected
    assert all(contract.kind_of(s.media_type) is not None for s in found.values())


def test_json_is_told_and_what_is_nothing_known_is_none():
    assert sniff(b' {"inputs": "a"}') == Sniffed("JSON", "application/json")
    assert sniff(json.dumps([1, 2]).encode()) == Sniffed("JSON", "application/json")
    assert sniff(b'{"inputs": ') is None  # JSON cut off: not JSON
    assert sniff(b"inputs=a") is None
    assert sniff(b"") is None
    assert sniff(b"RIFF\x00\x00\x00\x00AVI ") is None  # a RIFF that is not WAVE


def test_an_id3_tag_is_mp3_and_three_letters_alone_are_not():
    tag = b"ID3\x04\x00\x00\x00\x00\x01\x7f" + b"\xff\xfb" + bytes(64)  # v2.4, a 255-byte tag
    assert sniff(tag) == Sniffed("MP3 audio", "audio/mpeg")
    assert sniff(b"ID3 tags are how MP3 files carry titles") is None  # text, not audio
    assert not Sniffed("JSON", "application/json").is_file and sniff(tag).is_file
