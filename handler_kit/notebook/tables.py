"""Result tables: a handler's answer laid out to be read, in a notebook or a terminal.

``result_table(answer)`` recognises the usual shapes of handler answers (labels with scores,
top-k per input, token classification, question answering, generated text (also per input),
embeddings, images, audio, a dict) and renders them as an HTML table (``_repr_html_``) or plain
text (``repr``). Images are PIL images or their files as base64 (how the endpoint returns a PIL
image): shown as thumbnails. Audio is file bytes (wav, flac, ogg, mp3), their base64, or the
text-to-audio shape ``{"audio": samples, "sampling_rate": n}``: shown as players (media.py).
Three shapes are drawn above their table (figures.py): words with boxes (over the document,
when ``request``, the payload the handler was sent, holds it), speaker segments as a timeline,
and ``{image, score}`` records (a text-to-image search, see search.py) as an image grid. Long
values are shortened with a note of what was left out, never dropped silently; every string is
HTML-escaped.
"""

from __future__ import annotations

import enum
import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .. import style
from ..cases.case import is_number
from ..endpoint.answers import is_image
from ..errors import HandlerKitError
from ..report import count, shorten, text_table
from . import figures
from .figures import BOX_KEYS, WORD_KEYS, note
from .media import find_media as _media
from .media import holds_image, image_html

MAX_TEXT = 200  # characters of one value shown before it is shortened
MAX_ROWS = 50
MAX_NUMBERS = 8  # leading values of an embedding shown

ENTITY_KEYS = ("entity_group", "entity")
TEXT_KEYS = ("generated_text", "summary_text", "translation_text")


class TableKind(str, enum.Enum):
    """The shape ``result_table`` recognised in an answer, and laid it out as."""

    LABELS = "labels"
    TOP_K = "top-k"  # labels per input
    ENTITIES = "entities"
    ANSWERS = "answers"
    TEXT = "text"
    EMBEDDINGS = "embeddings"
    IMAGE = "image"
    AUDIO = "audio"
    MEDIA = "media"  # images and audio
    LAYOUT = "layout"  # words with boxes
    SEGMENTS = "segments"  # speakers over time
    MATCHES = "matches"  # images with scores
    DICT = "dict"
    JSON = "json"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__  # f"{kind}" is the word, as str() is


def figure(kind: TableKind, answer: Any, request: Any = None) -> figures.Figure | None:
    """The figure drawn above a table of ``kind`` (None for a kind without one)."""
    if kind is TableKind.LAYOUT:
        return figures.Figure(figures.boxes(answer, figures.request_image(request)))
    if kind is TableKind.SEGMENTS:
        return figures.Figure(figures.timeline(answer))
    if kind is TableKind.MATCHES:
        return figures.Figure(figures.grid(answer), complete=True)
    return None


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

    def __init__(self, result: Any, request: Any = None) -> None:
        self.result = result
        self.request = request  # the payload the handler was sent: a figure may draw on it
        self._plain: Any = None
        try:
            self._plain = _plain(result)
            self.kind, self.sections = _layout(self._plain)
        except Exception:  # an answer of an unforeseen shape is still shown, as JSON
            self.kind, self.sections = TableKind.JSON, [_json_section(result)]

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
            rows = [[_text(cell) for cell in row] for row in section.rows]
            out += [section.title, *text_table(section.columns, rows, rule=True)]
            out += [f"({text})" for text in section.notes]
        return "\n".join(out).rstrip()

    def _repr_html_(self) -> str:
        parts = [f'<div class="handler-kit-result" style="color:{style.TEXT}">']
        try:
            drawn = figure(self.kind, self._plain, self.request)
        except Exception as error:  # the table still shows the answer
            drawn = figures.Figure(note(f"the figure could not be drawn: {error!r}"))
        if drawn is not None:
            parts.append(drawn.html)
        if drawn is None:
            parts += self._tables_html()
        elif not drawn.complete:  # the figure first; its table a click away
            rows = sum(len(section.rows) for section in self.sections)
            summary = f"the table ({count(rows, 'row')})"
            parts.append(f'<details><summary style="color:{style.MUTED}">{summary}</summary>')
            parts += [*self._tables_html(), "</details>"]
        parts.append("</div>")
        return "\n".join(parts)

    def _tables_html(self) -> list[str]:
        parts = []
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
                    if i == section.bars and is_number(cell):
                        width = max(0.0, min(1.0, float(cell))) * 100
                        text = (
                            f'<div style="background:{style.BAR};height:0.8em;width:{width:.0f}px;'
                            f'display:inline-block;margin-right:4px"></div>{text}'
                        )
                    cells.append(f'<td style="{style.cell_style()}">{text}</td>')
                parts.append(f"<tr>{''.join(cells)}</tr>")
            parts.append("</table>")
            parts += [note(text) for text in section.notes]
        return parts


def result_table(result: Any, request: Any = None) -> ResultTable:
    """Lay out a handler's answer as a table (see the module docstring for the shapes).

    ``request`` is the payload the handler was sent (or its ``inputs``): the boxes of a layout
    answer are drawn over the document it holds.
    """
    return ResultTable(result, request)


show = result_table


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
    if is_image(cell):
        return f"image {cell.width}×{cell.height} {cell.mode}"
    media = _media(cell)
    if media is not None:
        return media.description
    if isinstance(cell, (bytes, bytearray)):
        return f"{len(cell)} bytes"
    text = cell if isinstance(cell, str) else json_text(cell)
    return shorten(text, MAX_TEXT, say_more=True)


