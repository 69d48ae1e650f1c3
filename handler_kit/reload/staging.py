"""Run a repository's new code into fresh module objects, with a way back.

A reload runs handler.py and the edited sibling modules again. Each runs in a new module
object registered in sys.modules under its name, as an import would, so that the code being
staged imports the staged versions (import cycles included: a module being run is visible to
the modules it imports, half-run, exactly as in a normal import). ``rollback`` puts every
previous entry back.

While a staging runs, other threads must never see a half-run module: a request that imports a
sibling inside ``__call__`` gets the module that was there before (the old one, whole), or waits
for the staging to end when there was none. That is done by an ``__import__`` hook installed
only for the duration of a staging. In the staging thread the same hook runs the repository's
own modules (those to run again, and those imported for the first time) itself, without the
import system's module locks: a module that hangs can be abandoned without leaving a lock
behind that would block every later import of it.

A staging can be abandoned from another thread (a time limit, Ctrl-C): it is rolled back at
once, and from then on it can change nothing, whatever its thread still does.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import Abandoned, HandlerKitError, describe, user_location, user_trace
from ..packages.distributions import missing_hint
from ..packages.requirements import Requirements
from .analysis import analyse
from .patches import HOOK, Ledger
from .plan import Plan
from .repository import Repository, Source, read_source

_MISSING = object()


class Staging:
    """The modules one load or reload runs, their previous entries, and its thread.

    The ``plan``'s ``rerun`` maps module names to the text to run for them (None: its file is
    gone, take it out); such a module runs when the staged code first imports it, or at
    ``finish``. The plan's analyses say which texts may patch a library.
    """

    def __init__(
        self,
        repository: Repository,
        error: type[HandlerKitError],
        ledger: Ledger,
        plan: Plan | None = None,
        old: Mapping[str, Source] | None = None,
    ) -> None:
        self.repository = repository
        self.error = error
        self.ledger = ledger
        self.plan = plan
        self.pending: dict[str, str | None] = dict(plan.rerun) if plan else {}
        self.old = dict(old or {})  # name -> what ran last (for the hints)
        self.executed: dict[str, tuple[Path, str]] = {}  # name -> (file, text) that ran
        self.running: list[str] = []  # modules being run now, innermost last
        self.unrestored: list[str] = []  # library patches that could not be put back
        self.notes: list[str] = []  # what else the user should know (a signal not installed)
        self.signals: dict[int, Any] = {}  # handlers in place before it installed its own
        self.thread: int | None = None
        self.abandoned = False
        self.done = threading.Event()
        self._lock = threading.Lock()  # orders registering against abandoning
        self._saved: list[tuple[str, Any, ModuleType | None, Any]] = []

    # --- running ------------------------------------------------------------------------

    def run(self, name: str, file: Path, text: str) -> ModuleType:
        """Run ``text`` as module ``name`` (compiled under its real file name)."""
        package = file.name == "__init__.py"
        locations = [str(file.parent)] if package else None
        spec = importlib.util.spec_from_file_location(
            name, file, submodule_search_locations=locations
        )
        assert spec is not None, file
        module = importlib.util.module_from_spec(spec)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        with self._lock:
            if self.abandoned:
                raise Abandoned
            self._saved.append(
                (
                    name,
                    sys.modules.get(name, _MISSING),
                    parent,
                    getattr(parent, child, _MISSING) if parent is not None else None,
                )
            )
            sys.modules[name] = module
        self.running.append(name)
        self.unrestored += self.ledger.rewind(name)
        try:
            code, hooked = self.ledger.compile(
                name, text, str(file), self._may_patch(name, file, text)
            )
            if hooked:
                module.__dict__[HOOK] = self.ledger.hook(name)
            exec(code, module.__dict__)
        except Abandoned:
            raise
        except HandlerKitError as error:
            if error.file is not None:
                raise  # a module this one imports failed: that error names its own file
            raise self._error(error, file, name, text) from error
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, RecursionError too
            raise self._error(exc, file, name, text) from exc
        finally:
            module.__dict__.pop(HOOK, None)
            self.running.pop()
        with self._lock:
            if self.abandoned:
                raise Abandoned
            if parent is not None and sys.modules.get(parent_name) is parent:
                setattr(parent, child, module)  # as `import pkg.mod` sets pkg.mod
        self.executed[name] = (file, text)  # in the order they finished: dependencies first
        return module

    def _may_patch(self, name: str, file: Path, text: str) -> bool:
        """Whether a module's text has a top-level statement that could patch a library."""
        analysis = self.plan.analysis(name, text) if self.plan else None
        if analysis is None:  # not read by the plan: a first import, or the first load
            try:
                entry = name == self.repository.entry.module_key
                analysis = analyse(name, text, self.repository.relative(file), entry)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False  # compiling it says what is wrong
        return analysis.may_patch

    def finish(self) -> None:
        """Run the modules still pending that nothing imported (or take out the gone ones)."""
        for name in list(self.pending):
            self._run_pending(name)

    def _run_pending(self, name: str) -> None:
        text = self.pending.pop(name)
        if text is None:
            with self._lock:
                if self.abandoned:
                    raise Abandoned
                self._saved.append((name, sys.modules.pop(name, _MISSING), None, None))
            return
        file = self.repository.module_file(name)
        if file is None:
            return  # gone since: the import that needs it will say so
        self.run(name, file, text)

    def _error(self, exc: BaseException, file: Path, name: str, text: str) -> HandlerKitError:
        repo = self.repository.path
        where, line = user_location(exc, repo)
        old = self.old.get(name)
        hint = _hint(exc, file, self.old, where, line, text, old.text if old else None, repo)
        return self.error(
            f"{describe(exc)} (while running {file.name})",
            file=where or file,
            line=line,
            trace=None if isinstance(exc, SyntaxError) else user_trace(exc.__traceback__, repo),
            hint=hint,
        )

    # --- the import hook ----------------------------------------------------------------------

    def import_in_staging(self, absolute: str) -> bool:
        """Run what ``import absolute`` needs of the repository's modules; False: none."""
        parts = absolute.split(".")
        involved = False
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in self.pending:
                self._run_pending(name)
                involved = True
            elif name in self.executed or name in self.running:
                involved = True
            elif name not in sys.modules and self.repository.owns_name(name):
                # First imported now: run it here too (no import lock left behind if it hangs).
                file = self.repository.module_file(name)
                if file is None:
                    break
                self.run(name, file, read_source(file, self.error))
                involved = True
            else:
                break
        return involved

    def before(self, absolute: str) -> ModuleType | object | None:
        """For another thread: the module ``absolute`` had before this staging began.

        ``_MISSING`` when this staging does not touch it; None when it had none (the caller
        waits for the staging to end).
        """
        for name, old, _, _ in self._saved:
            if name == absolute:
                return None if old is _MISSING else old
        return _MISSING

    # --- the end ------------------------------------------------------------------------

    def rollback(self) -> None:
        """Put back every sys.modules entry (and package attribute) this staging replaced."""
        with self._lock:
            self._rollback()

    def _rollback(self) -> None:
        for name, old, parent, old_attr in reversed(self._saved):
            if old is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
            if parent is not None:
                child = name.rpartition(".")[2]
                if old_attr is _MISSING:
                    parent.__dict__.pop(child, None)
                else:
                    setattr(parent, child, old_attr)
        self._saved.clear()

    def abandon(self) -> None:
        """Give the staging up from another thread: roll back now, and let it change nothing."""
        with self._lock:
            self.abandoned = True
            self._rollback()
        self.done.set()


