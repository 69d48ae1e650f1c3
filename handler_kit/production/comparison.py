"""Production's answer and the kit's to the same case, compared: a row per case, a report.

``compare_case`` sends a case to both servers and says whether the two answers are the same
(status, content type, body) and, when not, how they differ; ``ProductionComparison`` holds
the rows. ``production.run.against_production`` starts the servers and fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cases.case import Case, CaseError, difference
from ..cases.replay import Answer, Unreachable, send
from ..endpoint.answers import error_of
from ..report import Column, Report, Status, count, shorten

REQUEST_TIMEOUT = 60.0  # seconds per request
SHORT = 100  # characters of a body shown in a cell
# Numbers closer than this are the same answer when the case gives no tolerance: production's
# numpy (1.x) and this environment's sum in another order and differ in the last bits
# (seen: 0.23783064665874948 there, 0.23783064665874942 here), which no client can tell.
FLOAT_NOISE = 1e-9


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
        return cls(answer.status, answer.content_type, shorten(text, SHORT))

    def __str__(self) -> str:
        if self.status is None:
            return self.body
        return f"{self.status} {self.content_type or '(no content type)'} {self.body}"


@dataclass(frozen=True)
class ComparisonRow:
    """One case: the same answer from both servers, or what differs (or an error: a case that
    could not be sent, or a server that did not answer)."""

    case: str
    match: Status
    detail: str
    production: Side | None = None
    kit: Side | None = None
    # Production's whole answer (the sides are cut short), for what comes after: a deploy
    # compares the deployed endpoint's answers with these.
    answer: Answer | None = field(default=None, repr=False, compare=False)


@dataclass(repr=False)
class ProductionComparison(Report):
    """A row per case: production's answer against the kit's; ``ok`` when all are the same."""

    repo: Path
    rows: list[ComparisonRow] = field(default_factory=list)
    production: str = ""  # which production ran: the toolkit and python used

    columns = (
        Column("case"),
        Column("result"),
        Column("detail", wrap=True),
        Column("production", mono=True),
        Column("the kit", mono=True),
    )
    # As text, both answers go under the detail of a row that is not the same.
    text_columns = (Column("case"), Column("result", minimum=7), Column("detail"))

    @property
    def ok(self) -> bool:
        return all(row.match is Status.SAME for row in self.rows)

    @property
    def differing(self) -> list[ComparisonRow]:
        """The rows that are not the same."""
        return [row for row in self.rows if row.match is not Status.SAME]

    @property
    def verdict(self) -> str:
        """``all 3 cases answer the same`` or ``1 of 3 cases differs from production``."""
        n = len(self.rows)
        if self.ok:
            return f"all {count(n, 'case')} answer the same in production and here"
        k = len(self.differing)
        return f"{k} of {count(n, 'case')} differ{'s' * (k == 1)} from production"

    def heading(self) -> str:
        return f"Production against the kit on {self.repo}"

    def notes(self) -> list[str]:
        return [f"production: {self.production}"] if self.production else []

    def cells(self, row: ComparisonRow) -> tuple[str, Status, str, str, str]:
        sides = [str(side) if side is not None else "" for side in (row.production, row.kit)]
        return row.case, row.match, row.detail, *sides

    def text_cells(self, row: ComparisonRow) -> tuple[str, Status, str]:
        lines = [row.detail]
        if row.match is not Status.SAME:
            sides = (("production", row.production), ("kit", row.kit))
            lines += [f"{name}: {side}" for name, side in sides if side is not None]
        return row.case, row.match, "\n".join(lines)


def compare_case(case: Case, production_url: str, kit_url: str) -> ComparisonRow:
    """Send ``case`` to both servers and compare the answers; its row."""
    try:
        body = case.body()
    except CaseError as error:
        return ComparisonRow(case.name, Status.ERROR, f"not sent: {error}")
    answers: list[Answer | Side] = []
    for url in (production_url, kit_url):
        try:
            answers.append(
                send(case.address(url), case.content_type, body, timeout=REQUEST_TIMEOUT)
            )
        except Unreachable as error:
            answers.append(Side(None, "", error.one_line()))
    production, kit = answers
    kept = production if isinstance(production, Answer) else None
    if kept is None or not isinstance(kit, Answer):
        sides = [a if isinstance(a, Side) else Side.of(a) for a in answers]
        return ComparisonRow(case.name, Status.ERROR, "no answer", *sides, answer=kept)
    found = answer_difference(production, kit, tolerance_of(case))
    sides = Side.of(production), Side.of(kit)
    if found:
        return ComparisonRow(case.name, Status.DIFFERS, found, *sides, answer=kept)
    return ComparisonRow(case.name, Status.SAME, str(sides[0]), *sides, answer=kept)


def tolerance_of(case: Case) -> float:
    """How far numbers of production's answer and the kit's may be apart for ``case``: its
    own tolerance, else the last bits two numpy builds may differ in."""
    return case.tolerance if case.has_tolerance else FLOAT_NOISE


def answer_difference(
    production: Answer,
    kit: Answer,
    tolerance: float = 0.0,
    names: tuple[str, str] = ("production", "here"),
) -> str | None:
    """What differs between production's answer and the kit's, or None when they are the same.

    Status, then content type, then body: JSON compared as values (numbers within
    ``tolerance``), other bodies byte for byte. An error answer's message is the kit's own
    (it says what to do), so two errors are the same when both carry one (``answers.error_of``).
    ``names`` says where each answer came from: the first a noun ("status 400 in
    production"), the second a place ("200 here", "200 at the endpoint").
    """
    first, second = names
    if production.status != kit.status:
        return f"status {production.status} in {first}, {kit.status} {second}"
    if production.content_type != kit.content_type:
        return (
            f"Content-Type {production.content_type or '(none)'} in {first}, "
            f"{kit.content_type or '(none)'} {second}"
        )
    if production.is_json:
        try:
            expected, got = production.json(), kit.json()
        except ValueError as error:
            return f"a body that is not JSON: {error}"
        if (
            production.status != 200
            and error_of(expected) is not None
            and error_of(got) is not None
        ):
            return None
        found = difference(expected, got, tolerance)
        return f"body differs from {first}'s: {found}" if found else None
    if production.body != kit.body:
        return f"body: {len(production.body)} bytes in {first}, {len(kit.body)} {second}, not equal"
    return None
