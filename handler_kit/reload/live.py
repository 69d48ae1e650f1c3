"""LiveHandler: a loaded handler that stays callable while its code is reloaded under it.

``load(path)`` imports a repository's handler.py as production does and returns a
LiveHandler. The LiveHandler owns everything about the running handler: the instance, the
module, the texts of the repository's modules as they last ran. A reload is planned
(``plan.py``), run as a :class:`~handler_kit.reload.transaction.Transaction` (committed whole
or rolled back), and only then swapped in, in one step.
"""

from __future__ import annotations

import dataclasses
import html
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import style
from ..endpoint import contract
from ..errors import (
    Abandoned,
    HandlerKitError,
    HandlerLoadError,
    HandlerReloadError,
    ReloadSuperseded,
)
from ..report import count
from . import flight, loader
from .absent import NoHandler, Waiting
from .decision import Mode
from .imports import ImportRecorder, imported_source
from .loader import build
from .memory import Built, Footprint, Memory, gc_paused, release, release_failed, room_for_two
from .plan import Plan, plan
from .report import Outcome, ReloadReport
from .repository import (
    Entry,
    Repository,
    Source,
    Text,
    digest,
    fingerprint,
    read_source,
    texts_now,
)
from .transaction import Staged, Transaction
from .worker import DEFAULT_TIMEOUT

CHECK_HINT = " To call the handler with it anyway: handler(data, check=False)."
SUPERSEDED_IN_A_ROW = 20  # newer saves an automatic reload gives way to, before it runs one


def load(path: str | Path = ".", texts: Mapping[str, str] | None = None) -> LiveHandler:
    """Load the handler of the repository at ``path`` as production does: a LiveHandler.

    Whatever handler.py or ``__init__`` raises (SystemExit and KeyboardInterrupt included)
    becomes a HandlerLoadError that names the file and line. ``texts`` (module name -> text)
    are run in place of the files' (the last good version, after the files crashed a server).
    """
    started = time.perf_counter()
    repository = Repository.find(path)
    ended = flight.ended(repository.path)  # the last process that loaded it died loading it?
    loader.prepare(repository)
    key = repository.entry.module_key
    text = texts[key] if texts else read_source(repository.entry.file, HandlerLoadError)
    planned = Plan.first_load(repository, text)
    if texts:  # the siblings' texts too, each run when first imported
        siblings = {n: t for n, t in texts.items() if n != key}
        planned = dataclasses.replace(planned, rerun=siblings, texts={**planned.texts, **siblings})
    try:
        with (
            flight.loading(repository.path, [repository.entry.file], digest(text), "loading"),
            Transaction(repository, HandlerLoadError, planned) as transaction,
        ):
            staged = transaction.stage()
            transaction.commit()
    except Abandoned as exc:
        release_failed(exc)
        raise HandlerLoadError("the load was abandoned", file=repository.entry.file) from None
    except BaseException as error:
        release_failed(error)  # the failed model goes now, not when the error does
        if ended is not None and isinstance(error, HandlerKitError):
            error.amend(f"Note: {ended}.")
        raise
    return LiveHandler(repository, staged, time.perf_counter() - started, ended)


def _readable(texts: Mapping[str, Text]) -> dict[str, str | None]:
    """The texts, or the error of the first file that is there but cannot be read."""
    for text in texts.values():
        if isinstance(text, HandlerKitError):
            raise text
    return texts  # type: ignore[return-value]


