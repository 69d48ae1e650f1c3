"""Readings of Python syntax trees that the reload's analysis is built from.

What a piece of code refers to (``summarise``), dotted names, what an import binds, and keys
that compare code without positions, comments or docstrings. Functions of trees and texts only.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from dataclasses import dataclass
from types import CodeType


@dataclass(frozen=True)
class Summary:
    """What a piece of code refers to, read in one walk of its tree."""

    names: frozenset[str]  # plain names it reads or calls
    chains: tuple[tuple[str, ...], ...]  # dotted chains: ("self", "model"), ("utils", "f")
    local: dict[str, str]  # names its own imports bind -> the absolute names they stand for
    calls_self: bool  # `self(...)`: a warm-up call runs __call__
    globals: frozenset[str]  # names it declares `global`


def summarise(nodes: list[ast.AST], module: str, package: bool) -> Summary:
    """The references of ``nodes`` (a definition, a value, a statement)."""
    names, chains, local, globals_ = set(), [], {}, set()
    calls_self = False
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                chain = dotted(sub)
                if chain:
                    chains.append(tuple(chain))
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


def segment(lines: list[str], node: ast.AST) -> str:
    """The source lines of a definition, decorators included: cheap to compare."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno])


def is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


# Code objects whose first constant is not a docstring slot.
_NO_DOCSTRING = frozenset({"<module>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def code_key(text: str) -> object:
    """A function's source compiled, as a comparable value that leaves out line numbers and
    its docstring (in CPython a function's first constant); the tree dump when it does not
    compile on its own (a ``nonlocal`` of an enclosing scope)."""
    try:
        code = compile(textwrap.dedent(text), "<unit>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return tree_key(ast.parse(textwrap.dedent(text)))
    return _code_value(code)


def _code_value(code: CodeType) -> tuple:
    consts = code.co_consts if code.co_name in _NO_DOCSTRING else code.co_consts[1:]
    return (
        code.co_code,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
        tuple(_code_value(c) if isinstance(c, CodeType) else (type(c), c) for c in consts),
    )


def tree_key(node: ast.AST) -> str:
    """The tree without positions or docstrings: moving code or editing prose is no change."""
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and is_docstring(body[0]):
        node = copy.copy(node)
        node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(node, include_attributes=False)
