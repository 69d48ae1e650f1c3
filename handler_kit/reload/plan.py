"""A reload of a LiveHandler: decide, run the new code in a staging, make the new instance.

``plan`` reads the texts and decides between a hot swap and a re-init (``decision.py``) and
which modules run again; ``stage`` runs them in a :class:`~handler_kit.reload.staging.Staging` and
makes the instance to swap in; ``run_bounded`` runs a stage in its own thread with a time
limit. Nothing here changes what the live handler serves with: the LiveHandler that owns it
commits the result, or rolls the staging back.
"""

from __future__ import annotations

import ast
import ctypes
import enum
import queue
import sys
import threading
import time
import traceback
import types
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .. import style
from ..errors import Abandoned, HandlerReloadError, ReloadInterrupted
from . import memory
from .analysis import analyse
from .decision import Decision, Mode, decide
from .loader import build, handler_class
from .repository import Repository, Source
from .staging import Staging, active

T = TypeVar("T")
DEFAULT_TIMEOUT = 60.0  # seconds a reload may run; a re-init gets 3x the last build if longer


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
    notes: tuple[str, ...] = ()

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
        return line + "".join(f"\nnote: {note}" for note in self.notes)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return style.line(str(self), self.mode)


@dataclass(frozen=True)
class Plan:
    """What a reload will do, decided before any code runs: the mode and what to run again."""

    mode: Mode
    decision: Decision
    rerun: dict[str, str | None]  # sibling modules to run again (None: take it out)
    texts: dict[str, str | None]


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
    decision = _decide(repository, old, texts, instance)
    chosen = Mode(decision.mode) if mode is Mode.AUTO else mode
    if chosen is Mode.HOT and not hasattr(instance, "__dict__"):
        chosen = Mode.REINIT
        decision = Decision(
            Mode.REINIT, f"{entry.class_name} has no __dict__ to carry over", decision.changed
        )
    files = {n: repository.relative(s.file) for n, s in old.items()}
    rerun = _rerun(old, texts, entry.module_key, files)
    return Plan(chosen, decision, {n: texts[n] for n in sorted(rerun)}, dict(texts))


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


class _Worker:
    """The thread reloads run in, kept from one reload to the next.

    Starting a thread costs milliseconds once torch is imported (each new thread sets up the
    thread-local storage of every loaded library): a new thread per reload would cost more
    than the reload. A worker whose reload was given up is spent: it ends after that reload.
    """

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.spent = False
        self.thread = threading.Thread(target=self._loop, name="handler-kit-reload", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.spent:
            try:
                self.jobs.get()()
            except Abandoned:
                return  # asked to stop while idle: a race with the job's end; nothing to do


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def _current_worker() -> _Worker:
    global _worker
    with _worker_lock:
        if _worker is None or _worker.spent or not _worker.thread.is_alive():
            _worker = _Worker()
        return _worker


def run_bounded(work: Callable[[], T], staging: Staging, timeout: float) -> T:
    """Run ``work`` (a stage) in the reload thread; give it up after ``timeout`` s or Ctrl-C.

    A given-up staging is rolled back at once and can never commit; its thread is asked to
    stop (which ends a busy loop, not a sleep) and left to finish on its own. The error names
    the file and line it was running.
    """
    result: dict[str, Any] = {}
    finished = threading.Event()

    def job() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # every outcome is reported to the waiting thread
            result["error"] = exc
        finally:
            finished.set()

    worker = _current_worker()
    started = time.monotonic()
    worker.jobs.put(job)
    reason = ""
    # Waiting on an Event, not Thread.join: a join interrupted by Ctrl-C marks a live thread
    # as stopped (CPython's bpo-45274 handling), and it could then never be asked to stop.
    try:
        while not finished.is_set() and not reason:
            left = started + timeout - time.monotonic()
            if left <= 0:
                reason = f"ran past its time limit of {timeout:g} s"
            else:
                finished.wait(min(left, 0.25))  # short waits: Ctrl-C is seen at once
    except KeyboardInterrupt:
        reason = "was interrupted (Ctrl-C)"
    if reason:
        file, line, function = _where(worker.thread, staging.repository.path)
        staging.abandon()
        worker.spent = True
        worker.thread.name = "handler-kit-reload (abandoned)"
        if not finished.is_set():
            _stop(worker.thread)
        running = f" while running {function}" if function else ""
        error = ReloadInterrupted if reason.startswith("was interrupted") else HandlerReloadError
        raise error(
            f"the reload {reason}{running}; it was abandoned",
            file=file or staging.repository.entry.file,
            line=line,
            hint="Nothing was swapped in. If the code is just slow, give it more time: "
            "reload(timeout=SECONDS), --reload-timeout SECONDS.",
        )
    if "error" in result:
        if isinstance(result["error"], Abandoned):
            raise HandlerReloadError("the reload was abandoned")
        raise result["error"]
    return result["value"]


def _where(thread: threading.Thread, repo: Path) -> tuple[str | None, int | None, str]:
    """``(file, line, function)`` of the thread's innermost frame in the repository."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return None, None, ""
    inside = [
        f
        for f in traceback.extract_stack(frame)
        if f.filename.startswith(str(repo)) and Path(f.filename).is_file()
    ]
    if not inside:
        return None, None, ""
    last = inside[-1]
    return last.filename, last.lineno, last.name


def _stop(thread: threading.Thread) -> None:
    """Ask a thread to raise Abandoned at its next bytecode (a sleep in C ends first)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(Abandoned)
        )


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