# --- the hook: one for all stagings, installed only while one runs ------------------------------

_active: dict[int, Staging] = {}  # thread id -> the staging it runs
_active_lock = threading.Lock()
_previous: Callable[..., Any] = builtins.__import__


def _staged_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    stagings = _active
    if not stagings:
        return _previous(name, globals, locals, fromlist, level)
    absolute = _absolute(name, globals, level)
    own = stagings.get(threading.get_ident())
    if own is not None:
        if absolute:
            own.import_in_staging(absolute)
            for item in fromlist or ():
                if item != "*":
                    own.import_in_staging(f"{absolute}.{item}")
        return _previous(name, globals, locals, fromlist, level)
    if absolute:
        for staging in list(stagings.values()):
            wanted = absolute if fromlist else absolute.split(".")[0]
            old = staging.before(wanted)
            if old is None:
                staging.done.wait()  # a module being imported for the first time: wait
            elif old is not _MISSING:
                return old
    return _previous(name, globals, locals, fromlist, level)


def _absolute(name: str, globals: Mapping[str, Any] | None, level: int) -> str:
    if not level:
        return name
    if globals is None:
        return ""
    package = globals.get("__package__")
    if package is None:
        module = globals.get("__name__", "")
        package = module if "__path__" in globals else module.rpartition(".")[0]
    try:
        return importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError):
        return ""


