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


@dataclass(repr=False)
class CheckReport(Report):
    """The rows of a deployment check; ``ok`` when none failed (warnings are fine)."""

    repo: Path
    rows: list[Row] = field(default_factory=list)

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

    def cells(self, row: Row) -> tuple[str, Status, str]:
        return row.check, row.status, row.detail
