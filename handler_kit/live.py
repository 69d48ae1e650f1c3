"""LiveHandler: a loaded handler that stays callable while its code is reloaded under it."""

from __future__ import annotations

import html
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .imports import ImportRecorder
from .loader import Entry, Source, digest, sibling_sources, source_text

if TYPE_CHECKING:
    from .reload import ReloadReport


class LiveHandler:
    """A loaded handler; calls go to the current instance, reloads swap it atomically.

    Build one with :func:`handler_kit.load`. ``handler(data)`` calls the current
    ``EndpointHandler`` instance. A call in flight during a reload finishes on the instance
    it started with; the next call uses the new one.
    """

    def __init__(
        self,
        repo: Path,
        entry: Entry,
        module: ModuleType,
        instance: Any,
        sources: Mapping[str, Source],
        load_seconds: float,
    ) -> None:
        self.path = repo
        self.entry = entry
        self.loaded_at = datetime.now()
        self.load_seconds = load_seconds
        self.reloads = 0
        self.last_report: ReloadReport | None = None
        self._module = module
        self._instance = instance
        self._sources = dict(sources)
        self._failed: str | None = None  # fingerprint of the files whose reload failed
        # Reloads are serialised; calls never wait for this lock.
        self._lock = threading.RLock()
        # The size of sys.modules when the repository's modules were last looked for: a
        # new import (a sibling imported lazily, inside __call__) grows it.
        self._modules_seen = len(sys.modules)
        ImportRecorder.watch(repo, self)  # the text each later-imported sibling ran

    def __call__(self, data: Any) -> Any:
        """Answer one request with the current handler instance."""
        return self._instance(data)

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

    def reload(self, mode: str = "auto") -> ReloadReport:
        """Reload handler.py and its edited siblings; ``mode`` is "auto", "hot" or "reinit"."""
        from .reload import reload

        return reload(self, mode)

    def changed(self) -> bool:
        """True when a file differs from the last good load and from the last failed one."""
        self.discover()
        now = self.fingerprint(self.current_texts())
        return now != self.fingerprint({n: s.text for n, s in self._sources.items()}) and (
            now != self._failed
        )

    def reload_if_changed(self) -> ReloadReport | None:
        """Reload when :meth:`changed`; None otherwise. A broken file fails only once."""
        with self._lock:
            return self.reload() if self.changed() else None

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
            found = sibling_sources(self.path, skip=self._sources)
            if found:
                # A new dict, not an update: a reload may be iterating over the old one.
                self._sources = {**found, **self._sources}

    def current_texts(self) -> dict[str, str | None]:
        """Each tracked module's text as it is on disk now (None when the file is gone)."""
        texts: dict[str, str | None] = {}
        for name, source in self._sources.items():
            try:
                texts[name] = source_text(source.file)
            except (OSError, SyntaxError, UnicodeDecodeError):
                texts[name] = None
        return texts

    @staticmethod
    def fingerprint(texts: Mapping[str, str | None]) -> str:
        """One fingerprint for a set of module texts."""
        return digest("\n".join(f"{n}={digest(t or '')}" for n, t in sorted(texts.items())))

    def _summary(self) -> str:
        reloads = f"{self.reloads} reload{'s' * (self.reloads != 1)}"
        return (
            f"{self.entry.class_name} from {self.file}, loaded {self.loaded_at:%H:%M:%S} "
            f"in {self.load_seconds:.2f} s, {reloads}"
        )

    def __repr__(self) -> str:
        return f"<LiveHandler {self._summary()}>"

    def _repr_html_(self) -> str:
        last = f"<br><small>last: {html.escape(str(self.last_report))}</small>"
        return (
            f"<div><b>LiveHandler</b> {html.escape(self._summary())}"
            f"{last if self.last_report else ''}</div>"
        )