def _cell_html(cell: Any) -> str:
    if is_image(cell):
        return image_html(cell, _text(cell))
    media = _media(cell)
    if media is not None:
        return media.html()
    return html.escape(_text(cell))


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


def _records(value: Any, *keys: str) -> bool:
    """A non-empty list of dicts that all have every key."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and all(k in v for k in keys) for v in value)
    )


def _layout(result: Any) -> tuple[TableKind, list[Section]]:
    if is_image(result):
        return TableKind.IMAGE, [Section("image", ["image"], [[result]])]
    if isinstance(result, list) and result and all(is_image(r) for r in result):
        rows = [[i, image] for i, image in enumerate(result)]
        return TableKind.IMAGE, [_cut(Section("images", ["#", "image"], rows))]
    media = _media(result)
    if media is not None:
        kind = TableKind.IMAGE if media.is_image else TableKind.AUDIO
        return kind, [Section(kind.value, [kind.value], [[result]])]
    if isinstance(result, list) and result and all(_media(r) for r in result):
        kind = TableKind.IMAGE if all(_media(r).is_image for r in result) else TableKind.MEDIA
        rows = [[i, item] for i, item in enumerate(result)]
        return kind, [_cut(Section(f"{kind}s", ["#", kind.value], rows))]
    drawn = _drawn(result)  # before labels: labelled words have a label and a score too
    if drawn is not None:
        return drawn
    if _records(result, "label", "score"):
        return TableKind.LABELS, [_labels("labels", result)]
    if isinstance(result, list) and result and all(_records(r, "label", "score") for r in result):
        return TableKind.TOP_K, [_labels(f"input {i + 1}", r) for i, r in enumerate(result)]
    if any(_records(result, key, "word") for key in ENTITY_KEYS):
        key = next(k for k in ENTITY_KEYS if _records(result, k, "word"))
        columns = [key, "word", "start", "end", "score"]
        return TableKind.ENTITIES, [_section("entities", columns, result, bars=4)]
    # Entities per input (a batch of sentences): one table per input, like top-k.
    for key in ENTITY_KEYS:
        if isinstance(result, list) and result and all(_records(r, key, "word") for r in result):
            columns = [key, "word", "start", "end", "score"]
            return TableKind.ENTITIES, [
                _section(f"input {i + 1}", columns, r, bars=4) for i, r in enumerate(result)
            ]
    answers = [result] if isinstance(result, dict) else result
    if _records(answers, "answer"):
        columns = ["answer", "score", "start", "end"]
        return TableKind.ANSWERS, [_section("answers", columns, answers, bars=1)]
    texts = [result] if isinstance(result, dict) else result
    for key in TEXT_KEYS:
        if _records(texts, key):
            return TableKind.TEXT, [_section(key.replace("_", " "), [key], texts)]
        # Batched generation: one list of texts per input, laid out like top-k per input.
        if isinstance(result, list) and result and all(_records(r, key) for r in result):
            return TableKind.TEXT, [
                _section(f"input {i + 1}", [key], r) for i, r in enumerate(result)
            ]
    shape = _numeric_shape(result)
    if shape:
        return TableKind.EMBEDDINGS, [_embeddings(result, shape)]
    if isinstance(result, dict) and result:
        rows = [[str(k), v] for k, v in result.items()]
        return TableKind.DICT, [_cut(Section("answer", ["key", "value"], rows))]
    return TableKind.JSON, [_json_section(result)]


def _drawn(result: Any) -> tuple[TableKind, list[Section]] | None:
    """The layouts with a figure (figures.py): words with boxes, speaker segments, images
    with scores; None for any other answer."""
    if not isinstance(result, list) or not result or not all(isinstance(r, dict) for r in result):
        return None
    if all(
        figures.first_of(r, WORD_KEYS) is not None
        and _numeric_shape(figures.first_of(r, BOX_KEYS)) == (4,)
        for r in result
    ):
        present = {key for record in result for key in record}
        text = next(key for key in WORD_KEYS if key in result[0])
        box = next(key for key in BOX_KEYS if key in result[0])
        columns = [c for c in (text, "label", box, "score") if c in present]
        bars = columns.index("score") if "score" in columns else None
        return TableKind.LAYOUT, [_section(f"{text}s with boxes", columns, result, bars)]
    if _records(result, "speaker", "start", "end") and all(
        is_number(r["start"]) and is_number(r["end"]) for r in result
    ):
        speakers = count(len({str(r["speaker"]) for r in result}), "speaker")
        columns = ["speaker", "start", "end"]
        return TableKind.SEGMENTS, [_section(f"segments, {speakers}", columns, result)]
    if _records(result, "image", "score") and all(
        holds_image(r["image"]) and is_number(r["score"]) for r in result
    ):
        ranked = [{"#": rank, **record} for rank, record in enumerate(result, 1)]
        columns = ["#", "score", "image", *(["caption"] if "caption" in result[0] else [])]
        return TableKind.MATCHES, [_section("images, best first", columns, ranked, 1)]
    return None


def _json_section(result: Any) -> Section:
    return Section(
        "answer", ["json"], [[shorten(json_text(result, indent=2), 2000, say_more=True)]]
    )


def _labels(title: str, records: list[dict]) -> Section:
    ordered = sorted(
        records, key=lambda r: r["score"] if is_number(r["score"]) else 0, reverse=True
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
    if is_number(value):
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
    if is_number(value):
        return [float(value)]
    return [x for v in value for x in _flatten(v)]


def json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text, what JSON cannot hold as its ``str`` (a numpy number, an image),
    and the whole as its ``repr`` when it is no JSON at all."""
    try:
        return json.dumps(value, indent=indent, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return repr(value)
