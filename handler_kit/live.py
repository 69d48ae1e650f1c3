"""LiveHandler: a loaded handler that stays callable while its code is reloaded under it.

``load(path)`` imports a repository's handler.py as production does and returns a
LiveHandler. The LiveHandler owns everything about the running handler: the instance, the
module, the texts of the repository's modules as they last ran, and the reload transaction
(stage the new code, then commit it in one step, or roll it back).
"""

from __future__ import annotations

import gc
import html
import importlib
import sys
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from . import contract, loader, style
from .errors import Abandoned, HandlerKitError, HandlerLoadError, HandlerReloadError
from .imports import ImportRecorder, imported_source
from .patches import Ledger
from .reload import DEFAULT_TIMEOUT, Mode, Outcome, ReloadReport, Staged, plan, run_bounded, stage
from .repository import Entry, Repository, Source, digest, read_source
from .staging import Staging

# A module's text now: its source, None when the file is gone, or why it cannot be read.
Text = str | None | HandlerKitError

CHECK_HINT = " To call the handler with it anyway: handler(data, check=False)."


def load(path: str | Path = ".") -> LiveHandler:
    """Load the handler of the repository at ``path`` as production does: a LiveHandler.

    Whatever handler.py or ``__init__`` raises (SystemExit and KeyboardInterrupt included)
    becomes a HandlerLoadError that names the file and line.
    """
    started = time.perf_counter()
    repository = Repository.find(path)
    loader.prepare(repository)
    text = read_source(repository.entry.file, HandlerLoadError)
    ledger = Ledger.of(repository.path, repository.owns_object)
    staging = Staging(repository, HandlerLoadError, ledger)
    snapshot = ledger.snapshot()
    try:
        staged = stage(staging, None, None, text)
    except BaseException as exc:
        staging.rollback()
        ledger.restore(snapshot)
        if isinstance(exc, Abandoned):
            raise HandlerLoadError("the load was abandoned", file=repository.entry.file) from exc
        raise
    ledger.settle(set(staged.executed))
    return LiveHandler(repository, staged, time.perf_counter() - started)


