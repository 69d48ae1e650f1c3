"""Run a plan's code in a staging and make the instance to swap in.

``stage`` runs the modules in a :class:`~handler_kit.reload.staging.Staging` and builds (a
re-init) or carries over (a hot swap) the handler instance. Nothing here changes what the live
handler serves with: the LiveHandler that owns it commits the result, or rolls it back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import memory
from .decision import Decision, Mode
from .loader import build, handler_class
from .plan import Plan
from .repository import Source
from .staging import Staging, active


@dataclass
class Staged:
    """A reload (or the first load) that ran to the end and is ready to commit."""

    module: ModuleType
    instance: Any
    executed: dict[str, Source]  # the modules that ran, by name, with the text they ran
    mode: Mode
    decision: Decision
    kept: tuple[str, ...] = ()
    build_seconds: float = 0.0  # the time __init__ took (0 for a hot swap)
    footprint: memory.Footprint | None = None  # what __init__ added to memory (a re-init)


def stage(
    staging: Staging,
    plan: Plan | None,
    instance: Any,
    text: str | None = None,
    before_build: Callable[[], None] | None = None,
) -> Staged:
    """Run the new code in ``staging`` (in this thread) and make the instance to swap in.

    Without a plan this is the first load, and ``text`` is handler.py's. ``before_build`` is
    called once the new code has run and before ``__init__`` does (a re-init that frees the
    old model first). Raises the staging's error when a step fails; the caller rolls the
    staging back.
    """
    repository, error = staging.repository, staging.error
    entry = repository.entry
    key = entry.module_key
    handler_text = plan.texts[key] if plan is not None else text
    assert handler_text is not None
    mode = plan.mode if plan is not None else Mode.REINIT
    decision = plan.decision if plan is not None else Decision(Mode.REINIT, "loaded")
    with active(staging):
        old_modules = {n: sys.modules.get(n) for n, _ in decision.carry}
        module = staging.run(key, entry.file, handler_text)
        staging.finish()
        # A hot swap never calls __init__: its signature is checked when it is called.
        cls = handler_class(module, entry, handler_text, error, mode is Mode.REINIT)
        footprint = None
        if mode is Mode.HOT:
            _carry_globals(decision.carry, old_modules, staging)
            new, kept = _carry_over(cls, instance), tuple(vars(instance))
            took = 0.0
        else:
            instance = None  # a free-first re-init frees it in before_build: not held here
            if before_build is not None:
                before_build()
            before, started = memory.used(), time.perf_counter()
            new, kept = build(cls, repository.path, entry, error), ()
            took, footprint = time.perf_counter() - started, memory.used() - before
    executed = {n: Source(n, file, t) for n, (file, t) in staging.executed.items()}
    return Staged(module, new, executed, mode, decision, kept, took, footprint)


def _carry_globals(
    carry: tuple[tuple[str, str], ...],
    old_modules: Mapping[str, ModuleType | None],
    staging: Staging,
) -> None:
    """Copy module globals that start-up code wrote (``global _MODEL``) into re-run modules.

    A hot swap keeps what ``__init__`` built on the instance; what it put in a module global
    must survive the module's re-run too, or every later request would find it reset.
    """
    for name, variable in carry:
        old, new = old_modules.get(name), sys.modules.get(name)
        if old is None or new is None or old is new or name not in staging.executed:
            continue
        if variable in old.__dict__:
            new.__dict__[variable] = old.__dict__[variable]


def _carry_over(cls: type, old: Any) -> Any:
    """A new-class instance sharing the old one's state: the model is not loaded again."""
    new = cls.__new__(cls)
    new.__dict__.update(vars(old))
    return new
