"""Library patches and environment variables set at import: once, as in production.

Production imports handler.py once per process. A reload runs it again, and a top-level
``Tokenizer.method = wrap(Tokenizer.method)`` would then wrap the wrapper of the first run,
giving what no production process ever runs. So a module is compiled with a call placed before
each top-level statement that sets an attribute or item of an object it names (its patch points,
read by ``effects.patch_points`` as the analysis reads them: an assignment to ``a.b.c`` or
``a.b[k]``, ``setattr(a.b, "c", ...)``, ``os.environ.setdefault(k, ...)``): unless the object is
the repository's own, the call records the value from before the first run, and on every later
run puts that value back just before the statement runs again. The statement then patches the
original, as it did in the first run.

The ledger of such values belongs to the repository (a second ``load`` of the same folder in
the same process finds the originals too). After a failed reload the values of the last good
run are put back; after a good one, a patch whose statement is gone is undone.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from ..report import name_of
from .effects import Slot, patch_points

if TYPE_CHECKING:
    from .repository import Repository

HOOK = "__handler_kit_patch__"
_MISSING = object()


def _hook_calls(stmt: ast.stmt) -> list[ast.expr]:
    """Calls to put before ``stmt``: ``HOOK(owner, slot, key)`` for each value it replaces."""
    return [
        ast.Call(ast.Name(HOOK, ast.Load()), [p.owner, ast.Constant(p.slot.value), p.key], [])
        for p in patch_points(stmt)
        if p.restorable
    ]


def _instrument(body: list[ast.stmt]) -> bool:
    """Put the hook calls into a module body (and its top-level blocks); True if any."""
    changed = False
    index = 0
    while index < len(body):
        stmt = body[index]
        for block in _blocks(stmt):
            changed |= _instrument(block)
        points = _hook_calls(stmt)
        for point in reversed(points):
            call = ast.Expr(point)
            ast.copy_location(call, stmt)
            ast.fix_missing_locations(call)
            body.insert(index, call)
        index += len(points) + 1
        changed |= bool(points)
    return changed


def _blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists of a top-level block that still run at import (not defs)."""
    if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(stmt, name, None)
            if block:
                yield block
        for handler in getattr(stmt, "handlers", []):
            yield handler.body


class Ledger:
    """The original values of what a repository's modules patch at import, by module."""

    _by_repository: ClassVar[dict[str, Ledger]] = {}
    _registry_lock = threading.Lock()

    def __init__(self, owns: Callable[[Any], bool]) -> None:
        self.owns = owns  # True for objects of the repository itself: not library patches
        # (module, id(owner), kind, key) -> (owner, kind, key, original value)
        self.entries: dict[tuple[str, int, str, Any], tuple[Any, str, Any, Any]] = {}
        self.touched: set[tuple[str, int, str, Any]] = set()

    @classmethod
    def of(cls, repository: Repository) -> Ledger:
        """The ledger of ``repository`` (one per folder and process); what it patches of its
        own objects (``owns_object``) is not a library patch."""
        with cls._registry_lock:
            ledger = cls._by_repository.get(str(repository.path))
            if ledger is None:
                ledger = cls(lambda owner: _owned(repository, owner))
                cls._by_repository[str(repository.path)] = ledger
            return ledger

    def compile(
        self, module: str, text: str, filename: str, patches: bool = True
    ) -> tuple[CodeType, bool]:
        """Module code with the hook calls in; True when it needs ``hook(module)`` bound.

        ``patches=False`` says the text has no statement that could patch (its analysis
        found none): it is compiled as it is, without a second parse.
        """
        if patches:
            tree = ast.parse(text, filename)
            if _instrument(tree.body):
                return compile(tree, filename, "exec", dont_inherit=True), True
        return compile(text, filename, "exec", dont_inherit=True), False

    def hook(self, module: str) -> Callable[[Any, str, Any], None]:
        """The function the compiled module calls before each patch statement."""

        def before_patch(owner: Any, kind: str, key: Any) -> None:
            if self.owns(owner):
                return  # the module's own objects start afresh with each run
            entry = (module, id(owner), kind, key)
            self.touched.add(entry)
            if entry not in self.entries:  # the first run: this is the original
                self.entries[entry] = (owner, kind, key, _get(owner, kind, key))

        return before_patch

    def rewind(self, module: str) -> list[str]:
        """Put back the originals of what ``module`` patched, before it runs again.

        Done before the module's first statement, not just before the patch: handlers read
        the attribute first (``_original = Lib.method``) and patch it later. Returns what
        could not be put back, said for the user.
        """
        failed = []
        for entry, (owner, kind, key, original) in self.entries.items():
            if entry[0] == module:
                try:
                    _put(owner, kind, key, original)
                except Exception as error:  # a read-only attribute of a C type
                    failed.append(f"{_name(owner)}.{key}: {error}")
        return failed

    def snapshot(self) -> dict[tuple[str, int, str, Any], Any]:
        """The values in place now, to put back after a failed reload."""
        self.touched = set()
        return {e: _get(owner, kind, key) for e, (owner, kind, key, _) in self.entries.items()}

    def restore(self, snapshot: dict[tuple[str, int, str, Any], Any]) -> None:
        """Put back the values of a snapshot (the last good run's), forget newer entries."""
        for entry in list(self.entries):
            owner, kind, key, original = self.entries[entry]
            if entry in snapshot:
                _put(owner, kind, key, snapshot[entry])
            else:
                _put(owner, kind, key, original)
                del self.entries[entry]

    def settle(self, modules: set[str]) -> None:
        """After a good run of ``modules``: forget their patches whose statements are gone.

        ``rewind`` put their originals back before the run, and nothing patched them again.
        """
        for entry in list(self.entries):
            if entry[0] in modules and entry not in self.touched:
                del self.entries[entry]


def _owned(repository: Repository, owner: Any) -> bool:
    """Whether ``owner`` is the repository's own (a patch of it is no library patch).

    A module without a file (``sys``, ``time``: built into the interpreter; a namespace
    package) is never run again by a reload, whatever its name: what top-level code sets on it
    (``sys.excepthook = hook``) is patched and put back like a library's, and so is what it
    defines (``sys.stdout``, of ``_io``).
    """
    module = owner if isinstance(owner, ModuleType) else None
    if module is None:
        name = getattr(owner, "__module__", None)
        module = sys.modules.get(name) if isinstance(name, str) else None
    if module is None or not isinstance(getattr(module, "__file__", None), str):
        return False
    return repository.owns_object(owner)


def _get(owner: Any, kind: str, key: Any) -> Any:
    if kind == Slot.ATTRIBUTE:
        return getattr(owner, key, _MISSING)
    try:
        return owner[key] if key in owner else _MISSING  # noqa: SIM401 (a Mapping, not a dict)
    except TypeError:
        return _MISSING


def _put(owner: Any, kind: str, key: Any, value: Any) -> None:
    if kind == Slot.ATTRIBUTE:
        if value is _MISSING:
            if hasattr(owner, key):
                delattr(owner, key)
        else:
            setattr(owner, key, value)
    elif value is _MISSING:
        if key in owner:
            del owner[key]
    else:
        owner[key] = value


def _name(owner: Any) -> str:
    return "os.environ" if owner is os.environ else name_of(owner)
