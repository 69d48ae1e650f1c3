"""The form's export: the history's successful requests written as payload cases.

Each distinct request is written once, with the last answer it got, and never when the folder
already holds a case that sends it (compared by the request production would receive: the
content type and the body, or the JSON payload, and the query string's parameters).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import style
from ...cases.case import Case, CaseError, cases_folder, query_of, read_cases, save_case
from ...report import count
from .history import Exchange

# A request as production receives it: content type, body (a JSON payload as its canonical
# text), query-string parameters (canonical JSON).
Request = tuple[str, bytes | str, str]


@dataclass(frozen=True)
class Export:
    """What one export did: the case files it wrote, the requests that already had a case,
    and why uploads were skipped."""

    written: list[Path]
    known: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = f" to {self.written[0].parent}" if self.written else ""
        said = f"exported {count(len(self.written), 'case')}{where}"
        if self.known:
            said += f"; {count(self.known, 'request')} already had a case"
        for reason in dict.fromkeys(self.skipped):
            said += f"; skipped {count(self.skipped.count(reason), 'upload')}: {reason}"
        return said

    def __repr__(self) -> str:
        return "\n".join([str(self), *(f"  {path.name}" for path in self.written)])

    def _repr_html_(self) -> str:
        files = "".join(
            f'<div style="font-family:{style.MONOSPACE};color:{style.MUTED}">'
            f"{html.escape(path.name)}</div>"
            for path in self.written
        )
        return f'<div style="color:{style.TEXT}">{html.escape(str(self))}{files}</div>'


def export_folder(handler: Any, folder: str | Path | None = None) -> Path:
    """Where exported cases go: ``folder``, else the handler's repository's cases folder."""
    return cases_folder(getattr(handler, "path", None) or ".", folder)


def export_cases(entries: Iterable[Exchange], folder: Path) -> Export:
    """Write each distinct request that was answered as a new case in ``folder``.

    A request is written once, with its last answer; one that a case in ``folder`` already
    sends is not written again, and no case file is ever written over. An upload travels as
    its file, and its ``parameters`` in the query string (as production's server reads them);
    an upload with other fields, or with parameters a query string cannot carry, is skipped.
    An answer with labels and scores is kept as its top label and score, with a tolerance
    (scores vary in their last digits across machines); any other answer exactly.
    """
    distinct: dict[Request, Exchange] = {}
    skipped = []
    for entry in (e for e in entries if e.error is None):
        try:
            distinct[request_of(entry)] = entry  # the last answer, at the first one's place
        except CaseError as reason:
            skipped.append(reason.what)
    existing = existing_requests(folder)
    taken = [re.match(r"case_(\d+)\.", p.name) for p in folder.glob("case_*")]
    number = max((int(m.group(1)) for m in taken if m), default=0)
    written = []
    for request, entry in distinct.items():
        if request in existing:
            continue
        number += 1
        written.append(_save(folder, f"case_{number:03d}", entry))
    return Export(written, len(distinct) - len(written), skipped)


def request_of(entry: Exchange) -> Request:
    """The request production receives for ``entry``; CaseError says why an upload has none."""
    if entry.body is None:
        return entry.content_type, _canonical(entry.payload), ""
    extra = [k for k in entry.payload if k not in ("inputs", "parameters")]
    if extra:
        names = ", ".join(f"`{k}`" for k in extra)
        raise CaseError(
            f"{names} cannot travel with a file body (production reads the file as `inputs` "
            "and the query string as `parameters`, nothing else)"
        )
    parameters = entry.payload.get("parameters") or {}
    query_of(parameters)  # raises CaseError, naming a parameter that cannot travel
    return entry.content_type, entry.body, _canonical(parameters) if parameters else ""


def existing_requests(folder: Path) -> set[Request]:
    """The requests the readable cases in ``folder`` send."""
    if not folder.is_dir():
        return set()
    found = set()
    for case in read_cases(folder):
        if not isinstance(case, Case):
            continue
        try:
            found.add(_request_of_case(case))
        except CaseError:  # its body file is missing: nothing to compare with
            continue
    return found


def _request_of_case(case: Case) -> Request:
    if case.body_file is None:
        return case.content_type, _canonical(case.payload), ""
    parameters = _canonical(case.parameters) if case.parameters else ""
    return case.content_type, case.body(), parameters


def _save(folder: Path, name: str, entry: Exchange) -> Path:
    if entry.body is None:
        return save_case(folder, name, entry.payload, entry.answer)
    return save_case(
        folder,
        name,
        answer=entry.answer,
        body=entry.body,
        content_type=entry.content_type,
        suffix=entry.suffix,
        parameters=entry.payload.get("parameters") or None,
    )


def _canonical(value: Any) -> str:
    """One text for equal JSON values, whatever the order of their keys."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
