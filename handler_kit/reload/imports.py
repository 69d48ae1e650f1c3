"""Record the text each repository module was imported from, for lazily imported siblings.

A handler may import a sibling module inside ``__call__``; the live handler finds it later and
needs the text it ran as the baseline of the next reload (see :class:`ImportRecorder`).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import weakref
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from .repository import Repository, Source, source_text


def imported_text(module: ModuleType) -> str | None:
    """The exact text ``module`` was imported from, when the ImportRecorder loaded it."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return loader.text if isinstance(loader, RecordingLoader) else None


def imported_source(name: str, module: ModuleType) -> Source | None:
    """Module ``name`` as it ran: the text it was imported from, else its file's text now.

    None when its file cannot be read (it was deleted, or is not valid source).
    """
    file = Path(module.__file__ or "")
    text = imported_text(module)
    try:
        return Source(name, file, source_text(file) if text is None else text)
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return None


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

    # repository -> number of live handlers on it
    _watched: ClassVar[dict[Repository, int]] = {}
    _lock = threading.Lock()

    @classmethod
    def watch(cls, key: Repository, owner: object) -> None:
        """Record imports from the repository while ``owner`` (a LiveHandler) is alive."""
        with cls._lock:
            cls._watched[key] = cls._watched.get(key, 0) + 1
            if not any(isinstance(f, cls) for f in sys.meta_path):
                at = next(
                    (i for i, f in enumerate(sys.meta_path) if f is PathFinder), len(sys.meta_path)
                )
                sys.meta_path.insert(at, cls())
        weakref.finalize(owner, cls._unwatch, key)

    @classmethod
    def _unwatch(cls, key: Repository) -> None:
        with cls._lock:
            cls._watched[key] -= 1
            if not cls._watched[key]:
                del cls._watched[key]

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        # The repositories whose own module ``name`` would be: the one rule, Repository's.
        mine = [repo for repo in tuple(self._watched) if repo.module_file(name)]
        if not mine:
            return None
        spec = PathFinder.find_spec(name, path, target)
        if (
            spec is None
            or type(spec.loader) is not SourceFileLoader
            or not isinstance(spec.origin, str)
            or not any(repo.owns(name, spec.origin) for repo in mine)
        ):
            return None  # not a repository module: PathFinder finds it again, as always
        spec.loader = RecordingLoader(name, spec.origin)
        return spec
