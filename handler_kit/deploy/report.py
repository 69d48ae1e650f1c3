"""What a deploy did: a row per step (its outcome, time and what it found), and the verdict.

``DeployReport`` also keeps what the steps produced (the check, the manifest, the rehearsal's
comparison, the pushed commit, the endpoint, the verification), for a test or a notebook to
read, and turns into JSON for CI (``to_json``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .. import style
from ..checks.report import CheckReport
from ..production.comparison import ProductionComparison
from ..report import Column, Report, Status, duration
from .endpoints import EndpointStatus
from .hub import Pushed
from .manifest import Manifest
from .verify import VerifyReport


class Step(str, Enum):
    """The steps of a deploy, in order."""

    ACCOUNT = "account"  # whose token, and may it push there
    GATE = "gate"  # handler-kit check
    MANIFEST = "manifest"  # exactly the files to upload
    REHEARSAL = "rehearsal"  # those files under production's real server
    PUSH = "push"  # one commit on the Hub
    ENDPOINT = "endpoint"  # created or updated at that commit
    WAIT = "wait"  # until it runs that commit
    VERIFY = "verify"  # the cases at the endpoint, against the rehearsal's answers
    AFTER = "after"  # paused or scaled to zero, when asked

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StepRow:
    """One step: what became of it, how long it took (None: not run) and what it found."""

    step: Step
    outcome: Status
    detail: str
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "outcome": self.outcome.value,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "detail": self.detail,
        }


@dataclass(repr=False)
class DeployReport(Report):
    """A row per step of a deploy; ``ok`` when none failed (a skipped step is not a failure)."""

    repo: Path
    repo_id: str
    dry_run: bool = False
    rows: list[StepRow] = field(default_factory=list)
    check: CheckReport | None = None
    manifest: Manifest | None = None
    rehearsal: ProductionComparison | None = None
    pushed: Pushed | None = None
    endpoint: EndpointStatus | None = None
    verification: VerifyReport | None = None

    columns = (
        Column("step", minimum=9),
        Column("outcome", minimum=7),
        Column("time", minimum=7, right=True),
        Column("detail", wrap=True),
    )

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def failed(self) -> StepRow | None:
        """The step that failed (the deploy stopped there), or None."""
        return next((row for row in self.rows if row.outcome is Status.FAIL), None)

    def row(self, step: Step) -> StepRow | None:
        """The row of ``step``, once it has one."""
        return next((row for row in self.rows if row.step is step), None)

    @property
    def verdict(self) -> str:
        failed = self.failed
        if failed is not None:
            return f"stopped at the {failed.step}: {self._what_changed()}"
        if self.dry_run:
            said = self.manifest.verdict if self.manifest is not None else "nothing to upload"
            return f"dry run passed ({said}); nothing was pushed"
        if self.pushed is None or self.endpoint is None:
            return "nothing was deployed"
        return (
            f"deployed: the endpoint {self.endpoint.name} serves {self.pushed.repo_id} at "
            f"{self.pushed.oid[:12]} ({self.endpoint.url})"
        )

    def _what_changed(self) -> str:
        if self.pushed is None:
            return "nothing was pushed"
        pushed = f"{self.pushed.repo_id} is at {self.pushed.oid[:12]}"
        if self.endpoint is None:
            return f"{pushed}; no endpoint was created or updated"
        return f"{pushed}; the endpoint {self.endpoint.name} is {self.endpoint.state}"

    def heading(self) -> str:
        return f"Deploy of {self.repo} to {self.repo_id}" + (" (dry run)" if self.dry_run else "")

    def notes(self) -> list[str]:
        notes = []
        if self.pushed is not None:
            notes.append(f"commit: {self.pushed.url}")
        if self.endpoint is not None and self.endpoint.url:
            notes.append(f"endpoint: {self.endpoint.url}")
        return notes

    def cells(self, row: StepRow) -> tuple[str, Status, str, str]:
        seconds = duration(row.seconds) if row.seconds is not None else "-"
        return row.step.value, row.outcome, seconds, row.detail

    def __str__(self) -> str:
        """The steps, then the files uploaded (or to upload) and the verification."""
        parts = [super().__str__(), self.manifest, self.verification]
        return "\n\n".join(str(part) for part in parts if part is not None)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = [super()._repr_html_()]
        if self.manifest is not None:  # folded: a repository can hold many files
            summary = html.escape(f"the files: {self.manifest.verdict}")
            parts.append(
                f'<details style="color:{style.TEXT}"><summary>{summary}</summary>'
                f"{self.manifest._repr_html_()}</details>"
            )
        if self.verification is not None:
            parts.append(self.verification._repr_html_())
        return f"<div>{'<br>'.join(parts)}</div>"

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data: what CI reads (``handler-kit deploy --json``)."""
        verification = self.verification
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "repo": str(self.repo),
            "repo_id": self.repo_id,
            "dry_run": self.dry_run,
            "commit": self.pushed.oid if self.pushed is not None else None,
            "endpoint": self.endpoint.to_json() if self.endpoint is not None else None,
            "steps": [row.to_json() for row in self.rows],
            "verify": [
                {"case": row.case, "result": row.outcome.value, "detail": row.detail}
                for row in (verification.rows if verification is not None else [])
            ],
        }
