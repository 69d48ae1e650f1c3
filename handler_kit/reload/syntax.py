"""Readings of Python syntax trees that the reload's analysis is built from.

What a piece of code refers to (``summarise``), dotted names, what an import binds and which
modules a text imports (``imports_in``, the one rule the reload and the check read), and keys
that compare code without positions, comments or docstrings. Functions of trees and texts only:
a definition is compared by its tree, the one its module's text was parsed into, never by its
text parsed or compiled again (a method's lines cannot always stand alone: a comment at column
0 inside it, a form feed; and compiled code keeps traces of the line layout).
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """What a piece of code refers to, read in one walk of its tree."""

    names: frozenset[str]  # plain names it reads or calls
    chains: tuple[tuple[str, ...], ...]  # dotted chains: ("self", "model"), ("utils", "f")
    local: dict[str, str]  # names its own imports bind -> the absolute names they stand for
    calls_self: bool  # `self(...)`: a warm-up call runs __call__
    globals: frozenset[str]  # names it declares `global`


def walk(node: ast.AST) -> list[ast.AST]:
    """``node`` and every node under it, in no set order: ``ast.walk`` without its generators
    (twice as quick; the reload walks the definitions an edit changed)."""
    found = [node]
    for current in found:
        for name in current._fields:
            value = getattr(current, name, None)
            if type(value) is list:
                found += [item for item in value if isinstance(item, ast.AST)]
            elif isinstance(value, ast.AST):
                found.append(value)
    return found


def summarise(nodes: list[ast.AST], module: str, package: bool) -> Summary:
    """The references of ``nodes`` (a definition, a value, a statement)."""
    names, chains, local, globals_ = set(), [], {}, set()
    calls_self = False
    for node in nodes:
        for sub in walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                chain = dotted(sub)
                if chain:
                    chains.append(tuple(chain))
                elif is_super(sub.value):
                    chains.append(("super()", sub.attr))  # `super().__init__(...)`
            elif isinstance(sub, (ast.Import, ast.ImportFrom)) and sub is not node:
                local.update(import_bindings(sub, module, package))
            elif isinstance(sub, ast.Call) and is_name(sub.func, "self"):
                calls_self = True
            elif isinstance(sub, ast.Global):
                globals_.update(sub.names)
    return Summary(frozenset(names), tuple(chains), local, calls_self, frozenset(globals_))


class Context(ast.stmt):
    """The test of an ``if`` (or the handlers of a ``try``) around a binding: part of it."""

    _fields = ("test",)


def import_bindings(
    stmt: ast.Import | ast.ImportFrom, module: str, package: bool = False
) -> list[tuple[str, str]]:
    """``(local name, absolute name)`` for each name an import binds (``X.*`` for a star)."""
    if isinstance(stmt, ast.Import):
        found = []
        for alias in stmt.names:
            if alias.asname:
                found.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]  # `import pkg.mod` binds `pkg`
                found.append((top, top))
        return found
    base = absolute_module(stmt, module, package)
    return [
        (alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name)
        for alias in stmt.names
    ]


def absolute_module(stmt: ast.ImportFrom, current: str, package: bool = False) -> str:
    """The absolute name of ``from <stmt> import ...`` written in module ``current``.

    ``package``: ``current`` is a package (its ``__init__.py``), so ``.`` is itself.
    """
    if not stmt.level:
        return stmt.module or ""
    parts = current.split(".")
    drop = stmt.level - 1 if package else stmt.level
    base = parts[: len(parts) - drop] if drop <= len(parts) else []
    return ".".join([*base, *([stmt.module] if stmt.module else [])])


def imported_modules(
    nodes: list[ast.stmt], module: str, package: bool = False
) -> list[tuple[str, int]]:
    """``(absolute module name, line)`` for every module an import in ``nodes`` names, at any
    depth (inside functions too), in the order they are written.

    ``import a.b`` names ``a.b``; ``from a import b`` names both ``a`` and ``a.b`` (b may be a
    submodule); a relative import is made absolute in ``module`` (``package``: its
    ``__init__.py``), and ``from . import b`` in a top-level module names ``b`` alone.
    """
    statements = [
        sub for node in nodes for sub in walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))
    ]
    found = []
    for stmt in sorted(statements, key=lambda s: (s.lineno, s.col_offset)):
        if isinstance(stmt, ast.Import):
            found += [(alias.name, stmt.lineno) for alias in stmt.names]
            continue
        base = absolute_module(stmt, module, package)
        if base:
            found.append((base, stmt.lineno))
        found += [
            (f"{base}.{alias.name}" if base else alias.name, stmt.lineno)
            for alias in stmt.names
            if alias.name != "*"
        ]
    return found


def imports_in(text: str, name: str, package: bool = False) -> list[tuple[str, int]]:
    """``imported_modules`` of module ``name``'s text; a text that does not parse imports
    nothing."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return imported_modules(tree.body, name, package)


def packages_of(name: str) -> list[str]:
    """The packages ``import name`` runs first: ``a`` and ``a.b`` for ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def constant(node: ast.AST) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def value_of(stmt: ast.stmt) -> ast.AST:
    """What a binding statement's names refer to: the assigned value, or the statement."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        return stmt.value
    if isinstance(stmt, Context):
        return stmt.test
    return stmt


def is_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Import, ast.ImportFrom))


def is_super(node: ast.AST) -> bool:
    """``super()`` (or ``super(C, self)``): the next class in the method resolution order."""
    return isinstance(node, ast.Call) and is_name(node.func, "super")


def is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def dotted(node: ast.Attribute) -> list[str] | None:
    """``["pkg", "mod", "f"]`` for ``pkg.mod.f``; None when the chain does not start at a name."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


def dotted_or_name(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    return dotted(node) if isinstance(node, ast.Attribute) else None


def dotted_name(node: ast.AST) -> str | None:
    parts = dotted_or_name(node)
    return ".".join(parts) if parts else None


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


# The line breaks Python's tokenizer counts. ``str.splitlines`` also breaks at form feeds,
# \v, \x1c-\x1e, \x85 and \u2028/\u2029, which may sit in comments and strings: the lines it
# gives would not be the lines the tree's positions count.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """The lines of a source text as the parser numbers them."""
    return text.split("\n") if "\r" not in text else LINE_BREAK.split(text)


def segment(lines: list[str], node: ast.AST) -> str:
    """The source lines of a definition, decorators included: cheap to compare."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno])


def is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


TreeKey = tuple  # a tree as nested tuples: hashable, compared in C


def tree_key(node: ast.AST) -> TreeKey:
    """The tree without positions or docstrings: moving code or editing prose is no change.

    Nested tuples of each node's type and fields (quicker to make than ``ast.dump``'s text);
    a constant keeps its type, so that ``1``, ``1.0`` and ``True`` differ.
    """
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and is_docstring(body[0]):
        node = copy.copy(node)
        node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return _key(node)


def _key(node: object) -> object:
    kind = type(node)
    if kind is ast.Constant:
        value = node.value  # type: ignore[attr-defined]
        return (kind, type(value), value, node.kind)  # type: ignore[attr-defined]
    if isinstance(node, ast.AST):
        return (kind, *[_key(getattr(node, name, None)) for name in node._fields])
    if kind is list:
        return tuple([_key(item) for item in node])  # type: ignore[attr-defined]
    return node
