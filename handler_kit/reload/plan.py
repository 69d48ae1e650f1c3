"""What a reload of a LiveHandler will do, decided before any code runs.

``plan`` reads the texts and decides between a hot swap and a re-init (``decision.py``), and
which modules run again.
"""

from __future__ import annotations

import ast
import types
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HandlerReloadError
from .analysis import Analysis, analyse_modules
from .decision import Decision, Mode, compare
from .report import Outcome
from .repository import Repository, Source
from .syntax import packages_of


@dataclass(frozen=True)
class Plan:
    """What a reload will do, decided before any code runs: the mode and what to run again.

    It carries what deciding found out: ``analyses`` are those of ``texts`` (empty when no
    text changed), so that running the modules does not read them again.
    """

    mode: Outcome
    decision: Decision
    rerun: dict[str, str | None]  # sibling modules to run again (None: take it out)
    texts: dict[str, str | None]
    analyses: dict[str, Analysis] = field(default_factory=dict)

    @classmethod
    def first_load(cls, repository: Repository, text: str) -> Plan:
        """The plan of a load: run the entry's ``text`` and build the handler."""
        decision = Decision(Outcome.REINIT, "loaded")
        return cls(Outcome.REINIT, decision, {}, {repository.entry.module_key: text})

    def analysis(self, name: str, text: str) -> Analysis | None:
        """The analysis of module ``name`` when ``text`` is the text the plan read for it."""
        return self.analyses.get(name) if self.texts.get(name) == text else None


def plan(
    repository: Repository,
    old: Mapping[str, Source],
    texts: Mapping[str, str | None],
    instance: Any,
    mode: Mode,
) -> Plan:
    """Decide how to reload: hot or re-init (``mode`` AUTO lets the texts decide), what to run.

    ``old`` is what ran last, ``texts`` the modules' texts now (None: the file is gone).
    """
    entry = repository.entry
    if texts[entry.module_key] is None:
        raise HandlerReloadError(
            f"{entry.file.name} is gone", file=entry.file, hint="Restore the file."
        )
    decision, analyses = _decide(repository, old, texts, instance)
    chosen = mode.outcome or decision.mode
    if chosen is Outcome.HOT and not hasattr(instance, "__dict__"):
        chosen = Outcome.REINIT
        decision = Decision(
            Outcome.REINIT, f"{entry.class_name} has no __dict__ to carry over", decision.changed
        )
    rerun = _rerun(old, texts, entry.module_key, analyses)
    return Plan(chosen, decision, {n: texts[n] for n in sorted(rerun)}, dict(texts), analyses)


def _decide(
    repository: Repository,
    old: Mapping[str, Source],
    texts: Mapping[str, str | None],
    instance: Any,
) -> tuple[Decision, dict[str, Analysis]]:
    """The decision, and the analyses of ``texts`` it was made from (none: nothing changed)."""
    if all(texts[n] == s.text for n, s in old.items()):
        return Decision(Outcome.HOT, "no file changed"), {}
    entry = repository.entry
    files = {n: repository.relative(s.file) for n, s in old.items()}
    try:
        before = analyse_modules({n: s.text for n, s in old.items()}, entry.module_key, files)
        after = analyse_modules(texts, entry.module_key, files, old)
        decision = compare(
            before,
            after,
            entry.module_key,
            entry.class_name,
            held=lambda candidates, skip: held_definitions(instance, set(old), skip) & candidates,
        )
    except SyntaxError as exc:
        source = old.get(next((n for n, f in files.items() if f == exc.filename), ""))
        raise HandlerReloadError(
            f"SyntaxError: {exc.msg}",
            file=source.file if source else entry.file,
            line=exc.lineno,
            hint=f"Fix the syntax of {exc.filename or entry.file.name}.",
        ) from exc
    except (RecursionError, MemoryError) as exc:
        raise HandlerReloadError(
            f"{type(exc).__name__}: an expression nests too deeply for Python to read ({exc})",
            file=_unreadable(old, texts) or entry.file,
            hint="Split the expression up (a very long chain of + or of nested brackets), "
            "or load such data from a file.",
        ) from exc
    except ValueError as exc:  # source with a null byte
        raise HandlerReloadError(
            f"cannot read the new code: {exc}",
            file=entry.file,
            hint="A file holds bytes that are not source text: save it again as text.",
        ) from exc
    return decision, after


