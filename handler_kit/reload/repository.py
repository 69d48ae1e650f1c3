"""A handler repository: its folder, the entry file production imports, and its own modules.

This is the one place that says which files are the repository's own modules: a module
``name`` is the repository's when its file is what ``import name`` finds from the repository
root, ``<repo>/a/b.py`` or ``<repo>/a/b/__init__.py`` for ``a.b``. Everything else that lives
below the folder (a virtual environment, a tests/ folder nobody imports) is not. The loader,
the reload, the import recorder and the deployment check all ask here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import HandlerKitError, HandlerLoadError, HandlerReloadError, describe
from .syntax import imports_in, packages_of


@dataclass(frozen=True)
class Entry:
    """The file production imports from a repository, its module key and its class."""

    file: Path
    module_key: str
    class_name: str


def entries(env: Mapping[str, str] = os.environ) -> tuple[tuple[str, str, str], ...]:
    """What production looks for, in this order, as (file, module key, class) triples.

    ``HF_DEFAULT_PIPELINE_NAME`` (default handler.py) imported under the module key
    ``HF_MODULE_NAME`` (default ``<its stem>.EndpointHandler``), class EndpointHandler; else
    the legacy pipeline.py with PreTrainedPipeline.
    """
    file = env.get("HF_DEFAULT_PIPELINE_NAME", "handler.py")
    key = env.get("HF_MODULE_NAME", f"{Path(file).stem}.EndpointHandler")
    return (
        (file, key, "EndpointHandler"),
        ("pipeline.py", "pipeline.PreTrainedPipeline", "PreTrainedPipeline"),
    )


# Read once, when handler_kit is imported, as production reads its constants at start-up:
# set HF_DEFAULT_PIPELINE_NAME / HF_MODULE_NAME before importing handler_kit.
ENTRIES = entries()
ENTRY_KEYS = frozenset(key for _, key, _ in ENTRIES)


@dataclass(frozen=True)
class Source:
    """One module of the repository as it ran: its name, file and text."""

    name: str
    file: Path
    text: str


# handler.py may run a second time as plain `handler` (production does, when handler.py tries
# a relative import): that copy is the entry's, never a sibling module of its own.
ENTRY_STEMS = frozenset(file.removesuffix(".py") for file, _, _ in ENTRIES)


def roots(root: str, extra: Collection[str] = ()) -> list[str]:
    """The folders from which ``import name`` finds the repository's modules.

    The repository folder, the folders inside it that the handler put on sys.path itself
    (``sys.path.append(os.path.join(here, "src"))``; site-packages excepted), and ``extra``:
    such folders seen in another process (the check's worker reports them).
    """
    found = [root]
    prefix = root + os.sep
    for entry in (*extra, *sys.path):
        if (
            isinstance(entry, str)
            and entry.startswith(prefix)
            and "site-packages" not in entry
            and "dist-packages" not in entry
            and entry not in found
        ):
            found.append(entry)
    return found


def module_file(root: str, name: str) -> str | None:
    """The file ``import name`` finds in the repository at ``root``, or None.

    ``a.b`` is ``root/a/b.py`` or ``root/a/b/__init__.py``: string work and two ``stat``
    calls, cheap enough for an import hook.
    """
    stem = os.path.join(root, *name.split("."))
    for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def is_module_file(root: str, name: str, file: str) -> bool:
    """True when ``file`` is what ``import name`` finds from ``root`` (without touching disk)."""
    stem = os.path.join(root, *name.split("."))
    return file in (stem + ".py", os.path.join(stem, "__init__.py"))


def source_text(file: Path) -> str:
    """A Python file's text decoded as the import system decodes it.

    A UTF-8 byte-order mark or a ``# -*- coding: ... -*-`` line is honoured, as it is when
    production imports the file.
    """
    return importlib.util.decode_source(file.read_bytes())


def read_source(file: Path, error: type[HandlerKitError] = HandlerLoadError) -> str:
    """The text of a module's file; ``error`` says clearly when it is gone or unreadable.

    Always read, never judged by its modification time: two saves within one tick of the
    file system's clock (milliseconds) leave the same time, and a missed edit is a stale
    reload.
    """
    try:
        return source_text(file)
    except FileNotFoundError:
        raise error(f"{file.name} is gone", file=file, hint="Restore the file.") from None
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise error(
            f"{file.name} is not readable as Python source: {describe(exc)}",
            file=file,
            line=getattr(exc, "lineno", None),
            hint="Save it as UTF-8 (or declare its encoding in a `# -*- coding: ... -*-` "
            "line, as PEP 263 says).",
        ) from exc
    except OSError as exc:
        raise error(f"cannot read {file.name}: {describe(exc)}", file=file) from exc


# A module's text now: its source, None when the file is gone, or why it cannot be read.
Text = str | None | HandlerKitError


def texts_now(sources: Mapping[str, Source]) -> dict[str, Text]:
    """Each module's text on disk now: None when its file is gone, or the error that says
    why it cannot be read (not UTF-8, say)."""
    texts: dict[str, Text] = {}
    for name, source in sources.items():
        try:
            texts[name] = read_source(source.file, HandlerReloadError)
        except HandlerReloadError as error:
            texts[name] = None if not source.file.exists() else error
    return texts


def fingerprint(texts: Mapping[str, Text]) -> str:
    """One fingerprint for a set of module texts."""
    return digest("\n".join(f"{n}={digest(str(t or ''))}" for n, t in sorted(texts.items())))


def digest(text: str) -> str:
    """A short fingerprint of a source text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Repository:
    """A model repository: its folder and the entry production imports from it."""

    path: Path
    entry: Entry
    # Folders inside the repository that its handler puts on sys.path, as another process saw
    # them (the check's worker); this process's own sys.path is always looked at too.
    extra_roots: tuple[str, ...] = ()

    @classmethod
    def find(cls, path: str | Path) -> Repository:
        """The repository at ``path`` (its folder, or its handler.py), as production finds it."""
        given = Path(path).expanduser()
        folder = given.resolve()
        if folder.is_file() and folder.name in {name for name, _, _ in ENTRIES}:
            folder = folder.parent
        if not folder.exists():
            raise HandlerLoadError(
                f"no such folder: {given}",
                hint="Pass the folder of your model repository, the one that holds handler.py.",
            )
        if not folder.is_dir():
            raise HandlerLoadError(
                f"{given} is a file, not a model repository folder",
                hint="Pass the folder that holds handler.py (or handler.py itself).",
            )
        entry = _entry_in(folder)
        if entry is not None:
            return cls(folder, entry)
        found = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
        handler_file = ENTRIES[0][0]
        raise HandlerLoadError(
            f"no {handler_file} in {folder} (it holds: {found})",
            hint=(
                f"Create {folder / handler_file} with `class EndpointHandler` (methods "
                "`__init__(self, path)` and `__call__(self, data)`), or a legacy pipeline.py "
                "with `class PreTrainedPipeline`."
            ),
        )

    @classmethod
    def expected(cls, folder: Path) -> Repository:
        """The repository in ``folder`` as production would look for it, even if incomplete.

        Its entry is the handler.py (or pipeline.py) that is there, else the handler.py that
        should be: the deployment check reports on a folder that lacks one.
        """
        folder = folder.expanduser().resolve()
        name, key, class_name = ENTRIES[0]
        return cls(folder, _entry_in(folder) or Entry(folder / name, key, class_name))

    def with_roots(self, extra: Collection[str]) -> Repository:
        """The repository with ``extra`` sys.path folders of its own (seen in another process)."""
        return Repository(self.path, self.entry, tuple(extra))

    def roots(self) -> list[str]:
        """The folders from which ``import name`` finds the repository's modules."""
        return roots(str(self.path), self.extra_roots)

    def top_names(self) -> set[str]:
        """The top-level names ``import name`` finds in the repository's roots (files, folders)."""
        found = set()
        for root in self.roots():
            with contextlib.suppress(OSError):
                for item in os.scandir(root):
                    found.add(item.name.removesuffix(".py") if item.is_file() else item.name)
        return found

    def module_file(self, name: str) -> Path | None:
        """The file of the repository's own module ``name`` on disk, or None."""
        if name.split(".")[0] in ENTRY_STEMS:
            return None
        for root in self.roots():
            file = module_file(root, name)
            if file:
                return Path(file)
        return None

    def invalidate_caches(self) -> None:
        """Forget what the import system cached of the repository's folders (a file created a
        moment ago must be found), and nothing else: all of sys.path takes milliseconds."""
        for root in self.roots():
            finder = sys.path_importer_cache.get(root)
            if finder is not None and hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()

    def owns_name(self, name: str) -> bool:
        """True when ``import name`` would find one of the repository's own modules."""
        return self.module_file(name) is not None

    def relative(self, file: Path) -> str:
        """``file`` relative to the repository (``utils.py``, ``pkg/mod.py``), else as given."""
        try:
            return file.relative_to(self.path).as_posix()
        except ValueError:
            return str(file)

    def owns(self, name: str, file: object) -> bool:
        """True when module ``name``, loaded from ``file``, is one of the repository's own."""
        return (
            isinstance(file, str)
            and name.split(".")[0] not in ENTRY_STEMS
            and name not in ENTRY_KEYS
            and any(is_module_file(root, name, file) for root in self.roots())
        )

    def owns_object(self, value: object) -> bool:
        """True for a module of the repository, or a class or function defined in one."""
        if isinstance(value, ModuleType):
            return value.__name__ in ENTRY_KEYS or self.owns(value.__name__, value.__file__)
        module = sys.modules.get(getattr(value, "__module__", None) or "")
        return module is not None and module is not value and self.owns_object(module)

    def imported_modules(self, skip: Collection[str] = ()) -> dict[str, ModuleType]:
        """The repository's own modules that are imported now (``utils``, ``pkg.mod``).

        Names in ``skip`` (modules already tracked) are left out.
        """
        found = {}
        prefix = str(self.path)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            # A cheap string test first: thousands of modules are loaded next to torch.
            if (
                isinstance(file, str)
                and file.startswith(prefix)
                and name not in skip
                and self.owns(name, file)
            ):
                found[name] = module
        return found

    def shadowed(self) -> list[str]:
        """Modules in sys.modules of another handler repository that this one's files would
        shadow: one of this repository's top-level names, loaded from a file beside another
        repository's handler.py or pipeline.py (or in a package there)."""
        found = []
        own = self.top_names()
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if name.split(".")[0] not in own or not isinstance(file, str):
                continue
            folder = Path(file).resolve().parent
            if not folder.is_relative_to(self.path) and any(
                _entry_in(d) for d in (folder, folder.parent)
            ):
                found.append(name)
        return found

    def modules_on_disk(self) -> dict[str, Path]:
        """Every module of the repository that ``import name`` could find from its roots.

        Python files and packages (folders with ``__init__.py``, or namespace folders holding
        Python files) at any depth below each root (the repository, and the folders it puts
        on sys.path: ``src/engine.py`` is ``engine`` too); hidden and ``__pycache__`` folders
        are left out.
        """
        found: dict[str, Path] = {}
        for root in map(Path, self.roots()):
            for file in _python_files(root):
                parts = file.relative_to(root).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                if parts and all(part.isidentifier() for part in parts):
                    found.setdefault(".".join(parts), file)
        return found

    def imported_by_entry(self) -> dict[str, Path]:
        """The repository's modules the entry imports, at any depth, read from the texts.

        The entry first; then each own module an import statement names (anywhere in a
        file: inside functions too). What production never imports (tests/, scripts/) is
        left out.
        """
        own = self.modules_on_disk()
        found = {self.entry.module_key: self.entry.file}
        todo = [(self.entry.module_key, self.entry.file)]
        while todo:
            name, file = todo.pop(0)
            try:
                text = source_text(file)
            except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
                continue  # the entry check reports an unreadable handler.py
            for target, _ in imports_in(text, name, file.name == "__init__.py"):
                # `import pkg.mod` runs pkg/__init__.py, then pkg/mod.py.
                for candidate in [*packages_of(target), target]:
                    # `from . import x` in handler.py names the entry's own file: seen.
                    if candidate in own and own[candidate] not in found.values():
                        found[candidate] = own[candidate]
                        todo.append((candidate, own[candidate]))
        return found


def _entry_in(folder: Path) -> Entry | None:
    """The entry production imports from ``folder`` (handler.py, else pipeline.py), or None."""
    for name, key, class_name in ENTRIES:
        if (folder / name).is_file():
            return Entry(folder / name, key, class_name)
    return None


def _python_files(root: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        files += [Path(folder, n) for n in sorted(names) if n.endswith(".py")]
    return files
