"""Decide between a hot swap and a re-init by comparing the syntax trees of two versions.

A hot swap keeps the loaded model; it is only safe when nothing that ``__init__`` computed
could differ under the new code. So the reload is hot only when these are unchanged, in every
module of the repository: top-level statements other than function and class definitions,
imports, the handler class's bases, decorators and class attributes, ``__init__``, and every
method or function reachable from ``__init__`` (through ``self.x``, a direct call, or a
sibling module's ``utils.x``, ``pkg.mod.x`` or a star import, a module-level alias such as
``LOAD = _load``, or ``self(...)``). The handler class may live in a sibling module that
handler.py imports it from. Anything else that changed is request-time code.
"""

from __future__ import annotations

import ast
import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    """The outcome: ``mode`` is "hot" or "reinit"; ``reason`` names the rule that decided."""

    mode: str
    reason: str
    changed: tuple[str, ...] = ()


@dataclass
class _Unit:
    label: str
    dump: str
    node: ast.AST


@dataclass
class _Module:
    name: str
    display: str  # "" for the handler module itself, "utils." for a sibling
    file: str  # "handler.py", "utils.py", "pkg/mod.py"
    statements: list[tuple[str, str]] = field(default_factory=list)  # (label, dump)
    imports: list[tuple[str, str]] = field(default_factory=list)  # (source, dump)
    header: str | None = None  # the handler class's bases, keywords and decorators
    header_node: ast.ClassDef | None = None
    units: dict[str, _Unit] = field(default_factory=dict)  # unit id -> unit
    # Assignments (module constants, class attributes) by id: not units of their own (their
    # changes are statements' changes) but followed for what they refer to.
    values: dict[str, ast.AST] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> module or unit id
    stars: list[str] = field(default_factory=list)  # siblings imported with `import *`


def decide(
    old: Mapping[str, str | None],
    new: Mapping[str, str | None],
    entry_key: str,
    class_name: str,
    files: Mapping[str, str] | None = None,
) -> Decision:
    """Compare two versions of a repository's modules (name -> source; None when gone).

    ``files`` names each module's file for the reasons (default: ``name.py``). Raises
    SyntaxError, with that file name, when a new source does not parse.
    """
    files = files or {}
    names = sorted(set(old) | set(new), key=lambda n: (n != entry_key, n))
    siblings = set(names) - {entry_key}
    home = _home(new.get(entry_key) or old.get(entry_key) or "", entry_key, class_name, siblings)
    before, after = {}, {}
    for n in names:
        file = files.get(n) or n.replace(".", "/") + ".py"
        before[n] = _analyse(n, file, old.get(n), entry_key, home, siblings)
        after[n] = _analyse(n, file, new.get(n), entry_key, home, siblings)

    for name in names:
        reason = _module_change(before[name], after[name], old.get(name), new.get(name))
        if reason:
            return Decision("reinit", reason, _changed_units(before, after))

    if before[home[0]].header != after[home[0]].header:
        return Decision(
            "reinit", f"bases or decorators of {class_name} changed", _changed_units(before, after)
        )

    changed = _changed_units(before, after)
    reachable = _reachable(before, home) | _reachable(after, home)
    for unit_id, label in _changed_ids(before, after):
        if unit_id in reachable:
            suffix = "" if unit_id.endswith(".__init__") else " (reached from __init__)"
            return Decision("reinit", f"{label} changed{suffix}", changed)
    if not changed:
        return Decision("hot", "only comments or formatting changed", changed)
    return Decision("hot", f"{_join(changed)} changed", changed)


def _join(labels: tuple[str, ...]) -> str:
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{len(labels)} definitions ({', '.join(labels[:3])}, ...)"


def _module_change(a: _Module, b: _Module, old: str | None, new: str | None) -> str | None:
    where = a.file
    if old is None and new is None:
        return None
    if new is None:
        return f"module {a.name} removed"
    if old is None:
        return f"module {a.name} added"
    if Counter(d for _, d in a.imports) != Counter(d for _, d in b.imports):
        added = [s for s, d in b.imports if d not in {x for _, x in a.imports}]
        removed = [s for s, d in a.imports if d not in {x for _, x in b.imports}]
        detail = "; ".join([f"+ {s}" for s in added] + [f"- {s}" for s in removed])
        return f"imports of {where} changed ({detail})" if detail else f"imports of {where} changed"
    if [d for _, d in a.statements] != [d for _, d in b.statements]:
        old_dumps = Counter(d for _, d in a.statements)
        for label, dump in b.statements:
            if old_dumps[dump] == 0:
                return f"{label} changed"
            old_dumps[dump] -= 1
        new_dumps = {d for _, d in b.statements}
        for label, dump in a.statements:
            if dump not in new_dumps:
                return f"{label} removed"
        return f"order of top-level statements in {where} changed"
    return None


