"""Production's answer and the kit's to the same case, compared: a row per case, a report.

``compare_case`` sends a case to both servers and says whether the two answers are the same
(status, content type, body) and, when not, how they differ; ``ProductionComparison`` holds
the rows. ``production.run.against_production`` starts the servers and fills it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .. import style
from ..cases.case import Case, CaseError, difference, read_cases
from ..cases.replay import Answer, Unreachable, send

# The check's default case, until the cases wing's one rule for a repository's cases
# replaces _cases below.
from ..checks.check import DEFAULT_CASE, DEFAULT_PAYLOAD

REQUEST_TIMEOUT = 60.0  # seconds per request
SHORT = 100  # characters of a body shown in a cell
# Numbers closer than this are the same answer when the case gives no tolerance: production's
# numpy (1.x) and this environment's sum in another order and differ in the last bits
# (seen: 0.23783064665874948 there, 0.23783064665874942 here), which no client can tell.
FLOAT_NOISE = 1e-9


class Match(str, Enum):
    """How production's answer and the kit's compare."""

    SAME = "same"
    DIFFERS = "differs"
    ERROR = "error"  # a case that could not be sent, or a server that did not answer


@dataclass(frozen=True)
class Side:
    """One server's answer to a case, as shown in a row: ``200 application/json {...}``."""

    status: int | None
    content_type: str
    body: str

    @classmethod
    def of(cls, answer: Answer) -> Side:
        if answer.status != 200:
            text = f"error: {answer.error_message()}"
        elif answer.is_json or answer.content_type.startswith("text/"):
            text = " ".join(answer.body.decode("utf-8", "replace").split())
        else:
            text = f"<{len(answer.body)} bytes>"
        return cls(answer.status, answer.content_type, _short(text))

    def __str__(self) -> str:
        if self.status is None:
            return self.body
        return f"{self.status} {self.content_type or '(no content type)'} {self.body}"


@dataclass(frozen=True)
class ComparisonRow:
    """One case: the same answer from both servers, or what differs."""

    case: str
    match: Match
    detail: str
    production: Side | None = None
    kit: Side | None = None


@dataclass
class ProductionComparison:
    """A row per case: production's answer against the kit's; ``ok`` when all are the same."""

    repo: Path
    rows: list[ComparisonRow] = field(default_factory=list)
    production: str = ""  # which production ran: the toolkit and python used

    @property
    def ok(self) -> bool:
        return all(row.match is Match.SAME for row in self.rows)

    @property
    def differing(self) -> list[ComparisonRow]:
        """The rows that are not the same."""
        return [row for row in self.rows if row.match is not Match.SAME]

    @property
    def verdict(self) -> str:
        """``all 3 cases answer the same`` or ``1 of 3 cases differs from production``."""
        n = len(self.rows)
        if self.ok:
            return f"all {n} case{'s' * (n != 1)} answer the same in production and here"
        k = len(self.differing)
        return f"{k} of {n} case{'s' * (n != 1)} differ{'s' * (k == 1)} from production"

    def __str__(self) -> str:
        lines = [f"Production against the kit on {self.repo}"]
        if self.production:
            lines.append(f"production: {self.production}")
        rows = [
            (
                row.case,
                row.match.value,
                "\n".join(
                    [row.detail]
                    + [
                        f"{name}: {side}"
                        for name, side in (("production", row.production), ("kit", row.kit))
                        if side is not None and row.match is not Match.SAME
                    ]
                ),
            )
            for row in self.rows
        ]
        lines += style.text_table(("case", "result", "detail"), rows, minimum=(0, 7))
        lines.append(self.verdict)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        mono = f"{cell};font-family:{style.MONOSPACE};white-space:pre-wrap"

        def side(value: Side | None) -> str:
            return html.escape(str(value)) if value is not None else ""

        rows = "".join(
            f'<tr><td style="{cell}">{html.escape(row.case)}</td>'
            f'<td style="{cell}">{style.status(row.match.value)}</td>'
            f'<td style="{cell};white-space:pre-wrap">{html.escape(row.detail)}</td>'
            f'<td style="{mono}">{side(row.production)}</td>'
            f'<td style="{mono}">{side(row.kit)}</td></tr>'
            for row in self.rows
        )
        names = ("case", "result", "detail", "production", "the kit")
        head = "".join(f'<th style="{cell}">{name}</th>' for name in names)
        verdict = style.status("pass" if self.ok else "fail", self.verdict)
        said = (
            f'<div style="color:{style.MUTED}">production: {html.escape(self.production)}</div>'
            if self.production
            else ""
        )
        return (
            f'<div style="color:{style.TEXT}"><b>Production against the kit on '
            f"{html.escape(str(self.repo))}</b>{said}"
            f'<table style="{style.table_style()}"><tr>{head}</tr>{rows}</table>'
            f"<div>{verdict}</div></div>"
        )


