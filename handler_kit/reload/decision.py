"""Decide between a hot swap and a re-init by comparing two versions of a repository's modules.

A hot swap keeps the instance's state (the loaded model) and runs the new code on it; it is only
safe when nothing the state was built from could differ under the new code. So the reload
re-initialises when something changed that start-up reaches:

- ``__init__`` of the handler class (or of the base class in the repository that defines it),
  the bases and decorators of these classes, and every function, method,
  class, module constant, class attribute or import that ``__init__`` reaches, at any depth
  and in any module of the repository: through ``self.x``, a direct call, ``utils.f`` or
  ``pkg.mod.f``, star imports, re-exports, imports inside functions or inside ``try`` and
  ``if`` blocks, module-level aliases, and ``self(...)`` warm-up calls;
- the classes of objects the instance holds (``self.pipe = Pipe(...)``): their methods keep
  running after a hot swap, so the code they reach counts as start-up code too; the caller
  passes them in as ``held``; what request-time code built and keeps on ``self`` with code
  the edit changed is dropped instead, or re-initialised when it cannot be (``lazy.py``);
- top-level statements with effects beyond the module: library patches
  (``Lib.method = wrap(Lib.method)``, ``setattr``), environment variables, ``sys.path``, and any
  other top-level call; and the code such a statement calls.

Everything else is request-time code and reloads hot: ``__call__`` and what only it reaches,
imports, module constants and class attributes that start-up code does not read, logging
settings, ``print``, an ``if __name__ == "__main__":`` block (it never runs in production),
comments, formatting and docstrings.

This module is a function of texts: it never imports or runs the code it reads. Each module's
text is read by ``analysis.py``; what start-up reaches across them is found by ``reach.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from ..choice import Choice
from .analysis import Analysis, analyse_modules
from .effects import REQUEST_TIME, Effect
from .lazy import Drop, Verdict, drop_clause, verdict
from .reach import World, could_reach, home_of
from .report import Outcome


class Mode(Choice):
    """How a reload is asked to treat the running instance: let the edit decide, keep it, or
    rebuild it (the option; what a reload did is an ``Outcome``)."""

    AUTO = "auto"
    HOT = "hot"
    REINIT = "reinit"

    @property
    def outcome(self) -> Outcome | None:
        """The outcome this mode forces; None for AUTO, where the edit decides."""
        return {Mode.HOT: Outcome.HOT, Mode.REINIT: Outcome.REINIT}.get(self)


@dataclass(frozen=True)
class Decision:
    """The outcome (HOT or REINIT), the rule that decided, and what a hot swap must carry.

    ``carry`` names module globals (``(module, name)``) that start-up code writes with a
    ``global`` statement: a hot swap copies them into the re-run module. ``notes`` are things
    the user should know about the reload (a logging call that has no effect twice).
    """

    mode: Outcome
    reason: str
    changed: tuple[str, ...] = ()
    carry: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    drop: tuple[Drop, ...] = ()  # attributes a hot swap takes off the instance (lazy.py)


# The objects the running instance holds (``module:Class``), or a function that says which of
# the candidates it is given the instance holds, leaving out what the attributes it is given
# (those a hot swap drops) hold.
Held = Collection[str] | Callable[[set[str], frozenset[str]], Collection[str]]


def decide(
    old: Mapping[str, str | None],
    new: Mapping[str, str | None],
    entry_key: str,
    class_name: str,
    files: Mapping[str, str] | None = None,
    held: Held = (),
) -> Decision:
    """Compare two versions of a repository's modules (name -> source; None when gone).

    ``files`` names each module's file for the reasons (default: ``name.py``); ``held`` is
    the set of ``module:Class`` (or ``module:function``) of objects the running instance
    holds, or a function that finds which of the candidates it is given the instance holds
    (called only when a held object could reach a change). Raises SyntaxError, with that
    file name, when a new source does not parse.
    """
    names = set(old) | set(new)
    before = analyse_modules(old, entry_key, files, names)
    after = analyse_modules(new, entry_key, files, names)
    return compare(before, after, entry_key, class_name, held)


def compare(
    before: Mapping[str, Analysis],
    after: Mapping[str, Analysis],
    entry_key: str,
    class_name: str,
    held: Held = (),
) -> Decision:
    """The decision between two versions' analyses (the same modules on both sides)."""
    problems = [f"{a.file}: {a.problem}" for a in (*before.values(), *after.values()) if a.problem]
    try:
        if not problems:
            return _compare(before, after, entry_key, class_name, held)
    except Exception as exc:  # texts that parse must give a decision: the safe one
        problems = [f"{type(exc).__name__}: {exc}"]
    return Decision(Outcome.REINIT, f"the edit could not be analysed ({problems[0]})")


def _compare(
    before: Mapping[str, Analysis],
    after: Mapping[str, Analysis],
    entry_key: str,
    class_name: str,
    held: Held,
) -> Decision:
    home = home_of(after, entry_key, class_name)
    worlds = World(before, home), World(after, home)
    family = list(dict.fromkeys([*worlds[1].family.classes, *worlds[0].family.classes]))
    changed = _changed(before, after, family)  # the handler class first
    labels = tuple(label for _, label in changed)
    effects = list(_changed_effects(before, after))
    reason = _start_up_changed(before, after, worlds, changed, effects, class_name)
    lazy = Verdict()
    if reason is None and changed:
        lazy = verdict(worlds, changed)
        reason = lazy.reinit or _held_changed(after, worlds, changed, held, lazy.drops)
    if reason is not None:
        return Decision(Outcome.REINIT, reason, labels)
    carry = tuple(sorted(worlds[1].globals_written(worlds[1].reachable())))
    hot_effects = [
        f"{e.kind.value} {e.label} {verb}" for e, verb in effects if e.kind in REQUEST_TIME
    ]
    # A note about a logging call only when that call changed: the user just edited it.
    notes = tuple(e.note for e, _ in effects if e.note and e.kind in REQUEST_TIME)
    if not labels and not hot_effects:
        return Decision(Outcome.HOT, "only comments or formatting changed", (), carry, notes)
    said = _join((*labels, *hot_effects)) + drop_clause(lazy.drops)
    return Decision(Outcome.HOT, said, labels, carry, notes, lazy.drops)


