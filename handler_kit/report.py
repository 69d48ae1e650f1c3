"""The kit's reports: a titled table of rows and a verdict, as plain text and as themed HTML.

The deployment check, the replay and the comparison with production each answer with such a
report. Every row carries a ``Status`` (what became of that check or case); the report says
how its rows read as cells, and this base renders them: ``__repr__`` as a plain-text table
(``text_table``), ``_repr_html_`` as an HTML table in the theme's colours.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from . import style

PREVIEW = 80  # characters of an answer a passing row shows


class Status(str, enum.Enum):
    """What became of one row of a report: a check, or a case sent somewhere."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # fine to deploy, but read it
    SKIP = "skip"  # not run: an earlier check failed
    SAME = "same"  # production's answer and the kit's are the same
    DIFFERS = "differs"  # an answer came, not the one expected
    ERROR = "error"  # no answer: not sent, an HTTP error, or nothing listening

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__  # f"{status}" is the word, as str() is

    @property
    def colour(self) -> str:
        """The theme colour the word is shown in."""
        return _COLOURS[self]


_COLOURS = {
    Status.PASS: style.OK,
    Status.SAME: style.OK,
    Status.FAIL: style.ERROR,
    Status.DIFFERS: style.ERROR,
    Status.ERROR: style.ERROR,
    Status.WARN: style.WARN,
    Status.SKIP: style.MUTED,
}

Cell = str | Status


@dataclass(frozen=True)
class Column:
    """A column of a report's table: its name, how it aligns, how its HTML cells look."""

    name: str
    minimum: int = 0  # the least width of its text cells
    right: bool = False
    wrap: bool = False  # free text: its lines are kept in HTML
    mono: bool = False  # text in monospace, lines kept (an answer's body)


class Report:
    """A report: a heading, a table of rows, and a verdict under it.

    A subclass (a dataclass with ``rows``) gives its ``columns``, each row's ``cells``, its
    ``heading`` and ``verdict``, and whether it is ``ok``; the text form may show fewer
    columns than the HTML (``text_columns`` and ``text_cells``).
    """

    columns: ClassVar[tuple[Column, ...]]
    text_columns: ClassVar[tuple[Column, ...] | None] = None  # default: ``columns``
    rows: Sequence[Any]

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    @property
    def verdict(self) -> str:
        """The report's last line: what it comes to."""
        raise NotImplementedError

    def heading(self) -> str:
        """The report's first line: what was checked."""
        raise NotImplementedError

    def heading_html(self) -> str:
        """The heading as HTML (escaped text unless a report marks part of it up)."""
        return html.escape(self.heading())

    def notes(self) -> list[str]:
        """Lines between the heading and the table (e.g. which production ran)."""
        return []

    def cells(self, row: Any) -> Sequence[Cell]:
        """A row's cells, one per column."""
        raise NotImplementedError

    def text_cells(self, row: Any) -> Sequence[Cell]:
        """A row's cells in the text form, one per text column."""
        return self.cells(row)

    def __str__(self) -> str:
        columns = self.text_columns or self.columns
        rows = [[str(cell) for cell in self.text_cells(row)] for row in self.rows]
        table = text_table(
            [column.name for column in columns],
            rows,
            minimum=[column.minimum for column in columns],
            right={i for i, column in enumerate(columns) if column.right},
        )
        return "\n".join([self.heading(), *self.notes(), *table, self.verdict])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        head = "".join(f'<th style="{cell}">{html.escape(c.name)}</th>' for c in self.columns)
        body = "".join(
            "<tr>" + "".join(map(_td, self.columns, self.cells(row))) + "</tr>" for row in self.rows
        )
        notes = "".join(
            f'<div style="color:{style.MUTED}">{html.escape(note)}</div>' for note in self.notes()
        )
        verdict = (Status.PASS if self.ok else Status.FAIL).colour
        return (
            f'<div style="color:{style.TEXT}"><b>{self.heading_html()}</b>{notes}'
            f'<table style="{style.table_style()}"><tr>{head}</tr>{body}</table>'
            f"<div>{style.bold(self.verdict, verdict)}</div></div>"
        )


def _td(column: Column, value: Cell) -> str:
    """One HTML cell: a status in its colour, other text escaped."""
    css = style.cell_style("right" if column.right else "left")
    if column.mono:
        css += f";font-family:{style.MONOSPACE};white-space:pre-wrap"
    elif column.wrap:
        css += ";white-space:pre-wrap"
    if isinstance(value, Status):
        return f'<td style="{css}">{style.bold(value.value, value.colour)}</td>'
    return f'<td style="{css}">{html.escape(value)}</td>'


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    minimum: Sequence[int] = (),
    right: Collection[int] = (),
    rule: bool = False,
) -> list[str]:
    """The lines of a plain-text table: the ``__repr__`` of the kit's reports and result tables.

    Columns are two spaces apart, each as wide as its widest cell (at least ``minimum``);
    those in ``right`` are right-aligned; ``rule`` draws a line of dashes under the header.
    The last column is free text: its later lines are indented under it.
    """
    widths = [
        max([len(name), *(len(row[i]) for row in rows), *minimum[i : i + 1]])
        for i, name in enumerate(header[:-1])
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells[:-1], widths, strict=True))
        ]
        return "  ".join([*padded, cells[-1]]).rstrip()

    indent = " " * (sum(widths) + 2 * len(widths))
    lines = [line(header)]
    if rule:
        texts = [header[-1], *(row[-1] for row in rows)]
        last = max(len(text) for cell in texts for text in cell.splitlines() or [""])
        lines.append("  ".join("-" * width for width in [*widths, last]))
    for row in rows:
        first, *rest = row[-1].splitlines() or [""]
        lines.append(line([*row[:-1], first]))
        lines += [indent + more for more in rest]
    return lines


def count(n: int, noun: str) -> str:
    """``1 case``, ``3 cases``: a number and its noun."""
    return f"{n} {noun}{'s' * (n != 1)}"


def name_of(value: object) -> str:
    """How a message names an object: its qualified name, else its name, else its repr."""
    return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)


def shorten(text: str, limit: int, *, say_more: bool = False) -> str:
    """``text`` in at most ``limit`` characters, an ellipsis where it was cut.

    ``say_more``: keep ``limit`` characters and say how many more there were (``… (12 more
    characters)``), for a value shown in full elsewhere only at that cost.
    """
    if len(text) <= limit:
        return text
    if say_more:
        return f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text[: limit - 1].rstrip() + "…"


def duration(seconds: float) -> str:
    """``1.25 s``, ``12.3 ms``, ``0.042 ms``: a time as a report shows it."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.001 else f"{seconds * 1000:.3f} ms"