@contextlib.contextmanager
def active(staging: Staging) -> Iterator[Staging]:
    """``staging`` runs in this thread, with the import hook installed, until the block ends."""
    global _previous
    staging.thread = threading.get_ident()
    with _active_lock:
        if not _active:
            _previous = builtins.__import__
            builtins.__import__ = _staged_import
        _active[staging.thread] = staging
    try:
        yield staging
    finally:
        with _active_lock:
            if _active.get(staging.thread) is staging:
                del _active[staging.thread]
            if not _active and builtins.__import__ is _staged_import:
                builtins.__import__ = _previous
        staging.done.set()


def _hint(
    exc: BaseException,
    file: Path,
    old: Mapping[str, Source],
    where: str | None,
    line: int | None,
    text: str,
    old_text: str | None,
    repo: Path | None = None,
) -> str | None:
    """What to do about an exception raised while running a module."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        gone = old.get(exc.name) or old.get(top)
        if gone is not None and not gone.file.exists():
            return (
                f"{gone.file.name} is gone (deleted or renamed?) and {Path(where or file).name}"
                f":{line or '?'} still imports it: restore the file, or remove the import."
            )
        folder = repo or file.parent
        own = {name.split(".")[0] for name in Repository.expected(folder).modules_on_disk()}
        return missing_hint(exc.name, requirements=Requirements.read(folder), own=own)
    if isinstance(exc, SyntaxError):
        return f"Fix the syntax of {Path(exc.filename or file).name}."
    if isinstance(exc, ValueError) and "main thread" in str(exc):  # signal.signal, elsewhere
        return (
            "Only Python's main thread may install a signal handler, and "
            f"{file.name} ran in the thread {threading.current_thread().name!r} (production "
            "imports it in its main thread). Load the handler from the main thread (a notebook "
            "cell, a script); a reload started from the main thread installs the handlers of "
            "`signal.signal(...)` there, unless a module bound the function before the reload "
            "(`from signal import signal` in a module not run again)."
        )
    if isinstance(exc, RecursionError):
        return "An expression or a chain of calls nests too deeply for Python: split it up."
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return (
            f"{file.name} stops the program when it is imported ({type(exc).__name__}), and "
            "production imports it too: put command-line code under "
            '`if __name__ == "__main__":`.'
        )
    if (
        old_text is not None
        and where == str(file)
        and line is not None
        and not isinstance(exc, (NameError, ImportError, AttributeError))
        and _at_top_level(exc, file)
    ):
        lines = text.splitlines()
        if line <= len(lines) and lines[line - 1] in old_text.splitlines():
            return (
                f"This line ran when {file.name} was first imported and fails when run again in "
                "the same process (production imports it once): restart the kernel and load "
                "again to apply the edit."
            )
    return None


def _at_top_level(exc: BaseException, file: Path) -> bool:
    """True when the innermost frame of ``file`` in the traceback is its module body."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
    return bool(frames) and frames[-1].name == "<module>"
