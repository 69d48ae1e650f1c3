"""The deployment check's report: a row per check, and whether the repository is ready."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..report import Column, Report, Status, count


@dataclass(frozen=True)
class Row:
    """One check: its name, its status (pass, fail, warn or skip) and what was found."""

    check: str
    status: Status
    detail: str

    def __post_init__(self) -> None:
        # The worker sends its rows as JSON: the status arrives as its word.
        object.__setattr__(self, "status", Status(self.status))


@dataclass(frozen=True)
class Difference:
    """One thing this environment has in another version than production: Python, or a
    package the handler imports."""

    name: str
    here: str
    there: str

    def __str__(self) -> str:
        return f"{self.name} {self.here} here, {self.there} in production"


def note(found: list[Difference]) -> str | None:
    """The one line the report says of them under its heading, or None when there are none."""
    if not found:
        return None
    return (
        f"This environment is not production's: {'; '.join(map(str, found))}. That is about "
        "this machine, not the repository: nothing to change or pin. The rows below ran with "
        "these versions; to see production's behaviour, check with --against-production (its "
        "real server and versions) or --python PATH (a venv with its versions)."
    )


@dataclass(repr=False)
class CheckReport(Report):
    """The rows of a deployment check; ``ok`` when none failed (warnings are fine).

    ``environment``: where the environment the check ran in is not production's, said once
    under the heading (a fact about the machine, not a row about the repository).
    """

    repo: Path
    rows: list[Row] = field(default_factory=list)
    environment: list[Difference] = field(default_factory=list)

    columns = (Column("check"), Column("status"), Column("detail", wrap=True))

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[Row]:
        """The rows that failed."""
        return [row for row in self.rows if row.status is Status.FAIL]

    @property
    def warnings(self) -> list[Row]:
        """The rows that warn."""
        return [row for row in self.rows if row.status is Status.WARN]

    @property
    def verdict(self) -> str:
        """``ready to deploy`` or ``not ready: N checks failed``, the last line of the report."""
        if self.failed:
            return f"not ready: {count(len(self.failed), 'check')} failed"
        n = len(self.warnings)
        # A warning can be a file the Hub refuses: the verdict must not read as all clear.
        return "ready to deploy" + (f", but read the {count(n, 'warning')} above" if n else "")

    def heading(self) -> str:
        return f"Deployment check of {self.repo}"

    def notes(self) -> list[str]:
        said = note(self.environment)
        return [said] if said else []

    def cells(self, row: Row) -> tuple[str, Status, str]:
        return row.check, row.status, row.detail
