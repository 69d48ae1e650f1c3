"""What one module's text defines, binds and does: a function of (name, text) only.

Its definitions (functions, classes, the handler class's methods) as units, the names it binds
at module level (and class attributes), its top-level effects, and every module it imports.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .effects import MAY_PATCH, Effect, SideEffect, effect_of
from .syntax import (
    Context,
    Summary,
    TreeKey,
    constant,
    import_bindings,
    imported_modules,
    is_docstring,
    is_import,
    is_name,
    packages_of,
    segment,
    source_lines,
    summarise,
    tree_key,
    value_of,
)


@dataclass
class Unit:
    """A definition: a function, a class, or a method of the handler class.

    Units of the same module, name and text are the same object from one analysis to the
    next (see ``_unit``): their dump and summary are worked out once.
    """

    label: str
    text: str  # its source lines: equal texts need no tree comparison
    node: ast.AST
    module: str = ""
    package: bool = False
    _dump: TreeKey | None = None
    _summary: Summary | None = None

    @property
    def dump(self) -> TreeKey:
        """What the code does, without positions, comments or docstrings: equal when only
        those changed (worked out only when the texts differ)."""
        if self._dump is None:
            self._dump = tree_key(self.node)
        return self._dump

    @property
    def summary(self) -> Summary:
        if self._summary is None:
            self._summary = summarise([self.node], self.module, self.package)
        return self._summary


_units: dict[tuple[str, str, str, str], Unit] = {}


def _unit(label: str, text: str, node: ast.AST, module: str, package: bool) -> Unit:
    """The unit for a definition, the one of an earlier analysis when its text is the same."""
    key = (module, label, text, str(package))
    unit = _units.get(key)
    if unit is None:
        if len(_units) > 5000:
            _units.clear()
        unit = _units[key] = Unit(label, text, node, module, package)
    return unit


@dataclass
class Header:
    """The handler class's first lines: bases, keywords, decorators."""

    text: str
    node: ast.ClassDef
    _dump: TreeKey | None = None

    @property
    def dump(self) -> TreeKey:
        if self._dump is None:
            header = copy.copy(self.node)
            header.body = []
            self._dump = tree_key(header)
        return self._dump

    def same(self, other: Header | None) -> bool:
        return other is not None and (self.text == other.text or self.dump == other.dump)


@dataclass
class Binding:
    """A name bound at module level (or a class attribute) and the statements binding it."""

    label: str
    statements: list[ast.stmt]
    imports: list[str] = field(default_factory=list)  # absolute targets of import bindings
    _dump: TreeKey | None = None
    _summary: Summary | None = None

    @property
    def dump(self) -> TreeKey:
        if self._dump is None:
            self._dump = tuple(tree_key(s) for s in self.statements)
        return self._dump

    def summary(self, module: str, package: bool) -> Summary:
        if self._summary is None:
            values = [value_of(s) for s in self.statements if not is_import(s)]
            self._summary = summarise(values, module, package)
        return self._summary


@dataclass
class Analysis:
    """What one module's text defines, binds and does; a function of (name, text) only."""

    name: str
    file: str
    package: bool
    units: dict[str, Unit] = field(default_factory=dict)  # "f", "C", "C.m"
    bindings: dict[str, Binding] = field(default_factory=dict)  # "X", "C.attr"
    effects: list[Effect] = field(default_factory=list)
    headers: dict[str, Header] = field(default_factory=dict)  # class name -> its header
    stars: list[str] = field(default_factory=list)  # modules imported with `import *`
    imports: set[str] = field(default_factory=set)  # every module imported, anywhere in it
    problem: str = ""  # why the text, which parses, could not be analysed: decide to re-init

    @property
    def may_patch(self) -> bool:
        """Whether a top-level statement could patch a library or set an environment variable."""
        return bool(self.problem) or any(effect.kind in MAY_PATCH for effect in self.effects)


