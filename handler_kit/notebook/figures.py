"""Figures of answers a person would rather look at than read, drawn above their tables.

Three layouts of the result tables (tables.py) have one: words with boxes (what OCR and layout
models answer) drawn over the document they were read from, coloured by label, with a legend;
speaker segments as a timeline, one lane per speaker; images ranked by a score (a text-to-image
search) as a grid. The document comes from the request the handler was sent
(``request_image``). Figures are HTML, boxes and bars placed in shares of their whole, with
images as PNG data URLs, never a network address, coloured by style.py's theme variables.
(Not SVG: JupyterLab's sanitiser drops it from outputs it does not trust, and the positioned
HTML and its document survive there.)
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import style
from ..cases.case import is_number
from ..report import count
from .media import as_image, png_url

WORD_KEYS = ("word", "text")  # a layout answer's text, per word or per entity
BOX_KEYS = ("box", "bbox")  # its box: left, top, right, bottom in pixels of the document
TAG_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")  # B-QUESTION and I-QUESTION are QUESTION
OTHER = ("O", "")  # text no label claims, drawn in the border colour
DOCUMENT_PIXELS = 1024  # the document under the boxes is scaled down to fit this square
MAX_WIDTH = 720  # pixels a figure is drawn at, at most
TIMELINE_WIDTH = 640  # pixels of a timeline, at most
LANE = 20  # pixels of a speaker's lane
LANE_GAP = 6  # pixels between lanes
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
THUMBNAIL = 96  # pixels of a grid's picture
MAX_MATCHES = 24
NO_DOCUMENT = "no document in the request: show(answer, request=payload) draws the boxes over it"


@dataclass(frozen=True)
class Figure:
    """A figure's HTML; ``complete`` when it shows all the table would (no table under it)."""

    html: str
    complete: bool = False


