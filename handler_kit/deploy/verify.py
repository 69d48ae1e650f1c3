"""The last proof: the cases replayed to the deployed endpoint, against the rehearsal's answers.

Each case goes to the endpoint's URL with the token and ``X-Scale-Up-Timeout`` (so that a
scaled-to-zero endpoint starts a replica instead of answering 503). Its answer is compared
with the one production's server gave the same case in the rehearsal (same status, content
type and body, numbers within the case's tolerance): same, or what differs. A case the
rehearsal has no answer for (no rehearsal ran) is checked by its own rule, as ``replay`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cases.case import Case, CaseError, cases_folder, cases_for
from ..cases.replay import (
    DEFAULT_TIMEOUT,
    Answer,
    ReplayReport,
    ReplayRow,
    replay_case,
    send,
    status_advice,
)
from ..errors import HandlerKitError
from ..production.comparison import ProductionComparison, Side, answer_difference, tolerance_of
from ..report import Status, count

SCALE_UP = "X-Scale-Up-Timeout"
SCALE_UP_TIMEOUT = 600  # seconds a request may wait for a scaled-to-zero endpoint to start
NAMES = ("the rehearsal", "at the endpoint")  # how a difference names the two answers
PASSED = frozenset({Status.PASS, Status.SAME})
NOT_THE_HANDLER = frozenset({401, 403, 404, 405, 502, 503, 504})  # the platform's answers


@dataclass(repr=False)
class VerifyReport(ReplayReport):
    """A row per case sent to the deployed endpoint; ``ok`` when each is the rehearsal's
    answer (same) or, without one, passes its case's rule."""

    @property
    def ok(self) -> bool:
        return all(row.outcome in PASSED for row in self.rows)

    rehearsed: bool = False  # compared with the rehearsal's answers (else: the cases' rules)

    @property
    def verdict(self) -> str:
        n = len(self.rows)
        if self.ok:
            if self.rehearsed:
                return f"all {count(n, 'case')} answer at the endpoint as in the rehearsal"
            return f"all {count(n, 'case')} pass at the endpoint"
        bad = [row for row in self.rows if row.outcome not in PASSED]
        expected = "the rehearsal's answer" if self.rehearsed else "what its case expects"
        return f"{len(bad)} of {count(n, 'case')} at the endpoint differ from {expected}"

    def heading(self) -> str:
        return f"Verify: the cases of {self.cases} at {self.url}"

    heading_html = ReplayReport.heading_html


def verify(
    url: str,
    repo: Path,
    cases: str | Path | None,
    token: str | None,
    rehearsal: ProductionComparison | None = None,
    scale_up: float = SCALE_UP_TIMEOUT,
    timeout: float = DEFAULT_TIMEOUT,
) -> VerifyReport:
    """Send every case of ``repo`` (or ``cases``) to the endpoint at ``url``; a row per case."""
    found = cases_for(repo, cases, default=True)
    report = VerifyReport(url, cases_folder(repo, cases).resolve(), rehearsed=rehearsal is not None)
    answers = {row.case: row.answer for row in rehearsal.rows} if rehearsal is not None else {}
    headers = {SCALE_UP: f"{scale_up:g}"}
    # The first request may wait for a replica to start: it may take that long.
    wait = max(timeout, scale_up)
    for case in found:
        if isinstance(case, CaseError):
            name = Path(case.file).stem if case.file else "?"
            report.rows.append(ReplayRow(name, Status.ERROR, f"not sent: {case}"))
            continue
        expected = answers.get(case.name)
        if expected is None:
            report.rows.append(replay_case(url, case, token, wait, headers))
        else:
            report.rows.append(_compared(url, case, token, wait, headers, expected))
    return report


def _compared(
    url: str, case: Case, token: str | None, timeout: float, headers: dict, expected: Answer
) -> ReplayRow:
    """One case's row: the endpoint's answer against the rehearsal's ``expected``."""
    try:
        answer = send(url, case.content_type, case.body(), token, timeout, headers)
    except HandlerKitError as error:
        return ReplayRow(case.name, Status.ERROR, str(error))
    found = answer_difference(expected, answer, tolerance_of(case), NAMES)
    if found is None:
        return ReplayRow(
            case.name, Status.SAME, Side.of(answer).body, answer.status, answer.seconds
        )
    if answer.status in NOT_THE_HANDLER and expected.status not in NOT_THE_HANDLER:
        # The platform answered, not the handler: what to do about it.
        advice = status_advice(answer, token)
        return ReplayRow(case.name, Status.ERROR, advice, answer.status, answer.seconds)
    return ReplayRow(case.name, Status.DIFFERS, found, answer.status, answer.seconds)
