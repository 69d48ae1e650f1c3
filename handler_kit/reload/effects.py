"""What a module's top-level statement does beyond binding names: its effect at import.

A library patch, an environment variable, a ``sys.path`` change or any other top-level call
reaches beyond the module, and start-up may depend on it; a logging setting or a ``print``
is request-time. What a statement sets on an object it names (its patch points) is read here
once, for the analysis and for the patch ledger alike. A function of the statement's tree only.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .syntax import (
    Summary,
    TreeKey,
    constant,
    dotted,
    dotted_name,
    dotted_or_name,
    is_name,
    summarise,
    tree_key,
    value_of,
)


class SideEffect(str, enum.Enum):
    """What a top-level statement does beyond binding names."""

    LOGGING = "logging setting"  # request-time: hot
    PRINT = "print"  # request-time: hot
    ENVIRONMENT = "environment variable"
    PATCH = "library patch"
    PATH = "sys.path change"
    CALL = "top-level call"
    STATEMENT = "top-level statement"


REQUEST_TIME = frozenset({SideEffect.LOGGING, SideEffect.PRINT})
# Statements that may set a library's attribute or an environment variable (a block may hold
# one): a module that has one is compiled with the patch ledger's hook calls.
MAY_PATCH = frozenset({SideEffect.PATCH, SideEffect.ENVIRONMENT, SideEffect.STATEMENT})


@dataclass
class Effect:
    """A top-level statement with an effect beyond the module (or a logging/print call)."""

    kind: SideEffect
    label: str  # "X" (an environment variable), "torch.load", "logging.basicConfig"
    line: int
    node: ast.stmt
    dump: TreeKey
    note: str = ""
    where: str = ""  # "handler.py:7"
    _summary: Summary | None = None

    def summary(self, module: str, package: bool) -> Summary:
        if self._summary is None:
            self._summary = summarise([self.node], module, package)
        return self._summary

    def describe(self, verb: str) -> str:
        """``environment variable X changed at handler.py:4``, said for a reason."""
        what = f"{self.kind.value} {self.label}".rstrip()
        said = f"{what} {verb} at {self.where}"
        if self.kind is SideEffect.ENVIRONMENT:
            said += " (a library that read it when first imported keeps the old value)"
        return said


LOGGING_CALLS = frozenset(
    {
        "basicConfig",
        "setLevel",
        "disable",
        "captureWarnings",
        "filterwarnings",
        "simplefilter",
        "set_verbosity",
        "set_verbosity_error",
        "set_verbosity_warning",
        "set_verbosity_info",
        "set_verbosity_debug",
        "disable_progress_bar",
        "enable_progress_bar",
        "disable_default_handler",
        "enable_default_handler",
        "addHandler",
        "removeHandler",
        "setFormatter",
    }
)


def effect_of(
    stmt: ast.stmt, bindings: Mapping[str, list[ast.stmt]], imports: Mapping[str, list[str]]
) -> Effect | None:
    """What a top-level statement other than a definition or import does beyond the module.

    ``imports``: the names the module's imports bind so far; what the statement sets on an
    object named through one of them is a library patch.
    """
    line, dump = stmt.lineno, tree_key(stmt)
    for point in patch_points(stmt):
        if point.environment:
            return Effect(SideEffect.ENVIRONMENT, point.label, line, stmt, dump)
        if point.chain[0] in imports:
            return Effect(SideEffect.PATCH, point.label, line, stmt, dump)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return _call_effect(stmt, stmt.value, bindings)
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return None  # binds module names (a constant), or changes an object of the module
    if isinstance(stmt, (ast.Delete, ast.Pass, ast.Global, ast.Nonlocal)):
        return None
    return Effect(SideEffect.STATEMENT, f"at line {line}", line, stmt, dump)


def _call_effect(stmt: ast.Expr, call: ast.Call, bindings: Mapping[str, list[ast.stmt]]) -> Effect:
    """What a top-level call that patches nothing does: print, logging, sys.path, or a call."""
    line, dump = stmt.lineno, tree_key(stmt)
    func = ".".join(dotted(call.func) or []) if isinstance(call.func, ast.Attribute) else ""
    if isinstance(call.func, ast.Name):
        func = call.func.id
    last = func.rsplit(".", 1)[-1]
    if func == "print":
        return Effect(SideEffect.PRINT, "print", line, stmt, dump)
    if func in ("os.putenv", "os.unsetenv"):
        return Effect(SideEffect.ENVIRONMENT, func, line, stmt, dump)
    if last in LOGGING_CALLS and (
        "logging" in func or "warnings" in func or _is_logger(func, bindings)
    ):
        note = ""
        if func.endswith("basicConfig") and not any(k.arg == "force" for k in call.keywords):
            note = (
                f"{func} does nothing once logging is configured (the first run did): "
                "pass force=True"
            )
        return Effect(SideEffect.LOGGING, func, line, stmt, dump, note)
    if func.startswith("sys.path."):
        return Effect(SideEffect.PATH, func, line, stmt, dump)
    return Effect(SideEffect.CALL, f"{func or 'call'}(...)", line, stmt, dump)


# --- what a statement sets on objects it names: the one reading of a library patch -----------


class Slot(str, enum.Enum):
    """Where a statement puts a value on an object: an attribute of it, or an item of it."""

    ATTRIBUTE = "attr"
    ITEM = "item"


@dataclass(frozen=True)
class PatchPoint:
    """An attribute or item that a top-level statement sets (or removes) on an object it names.

    ``owner`` is the object's dotted name as written (``libstub.Base``, ``os.environ``),
    ``chain`` its parts; ``key`` is the attribute's name or the item's key, None when the
    statement does not say which (``os.environ.update(values)``).
    """

    owner: ast.expr
    chain: tuple[str, ...]
    slot: Slot
    key: ast.expr | None

    @property
    def restorable(self) -> bool:
        """The value it replaces can be read first and put back: the key is a constant."""
        return isinstance(self.key, ast.Constant)

    @property
    def environment(self) -> bool:
        """An environment variable: an item of ``os.environ``."""
        return self.slot is Slot.ITEM and _is_environ(".".join(self.chain))

    @property
    def label(self) -> str:
        """``libstub.Base.parse``, ``lib.table[...]``, or the variable's name (``HF_HOME``)."""
        key = constant(self.key) if self.key is not None else None
        if self.environment:
            return str(key) if key is not None else "(os.environ)"
        owner = ".".join(self.chain)
        if self.slot is Slot.ITEM:
            return f"{owner}[...]"
        return f"{owner}.{key}" if key else owner