class LiveHandler:
    """A loaded handler; calls go to the current instance, reloads swap it atomically.

    Build one with :func:`handler_kit.load`. ``handler(data)`` calls the current
    ``EndpointHandler`` instance. A call in flight during a reload finishes on the instance
    it started with; the next call uses the new one.
    """

    def __init__(self, repository: Repository, staged: Staged, load_seconds: float) -> None:
        self.repository = repository
        self.loaded_at = datetime.now()
        self.load_seconds = load_seconds
        self.reloads = 0
        self.last_report: ReloadReport | None = None
        self._module = staged.module
        self._instance = staged.instance
        self._sources: dict[str, Source] = dict(staged.executed)
        self._build_seconds = staged.build_seconds
        self._failed: str | None = None  # fingerprint of the files whose reload failed
        # Reloads are serialised; calls never wait for this lock.
        self._lock = threading.RLock()
        # The size of sys.modules when the repository's modules were last looked for: a
        # new import (a sibling imported lazily, inside __call__) grows it.
        self._modules_seen = -1
        ImportRecorder.watch(repository.path, self)  # the text each later-imported sibling ran
        self.discover()

    def __call__(self, data: Any, *, check: bool = True) -> Any:
        """Answer one request with the current handler instance.

        ``data`` is checked first as production's server checks a request (a dict with
        ``inputs`` or ``instances``); ``check=False`` calls the handler with anything.
        """
        if check:
            contract.check_payload(data, "the payload", hint=CHECK_HINT)
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

    def reload(self, mode: str | Mode = Mode.AUTO, timeout: float | None = None) -> ReloadReport:
        """Reload handler.py and its edited siblings; ``mode`` is "auto", "hot" or "reinit".

        Nothing is swapped in until every step has succeeded; on any failure (SystemExit and
        KeyboardInterrupt included) the last good handler keeps serving and a
        HandlerReloadError says what and where. A reload that runs longer than ``timeout``
        seconds (default 60, or three times the last ``__init__`` when that is longer) is
        abandoned, as is one interrupted with Ctrl-C.
        """
        mode = Mode.of(mode)
        started = time.perf_counter()
        importlib.invalidate_caches()  # a sibling module created a moment ago must be found
        with self._lock:
            self.discover()  # siblings imported lazily since the last look are edited too
            old, texts = self._sources, self.current_texts()
            try:
                report = self._reload(mode, old, texts, started, timeout)
            except BaseException:
                self._failed = self.fingerprint(texts)
                raise
            self._failed = None
            self.last_report = report
            return report

    def _reload(
        self,
        mode: Mode,
        old: dict[str, Source],
        texts: dict[str, Text],
        started: float,
        timeout: float | None,
    ) -> ReloadReport:
        file = self.entry.file.name
        for text in texts.values():
            if isinstance(text, HandlerKitError):  # a file that is there but cannot be read
                raise text
        readable: dict[str, str | None] = texts  # type: ignore[assignment]
        if mode is Mode.AUTO and all(readable[n] == s.text for n, s in old.items()):
            # After a failed reload, the files were put back as they were: say so.
            reason = "back to the last good version" if self._failed else "unchanged"
            return ReloadReport((file,), Outcome.UNCHANGED, reason, time.perf_counter() - started)
        planned = plan(self.repository, old, readable, self._instance, mode)
        ledger = Ledger.of(self.path, self.repository.owns_object)
        staging = Staging(self.repository, HandlerReloadError, ledger, planned.rerun, old)
        snapshot = ledger.snapshot()
        if timeout is None:
            timeout = max(DEFAULT_TIMEOUT, 3 * self._build_seconds)
        try:
            staged = run_bounded(lambda: stage(staging, planned, self._instance), staging, timeout)
        except BaseException:
            staging.rollback()
            ledger.restore(snapshot)
            raise
        ledger.settle(set(staged.executed))
        self._commit(staged)
        key = self.entry.module_key
        siblings = [s.file for n, s in staged.executed.items() if n != key]
        notes = [*staged.decision.notes]
        notes += [
            f"could not put back {what} before running the module again: restart the kernel "
            "for production's single import"
            for what in staging.unrestored
        ]
        return ReloadReport(
            (file, *map(self.repository.relative, siblings)),
            Outcome(staged.mode.value),
            staged.decision.reason,
            time.perf_counter() - started,
            forced=mode is not Mode.AUTO,
            changed=staged.decision.changed,
            kept=staged.kept,
            notes=tuple(notes),
        )

    def _commit(self, staged: Staged) -> None:
        # One attribute assignment swaps the instance for every caller.
        self._module, self._instance = staged.module, staged.instance
        if staged.mode is Mode.REINIT:
            self._build_seconds = staged.build_seconds
        self._modules_seen = -1  # look for the modules the new code imported
        # Modules taken out (their file is gone) are no longer tracked.
        sources = {**self._sources, **staged.executed}
        self._sources = {n: s for n, s in sources.items() if n in sys.modules}
        self.reloads += 1
        self.discover()
        if staged.mode is Mode.REINIT:
            staged.instance = None
            gc.collect()  # frees the old model now, not at some later collection

    def changed(self) -> bool:
        """True when a file differs from the last good load and from the last failed one."""
        self.discover()
        now = self.fingerprint(self.current_texts())
        return now != self.fingerprint({n: s.text for n, s in self._sources.items()}) and (
            now != self._failed
        )

    def reload_if_changed(self, timeout: float | None = None) -> ReloadReport | None:
        """Reload when :meth:`changed`; None otherwise. A broken file fails only once."""
        with self._lock:
            return self.reload(timeout=timeout) if self.changed() else None

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
        """Each tracked module's text on disk now: None when the file is gone, or the error
        that says why it cannot be read (not UTF-8, say)."""
        texts: dict[str, Text] = {}
        for name, source in self._sources.items():
            try:
                texts[name] = read_source(source.file, HandlerReloadError)
            except HandlerReloadError as error:
                gone = not source.file.exists()
                texts[name] = None if gone else error
        return texts

    @staticmethod
    def fingerprint(texts: Mapping[str, Text]) -> str:
        """One fingerprint for a set of module texts."""
        return digest("\n".join(f"{n}={digest(str(t or ''))}" for n, t in sorted(texts.items())))

    def _summary(self) -> str:
        reloads = f"{self.reloads} reload{'s' * (self.reloads != 1)}"
        return (
            f"{self.entry.class_name} from {self.file}, loaded {self.loaded_at:%H:%M:%S} "
            f"in {self.load_seconds:.2f} s, {reloads}"
        )

    def __repr__(self) -> str:
        return f"<LiveHandler {self._summary()}>"

    def _repr_html_(self) -> str:
        last = html.escape(f"last: {self.last_report}")
        last = f'<br><small style="color:{style.MUTED}">{last}</small>'
        return (
            f'<div style="color:{style.TEXT}"><b>LiveHandler</b> {html.escape(self._summary())}'
            f"{last if self.last_report else ''}</div>"
        )