@lru_cache(maxsize=256)
def analyse(name: str, text: str | None, file: str = "", entry: bool = False) -> Analysis:
    """What module ``name`` defines, binds and does (cached: texts repeat across reloads).

    ``entry``: the module is the entry (handler.py), whose names are said without a prefix.
    """
    file = file or name.replace(".", "/") + ".py"
    package = file.endswith("__init__.py")
    analysis = Analysis(name, file, package)
    if text is None:
        return analysis
    tree = ast.parse(text, filename=file)  # a text that does not parse raises SyntaxError
    try:
        _read(tree, source_lines(text), analysis, entry)
    except Exception as exc:  # any text Python parses must give a decision
        analysis = Analysis(name, file, package, problem=f"{type(exc).__name__}: {exc}")
    return analysis


def _read(tree: ast.Module, lines: list[str], analysis: Analysis, entry: bool) -> None:
    """Fill ``analysis`` with what the module's tree defines, binds, does and imports."""
    name, file, package = analysis.name, analysis.file, analysis.package
    display = "" if entry else f"{name}."
    bindings: dict[str, list[ast.stmt]] = {}
    imports: dict[str, list[str]] = {}
    for stmt, context in _top_level(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, target in import_bindings(stmt, name, package):
                if target.endswith(".*"):
                    analysis.stars.append(target[:-2])
                    continue
                bindings.setdefault(local, []).extend([*context, stmt])
                imports.setdefault(local, []).append(target)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            label = f"helper {display}{stmt.name}"
            analysis.units[stmt.name] = _unit(label, segment(lines, stmt), stmt, name, package)
        elif isinstance(stmt, ast.ClassDef):
            _analyse_class(stmt, analysis, lines, display, bindings, package)
        elif is_docstring(stmt) or _is_main_block(stmt):
            continue  # prose, and a block production never runs
        else:
            effect = effect_of(stmt, bindings, imports)
            if effect is not None:
                effect.where = f"{file}:{effect.line}"
                effect.note = f"{effect.where}: {effect.note}" if effect.note else ""
                analysis.effects.append(effect)
            if effect is None or effect.kind not in (SideEffect.PATCH, SideEffect.ENVIRONMENT):
                for assigned in _assigned_names(stmt):
                    bindings.setdefault(assigned, []).extend([*context, stmt])
    analysis.imports = _imports(tree.body, lines, name, package)
    for local, statements in bindings.items():
        if "." in local:
            label = f"class attribute {local}"
        elif all(is_import(s) or isinstance(s, Context) for s in statements):
            label = f"import {local}"
        else:
            label = f"module constant {display}{local}"
        analysis.bindings[local] = Binding(label, statements, imports.get(local, []))


def analyse_modules(
    texts: Mapping[str, str | None],
    entry_key: str,
    files: Mapping[str, str] | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, Analysis]:
    """The analysis of each module (name -> text; None when gone), the entry first.

    ``files`` names each module's file (default: ``name.py``); ``names`` are the modules to
    analyse (default: those of ``texts``; one that ``texts`` lacks is gone).
    """
    files = files or {}
    order = sorted(texts if names is None else names, key=lambda n: (n != entry_key, n))
    return {
        n: analyse(n, texts.get(n), files.get(n) or n.replace(".", "/") + ".py", n == entry_key)
        for n in order
    }


def _imports(body: list[ast.stmt], lines: list[str], name: str, package: bool) -> set[str]:
    """Every module a text imports (``syntax.imported_modules``), at the top or inside
    functions and classes, and the packages each runs first: ``import pkg.mod`` runs again
    when pkg/__init__.py changed.

    Only the statements whose source mentions ``import`` are walked: walking the whole tree
    of a long file costs more than the rest of its analysis.
    """
    statements = [stmt for stmt in body if "import" in segment(lines, stmt)]
    return {
        found
        for module, _ in imported_modules(statements, name, package)
        for found in [*packages_of(module), module]
    }


def _top_level(body: list[ast.stmt], context: tuple = ()) -> Iterator[tuple[ast.stmt, tuple]]:
    """The module's statements, with ``try``/``if`` blocks of imports and assignments opened.

    ``try: from .m import X / except ImportError: from m import X`` and ``if TYPE_CHECKING:``
    bind names like top-level imports do; each statement comes with the tests around it, so
    that a changed test changes the bindings. A block holding anything else is one statement.
    """
    for stmt in body:
        if isinstance(stmt, (ast.Try, ast.If)) and _only_bindings(stmt):
            if isinstance(stmt, ast.If):
                negated = ast.UnaryOp(ast.Not(), stmt.test)
                branches = [(stmt.body, stmt.test), (stmt.orelse, negated)]
            else:
                branches = [(stmt.body + stmt.orelse + stmt.finalbody, ast.Constant("try"))]
                branches += [(h.body, h.type or ast.Constant("except")) for h in stmt.handlers]
            for inner, test in branches:
                yield from _top_level(inner, (*context, Context(test=test)))
        elif not isinstance(stmt, ast.Pass):
            yield stmt, context


def _only_bindings(block: ast.Try | ast.If) -> bool:
    inner = list(block.body) + list(block.orelse)
    if isinstance(block, ast.Try):
        inner += [s for handler in block.handlers for s in handler.body] + block.finalbody
    return all(
        isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Raise))
        or (isinstance(s, (ast.Assign, ast.AnnAssign)) and _assigns_names_only(s))
        or (isinstance(s, (ast.Try, ast.If)) and _only_bindings(s))
        for s in inner
    )