def _changed_ids(before: dict[str, _Module], after: dict[str, _Module]) -> list[tuple[str, str]]:
    out = []
    for name in before:
        a, b = before[name].units, after[name].units
        for unit_id in [*a, *(u for u in b if u not in a)]:
            old, new = a.get(unit_id), b.get(unit_id)
            if old is None or new is None or old.dump != new.dump:
                out.append((unit_id, (new or old).label))  # type: ignore[union-attr]
    return out


def _changed_units(before: dict[str, _Module], after: dict[str, _Module]) -> tuple[str, ...]:
    return tuple(label for _, label in _changed_ids(before, after))


def _home(text: str, entry_key: str, class_name: str, siblings: set[str]) -> tuple[str, str]:
    """``(module, class)`` where the handler class is defined.

    Usually handler.py itself; but handler.py may just do ``from impl import EndpointHandler``
    (or ``import Handler as EndpointHandler``), and then that sibling's class is the one whose
    ``__init__`` builds the state.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return entry_key, class_name
    home = (entry_key, class_name)
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == class_name:
            home = (entry_key, class_name)
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt, entry_key)
            for alias in stmt.names:
                if (alias.asname or alias.name) == class_name and base in siblings:
                    home = (base, alias.name)
    return home


def _reachable(modules: dict[str, _Module], home: tuple[str, str]) -> set[str]:
    """Unit ids reachable from the handler class's __init__ and header (bases, decorators)."""
    home_key, class_name = home
    owner = modules[home_key]
    todo: list[tuple[str, ast.AST]] = []
    init_id = f"{home_key}:{class_name}.__init__"
    if init_id in owner.units:
        todo.append((init_id, owner.units[init_id].node))
    if owner.header_node is not None:
        header = owner.header_node
        for node in [*header.bases, *header.keywords, *header.decorator_list]:
            todo.append((f"{home_key}:<header>", node))
    seen: set[str] = set()
    while todo:
        unit_id, node = todo.pop()
        module = modules[unit_id.split(":", 1)[0]]
        for ref in _references(node, module, modules, home):
            if ref not in seen:
                seen.add(ref)
                target = modules[ref.split(":", 1)[0]]
                unit = target.units.get(ref)
                todo.append((ref, unit.node if unit else target.values[ref]))
    seen.add(init_id)
    return seen


def _references(
    node: ast.AST, module: _Module, modules: dict[str, _Module], home: tuple[str, str]
) -> set[str]:
    """Ids a piece of code refers to: names, ``self.x``, ``Class.x``, ``utils.x``, ``self()``."""
    home_key, class_name = home
    in_home = module.name == home_key
    refs = set()
    for sub in ast.walk(node):
        target = None
        if isinstance(sub, ast.Name):
            target = _resolve(sub.id, module, modules)
        elif isinstance(sub, ast.Attribute):
            chain = _dotted(sub)
            if chain and in_home and chain[0] in {"self", "cls", class_name}:
                target = f"{home_key}:{class_name}.{chain[1]}"
            elif chain:
                target = _resolve_chain(chain, module, modules)
        elif in_home and isinstance(sub, ast.Call) and _is_name(sub.func, "self"):
            # `self(...)` in __init__ (a warm-up call) runs __call__ at start-up.
            target = f"{home_key}:{class_name}.__call__"
        if target and _known(target, modules):
            refs.add(target)
    return refs


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _known(target: str, modules: dict[str, _Module]) -> bool:
    module = modules.get(target.split(":", 1)[0])
    return module is not None and (target in module.units or target in module.values)


def _dotted(node: ast.Attribute) -> list[str] | None:
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


def _resolve_chain(chain: list[str], module: _Module, modules: dict[str, _Module]) -> str | None:
    """The id ``utils.f`` or ``pkg.mod.f`` names, following the module's imports."""
    current = module.aliases.get(chain[0], "")
    if not current or ":" in current:
        return None
    for part in chain[1:]:
        if f"{current}.{part}" in modules:
            current = f"{current}.{part}"
        else:
            return f"{current}:{part}" if current in modules else None
    return None


