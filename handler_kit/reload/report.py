"""What one reload did, said in one line: the mode, the time, the rule that decided."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .. import style
from ..report import duration


class Outcome(str, enum.Enum):
    """What a reload did: swapped the code under the kept state, rebuilt it, or nothing."""

    HOT = "hot"
    REINIT = "reinit"
    UNCHANGED = "unchanged"

    @property
    def colour(self) -> str:
        """The theme colour a reload's line is shown in."""
        return {Outcome.HOT: style.OK, Outcome.REINIT: style.WARN}.get(self, style.MUTED)


@dataclass(frozen=True)
class ReloadReport:
    """What one reload did, in one line: mode, time, the rule that decided, state kept."""

    files: tuple[str, ...]
    mode: Outcome
    reason: str
    seconds: float
    forced: bool = False
    changed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Outcome(self.mode))  # "hot" is Outcome.HOT

    @property
    def hot(self) -> bool:
        return self.mode is Outcome.HOT

    def __str__(self) -> str:
        files = self.files[0]
        if len(self.files) > 1:
            files = f"{', '.join(self.files[:-1])} and {self.files[-1]}"
        if self.mode is Outcome.UNCHANGED:
            return f"{files} {self.reason}: nothing to reload"
        done = "reloaded hot" if self.hot else "re-initialised"
        forced = " (forced)" if self.forced else ""
        line = f"{files} {done}{forced} in {duration(self.seconds)}: {self.reason}"
        if self.hot and self.kept:
            more = f" and {len(self.kept) - 6} more" if len(self.kept) > 6 else ""
            line += f"; kept {', '.join(self.kept[:6])}{more}"
        return line + "".join(f"\nnote: {note}" for note in self.notes)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return style.line(str(self), self.mode.colour)
