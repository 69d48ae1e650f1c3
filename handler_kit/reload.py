"""Hot reload of a LiveHandler: stage the new code, then swap it in or re-initialise.

Nothing is swapped in until every step has succeeded: the new sources are parsed, the edited
sibling modules and handler.py are executed into fresh module objects, the class is checked
and the new instance made. On any failure the modules are put back and the last good handler
keeps serving.
"""

from __future__ import annotations

import enum
import graphlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import changes
from .errors import HandlerKitError, HandlerReloadError
from .loader import StagedModules, build, handler_class
from .repository import Repository, Source


class Mode(str, enum.Enum):
    """How a reload treats the running instance: let the edit decide, keep it, or rebuild."""

    AUTO = "auto"
    HOT = "hot"
    REINIT = "reinit"

    @classmethod
    def of(cls, value: str | Mode) -> Mode:
        """``"hot"`` -> ``Mode.HOT``; a clear error for anything else."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"mode must be one of {', '.join(m.value for m in cls)}, not {value!r}"
            ) from None


class Outcome(str, enum.Enum):
    """What a reload did: swapped the code under the kept state, rebuilt it, or nothing."""

    HOT = "hot"
    REINIT = "reinit"
    UNCHANGED = "unchanged"


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
        line = f"{files} {done}{forced} in {_duration(self.seconds)}: {self.reason}"
        if self.hot and self.kept:
            more = f" and {len(self.kept) - 6} more" if len(self.kept) > 6 else ""
            line += f"; kept {', '.join(self.kept[:6])}{more}"
        return line

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {Outcome.HOT: "#1a7f37", Outcome.REINIT: "#9a6700"}.get(self.mode, "#57606a")
        return f'<div style="color:{colour};font-family:monospace">{html.escape(str(self))}</div>'


@dataclass
class Staged:
    """A reload (or the first load) that ran to the end and is ready to commit.

    Building it changes nothing the live handler serves with but sys.modules, which
    ``modules.rollback()`` restores; the owner of the handler commits it or rolls it back.
    """

    module: ModuleType
    instance: Any
    executed: dict[str, Source]  # the modules that ran, by name, with the text they ran
    modules: StagedModules
    mode: Mode
    decision: changes.Decision
    kept: tuple[str, ...] = ()


def stage(
    repository: Repository,
    old: Mapping[str, Source],
    texts: Mapping[str, str | None],
    instance: Any,
    mode: Mode,
    error: type[HandlerKitError] = HandlerReloadError,
) -> Staged:
    """Run the new code of a repository's modules into fresh module objects.

    ``old`` is what ran last (empty for the first load), ``texts`` the modules' texts now
    (None: the file is gone), ``instance`` the handler instance serving now. ``mode`` AUTO
    lets the texts decide between a hot swap and a re-init. Raises ``error`` (with the
    modules put back) when any step fails.
    """
    entry = repository.entry
    key = entry.module_key
    handler_text = texts[key]
    if handler_text is None:
        raise error(f"{entry.file.name} is gone", file=entry.file)
    decision = _decide(repository, old, texts) if old else changes.Decision("reinit", "loaded")
    chosen = Mode(decision.mode) if mode is Mode.AUTO else mode
    if chosen is Mode.HOT and not hasattr(instance, "__dict__"):
        chosen = Mode.REINIT
        decision = changes.Decision(
            "reinit", f"{entry.class_name} has no __dict__ to carry over", decision.changed
        )
    edited = [n for n, t in texts.items() if n != key and t != old[n].text]
    modules = StagedModules()
    executed: dict[str, Source] = {}
    try:
        for name in _rerun_order(edited, texts, [n for n in old if n != key]):
            text, source = texts[name], old[name]
            if text is None:
                modules.discard(name)
                continue
            modules.execute(
                name,
                source.file,
                text,
                repository.path,
                error,
                package=source.file.name == "__init__.py",
                attach=True,
            )
            executed[name] = Source(name, source.file, text)
        module = modules.execute(key, entry.file, handler_text, repository.path, error)
        executed[key] = Source(key, entry.file, handler_text)
        cls = handler_class(module, entry, handler_text, error)
        if chosen is Mode.HOT:
            new, kept = _carry_over(cls, instance), tuple(vars(instance))
        else:
            new, kept = build(cls, repository.path, entry, error), ()
    except BaseException:
        modules.rollback()
        raise
    return Staged(module, new, executed, modules, chosen, decision, kept)


def _decide(
    repository: Repository, old: Mapping[str, Source], texts: Mapping[str, str | None]
) -> changes.Decision:
    files = {n: repository.relative(s.file) for n, s in old.items()}
    if all(texts[n] == s.text for n, s in old.items()):
        return changes.Decision("hot", "no file changed")
    try:
        return changes.decide(
            {n: s.text for n, s in old.items()},
            texts,
            repository.entry.module_key,
            repository.entry.class_name,
            files,
        )
    except SyntaxError as exc:
        raise HandlerReloadError(
            f"SyntaxError: {exc.msg}",
            file=repository.path / (exc.filename or repository.entry.file.name),
            line=exc.lineno,
        ) from exc


def _rerun_order(edited: list[str], texts: dict[str, str | None], siblings: list[str]) -> list[str]:
    """The sibling modules to run again, dependencies first.

    An edited module runs again, and so does every sibling that imports it (directly or
    through others), so that names it took with ``from x import y`` are the new ones.
    """
    imports = {n: changes.imported_modules(texts[n] or "", n, set(siblings)) for n in siblings}
    rerun = set(edited)
    while dependents := {n for n in siblings if imports[n] & rerun} - rerun:
        rerun |= dependents
    graph = {n: imports[n] & rerun for n in rerun}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return sorted(rerun)


def _carry_over(cls: type, old: Any) -> Any:
    """A new-class instance sharing the old one's state: the model is not loaded again."""
    new = cls.__new__(cls)
    new.__dict__.update(vars(old))
    return new


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