def _resolve(name: str, module: _Module, modules: dict[str, _Module]) -> str | None:
    local = f"{module.name}:{name}"
    if local in module.units or local in module.values:
        return local
    target = module.aliases.get(name)
    if target and ":" in target:
        return target
    for star in module.stars:
        if _known(f"{star}:{name}", modules):
            return f"{star}:{name}"
    return None


def _analyse(
    name: str,
    file: str,
    text: str | None,
    entry_key: str,
    home: tuple[str, str],
    siblings: set[str],
) -> _Module:
    display = "" if name == entry_key else f"{name}."
    module = _Module(name, display, file)
    if text is None:
        return module
    tree = ast.parse(text, filename=file)
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            module.imports.append((ast.unparse(stmt), _dump(stmt)))
            _record_aliases(stmt, module, siblings)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.units[f"{name}:{stmt.name}"] = _Unit(
                f"helper {display}{stmt.name}", _dump(stmt), stmt
            )
        elif isinstance(stmt, ast.ClassDef) and (name, stmt.name) == home:
            _analyse_handler_class(stmt, module)
        elif isinstance(stmt, ast.ClassDef):
            module.units[f"{name}:{stmt.name}"] = _Unit(
                f"class {display}{stmt.name}", _dump(stmt), stmt
            )
        elif not _is_docstring(stmt):
            module.statements.append((_statement_label(stmt, module), _dump(stmt)))
            for assigned in _assigned_names(stmt):
                module.values[f"{name}:{assigned}"] = stmt
    return module


def _analyse_handler_class(cls: ast.ClassDef, module: _Module) -> None:
    header = copy.copy(cls)
    header.body = []
    module.header = _dump(header)
    module.header_node = cls
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            label = stmt.name if stmt.name in {"__init__", "__call__"} else f"method {stmt.name}"
            module.units[f"{module.name}:{cls.name}.{stmt.name}"] = _Unit(label, _dump(stmt), stmt)
        elif not _is_docstring(stmt):
            # Class attributes are read by __init__ as often as not: treat them as state.
            names = ", ".join(_assigned_names(stmt)) or f"statement at line {stmt.lineno}"
            module.statements.append((f"class attribute {cls.name}.{names}", _dump(stmt)))
            for assigned in _assigned_names(stmt):
                module.values[f"{module.name}:{cls.name}.{assigned}"] = stmt


def _record_aliases(stmt: ast.Import | ast.ImportFrom, module: _Module, siblings: set[str]) -> None:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            top = alias.name.split(".")[0]
            if alias.asname and alias.name in siblings:
                module.aliases[alias.asname] = alias.name
            elif not alias.asname and any(s == top or s.startswith(f"{top}.") for s in siblings):
                # `import pkg.mod` binds `pkg`: `pkg.mod.f` is resolved part by part.
                module.aliases[top] = top
        return
    base = _absolute(stmt, module.name)
    for alias in stmt.names:
        local = alias.asname or alias.name
        if alias.name == "*":
            if base in siblings:
                module.stars.append(base)
            continue
        if f"{base}.{alias.name}" in siblings:
            module.aliases[local] = f"{base}.{alias.name}"
        elif base in siblings:
            module.aliases[local] = f"{base}:{alias.name}"


def imported_modules(text: str, name: str, modules: set[str]) -> set[str]:
    """Which of ``modules`` the source of module ``name`` imports (anywhere in it)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name)
            candidates = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {c for c in candidates if c in modules and c != name}
    return found


def _absolute(stmt: ast.ImportFrom, current: str) -> str:
    if not stmt.level:
        return stmt.module or ""
    parts = current.split(".")
    base = parts[: len(parts) - stmt.level] if stmt.level <= len(parts) else []
    return ".".join([*base, *([stmt.module] if stmt.module else [])])


def _statement_label(stmt: ast.stmt, module: _Module) -> str:
    names = _assigned_names(stmt)
    if names:
        return f"module constant {module.display}{', '.join(names)}"
    return f"top-level statement at {module.file}:{stmt.lineno}"


def _assigned_names(stmt: ast.stmt) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _dump(node: ast.AST) -> str:
    """The tree without positions or docstrings: moving code or editing prose is no change."""
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and _is_docstring(body[0]):
        node = copy.copy(node)
        node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(node, include_attributes=False)
