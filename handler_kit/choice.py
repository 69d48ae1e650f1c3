"""Choice: a fixed set of words an option takes (a reload's mode, a re-init's memory rule)."""

from __future__ import annotations

import enum
from typing import TypeVar

from .errors import HandlerKitError

C = TypeVar("C", bound="Choice")


class ChoiceError(HandlerKitError, ValueError):
    """A word an option does not take (``reload(mode="hott")``)."""


class Choice(str, enum.Enum):
    """An option's fixed words as an enum; ``of`` turns a word into its member."""

    @classmethod
    def of(cls: type[C], value: str | C) -> C:
        """``"hot"`` -> ``Mode.HOT``; a clear error that lists the words for anything else."""
        try:
            return cls(value)
        except ValueError:
            words = ", ".join(member.value for member in cls)
            raise ChoiceError(
                f"{cls.__name__.lower()} must be one of {words}, not {value!r}",
                hint=f"Pass one of {words}.",
            ) from None
