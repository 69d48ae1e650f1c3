"""The form's history: the last requests, each line saying what differs from the one before."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w

from ...cases.case import is_number
from ...report import shorten
from ..tables import TableKind, json_text, result_table


class Reload(enum.Enum):
    """What became of the handler's code just before a request: the history's mark."""

    NONE = ""
    RELOADED = "reloaded"
    FAILED = "reload failed"  # the last good handler answered


@dataclass
class Exchange:
    """One exchange in the form's history: the request sent, what came back, how long it took."""

    payload: dict
    answer: Any
    ms: float
    error: str | None = None
    body: bytes | None = None  # the raw bytes of an uploaded file, with its type
    content_type: str = "application/json"
    suffix: str = ".bin"
    file_name: str = ""
    reload: Reload = Reload.NONE  # what the autoreload did before this request
    reloads: int | None = None  # the handler's count of reloads when it answered (a LiveHandler)

    @classmethod
    def of(cls, payload: dict, upload: dict | None = None) -> Exchange:
        """A request not sent yet: ``payload``, and the uploaded file it came from, if any."""
        entry = cls(payload, None, 0.0)
        if upload is not None:
            entry.body = bytes(upload["content"])
            entry.content_type = upload["type"]
            entry.suffix = Path(upload["name"]).suffix or ".bin"
            entry.file_name = upload["name"]
        return entry

    def summary(self, previous: Exchange | None = None) -> str:
        """One line: the request (what differs from ``previous``), whether the handler was
        reloaded since, the answer, the time."""
        got = f"error: {self.error}" if self.error else answer_summary(self.answer)
        reload = self.reload_since(previous)
        mark = f" · {reload.value}" if reload is not Reload.NONE else ""
        return f"{self.request_summary(previous)}{mark} → {shorten(got, 51)}  {self.ms:.0f} ms"

    def reload_since(self, previous: Exchange | None = None) -> Reload:
        """What became of the code since ``previous``: the autoreload's word, else whether the
        handler's count of reloads moved (``%handler_reload`` in a cell, say)."""
        if self.reload is not Reload.NONE or previous is None:
            return self.reload
        moved = self.reloads is not None and self.reloads != previous.reloads
        return Reload.RELOADED if moved else Reload.NONE

    def request_summary(self, previous: Exchange | None = None) -> str:
        """The request in a few words: every field, or only those that differ from ``previous``.

        A changed text is shown from a little before its first changed character, so that two
        long texts that differ near their end can be told apart.
        """
        sent, before = self._shown(), previous._shown() if previous is not None else None
        if before is None:
            parts = [f"{k}: {_short(v)}" for k, v in sent.items()]
        else:
            parts = [
                f"{k}: {_short(v, before.get(k))}"
                for k, v in sent.items()
                if k not in before or before[k] != v
            ]
            parts += [f"{k} removed" for k in before if k not in sent]
            if not parts:
                return "same request"
        return shorten(", ".join(parts), 91)

    def _shown(self) -> dict:
        """The payload as the history shows it: an upload by its file name."""
        if self.body is None:
            return self.payload
        return {**self.payload, "inputs": f"<file {self.file_name or self.content_type}>"}


class History:
    """The last ``keep`` requests, listed one line each; the line chosen is ``selected()``."""

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self.entries: list[Exchange] = []
        self.list = w.Select(options=[], rows=5, layout=w.Layout(width="700px"))

    def remember(self, entry: Exchange) -> None:
        """Add a request that was answered (or failed), forgetting those past ``keep``."""
        self.entries = [*self.entries, entry][-self.keep :]
        before = [None, *self.entries[:-1]]
        options = [
            (f"{i + 1}. {e.summary(previous)}", i)
            for i, (e, previous) in enumerate(zip(self.entries, before, strict=True))
        ]
        self.list.options = options
        self.list.value = len(self.entries) - 1

    def selected(self) -> Exchange | None:
        """The request chosen in the list, if any."""
        index = self.list.value
        return self.entries[index] if index is not None and index < len(self.entries) else None


def answer_summary(answer: Any) -> str:
    """The top label and its score, else the answer as JSON: never an exception."""
    try:
        table = result_table(answer)
        if table.kind in (TableKind.LABELS, TableKind.TOP_K):
            label, score = table.sections[0].rows[0]
            # A handler under development may answer a score of None or "0.9".
            shown = f"{score:.2f}" if is_number(score) else repr(score)
            return f"{label} ({shown})"
    except Exception:  # a summary must not cost the history its entry
        pass
    return json_text(answer)


def _short(value: Any, before: Any = None, width: int = 41) -> str:
    """A payload value in a few characters (``width``, the ellipsis included); a changed text
    from just before its change."""
    if not isinstance(value, str):
        return shorten(json_text(value), width)
    start = 0
    if isinstance(before, str) and len(value) > width:
        pairs = zip(before, value, strict=False)
        same = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(before), len(value)))
        if same > width // 2:
            start = same - width // 4  # a few characters of context before the change
    text = ("…" if start else "") + shorten(value[start:], width)
    return json.dumps(text, ensure_ascii=False)