def _unreadable(old: Mapping[str, Source], texts: Mapping[str, str | None]) -> Path | None:
    """The file of the first edited text that Python cannot parse (too deep), if any."""
    for name, source in old.items():
        text = texts.get(name)
        if text is not None and text != source.text:
            try:
                ast.parse(text)
            except (RecursionError, MemoryError, SyntaxError, ValueError):
                return source.file
    return None


def _rerun(
    old: Mapping[str, Source],
    texts: Mapping[str, str | None],
    key: str,
    analyses: Mapping[str, Analysis],
) -> set[str]:
    """The sibling modules to run again: the edited ones, what imports them, their packages.

    A module that imports an edited one (or that could not be analysed) runs again so that
    names it took with ``from x import y`` are the new ones; a package runs again with its
    edited submodule, so that ``pkg.mod`` reaches the new one through a new package object,
    never through the old one changed.
    ``analyses`` (of ``texts``) say what each module imports.
    """
    siblings = [n for n in old if n != key]
    rerun = {n for n in siblings if texts[n] != old[n].text}
    while rerun:
        more = {
            n
            for n in siblings
            if n not in rerun and (analyses[n].problem or analyses[n].imports & rerun)
        }
        more |= {p for n in rerun for p in packages_of(n) if p in old and p not in rerun}
        if not more:
            break
        rerun |= more
    return rerun


_held_cache: dict[tuple, frozenset[str]] = {}


def held_definitions(
    instance: Any, modules: set[str], skip: frozenset[str] = frozenset(), limit: int = 2000
) -> frozenset[str]:
    """``module:Name`` of the repository's classes and functions the instance's state holds.

    After a hot swap these objects keep running their own (old) code, so the code they reach
    counts as start-up code. The state is walked through attributes, lists, tuples, sets and
    dicts, breadth first, at most ``limit`` objects: a model's tensors are not looked into.
    The attributes ``skip`` names (those a hot swap drops) are left out. The answer is kept
    while the instance's attributes are the same objects (a hot swap keeps them): walking a
    model's modules takes milliseconds.
    """
    state = getattr(instance, "__dict__", None)
    if not isinstance(state, dict):
        return frozenset()  # no state to walk (``__slots__``): the plan re-initialises it
    key = (frozenset(modules), skip, *((k, id(v)) for k, v in state.items()))
    if key in _held_cache:
        return _held_cache[key]
    found: set[str] = set()
    seen: set[int] = {id(instance)}
    todo = deque([v for k, v in list(state.items())[:100] if k not in skip])
    while todo and len(seen) < limit:
        value = todo.popleft()
        if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(value))
        if isinstance(value, (types.FunctionType, types.MethodType)):
            function = getattr(value, "__func__", value)
            if function.__module__ in modules:
                found.add(f"{function.__module__}:{function.__qualname__.split('.')[0]}")
            todo.append(getattr(value, "__self__", None))
            continue
        if isinstance(value, (types.ModuleType, type)):
            continue
        cls = type(value)
        if value is not instance and cls.__module__ in modules:
            found.add(f"{cls.__module__}:{cls.__qualname__.split('.')[0]}")
        if isinstance(value, dict):
            todo.extend(list(value.values())[:100])
        elif isinstance(value, (list, tuple, set, frozenset)):
            todo.extend(list(value)[:100])
        else:
            attributes = getattr(value, "__dict__", None)
            if isinstance(attributes, dict):
                todo.extend(list(attributes.values())[:100])
    _held_cache.clear()  # one instance at a time: the last answer is the one worth keeping
    _held_cache[key] = frozenset(found)
    return _held_cache[key]