class LiveHandler:
    """A loaded handler; calls go to the current instance, reloads swap it atomically.

    Build one with :func:`handler_kit.load`. ``handler(data)`` calls the current
    ``EndpointHandler`` instance. A call in flight during a reload finishes on the instance
    it started with; the next call uses the new one.
    """

    # What runs before each call, given this handler: ``%handler_autoreload on`` sets it to
    # the notebook's AutoReload, which reloads the files that changed. None: nothing runs.
    autoreload: Callable[[LiveHandler], None] | None = None

    def __init__(
        self,
        repository: Repository,
        staged: Staged,
        load_seconds: float,
        ended: flight.Ended | None = None,
    ) -> None:
        self.repository = repository
        # The last process that loaded this repository, when it ended without a word.
        self.ended = ended
        self.loaded_at = datetime.now()
        self.load_seconds = load_seconds
        self.reloads = 0
        self.last_report: ReloadReport | None = None
        self._module = staged.module
        self._instance = staged.instance
        self._sources: dict[str, Source] = dict(staged.executed)
        self._build_seconds = staged.build_seconds
        self._footprint = staged.footprint or Footprint()
        self._built = staged.built or Built()  # what __init__ made, for a free-first re-init
        self._ready = threading.Event()  # cleared while a free-first re-init builds
        self._ready.set()
        self._failed: str | None = None  # fingerprint of the files whose reload failed
        # Reloads are serialised; calls never wait for this lock.
        self._lock = threading.RLock()
        # The size of sys.modules when the repository's modules were last looked for: a
        # new import (a sibling imported lazily, inside __call__) grows it.
        self._modules_seen = -1
        ImportRecorder.watch(repository, self)  # the text each later-imported sibling ran
        self.discover()

    def __call__(self, data: Any, *, check: bool = True) -> Any:
        """Answer one request with the current handler instance.

        ``data`` is checked first as production's server checks a request (a dict with
        ``inputs`` or ``instances``); ``check=False`` calls the handler with anything. The
        endpoint and the command line check each request where it arrives, then pass
        ``check=False`` (``contract.unchecked``): a request is checked once. With an
        ``autoreload`` hook, files saved since the last reload are reloaded first, whoever
        calls (a cell, the form, the endpoint).
        """
        # A traceback of the handler's error starts at the caller's code, then the user's
        # handler: IPython and pytest leave this frame out.
        __tracebackhide__ = True
        if check:
            contract.check_payload(data, "the payload", hint=CHECK_HINT)
        if self.autoreload is not None:
            self.autoreload(self)
        return self._instance(data)

    @property
    def path(self) -> Path:
        """The repository folder."""
        return self.repository.path

    @property
    def entry(self) -> Entry:
        """The entry production imports: its file, module key and class name."""
        return self.repository.entry

    @property
    def instance(self) -> Any:
        """The current handler instance (an ``EndpointHandler``)."""
        return self._instance

    @property
    def module(self) -> ModuleType:
        """The module the current instance's class was defined in."""
        return self._module

    @property
    def file(self) -> Path:
        """The entry file: ``handler.py`` (or a legacy ``pipeline.py``)."""
        return self.entry.file

    @property
    def sources(self) -> dict[str, Source]:
        """The repository's modules as last executed: handler.py and its siblings."""
        return dict(self._sources)

    def reload(
        self,
        mode: str | Mode = Mode.AUTO,
        timeout: float | None = None,
        memory: str | Memory = Memory.AUTO,
        *,
        supersede: bool = False,
    ) -> ReloadReport:
        """Reload handler.py and its edited siblings; ``mode`` is "auto", "hot" or "reinit".

        Nothing is swapped in until every step has succeeded; on any failure (SystemExit and
        KeyboardInterrupt included) the last good handler keeps serving and a
        HandlerReloadError says what and where. A reload that runs longer than ``timeout``
        seconds (default 60, or three times the last ``__init__`` when that is longer) is
        abandoned, as is one interrupted with Ctrl-C.

        ``memory`` decides how a re-init treats the old model: "swap" builds the new handler
        before freeing the old one (two models for a moment); "free-first" frees the old one
        first and, if the new one fails, builds the last good handler again from its code;
        "auto" frees first when there is no room for two models (RAM, and each CUDA device).

        With ``supersede``, a newer save of the files while the reload runs gives it up
        (ReloadSuperseded): the automatic reloads then run the newer files at once.
        """
        mode = Mode.of(mode)
        memory = Memory.of(memory)
        started = time.perf_counter()
        self.repository.invalidate_caches()  # a sibling created a moment ago must be found
        with self._lock, gc_paused():
            self.discover()  # siblings imported lazily since the last look are edited too
            texts = self.current_texts()
            newer = self._newer_save(texts) if supersede else None
            edited = [s.file for n, s in self._sources.items() if texts.get(n) != s.text]
            edited = edited or [self.file]  # a forced re-init, or a rebuild: handler.py
            try:
                # A line first, in case this edit ends the process (a segfault): see flight.py.
                with flight.loading(self.path, edited, fingerprint(texts)):
                    report = self._reload(mode, texts, started, timeout, memory, newer)
            except BaseException as error:
                self._failed = fingerprint(texts)
                release_failed(error)  # memory back to where it was before the attempt
                if isinstance(self._instance, Waiting):  # freed first: build the last good again
                    self._rebuild(self._instance.last_good, error, timeout)
                raise
            self._failed = None
            self.last_report = report
            return report

    def _reload(
        self,
        mode: Mode,
        texts: dict[str, Text],
        started: float,
        timeout: float | None,
        memory: Memory,
        newer: Callable[[], bool] | None = None,
    ) -> ReloadReport:
        """Plan the reload, run it as one transaction, swap the result in, and say what it did.

        ``newer()`` says when a newer save supersedes it (see Transaction)."""
        readable, old = _readable(texts), self._sources
        asked, lost = mode, not self.serving
        if lost:
            mode = Mode.REINIT  # nothing to keep: the last free-first re-init lost it
        elif mode is Mode.AUTO and all(readable[n] == s.text for n, s in old.items()):
            # After a failed reload, the files were put back as they were: say so.
            reason = "back to the last good version" if self._failed else "unchanged"
            seconds = time.perf_counter() - started
            return ReloadReport((self.file.name,), Outcome.UNCHANGED, reason, seconds)
        planned = plan(self.repository, old, readable, self._instance, mode)
        if timeout is None:
            timeout = max(DEFAULT_TIMEOUT, 3 * self._build_seconds)
        free_first = planned.mode is Outcome.REINIT and not lost and self._frees_first(memory)
        freed: list[str] = []
        # The running handler's modules, before the staging replaces them in sys.modules.
        previous = {n: sys.modules[n] for n in old if n in sys.modules}
        with Transaction(self.repository, HandlerReloadError, planned, old, newer) as transaction:
            staged = transaction.stage(
                lambda: self._instance,  # asked for by a hot swap only
                before_build=(lambda: freed.extend(self._free(memory, previous)))
                if free_first
                else None,
                timeout=timeout,
            )
            transaction.commit()
        notes = [*staged.decision.notes, *freed, *self._commit(staged), *transaction.notes]
        if lost:
            notes.insert(0, "there was no handler (a free-first re-init lost it): built it again")
        return self._report(staged, asked, started, notes)

    @property
    def serving(self) -> bool:
        """False when there is no handler: a free-first re-init failed, and so did building
        the last good one again. Calls fail until a reload succeeds."""
        return not isinstance(self._instance, NoHandler)

    def _frees_first(self, memory: Memory) -> bool:
        """Whether a re-init frees the old model before building the new one."""
        return memory is Memory.FREE_FIRST or (
            memory is Memory.AUTO and not room_for_two(self._footprint)
        )

    def _free(self, memory: Memory, modules: Mapping[str, ModuleType]) -> list[str]:
        """Let go of the running instance before a free-first re-init builds the new one.

        Requests wait for the new handler meanwhile (absent.Waiting). ``self._instance`` held the
        only reference: release() gets it, and frees the old model at once; the module globals
        its ``__init__`` set (``global model``) are put back in ``modules``, the old handler's.
        Returns the notes: they say what could not be freed, and what holds it.
        """
        self._ready.clear()
        old = [self._instance]
        self._instance = Waiting(
            self._ready,
            lambda: self._instance,
            max(DEFAULT_TIMEOUT, 3 * self._build_seconds),
            type(old[0]),
        )
        gone, notes = release(old.pop())
        held = self._built.free(modules)
        why = ": there was no room for two" if memory is Memory.AUTO else ""
        if gone and not held:
            return [*notes, f"freed the old model before building the new one{why}"]
        return [f"tried to free the old model before building the new one{why}", *notes, *held]

    def _report(self, staged: Staged, mode: Mode, started: float, notes: list[str]) -> ReloadReport:
        """The report of a reload that was committed: the files that ran, the rule, the time."""
        key = self.entry.module_key
        siblings = [
            self.repository.relative(s.file) for n, s in staged.executed.items() if n != key
        ]
        return ReloadReport(
            (self.file.name, *siblings),
            staged.mode,
            staged.decision.reason,
            time.perf_counter() - started,
            forced=mode is not Mode.AUTO,
            changed=staged.decision.changed,
            kept=staged.kept,
            notes=tuple(notes),
        )

    def _commit(self, staged: Staged) -> list[str]:
        """Swap the staged code and instance in; what it says about the old instance."""
        # In a list: release() must get the only reference to the old instance.
        old = [self._instance]
        # One attribute assignment swaps the instance for every caller.
        self._module, self._instance = staged.module, staged.instance
        self._ready.set()
        if staged.mode is Outcome.REINIT:
            self._build_seconds = staged.build_seconds
            self._footprint = staged.footprint or self._footprint
            self._built = staged.built or Built()
            if isinstance(old[0], (Waiting, NoHandler)):
                return []  # freed before the build
        # Modules taken out (their file is gone) are no longer tracked; what the new code
        # imported of the repository ran in the staging (``executed``): no scan needed.
        sources = {**self._sources, **staged.executed}
        self._sources = {n: s for n, s in sources.items() if n in sys.modules}
        self.reloads += 1
        self.discover()
        if staged.mode is Outcome.REINIT:
            staged.instance = None
            return release(old.pop())[1]
        return []

    def _rebuild(self, cls: type, error: BaseException, timeout: float | None) -> None:
        """After a failed free-first re-init: build the last good handler again, from its code.

        Its modules are the ones in place again (the reload was rolled back). Adds what
        happened to ``error``'s message; if that fails too, calls say there is no handler.
        """
        if timeout is None:
            timeout = max(DEFAULT_TIMEOUT, 3 * self._build_seconds)
        modules = {n: sys.modules[n] for n in self._sources if n in sys.modules}
        try:
            with Transaction(self.repository, HandlerReloadError) as transaction:
                instance, self._built = transaction.run(
                    lambda: Built.watch(
                        modules, lambda: build(cls, self.path, self.entry, HandlerReloadError)
                    ),
                    timeout,
                )
                transaction.commit()
        except BaseException as again:  # the handler is gone: say so at every call
            self._instance = NoHandler(again)
            release_failed(again)
            said = f"building the last good handler again failed too ({self._instance.why})"
            advice = (
                "There is no handler now: calls fail until a reload succeeds. Fix the file and "
                "reload again (putting the last good version back will do)."
            )
        else:
            self._instance = instance
            said, advice = (
                "the last good handler was built again from its code: nothing is lost",
                None,
            )
        self._ready.set()
        if isinstance(error, HandlerKitError):
            error.amend(f"The old model had been freed first (free-first re-init); {said}.", advice)

    def count_as_failed(self, fingerprint: str) -> None:
        """Count the files whose texts have ``fingerprint`` as a failed reload: they are
        reloaded once they change (the files that crashed the last server, say)."""
        self._failed = fingerprint

    def changed(self) -> bool:
        """True when there is something to reload or to say: a file differs from the last
        good load and from the last failed one; or, after a failure, any file changed (put
        back as it was, it is worth a line; with no handler left, it is built again)."""
        self.discover()
        now = fingerprint(self.current_texts())
        if self._failed is not None:
            return now != self._failed
        good = fingerprint({n: s.text for n, s in self._sources.items()})
        return now != good or not self.serving

    def reload_if_changed(
        self, timeout: float | None = None, memory: str | Memory = Memory.AUTO
    ) -> ReloadReport | None:
        """Reload when :meth:`changed`; None otherwise. A broken file fails only once.

        What the automatic reloads call (``serve --reload``, ``%handler_autoreload``): a newer
        save while a reload runs (a fix saved while the broken edit hangs) gives that reload
        up and reloads the newer files at once; the report, or the error, says so.
        """
        given_up: list[str] = []
        with self._lock:
            for _ in range(SUPERSEDED_IN_A_ROW):
                if not self.changed():
                    return None
                try:
                    report = self.reload(timeout=timeout, memory=memory, supersede=True)
                except ReloadSuperseded as error:
                    given_up.append(error.headline)
                    continue
                except HandlerKitError as error:
                    error.amend("\n".join(given_up) or None)
                    raise
                notes = (*given_up, *report.notes)
                self.last_report = dataclasses.replace(report, notes=notes)
                return self.last_report
            return self.reload(timeout=timeout, memory=memory)  # saved and saved: this one

    def _newer_save(self, texts: Mapping[str, Text]) -> Callable[[], bool]:
        """Whether files other than ``texts`` are saved: the same new texts seen twice in a
        row (a quarter of a second apart), so that a file half-written supersedes nothing."""
        running, seen = fingerprint(texts), [""]

        def newer() -> bool:
            now = fingerprint(self.current_texts())
            again, seen[0] = now == seen[0], now
            return now != running and again

        return newer

    def discover(self) -> None:
        """Track the repository's modules imported since the last look (lazy imports).

        Their baseline is the text they were imported from (see ``ImportRecorder``), so an
        edit made after the import and before this look still counts as a change. Cheap:
        sys.modules is scanned only when its size changed since the last scan.
        """
        if len(sys.modules) == self._modules_seen:
            return
        with self._lock:
            self._modules_seen = len(sys.modules)
            found = self.repository.imported_modules(skip=self._sources)
            sources = {n: imported_source(n, m) for n, m in found.items()}
            if any(sources.values()):
                # A new dict, not an update: a reload may be iterating over the old one.
                self._sources = {**{n: s for n, s in sources.items() if s}, **self._sources}

    def current_texts(self) -> dict[str, Text]:
        """Each tracked module's text on disk now (see ``repository.texts_now``)."""
        return texts_now(self._sources)

    def _summary(self) -> str:
        return (
            f"{self.entry.class_name} from {self.file}, loaded {self.loaded_at:%H:%M:%S} "
            f"in {self.load_seconds:.2f} s, {count(self.reloads, 'reload')}"
        )

    def _ended(self) -> str:
        """What the last process that loaded this repository was doing when it died."""
        return f"note: the last process to load this repository: {self.ended}" if self.ended else ""

    def __repr__(self) -> str:
        ended = f"\n{self._ended()}" if self.ended else ""
        return f"<LiveHandler {self._summary()}>{ended}"

    def _repr_html_(self) -> str:
        last = html.escape(f"last: {self.last_report}")
        last = f'<br><small style="color:{style.MUTED}">{last}</small>'
        ended = html.escape(self._ended())
        ended = f'<br><span style="color:{style.WARN}">{ended}</span>' if ended else ""
        return (
            f'<div style="color:{style.TEXT}"><b>LiveHandler</b> {html.escape(self._summary())}'
            f"{last if self.last_report else ''}{ended}</div>"
        )