def _decide(
    repository: Repository,
    old: Mapping[str, Source],
    texts: Mapping[str, str | None],
    instance: Any,
) -> Decision:
    files = {n: repository.relative(s.file) for n, s in old.items()}
    if all(texts[n] == s.text for n, s in old.items()):
        return Decision(Mode.HOT, "no file changed")
    try:
        return decide(
            {n: s.text for n, s in old.items()},
            texts,
            repository.entry.module_key,
            repository.entry.class_name,
            files,
            held=lambda candidates: held_definitions(instance, set(old)) & candidates,
        )
    except SyntaxError as exc:
        source = old.get(next((n for n, f in files.items() if f == exc.filename), ""))
        raise HandlerReloadError(
            f"SyntaxError: {exc.msg}",
            file=source.file if source else repository.entry.file,
            line=exc.lineno,
            hint=f"Fix the syntax of {exc.filename or repository.entry.file.name}.",
        ) from exc
    except (RecursionError, MemoryError) as exc:
        raise HandlerReloadError(
            f"{type(exc).__name__}: an expression nests too deeply for Python to read ({exc})",
            file=_unreadable(old, texts) or repository.entry.file,
            hint="Split the expression up (a very long chain of + or of nested brackets), "
            "or load such data from a file.",
        ) from exc
    except ValueError as exc:  # source with a null byte
        raise HandlerReloadError(
            f"cannot read the new code: {exc}",
            file=repository.entry.file,
            hint="A file holds bytes that are not source text: save it again as text.",
        ) from exc


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
    files: Mapping[str, str],
) -> set[str]:
    """The sibling modules to run again: the edited ones, what imports them, their packages.

    A module that imports an edited one runs again so that names it took with ``from x import
    y`` are the new ones; a package runs again with its edited submodule, so that ``pkg.mod``
    reaches the new one through a new package object, never through the old one changed.
    """
    siblings = [n for n in old if n != key]
    rerun = {n for n in siblings if texts[n] != old[n].text}
    imports: dict[str, set[str]] = {}
    for n in siblings:
        try:  # the analysis of a text is kept: no parse for the modules that did not change
            imports[n] = analyse(n, texts[n], files[n]).imports
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            imports[n] = set()  # running it will say what is wrong
    while True:
        more = {n for n in siblings if n not in rerun and imports[n] & rerun}
        more |= {p for n in rerun for p in _parents(n) if p in old and p not in rerun}
        if not more:
            return rerun
        rerun |= more


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


_held_cache: dict[tuple, frozenset[str]] = {}


def held_definitions(instance: Any, modules: set[str], limit: int = 2000) -> frozenset[str]:
    """``module:Name`` of the repository's classes and functions the instance's state holds.

    After a hot swap these objects keep running their own (old) code, so the code they reach
    counts as start-up code. The state is walked through attributes, lists, tuples, sets and
    dicts, breadth first, at most ``limit`` objects: a model's tensors are not looked into.
    The answer is kept while the instance's attributes are the same objects (a hot swap keeps
    them): walking a model's modules takes milliseconds.
    """
    key = (frozenset(modules), *((k, id(v)) for k, v in vars(instance).items()))
    if key in _held_cache:
        return _held_cache[key]
    found: set[str] = set()
    seen: set[int] = set()
    todo = deque([instance])
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