def _start_up_changed(
    before: Mapping[str, Analysis],
    after: Mapping[str, Analysis],
    worlds: tuple[World, World],
    changed: list[tuple[str, str]],
    effects: list[tuple[Effect, str]],
    class_name: str,
) -> str | None:
    """Why start-up code changed (the reason to re-initialise), or None: a hot swap is safe
    unless what request-time code built or the handler holds says otherwise."""
    for effect, verb in effects:
        if effect.kind not in REQUEST_TIME:
            return effect.describe(verb)
    home = worlds[1].home
    for module, cls in dict.fromkeys([*worlds[1].family.classes, *worlds[0].family.classes]):
        header_old = before[module].headers.get(cls)
        header_new = after[module].headers.get(cls)
        if (header_old or header_new) and not (header_old and header_old.same(header_new)):
            return f"bases or decorators of {class_name if (module, cls) == home else cls} changed"
    reach_old, reach_new = worlds[0].reachable(), worlds[1].reachable()
    for target, label in changed:
        origin = reach_old.get(target, reach_new.get(target))
        if origin is not None:
            return f"{label}{origin}"
    return None


def _held_changed(
    after: Mapping[str, Analysis],
    worlds: tuple[World, World],
    changed: list[tuple[str, str]],
    held: Held,
    drops: tuple[Drop, ...],
) -> str | None:
    """Why the code of an object the instance holds changed (it keeps running the old code
    after a hot swap), or None. What the swap drops does not count."""
    if callable(held):
        candidates = could_reach(after, {t for t, _ in changed}, worlds[1].home)
        held = held(candidates, frozenset(d.name for d in drops)) if candidates else ()
    if held:
        by_held = worlds[0].reachable(held, only_held=True)
        for target, label in changed:
            if target in by_held:
                return f"{label}{by_held[target]}"
    return None


def _join(labels: tuple[str, ...]) -> str:
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{len(labels)} changes ({', '.join(labels[:3])}, ...)"


# --- what changed -------------------------------------------------------------------------


def _changed(
    before: Mapping[str, Analysis],
    after: Mapping[str, Analysis],
    family: Collection[tuple[str, str]],
) -> list[tuple[str, str]]:
    """``(target, label)`` of every definition and binding that differs, in file order.

    A class is compared whole, except the handler class and the repository's classes it
    derives from (its ``family``), which are compared member by member.
    """
    out = []
    home = next(iter(family), ("", ""))
    for name in before:
        a, b = before[name], after[name]
        for key in [*a.units, *(k for k in b.units if k not in a.units)]:
            if not _compared(name, key, family):
                continue
            old, new = a.units.get(key), b.units.get(key)
            if old is None or new is None or (old.text != new.text and old.dump != new.dump):
                label = (new or old).label  # type: ignore[union-attr]
                if (name, key.partition(".")[0]) in family:
                    label = _member_label(a, b, key, (name, key.partition(".")[0]) == home)
                verb = "added" if old is None else "removed" if new is None else "changed"
                out.append((f"{name}:{key}", f"{label} {verb}"))
        for key in [*a.bindings, *(k for k in b.bindings if k not in a.bindings)]:
            if not _compared(name, key, family):
                continue
            old_b, new_b = a.bindings.get(key), b.bindings.get(key)
            if old_b is None or new_b is None or old_b.dump != new_b.dump:
                label = (new_b or old_b).label  # type: ignore[union-attr]
                verb = "added" if old_b is None else "removed" if new_b is None else "changed"
                out.append((f"{name}:{key}", f"{label} {verb}"))
    return out


def _compared(module: str, key: str, family: Collection[tuple[str, str]]) -> bool:
    """Members (``C.m``) of the family's classes only; every other class as a whole."""
    owner, dot, _ = key.partition(".")
    in_family = (module, owner) in family
    return bool(dot) == in_family or (not dot and not in_family)


def _member_label(before: Analysis, after: Analysis, key: str, home: bool) -> str:
    """``__call__``, ``method f`` of the handler class; ``method base.Base.f`` of a base."""
    owner, _, member = key.partition(".")
    if home:
        return member if member in {"__init__", "__call__"} else f"method {member}"
    cls = after.units.get(owner) or before.units[owner]
    return f"method {cls.label.removeprefix('class ')}.{member}"


def _changed_effects(
    before: Mapping[str, Analysis], after: Mapping[str, Analysis]
) -> Iterator[tuple[Effect, str]]:
    """Effects that are new, changed or gone (compared as multisets), with that verb."""
    for name in before:
        old = Counter(e.dump for e in before[name].effects)
        new = Counter(e.dump for e in after[name].effects)
        changed = set()
        for effect in after[name].effects:
            if old[effect.dump] == 0:
                was = any(e.label == effect.label for e in before[name].effects)
                changed.add(effect.label)
                yield effect, "changed" if was else "added"
            else:
                old[effect.dump] -= 1
        for effect in before[name].effects:
            if new[effect.dump] == 0 and effect.label not in changed:
                yield effect, "removed"
            elif new[effect.dump]:
                new[effect.dump] -= 1