def _assigns_names_only(stmt: ast.Assign | ast.AnnAssign) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return all(
        isinstance(node, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store, ast.Load))
        for target in targets
        for node in ast.walk(target)
    )


def _analyse_class(
    cls: ast.ClassDef,
    analysis: Analysis,
    lines: list[str],
    display: str,
    bindings: dict[str, list[ast.stmt]],
    package: bool,
) -> None:
    """A class as one unit, and also member by member (used when it is the handler class)."""
    name = analysis.name
    label = f"class {display}{cls.name}"
    analysis.units[cls.name] = _unit(label, segment(lines, cls), cls, name, package)
    first = min([cls.lineno, *(d.lineno for d in cls.decorator_list)])
    body = cls.body[0].lineno if cls.body else cls.end_lineno or cls.lineno
    analysis.headers[cls.name] = Header("\n".join(lines[first - 1 : body - 1]), cls)
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = f"{cls.name}.{stmt.name}"
            text = segment(lines, stmt)
            analysis.units[key] = _unit(f"method {stmt.name}", text, stmt, name, package)
        elif not is_docstring(stmt):
            for assigned in _assigned_names(stmt) or [f"<line {stmt.lineno}>"]:
                bindings.setdefault(f"{cls.name}.{assigned}", []).append(stmt)


def _assigned_names(stmt: ast.stmt) -> list[str]:
    """Plain names a statement binds (``X = ...``, ``a, b = ...``, ``X: int = 1``, ``X += 1``)."""
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    names = []
    for target in targets:
        stack = [target]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, (ast.Tuple, ast.List)):
                stack += node.elts
            elif isinstance(node, ast.Starred):
                stack.append(node.value)
            elif isinstance(node, (ast.Attribute, ast.Subscript)):
                # `CONFIG["k"] = v` changes the module's own CONFIG: a binding of CONFIG.
                base = node.value
                while isinstance(base, (ast.Attribute, ast.Subscript)):
                    base = base.value
                if isinstance(base, ast.Name):
                    names.append(base.id)
    return names


def _is_main_block(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: production imports the module, so it never runs."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and is_name(test.left, "__name__")
        and len(test.comparators) == 1
        and constant(test.comparators[0]) == "__main__"
        and not stmt.orelse  # type: ignore[union-attr]
    )