def first_of(item: dict, keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` that ``item`` has, else None."""
    return next((item[key] for key in keys if key in item), None)


def request_image(request: Any) -> Any:
    """The image a request carries (a PIL image), else None.

    ``request`` is the payload the handler was sent, or its ``inputs``: an image, an image
    file's bytes or base64, or an object that holds one under ``image``.
    """
    inputs = request.get("inputs", request) if isinstance(request, dict) else request
    if isinstance(inputs, dict):
        inputs = inputs.get("image")
    return as_image(inputs)


def entity(label: Any) -> str:
    """The entity a word's label names: ``B-QUESTION`` and ``I-QUESTION`` are ``QUESTION``."""
    text = "" if label is None else str(label)
    return text[2:] if text.startswith(TAG_PREFIXES) else text


def boxes(items: Sequence[dict], image: Any = None) -> str:
    """The items' boxes over ``image`` (a PIL image), coloured by label, and a legend.

    Without the image the words are written in their boxes on an empty page, and a note says
    how to draw them over the document.
    """
    groups = sorted({entity(item.get("label")) for item in items} - set(OTHER))
    colours = {group: style.PALETTE[n % len(style.PALETTE)] for n, group in enumerate(groups)}
    # Words no label claims are grey beside labelled ones, and coloured when none has a label.
    colours.update(dict.fromkeys(OTHER, style.BORDER if groups else style.PALETTE[0]))
    corners = [[float(v) for v in first_of(item, BOX_KEYS)] for item in items]
    if image is not None:
        width, height = image.size
        page = (
            f'<img src="{png_url(image, DOCUMENT_PIXELS)}" alt="the document" '
            'style="display:block;width:100%;height:auto">'
        )
    else:
        width = max(max(x0, x1) for x0, _, x1, _ in corners) + 10
        height = max(max(y0, y1) for _, y0, _, y1 in corners) + 10
        # An empty page of the document's shape at any width: padding follows the width.
        page = f'<div style="padding-top:{_share(height, width)};border:1px solid {style.BORDER}">'
        page += "</div>"
    shown = min(width, MAX_WIDTH)
    parts = [
        f'<div class="handler-kit-boxes" role="img" aria-label="{len(items)} boxes" '
        f'style="position:relative;width:{shown:.0f}px;max-width:100%;color:{style.TEXT}">{page}'
    ]
    for item, (x0, y0, x1, y1) in zip(items, corners, strict=True):
        x, y, w, h = min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
        colour = colours[entity(item.get("label"))]
        word = html.escape(str(first_of(item, WORD_KEYS)))
        said = (item.get("label"), first_of(item, WORD_KEYS), item.get("score"))
        tip = html.escape(" ".join(str(v) for v in said if v is not None))
        # Written in its box where the document is missing, at the box's height as drawn.
        text = (
            f'<span style="position:absolute;left:1px;top:0;white-space:nowrap;line-height:1;'
            f'font-size:{0.8 * h * shown / width:.1f}px">{word}</span>'
            if image is None
            else ""
        )
        parts.append(
            f'<div class="handler-kit-box" title="{tip}" style="position:absolute;'
            f"box-sizing:border-box;left:{_share(x, width)};top:{_share(y, height)};"
            f'width:{_share(w, width)};height:{_share(h, height)};border:2px solid {colour}">'
            f'<div style="height:100%;background:{colour};opacity:0.15"></div>{text}</div>'
        )
    parts.append("</div>")
    counts = dict.fromkeys(colours, 0)
    for item in items:
        counts[entity(item.get("label"))] += 1
    keys = [*groups, *(g for g in OTHER if counts[g])]
    names = {"O": "other (O)", "": "unlabelled"}
    parts.append(_legend((names.get(g, g), colours[g], f"{counts[g]}") for g in keys))
    if image is None:
        parts.append(note(NO_DOCUMENT))
    return "".join(parts)


def timeline(segments: Sequence[dict]) -> str:
    """Who spoke when: a lane per speaker (in order of first turn), a bar per segment, a time
    axis, and how long each speaker spoke."""
    speakers = list(dict.fromkeys(str(s["speaker"]) for s in segments))
    colours = {name: style.PALETTE[n % len(style.PALETTE)] for n, name in enumerate(speakers)}
    end = max(float(s["end"]) for s in segments)
    step = next((s for s in TICK_STEPS if end / s <= 10), TICK_STEPS[-1])
    span = max(step, math.ceil(end / step) * step)
    ticks = [n * step for n in range(round(span / step) + 1)]
    gutter = min(160, 16 + 7 * max(len(name) for name in speakers))
    lines = "".join(
        f'<div style="position:absolute;top:0;bottom:0;left:{_share(t, span)};'
        f'border-left:1px solid {style.BORDER}"></div>'
        for t in ticks
    )
    lanes = []
    for name in speakers:
        bars = "".join(
            f'<div class="handler-kit-segment" title="{html.escape(name)}: '
            f'{float(s["start"]):.2f}–{float(s["end"]):.2f} s" style="position:absolute;'
            f"top:2px;bottom:2px;left:{_share(max(0.0, float(s['start'])), span)};"
            f"width:{_share(max(0.0, float(s['end']) - float(s['start'])), span)};"
            f'min-width:1px;border-radius:3px;background:{colours[name]}"></div>'
            for s in segments
            if str(s["speaker"]) == name
        )
        lanes.append(
            _row(
                gutter,
                LANE,
                html.escape(name),
                f'<div style="position:absolute;top:0;bottom:0;left:0;right:0;'
                f'background:{style.BORDER};opacity:0.3"></div>{lines}{bars}',
            )
        )
    labels = "".join(
        f'<span style="position:absolute;left:{_share(t, span)};width:48px;margin-left:-24px;'
        f'text-align:center">{_clock(t, span)}</span>'
        for t in ticks
    )
    axis = _row(gutter, 16, "", f'<div style="color:{style.MUTED}">{labels}</div>')
    spoken = {name: [0.0, 0] for name in speakers}
    for segment in segments:
        spoken[str(segment["speaker"])][0] += float(segment["end"]) - float(segment["start"])
        spoken[str(segment["speaker"])][1] += 1
    legend = _legend(
        (name, colours[name], f"{seconds:.1f} s, {count(turns, 'turn')}")
        for name, (seconds, turns) in spoken.items()
    )
    said = f"{count(len(speakers), 'speaker')}, {count(len(segments), 'segment')}"
    return (
        f'<div class="handler-kit-timeline" role="img" aria-label="{said}" '
        f'style="width:{TIMELINE_WIDTH}px;max-width:100%;'
        f'font-size:12px;color:{style.TEXT}">{"".join(lanes)}{axis}</div>{legend}'
    )


def grid(matches: Sequence[dict]) -> str:
    """Images ranked by a score, best first: a picture, its rank and score, and its text."""
    cells = []
    for rank, match in enumerate(matches[:MAX_MATCHES], 1):
        image = as_image(match["image"])
        url = png_url(image, 2 * THUMBNAIL) if image is not None else None
        small = image is not None and max(image.size) < THUMBNAIL
        picture = (
            f'<img src="{url}" alt="match {rank}" style="width:{THUMBNAIL}px;'
            f"height:{THUMBNAIL}px;object-fit:contain"
            f'{";image-rendering:pixelated" if small else ""}">'
            if url
            else f'<div style="height:{THUMBNAIL}px">no image</div>'
        )
        score = float(match["score"])
        bar = max(0.0, min(1.0, score)) * THUMBNAIL
        words = ", ".join(
            str(v) for k, v in match.items() if k not in ("image", "score") and _is_shown(v)
        )
        cells.append(
            f'<figure class="handler-kit-match" style="margin:0;padding:4px;border:1px solid '
            f'{style.BORDER};border-radius:4px;width:{THUMBNAIL}px;font-size:12px">{picture}'
            f'<figcaption><b>#{rank}</b> {score:.3f}<div style="background:{style.BAR};'
            f'height:4px;width:{bar:.0f}px"></div>{html.escape(words)}</figcaption></figure>'
        )
    more = len(matches) - MAX_MATCHES
    left_out = note(f"{more} more not shown") if more > 0 else ""
    return (
        f'<div class="handler-kit-grid" style="display:flex;flex-wrap:wrap;gap:8px;'
        f'margin:4px 0">{"".join(cells)}</div>{left_out}'
    )


def _is_shown(value: Any) -> bool:
    return isinstance(value, str) or is_number(value)


def _share(part: float, whole: float) -> str:
    """``part`` as a CSS percentage of ``whole``."""
    return f"{100 * part / whole:.3f}%"


def _row(gutter: int, height: int, name: str, inner: str) -> str:
    """A timeline's row: a name right-aligned in the gutter, then a plot of the time."""
    return (
        f'<div style="display:flex;align-items:center;height:{height}px;'
        f'margin-bottom:{LANE_GAP}px">'
        f'<div style="flex:none;width:{gutter}px;padding-right:6px;box-sizing:border-box;'
        f'text-align:right;white-space:nowrap;overflow:hidden">{name}</div>'
        f'<div style="position:relative;flex:1;height:100%;margin-right:24px">{inner}</div></div>'
    )


def _clock(seconds: float, span: float) -> str:
    """A tick's time: seconds, or minutes and seconds on an axis of two minutes or more."""
    if span >= 120:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{round(seconds, 1):g} s"


def _legend(entries: Any) -> str:
    """One line of (name, colour, what) entries, each after a swatch of its colour."""
    items = [
        f'<span style="margin-right:14px;white-space:nowrap"><span style="display:inline-block;'
        f"width:11px;height:11px;margin-right:4px;vertical-align:middle;background:{colour};"
        f'border:1px solid {colour}"></span>{html.escape(name)} '
        f'<span style="color:{style.MUTED}">{html.escape(what)}</span></span>'
        for name, colour, what in entries
    ]
    return f'<div class="handler-kit-legend" style="margin:4px 0">{"".join(items)}</div>'


def note(text: str) -> str:
    """A muted line under a figure or a table."""
    return f'<small style="color:{style.MUTED}">{html.escape(text)}</small><br>'
