"""Result tables: a handler's answer laid out to be read, in a notebook or a terminal.

``result_table(answer)`` recognises the usual shapes of handler answers (labels with scores,
top-k per input, token classification, question answering, generated text (also per input),
embeddings, images, audio, a dict) and renders them as an HTML table (``_repr_html_``) or plain
text (``repr``). Images are PIL images or their files as base64 (how the endpoint returns a PIL
image): shown as thumbnails. Audio is file bytes (wav, flac, ogg, mp3), their base64, or the
text-to-audio shape ``{"audio": samples, "sampling_rate": n}``: shown as players. Long values
are shortened with a note of what was left out, never dropped silently; every string is
HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

from .. import style
from ..errors import HandlerKitError

MAX_TEXT = 200  # characters of one value shown before it is shortened
MAX_ROWS = 50
MAX_NUMBERS = 8  # leading values of an embedding shown
MAX_PIXELS = 256  # an image answer is shown scaled down to fit this square

ENTITY_KEYS = ("entity_group", "entity")
# How the files a cell may hold begin, raw and in base64 (what JSON answers carry).
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
}
AUDIO_MAGIC = {b"fLaC": "audio/flac", b"OggS": "audio/ogg"}
BASE64_PREFIXES = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "ZkxhQ", "T2dnU", "SUQz")
MIN_BASE64 = 64  # characters: shorter strings are text, whatever they look like
TEXT_KEYS = ("generated_text", "summary_text", "translation_text")


@dataclass
class Section:
    """One table: a title, column names and rows of cells (already shortened text)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    bars: int | None = None  # index of a 0..1 score column to draw as bars
    notes: list[str] = field(default_factory=list)


class ResultTable:
    """A handler answer, rendered: HTML in notebooks, plain text in terminals."""

    def __init__(self, result: Any) -> None:
        self.result = result
        try:
            self.kind, self.sections = _layout(_plain(result))
        except Exception:  # an answer of an unforeseen shape is still shown, as JSON
            self.kind, self.sections = "json", [_json_section(result)]

    def to_dataframe(self) -> Any:
        """The rows as one pandas DataFrame (a ``table`` column when there are several)."""
        try:
            import pandas
        except ImportError:
            raise HandlerKitError("to_dataframe needs pandas", hint="pip install pandas") from None
        frames = []
        for section in self.sections:
            frame = pandas.DataFrame(section.rows, columns=section.columns)
            if len(self.sections) > 1:
                frame.insert(0, "table", section.title)
            frames.append(frame)
        return pandas.concat(frames, ignore_index=True) if frames else pandas.DataFrame()

    def __repr__(self) -> str:
        out = []
        for section in self.sections:
            out.append(f"{section.title}")
            cells = [section.columns] + [[_text(c) for c in row] for row in section.rows]
            widths = [max(len(str(r[i])) for r in cells) for i in range(len(section.columns))]
            for n, row in enumerate(cells):
                line = "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                out.append(line.rstrip())
                if n == 0:
                    out.append("  ".join("-" * w for w in widths))
            out += [f"({note})" for note in section.notes]
        return "\n".join(out).rstrip()

    def _repr_html_(self) -> str:
        parts = [f'<div class="handler-kit-result" style="color:{style.TEXT}">']
        for section in self.sections:
            parts.append(f"<b>{html.escape(section.title)}</b>")
            head = "".join(
                f'<th style="{style.cell_style()}">{html.escape(c)}</th>' for c in section.columns
            )
            parts.append(f'<table style="{style.table_style()}"><tr>{head}</tr>')
            for row in section.rows:
                cells = []
                for i, cell in enumerate(row):
                    text = _cell_html(cell)
                    if i == section.bars and isinstance(cell, (int, float)):
                        width = max(0.0, min(1.0, float(cell))) * 100
                        text = (
                            f'<div style="background:{style.BAR};height:0.8em;width:{width:.0f}px;'
                            f'display:inline-block;margin-right:4px"></div>{text}'
                        )
                    cells.append(f'<td style="{style.cell_style()}">{text}</td>')
                parts.append(f"<tr>{''.join(cells)}</tr>")
            parts.append("</table>")
            parts += [
                f'<small style="color:{style.MUTED}">{html.escape(note)}</small><br>'
                for note in section.notes
            ]
        parts.append("</div>")
        return "\n".join(parts)