ENVIRONMENT_SETTERS = frozenset({"setdefault", "update", "pop"})


def patch_points(stmt: ast.stmt) -> list[PatchPoint]:
    """What a top-level statement sets or removes on objects it names, in order.

    ``a.b.c = v``, ``a.b[k] = v`` (also ``+=`` and annotated), ``setattr(a.b, "c", v)``, and
    ``os.environ.setdefault(k, v)``, ``.update(...)``, ``.pop(k)``. The one reading of a
    library patch: the analysis calls a point on a name the module imported a library patch
    (and an item of ``os.environ`` an environment variable); the patch ledger records the
    value each restorable point replaces, so that running the module again patches the
    original.
    """
    points: list[PatchPoint] = []
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, ast.Attribute):
                points += _point(target.value, Slot.ATTRIBUTE, ast.Constant(target.attr))
            elif isinstance(target, ast.Subscript):
                points += _point(target.value, Slot.ITEM, target.slice)
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call, func = stmt.value, stmt.value.func
        if is_name(func, "setattr") and len(call.args) >= 2:
            points += _point(call.args[0], Slot.ATTRIBUTE, call.args[1])
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in ENVIRONMENT_SETTERS
            and _is_environ(dotted_name(func.value) or "")
        ):
            for key in _environment_keys(call, func.attr):
                points += _point(func.value, Slot.ITEM, key)
    return points


def _point(owner: ast.expr, slot: Slot, key: ast.expr | None) -> list[PatchPoint]:
    """The point, when ``owner`` is a dotted name (evaluating it again has no side effects)."""
    chain = dotted_or_name(owner)
    return [PatchPoint(owner, tuple(chain), slot, key)] if chain else []


def _environment_keys(call: ast.Call, method: str) -> list[ast.expr | None]:
    """The keys an ``os.environ`` method call sets or removes (None: it does not say which)."""
    if method != "update":
        return [call.args[0] if call.args else None]
    keys: list[ast.expr | None] = []
    for arg in call.args:
        keys += arg.keys if isinstance(arg, ast.Dict) else [None]
    keys += [ast.Constant(k.arg) if k.arg else None for k in call.keywords]
    return keys or [None]


def _is_environ(func: str) -> bool:
    return func in ("os.environ", "environ") or func.startswith(("os.environ.", "environ."))


def _is_logger(func: str, bindings: Mapping[str, list[ast.stmt]]) -> bool:
    """``logger.setLevel`` where ``logger = logging.getLogger(...)`` at module level."""
    head = func.split(".")[0]
    for stmt in bindings.get(head, []):
        value = value_of(stmt)
        if isinstance(value, ast.Call):
            called = ".".join(dotted_or_name(value.func) or [])
            if called.endswith("getLogger") or called.endswith("get_logger"):
                return True
    return False
