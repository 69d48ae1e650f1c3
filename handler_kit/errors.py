"""The one exception family of handler_kit: what went wrong, where, and what to do."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from types import TracebackType


class HandlerKitError(Exception):
    """Base of every error handler_kit raises.

    The message reads ``file:line: what went wrong`` followed by the user's frames of the
    traceback (if any) and lines that say what to do: the ``hint`` of this error, then the
    ``advice`` of its kind.
    """

    advice = ""

    def __init__(
        self,
        what: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
        trace: str | None = None,
    ) -> None:
        self.what = what
        self.file = str(file) if file is not None else None
        self.line = line
        self.hint = hint
        self.trace = trace
        super().__init__(self._message())

    @property
    def where(self) -> str:
        """``file:line`` (or just the file) the error points at, or ``""``."""
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def headline(self) -> str:
        """``file:line: what went wrong``: the message's first part, without frames or advice."""
        return f"{self.where}: {self.what}" if self.where else self.what

    def one_line(self) -> str:
        """The message on one line, each part a sentence (an HTTP error body, a log line)."""
        parts = [part.strip() for part in str(self).splitlines() if part.strip()]
        return " ".join(part if part[-1] in ".!?:;" else f"{part}." for part in parts)

    def amend(self, hint: str | None = None, advice: str | None = None) -> None:
        """Say more after the error was made: one more ``hint`` line, or other ``advice`` (what
        is true now, in place of its kind's)."""
        if hint:
            self.hint = f"{self.hint}\n{hint}" if self.hint else hint
        if advice is not None:
            self.advice = advice
        self.args = (self._message(),)

    def _message(self) -> str:
        parts = [self.headline]
        if self.trace:
            parts.append(self.trace.rstrip())
        parts += [text for text in (self.hint, self.advice) if text]
        return "\n".join(parts)


class HandlerLoadError(HandlerKitError):
    """A handler repository could not be loaded (missing files, bad class, failing __init__)."""


class HandlerReloadError(HandlerKitError):
    """A reload failed; the last good handler is still the one serving."""

    advice = "The last good handler keeps serving: fix the file and reload again."


class ReloadInterrupted(HandlerReloadError):
    """A reload stopped with Ctrl-C; the last good handler is still the one serving."""


class ReloadSuperseded(HandlerReloadError):
    """A reload given up for a newer save of the files: the next reload runs that one."""


class Abandoned(BaseException):
    """Raised inside a reload that was given up (time limit, Ctrl-C): it may change nothing."""


def let_go(error: BaseException) -> None:
    """Drop what a failed build's exception keeps alive: the locals of its frames.

    A traceback holds every frame it passed through, and each frame its locals: the half-built
    handler (``self`` in ``__init__``) and its model, the staged modules, the reload's own
    records. The error's message already holds the user's frames as text (``trace``), so the
    frames of the exceptions it chains (its cause, what it was raised while handling) are let
    go of too: theirs belong to the failed modules, whose globals may hold a model.
    """
    seen: set[int] = set()
    chained = [error]
    while chained:
        exc = chained.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # a frame still running keeps its locals
        if exc is not error:
            exc.__traceback__ = None
        chained += [e for e in (exc.__cause__, exc.__context__) if e is not None]


def user_location(exc: BaseException, repo: Path) -> tuple[str | None, int | None]:
    """The innermost ``(file, line)`` of ``exc`` that lies inside ``repo``.

    A SyntaxError points at the offending line itself; otherwise the traceback is searched
    from the innermost frame outwards, so the error names the user's line, not ours.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if _inside(frame.filename, repo):
            return frame.filename, frame.lineno
    return None, None


def user_trace(tb: TracebackType | None, repo: Path) -> str:
    """The frames of a traceback that lie in the user's repository, one line each."""
    lines = []
    for frame in traceback.extract_tb(tb):
        if _inside(frame.filename, repo):
            lines.append(f"  {frame.filename}:{frame.lineno} in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
    return "\n".join(lines)


def handler_frames(exc: BaseException, repo: str | Path | None) -> str:
    """The frames of a handler's exception worth reading: those in its repository (all when
    the handler has none, as a plain function has not)."""
    if repo is not None:
        frames = user_trace(exc.__traceback__, Path(repo))
        if frames:
            return frames
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def describe(exc: BaseException) -> str:
    """``Type: message`` for an exception, the form Python's own tracebacks end with."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _inside(filename: str, repo: Path) -> bool:
    """Whether a frame's file lies in the repository: as named, or once symlinks are resolved.

    A ``handler.py`` that is a symlink to a file kept elsewhere runs under its name in the
    repository; resolved, it is outside. The repository itself may be named through a link.
    """
    try:
        path = Path(os.path.abspath(filename))
        places = {repo, repo.resolve()}
        return any(p.is_relative_to(r) for p in (path, path.resolve()) for r in places)
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop
        return False