def result_table(result: Any) -> ResultTable:
    """Lay out a handler's answer as a table (see the module docstring for the shapes)."""
    return ResultTable(result)


show = result_table


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def number_text(value: float) -> str:
    """A float as a table shows it: at most 4 decimals, and no more than it has (0.63, not
    0.6300); a value too small for 4 decimals in two significant digits, never as 0."""
    if not math.isfinite(value):
        return str(value)
    if value and abs(value) < 0.00005:
        return f"{value:.2g}"
    text = f"{value:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _text(cell: Any) -> str:
    if isinstance(cell, float):
        return number_text(cell)
    if _is_image(cell):
        return f"image {cell.width}×{cell.height} {cell.mode}"
    media = _media(cell)
    if media is not None:
        return media.description
    if isinstance(cell, (bytes, bytearray)):
        return f"{len(cell)} bytes"
    return shorten(cell if isinstance(cell, str) else json.dumps(cell, default=str))


def _cell_html(cell: Any) -> str:
    if _is_image(cell):
        return _img(cell)
    media = _media(cell)
    if media is not None:
        return media.html()
    return html.escape(_text(cell))


@dataclass(frozen=True)
class Media:
    """An image or audio file found in an answer: its type, bytes and how to describe it."""

    mime: str
    data: bytes
    description: str

    def html(self) -> str:
        if self.mime.startswith("image/"):
            image = _open_image(self.data)
            if image is not None:
                return _img(image)
        url = f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"
        label = html.escape(self.description)
        if self.mime.startswith("audio/"):
            return (
                f'<audio controls preload="none" src="{url}" title="{label}"></audio>'
                f'<br><small style="color:{style.MUTED}">{label}</small>'
            )
        return label


def _media(value: Any) -> Media | None:
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


def _sniff(data: bytes) -> str | None:
    """The media type of a file's bytes, from how such files begin."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in (*IMAGE_MAGIC.items(), *AUDIO_MAGIC.items()):
        if data.startswith(magic):
            return mime
    # An MP3's ID3 tag: version 2 to 4, and a size of four 7-bit bytes.
    tag = data[:3] == b"ID3" and len(data) >= 10 and data[3] in (2, 3, 4)
    if tag and all(byte < 0x80 for byte in data[6:10]):
        return "audio/mpeg"
    return None


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


def _open_image(data: bytes) -> Any:
    try:
        from PIL import Image

        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # a file PIL cannot read is still shown by its description
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


def _plain(value: Any) -> Any:
    """numpy arrays and scalars as lists and numbers; everything else as it is.

    The samples of a text-to-audio answer stay an array: the player is made from them.
    """
    if isinstance(value, dict) and "sampling_rate" in value:
        return value
    if type(value).__module__.split(".")[0] in ("numpy", "torch") and hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_image(value: Any) -> bool:
    # Looked up, not imported: an answer can only hold a PIL image once PIL is loaded.
    image = sys.modules.get("PIL.Image")
    return image is not None and isinstance(value, image.Image)


def _img(image: Any) -> str:
    """An <img> with the image, scaled down, as a PNG data URL (the text if PNG cannot hold it)."""
    small = image.copy()
    small.thumbnail((MAX_PIXELS, MAX_PIXELS))
    if small.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        small = small.convert("RGB")  # CMYK, float and others have no PNG form
    buffer = io.BytesIO()
    try:
        small.save(buffer, format="PNG")
    except (OSError, ValueError):
        return html.escape(_text(image))
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(_text(image))}">'


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _records(value: Any, *keys: str) -> bool:
    """A non-empty list of dicts that all have every key."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and all(k in v for k in keys) for v in value)
    )


