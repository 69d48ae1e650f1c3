"""The deployment check's report: a row per check, and whether the repository is ready."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from ..report import Column, Report, Status, count


class CheckName(str, enum.Enum):
    """The name of a row of the check, as the report shows it.

    A row about one thing among several is named by its kind and the thing
    (``CheckName.CASE.of("holiday")`` is ``case holiday``); the others by their name alone.
    """

    ENTRY = "entry"
    START_UP = "start-up"
    CASES = "cases"
    CASE = "case"
    REQUIREMENTS = "requirements"
    REQUIREMENT = "requirement"
    REPLACES = "replaces"  # a requirement that replaces a package of production's image
    IMPORTS = "imports"
    IMPORT = "import"
    HARD_CODED_PATHS = "hard-coded paths"
    HARD_CODED_PATH = "hard-coded path"
    LARGE_FILES = "large files"
    LARGE_FILE = "large file"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__  # f"{name}" is the word, as str() is

    def of(self, thing: str) -> str:
        """The name of the row of this kind about ``thing``: ``import cv2``."""
        return f"{self.value} {thing}"


@dataclass(frozen=True)
class Row:
    """One check: its name, its status (pass, fail, warn or skip) and what was found."""

    check: CheckName | str  # a CheckName, or one of them with the thing it is about
    status: Status
    detail: str

    def __post_init__(self) -> None:
        # The worker sends its rows as JSON: the status and the name arrive as their words.
        object.__setattr__(self, "status", Status(self.status))
        if self.check in _NAMES:
            object.__setattr__(self, "check", CheckName(self.check))


_NAMES = frozenset(name.value for name in CheckName)


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