def compare_case(case: Case, production_url: str, kit_url: str) -> ComparisonRow:
    """Send ``case`` to both servers and compare the answers; its row."""
    try:
        body = case.body()
    except CaseError as error:
        return ComparisonRow(case.name, Match.ERROR, f"not sent: {error}")
    answers: list[Answer | Side] = []
    for url in (production_url, kit_url):
        try:
            answers.append(send(url, case.content_type, body, timeout=REQUEST_TIMEOUT))
        except Unreachable as error:
            answers.append(Side(None, "", error.one_line()))
    production, kit = answers
    if not isinstance(production, Answer) or not isinstance(kit, Answer):
        sides = [a if isinstance(a, Side) else Side.of(a) for a in answers]
        return ComparisonRow(case.name, Match.ERROR, "no answer", *sides)
    found = answer_difference(production, kit, tolerance_of(case))
    if found:
        return ComparisonRow(case.name, Match.DIFFERS, found, Side.of(production), Side.of(kit))
    side = Side.of(production)
    return ComparisonRow(case.name, Match.SAME, str(side), side, Side.of(kit))


def tolerance_of(case: Case) -> float:
    """How far numbers of production's answer and the kit's may be apart for ``case``: its
    own tolerance, else the last bits two numpy builds may differ in."""
    return case.tolerance if case.has_tolerance else FLOAT_NOISE


def answer_difference(production: Answer, kit: Answer, tolerance: float = 0.0) -> str | None:
    """What differs between production's answer and the kit's, or None when they are the same.

    Status, then content type, then body: JSON compared as values (numbers within
    ``tolerance``), other bodies byte for byte. An error answer's message is the kit's own
    (it says what to do), so two errors are the same when both are ``{"error": text}``.
    """
    if production.status != kit.status:
        return f"status {production.status} in production, {kit.status} here"
    if production.content_type != kit.content_type:
        return (
            f"Content-Type {production.content_type or '(none)'} in production, "
            f"{kit.content_type or '(none)'} here"
        )
    if production.is_json:
        try:
            expected, got = production.json(), kit.json()
        except ValueError as error:
            return f"a body that is not JSON: {error}"
        if production.status != 200 and _is_error(expected) and _is_error(got):
            return None
        found = difference(expected, got, tolerance)
        return f"body differs from production's: {found}" if found else None
    if production.body != kit.body:
        return f"body: {len(production.body)} bytes in production, {len(kit.body)} here, not equal"
    return None


def _cases(repo: Path, folder: Path | None) -> list[Case | CaseError]:
    """The cases to send: the folder's (the error of one that cannot be read), or the default."""
    if folder is None and not (repo / "cases").is_dir():
        return [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]
    found = read_cases(folder or repo / "cases")  # no such --cases folder: the error says so
    return found or [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]


def _is_error(value: object) -> bool:
    return isinstance(value, dict) and list(value) == ["error"] and isinstance(value["error"], str)


def _short(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
