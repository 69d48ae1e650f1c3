"""The form's export: the history's successful requests written as payload cases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from ...report import count
from .history import Entry


@dataclass(frozen=True)
class Export:
    """The case files one export wrote, and the uploads it skipped."""

    written: list[Path]
    skipped: int = 0

    def __str__(self) -> str:
        where = f" to {self.written[0].parent}" if self.written else ""
        said = f"exported {count(len(self.written), 'case')}{where}"
        if self.skipped:
            said += (
                f"; skipped {count(self.skipped, 'upload')} with extra fields: "
                "a binary body carries nothing else"
            )
        return said


def export_folder(handler: Any, folder: str | Path | None = None) -> Path:
    """Where exported cases go: ``folder``, else the handler's repository's cases folder."""
    return cases_folder(getattr(handler, "path", None) or ".", folder)


def export_cases(entries: Iterable[Entry], folder: Path) -> Export:
    """Write each request that was answered as a new case in ``folder`` (never over one).

    An answer with labels and scores is kept as its top label and score, with a tolerance
    (scores vary in their last digits across machines); any other answer exactly.
    """
    taken = [re.match(r"case_(\d+)\.", p.name) for p in folder.glob("case_*")]
    number = max((int(m.group(1)) for m in taken if m), default=0)
    written, skipped = [], 0
    for entry in (e for e in entries if e.error is None):
        if entry.body is not None and any(k != "inputs" for k in entry.payload):
            skipped += 1  # a binary body carries nothing else, as in production
            continue
        number += 1
        name = f"case_{number:03d}"
        if entry.body is not None:
            written.append(
                save_case(
                    folder,
                    name,
                    answer=entry.answer,
                    body=entry.body,
                    content_type=entry.content_type,
                    suffix=entry.suffix,
                )
            )
        else:
            written.append(save_case(folder, name, entry.payload, entry.answer))
    return Export(written, skipped)