def _layout(result: Any) -> tuple[str, list[Section]]:
    if _is_image(result):
        return "image", [Section("image", ["image"], [[result]])]
    if isinstance(result, list) and result and all(_is_image(r) for r in result):
        rows = [[i, image] for i, image in enumerate(result)]
        return "image", [_cut(Section("images", ["#", "image"], rows))]
    media = _media(result)
    if media is not None:
        kind = media.mime.split("/")[0]
        return kind, [Section(kind, [kind], [[result]])]
    if isinstance(result, list) and result and all(_media(r) for r in result):
        kind = "image" if all(_media(r).mime.startswith("image/") for r in result) else "media"
        rows = [[i, item] for i, item in enumerate(result)]
        return kind, [_cut(Section(f"{kind}s", ["#", kind], rows))]
    if _records(result, "label", "score"):
        return "labels", [_labels("labels", result)]
    if isinstance(result, list) and result and all(_records(r, "label", "score") for r in result):
        return "top-k", [_labels(f"input {i + 1}", r) for i, r in enumerate(result)]
    if any(_records(result, key, "word") for key in ENTITY_KEYS):
        key = next(k for k in ENTITY_KEYS if _records(result, k, "word"))
        columns = [key, "word", "start", "end", "score"]
        return "entities", [_section("entities", columns, result, bars=4)]
    # Entities per input (a batch of sentences): one table per input, like top-k.
    for key in ENTITY_KEYS:
        if isinstance(result, list) and result and all(_records(r, key, "word") for r in result):
            columns = [key, "word", "start", "end", "score"]
            return "entities", [
                _section(f"input {i + 1}", columns, r, bars=4) for i, r in enumerate(result)
            ]
    answers = [result] if isinstance(result, dict) else result
    if _records(answers, "answer"):
        columns = ["answer", "score", "start", "end"]
        return "answers", [_section("answers", columns, answers, bars=1)]
    texts = [result] if isinstance(result, dict) else result
    for key in TEXT_KEYS:
        if _records(texts, key):
            return "text", [_section(key.replace("_", " "), [key], texts)]
        # Batched generation: one list of texts per input, laid out like top-k per input.
        if isinstance(result, list) and result and all(_records(r, key) for r in result):
            return "text", [_section(f"input {i + 1}", [key], r) for i, r in enumerate(result)]
    shape = _numeric_shape(result)
    if shape:
        return "embeddings", [_embeddings(result, shape)]
    if isinstance(result, dict) and result:
        rows = [[str(k), v] for k, v in result.items()]
        return "dict", [_cut(Section("answer", ["key", "value"], rows))]
    return "json", [_json_section(result)]


def _json_section(result: Any) -> Section:
    return Section("answer", ["json"], [[shorten(_json(result), 2000)]])


def _labels(title: str, records: list[dict]) -> Section:
    ordered = sorted(
        records, key=lambda r: r["score"] if _is_number(r["score"]) else 0, reverse=True
    )
    return _section(title, ["label", "score"], ordered, bars=1)


def _section(
    title: str, columns: list[str], records: list[dict], bars: int | None = None
) -> Section:
    rows = [[record.get(c, "") for c in columns] for record in records]
    extra = sorted({k for r in records for k in r} - set(columns))
    section = _cut(Section(title, columns, rows, bars))
    if extra:
        section.notes.append(f"also in each item, not shown: {', '.join(extra)}")
    return section


def _cut(section: Section) -> Section:
    if len(section.rows) > MAX_ROWS:
        section.notes.append(f"{len(section.rows) - MAX_ROWS} more rows not shown")
        section.rows = section.rows[:MAX_ROWS]
    return section


def _numeric_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a (nested) list of numbers, or None when it is not one."""
    if _is_number(value):
        return ()
    if not isinstance(value, list) or not value:
        return None
    inner = [_numeric_shape(v) for v in value]
    if inner[0] is None or any(s != inner[0] for s in inner):
        return None
    return (len(value), *inner[0])


def _embeddings(result: list, shape: tuple[int, ...]) -> Section:
    vectors = result if len(shape) > 1 else [result]
    rows = []
    for i, vector in enumerate(vectors[:MAX_ROWS]):
        flat = _flatten(vector)
        head = ", ".join(f"{x:.4f}" for x in flat[:MAX_NUMBERS])
        more = f", … ({len(flat) - MAX_NUMBERS} more)" if len(flat) > MAX_NUMBERS else ""
        norm = sum(x * x for x in flat) ** 0.5
        rows.append([i, len(flat), round(norm, 4), f"[{head}{more}]"])
    section = Section(f"embeddings, shape {list(shape)}", ["#", "size", "norm", "values"], rows)
    if len(vectors) > MAX_ROWS:
        section.notes.append(f"{len(vectors) - MAX_ROWS} more vectors not shown")
    return section


def _flatten(value: Any) -> list[float]:
    if _is_number(value):
        return [float(value)]
    return [x for v in value for x in _flatten(v)]


def _json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return repr(value)
