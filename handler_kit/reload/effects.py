"""What a module's top-level statement does beyond binding names: its effect at import.

A library patch, an environment variable, a ``sys.path`` change or any other top-level call
reaches beyond the module, and start-up may depend on it; a logging setting or a ``print``
is request-time. A function of the statement's tree only.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .syntax import Summary, constant, dotted, dotted_or_name, summarise, tree_key, value_of


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


@dataclass
class Effect:
    """A top-level statement with an effect beyond the module (or a logging/print call)."""

    kind: SideEffect
    label: str  # "X" (an environment variable), "torch.load", "logging.basicConfig"
    line: int
    node: ast.stmt
    dump: str
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
ENVIRONMENT_CALLS = frozenset({"setdefault", "update", "pop", "putenv", "unsetenv"})


def effect_of(
    stmt: ast.stmt, bindings: Mapping[str, list[ast.stmt]], imports: Mapping[str, list[str]]
) -> Effect | None:
    """What a top-level statement other than a definition or import does beyond the module."""
    line, dump = stmt.lineno, tree_key(stmt)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        func = ".".join(dotted(call.func) or []) if isinstance(call.func, ast.Attribute) else ""
        if isinstance(call.func, ast.Name):
            func = call.func.id
        last = func.rsplit(".", 1)[-1]
        if func == "print":
            return Effect(SideEffect.PRINT, "print", line, stmt, dump)
        if _is_environ(func) and last in ENVIRONMENT_CALLS:
            key = constant(call.args[0]) if call.args else None
            label = str(key) if key is not None else "(os.environ)"
            return Effect(SideEffect.ENVIRONMENT, label, line, stmt, dump)
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
        if func == "setattr" and call.args:
            owner = ".".join(dotted_or_name(call.args[0]) or ["?"])
            attr = constant(call.args[1]) if len(call.args) > 1 else None
            return Effect(SideEffect.PATCH, f"{owner}.{attr}" if attr else owner, line, stmt, dump)
        if func.startswith("sys.path."):
            return Effect(SideEffect.PATH, func, line, stmt, dump)
        return Effect(SideEffect.CALL, f"{func or 'call'}(...)", line, stmt, dump)
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                owner = dotted_or_name(target.value)
                if owner and _is_environ(".".join(owner)):
                    key = constant(target.slice)
                    label = str(key) if key is not None else "(os.environ)"
                    return Effect(SideEffect.ENVIRONMENT, label, line, stmt, dump)
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                owner = dotted_or_name(target.value)
                if owner and owner[0] in imports:
                    name = ".".join(owner)
                    attr = f".{target.attr}" if isinstance(target, ast.Attribute) else "[...]"
                    return Effect(SideEffect.PATCH, name + attr, line, stmt, dump)
        return None  # binds module names (a constant), or changes an object of the module
    if isinstance(stmt, (ast.Delete, ast.Pass, ast.Global, ast.Nonlocal)):
        return None
    return Effect(SideEffect.STATEMENT, f"at line {line}", line, stmt, dump)


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
