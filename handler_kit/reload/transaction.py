"""A load or reload as one transaction: its new code is kept whole, or none of it is.

Running a repository's modules changes two things in the process: ``sys.modules`` (the
:class:`~handler_kit.reload.staging.Staging` records what it replaced) and the values its
library patches replace (the patch :class:`~handler_kit.reload.patches.Ledger`). A
:class:`Transaction` holds both: ``stage`` runs the plan's modules and makes the instance to
swap in, ``commit`` keeps what ran, and leaving its ``with`` block without a commit rolls both
back. Nothing here changes what the live handler serves with: the LiveHandler swaps the staged
instance in once the transaction is committed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from ..errors import HandlerKitError
from . import memory, process
from .decision import Decision
from .lazy import Drop
from .loader import build, handler_class
from .patches import Ledger
from .plan import Plan
from .report import Outcome
from .repository import Repository, Source
from .staging import Staging, active
from .worker import run_bounded

T = TypeVar("T")


class Transaction:
    """The staging of one load or reload plus the patch ledger's values from before it.

    Use it as a context manager: ``with Transaction(...) as t: staged = t.stage(...);
    t.commit()``. Without a ``plan`` nothing is staged, and ``run`` runs other work
    (``__init__`` alone) under the same time limit and roll-back. ``superseded()`` says when a
    newer save of the files makes the work pointless: it is then given up (see ``run``).
    """

    def __init__(
        self,
        repository: Repository,
        error: type[HandlerKitError],
        plan: Plan | None = None,
        old: Mapping[str, Source] | None = None,
        superseded: Callable[[], bool] | None = None,
    ) -> None:
        self.plan = plan
        self.superseded = superseded
        self.ledger = Ledger.of(repository)
        self.staging = Staging(repository, error, self.ledger, plan, old)
        self.snapshot = self.ledger.snapshot()  # the patched values of the last good run
        self.committed = False

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.rollback()

    def stage(
        self,
        running: Callable[[], Any] = lambda: None,
        before_build: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> Staged:
        """Run the plan's modules and make the instance to swap in (see :func:`stage`)."""
        assert self.plan is not None, "nothing to stage without a plan"
        plan, staging = self.plan, self.staging
        return self.run(lambda: stage(staging, plan, running, before_build), timeout)

    def run(self, work: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``work`` here, or given a ``timeout`` in the reload thread with that time limit
        (see :func:`~handler_kit.reload.worker.run_bounded`)."""
        if timeout is None:
            with process.guarded():  # os._exit refused here too
                return work()
        return run_bounded(work, self.staging, timeout, self.superseded)

    def commit(self) -> None:
        """Keep what ran; forget the patches of the modules that ran whose statements are gone."""
        self.ledger.settle(set(self.staging.executed))
        self.committed = True

    def rollback(self) -> None:
        """Put back every sys.modules entry the staging replaced, the patched values, and the
        signal handlers in place before it."""
        self.staging.rollback()
        self.ledger.restore(self.snapshot)
        process.restore(self.staging.signals)

    @property
    def notes(self) -> list[str]:
        """What the user should know: library patches that could not be put back, signal
        handlers not installed."""
        return [
            *(
                f"could not put back {what} before running the module again: restart the "
                "kernel for production's single import"
                for what in self.staging.unrestored
            ),
            *self.staging.notes,
        ]


@dataclass
class Staged:
    """A reload (or the first load) that ran to the end and is ready to commit."""

    module: ModuleType
    instance: Any
    executed: dict[str, Source]  # the modules that ran, by name, with the text they ran
    mode: Outcome
    decision: Decision
    kept: tuple[str, ...] = ()
    build_seconds: float = 0.0  # the time __init__ took (0 for a hot swap)
    footprint: memory.Footprint | None = None  # what __init__ added to memory (a re-init)
    built: memory.Built | None = None  # the globals __init__ set, what it made (a re-init)


def stage(
    staging: Staging,
    plan: Plan,
    running: Callable[[], Any] = lambda: None,
    before_build: Callable[[], None] | None = None,
) -> Staged:
    """Run the plan's code in ``staging`` (in this thread) and make the instance to swap in.

    ``running()`` is the running instance, asked for only by a hot swap, which carries its
    state over: a re-init must hold no reference to it, since ``before_build`` may free it
    (it is called once the new code has run and before ``__init__`` does). Raises the
    staging's error when a step fails; the transaction rolls the staging back.
    """
    repository, error = staging.repository, staging.error
    entry, decision = repository.entry, plan.decision
    text = plan.texts[entry.module_key]
    assert text is not None
    with active(staging):
        old_modules = {n: sys.modules.get(n) for n, _ in decision.carry}
        module = staging.run(entry.module_key, entry.file, text)
        staging.finish()
        # A hot swap never calls __init__: its signature is checked when it is called.
        cls = handler_class(module, entry, text, error, plan.mode is Outcome.REINIT)
        footprint = built = None
        if plan.mode is Outcome.HOT:
            _carry_globals(decision.carry, old_modules, staging)
            instance = running()
            new, took = _carry_over(cls, instance, decision.drop), 0.0
            dropped = {attribute.name for attribute in decision.drop}
            kept = tuple(k for k in vars(instance) if k not in dropped)
        else:
            if before_build is not None:
                before_build()
            names = {*plan.texts, *staging.executed}  # the handler's modules, all of them
            modules = {n: sys.modules[n] for n in names if n in sys.modules}
            before, started = memory.used(), time.perf_counter()
            new, built = memory.Built.watch(
                modules, lambda: build(cls, repository.path, entry, error)
            )
            kept, took, footprint = (), time.perf_counter() - started, memory.used() - before
    executed = {n: Source(n, file, t) for n, (file, t) in staging.executed.items()}
    return Staged(module, new, executed, plan.mode, decision, kept, took, footprint, built)


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


def _carry_over(cls: type, old: Any, drop: tuple[Drop, ...] = ()) -> Any:
    """A new-class instance sharing the old one's state: the model is not loaded again.

    What request-time code built with code the edit changed is dropped (``drop``): put back
    to what ``__init__`` gives it, or removed, so the next request builds it with the new code.
    """
    new = cls.__new__(cls)
    new.__dict__.update(vars(old))
    for attribute in drop:
        attribute.apply(new.__dict__)
    return new
