"""Record the text each repository module was imported from, for lazily imported siblings.

A handler may import a sibling module inside ``__call__``; the live handler finds it later and
needs the text it ran as the baseline of the next reload (see :class:`ImportRecorder`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import weakref
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar


def imported_text(module: ModuleType) -> str | None:
    """The exact text ``module`` was imported from, when the ImportRecorder loaded it."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return loader.text if isinstance(loader, RecordingLoader) else None


class RecordingLoader(SourceFileLoader):
    """The standard source loader, keeping the text it compiled (``self.text``).

    It reads the source and compiles exactly those bytes (no pyc is read or written), so
    ``text`` is what the module ran, whatever happens to the file afterwards.
    """

    text: str | None = None

    def get_code(self, fullname: str) -> Any:
        data = self.get_data(self.path)
        self.text = importlib.util.decode_source(data)
        return self.source_to_code(data, self.path)


class ImportRecorder:
    """Remembers the text of every repository module imported after the handler's load.

    A handler may import a sibling lazily, inside ``__call__`` (``import lazyutils``). The
    live handler discovers such a module later, and needs the text it was imported from as
    its baseline: the file may have been edited between the import and the reload, and the
    text on disk then would hide the edit. Timestamps cannot tell that soundly (a pyc header
    holds whole seconds and is not written in read-only folders or with
    ``sys.dont_write_bytecode``), so this finder, placed just before PathFinder in
    ``sys.meta_path``, lets PathFinder resolve the import as usual and, only for a module
    whose file is ``<repo>/name.py`` or ``<repo>/name/__init__.py`` of a watched repository,
    loads it with a :class:`RecordingLoader` that keeps the text it compiled. Resolution is
    PathFinder's own, so what gets imported does not change; other imports cost a couple
    of ``stat`` calls per watched repository for a new top-level name, nothing else.
    """

    _watched: ClassVar[dict[str, int]] = {}  # repository folder -> number of live handlers on it
    _lock = threading.Lock()

    @classmethod
    def watch(cls, repo: Path, owner: object) -> None:
        """Record imports from ``repo`` while ``owner`` (a LiveHandler) is alive."""
        key = str(repo)
        with cls._lock:
            cls._watched[key] = cls._watched.get(key, 0) + 1
            if not any(isinstance(f, cls) for f in sys.meta_path):
                at = next(
                    (i for i, f in enumerate(sys.meta_path) if f is PathFinder), len(sys.meta_path)
                )
                sys.meta_path.insert(at, cls())
        weakref.finalize(owner, cls._unwatch, key)

    @classmethod
    def _unwatch(cls, key: str) -> None:
        with cls._lock:
            cls._watched[key] -= 1
            if not cls._watched[key]:
                del cls._watched[key]

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        parts = name.split(".")
        stems = []
        for repo in tuple(self._watched):
            if path is not None and not any(str(p).startswith(repo) for p in path):
                continue  # a submodule of a package outside this repository
            stem = os.path.join(repo, *parts)
            if os.path.isfile(stem + ".py") or os.path.isfile(os.path.join(stem, "__init__.py")):
                stems.append(stem)
        if not stems:
            return None
        spec = PathFinder.find_spec(name, path, target)
        if (
            spec is None
            or type(spec.loader) is not SourceFileLoader
            or not isinstance(spec.origin, str)
            or not any(
                spec.origin in (stem + ".py", os.path.join(stem, "__init__.py")) for stem in stems
            )
        ):
            return None  # not a repository module: PathFinder finds it again, as always
        spec.loader = RecordingLoader(name, spec.origin)
        return spec
