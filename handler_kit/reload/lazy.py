"""What request-time code builds and keeps on the handler, and what an edit of that code means.

Handlers build objects lazily and keep them on ``self``: a ControlNet loaded when a request
asks for another kind, LoRA weights loaded per URL and cached, a model loaded at the first
request. A hot swap keeps them, so after an edit of the code that builds one, the object the
old code built would keep answering. For each attribute of ``self`` that request-time methods
write, the code it is built from is compared: the statements of the method that the written
value depends on (a slice: the local variables it is computed from, the tests around it, what
the caller passes in), and every definition they reach. When that code changed:

- an attribute that ``__init__`` leaves empty (``None``, ``{}``) or does not set is dropped:
  put back to what ``__init__`` gives it, or removed, so that the next request builds it again
  with the new code (and ``__init__``'s model stays loaded);
- an object ``__init__`` built that request-time code changes in place
  (``self.pipe.load_lora_weights(url)``, ``self.pipe.controlnet = ...``) cannot be put back:
  the handler is re-initialised, and so it is when the code sets attributes it does not name.

A function of the analyses, like the rest of the decision: nothing is imported or run.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .analysis import Analysis
from .reach import World
from .syntax import dotted, is_function, is_name, summarise, tree_key, walk

# Methods of a kept container that put or take items: they change what the attribute holds.
CONTAINER_WRITES = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "clear"}
    | {"remove", "discard", "move_to_end", "__setitem__", "__delitem__"}
)
# Methods whose discarded result does not change the object (logging on a kept logger).
READS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
# Calls that make an empty container: a placeholder __init__ may set.
EMPTY = frozenset({"dict", "list", "set", "tuple", "frozenset"})
UNKNOWN = ""  # the attribute a statement writes when it does not say (setattr(self, name, v))


@dataclass(frozen=True)
class Drop:
    """An attribute a hot swap takes off the instance: set to what ``__init__`` gives it
    (``initial``, the source of a literal), or removed when ``__init__`` does not set it."""

    name: str
    initial: str | None = None

    def apply(self, state: dict[str, Any]) -> None:
        """Take the attribute off ``state`` (an instance's ``__dict__``)."""
        if self.initial is None:
            state.pop(self.name, None)
        elif self.initial.removesuffix("()") in EMPTY:
            state[self.name] = getattr(builtins, self.initial.removesuffix("()"))()
        else:
            state[self.name] = ast.literal_eval(self.initial)


@dataclass(frozen=True)
class Verdict:
    """What the request-time builders' changes call for: a re-init (its reason) or drops."""

    reinit: str | None = None
    drops: tuple[Drop, ...] = ()


@dataclass(frozen=True)
class _Site:
    """A statement (or call) of a method that writes to attribute ``attribute`` of ``self``.

    ``inner``: it changes the object the attribute holds (``self.pipe.x = v``,
    ``self.pipe.load(...)``) rather than the attribute or the items it keeps.
    """

    attribute: str
    inner: bool
    node: ast.AST
    value: ast.expr | None = None  # `self.X = value`: what __init__ may leave as a placeholder


@dataclass(frozen=True)
class _Record:
    """A simple statement of a method (a header's expression, a nested definition), with the
    expressions of the compound statements around it and the local names it stores and loads."""

    node: ast.AST
    headers: tuple[ast.AST, ...]
    stores: frozenset[str]
    loads: frozenset[str]


@dataclass
class _Method:
    """A method's writes to self, its parameters and its calls of other methods; its records
    (for slicing) are read only when some write needs them."""

    node: ast.AST
    sites: tuple[_Site, ...]
    parameters: tuple[str, ...]
    calls: tuple[tuple[str, ast.Call], ...]  # (method name, call) of each `self.name(...)`
    _records: tuple[_Record, ...] | None = None
    _where: dict[int, int] | None = None

    @property
    def records(self) -> tuple[_Record, ...]:
        if self._records is None:
            self._records = tuple(_records(self.node.body))  # type: ignore[attr-defined]
        return self._records

    def record_of(self, node: ast.AST) -> int:
        """The index of the record that holds ``node``."""
        if self._where is None:
            self._where = {}
            for index, record in enumerate(self.records):
                for sub in walk(record.node):
                    self._where.setdefault(id(sub), index)
        return self._where[id(node)]


def verdict(worlds: tuple[World, World], changed: list[tuple[str, str]]) -> Verdict:
    """Which attributes the edit's request-time changes drop, or why it must re-initialise.

    ``changed`` are the ``(target, label)`` of the edit, which changed no start-up code: the
    methods start-up code reaches are the same on both sides, and none is request-time.
    """
    labels = dict(changed)
    old, new = (_builders(world) for world in worlds)
    redone: dict[tuple[str, str, bool], str] = {}  # a builder that changed -> why
    for key in sorted({*old, *new}):
        method = key[0]
        if key not in old or key not in new or old[key][0] != new[key][0]:
            redone[key] = labels.get(method, f"method {method.rpartition('.')[2]} changed")
            continue
        reached = (old[key][1] | new[key][1]) - {method}
        why = next((label for target, label in changed if target in reached), None)
        if why is not None:
            redone[key] = why
    if not redone:
        return Verdict()
    world = worlds[1]
    initial = _initial_values(world)
    for (_, attribute, _), why in redone.items():
        value = initial.get(attribute)
        if attribute == UNKNOWN:
            return Verdict(f"{why} (it sets attributes of the handler that it does not name)")
        if value is _BUILT:
            return Verdict(f"{why} (it changes self.{attribute}, which __init__ built)")
        if value is None and UNKNOWN in initial:
            return Verdict(f"{why} (it changes self.{attribute}, which __init__ may have set)")
    # What the redone methods keep is dropped together: a method that keeps a ControlNet and
    # the name of its kind must build both again, or the kind would say it is built.
    drops = {
        site.attribute: Drop(site.attribute, initial.get(site.attribute))  # type: ignore[arg-type]
        for method in dict.fromkeys(key[0] for key in redone)
        for side in worlds
        for site in _method_sites(side, method)
        if initial.get(site.attribute) is not _BUILT and site.attribute != UNKNOWN
    }
    return Verdict(None, tuple(drops[name] for name in sorted(drops)))


def drop_clause(drops: tuple[Drop, ...]) -> str:
    """The words a reason ends with when a hot swap drops attributes."""
    if not drops:
        return ""
    names = ", ".join(f"self.{d.name}" for d in drops)
    them = "them" if len(drops) > 1 else "it"
    return f"; dropped {names}: the next request builds {them} again"


# --- the builders of each side ------------------------------------------------------------

_BUILT = object()  # the initial value of an attribute that start-up code builds


def _request_time_methods(world: World) -> Iterator[tuple[str, ast.AST]]:
    """``(id, node)`` of the family's methods that start-up code does not reach."""
    start_up = world.reachable()
    for module_name, cls in world.family.classes:
        module = world.modules[module_name]
        for key, unit in module.units.items():
            target = f"{module_name}:{key}"
            if key.startswith(f"{cls}.") and is_function(unit.node) and target not in start_up:
                yield target, unit.node


_built: dict[tuple, tuple[dict, tuple[Analysis, ...]]] = {}


def _builders(world: World) -> dict[tuple[str, str, bool], tuple[tuple, set]]:
    """``(method, attribute, inner)`` -> (what the writes are built from, the ids it reaches).

    Remembered for the same analyses: the old side of a reload is the new side of the last.
    """
    key = (*map(id, world.modules.values()), world.home)
    if key in _built:
        return _built[key][0]
    methods = dict(_request_time_methods(world))
    found: dict[tuple[str, str, bool], tuple[tuple, set]] = {}
    for target, node in methods.items():
        method = _read(node)
        module_name, _, member = target.partition(":")
        owner = (module_name, member.partition(".")[0])
        module = world.modules[module_name]
        for site in method.sites:
            nodes = _slice(target, method, method.record_of(site.node), methods, depth=2)
            summary = summarise(nodes, module.name, module.package)
            reached = world.closure(world.code_references(summary, module, owner))
            fingerprint, before = found.get((target, site.attribute, site.inner), ((), set()))
            built = (*fingerprint, tuple(tree_key(n) for n in nodes))
            found[(target, site.attribute, site.inner)] = (built, before | reached)
    if len(_built) > 8:
        _built.pop(next(iter(_built)))
    _built[key] = (found, tuple(world.modules.values()))  # the analyses keep their ids
    return found


def _method_sites(world: World, target: str) -> tuple[_Site, ...]:
    module_name, _, key = target.partition(":")
    unit = world.modules[module_name].units.get(key)
    return _read(unit.node).sites if unit is not None else ()


def _initial_values(world: World) -> dict[str, object]:
    """What start-up code leaves in each attribute: a placeholder's source, or _BUILT.

    An attribute start-up code does not write is missing (None: dropping removes it); when
    start-up may set attributes it does not name (``setattr(self, name, v)``, a library base's
    or a decorator's ``__init__``), UNKNOWN is in the answer.
    """
    values: dict[str, object] = {}
    family = world.family
    if family.library or any(
        world.modules[module].headers[cls].node.decorator_list
        for module, cls in family.classes
        if cls in world.modules[module].headers
    ):
        values[UNKNOWN] = _BUILT  # a library base's __init__, a @dataclass's
    for target in world.reachable():
        module_name, _, key = target.partition(":")
        owner = (module_name, key.partition(".")[0])
        module: Analysis | None = world.modules.get(module_name)
        if module is None or owner not in family.classes or key not in module.units:
            continue
        for site in _read(module.units[key].node).sites:
            placeholder = _placeholder(site.value) if not site.inner else None
            if placeholder is None or values.get(site.attribute, placeholder) != placeholder:
                values[site.attribute] = _BUILT
            else:
                values[site.attribute] = placeholder
    return values


def _placeholder(value: ast.expr | None) -> str | None:
    """The source of ``value`` when it is a literal or an empty container: nothing built."""
    if value is None:
        return None
    if isinstance(value, ast.Call) and not value.args and not value.keywords:
        name = value.func.id if isinstance(value.func, ast.Name) else ""
        return f"{name}()" if name in EMPTY else None
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.unparse(value)


# --- one method: its statements, its writes to self, the slice a write is built from ------

_methods: dict[int, tuple[ast.AST, _Method]] = {}


def _read(node: ast.AST) -> _Method:
    """A method's writes to self and calls, in one walk of its tree (kept per tree: the same
    texts give the same trees)."""
    cached = _methods.get(id(node))
    if cached is not None and cached[0] is node:
        return cached[1]
    aliases: dict[str, str] = {}
    statements: list[ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete] = []
    found: list[ast.Call] = []
    discarded: set[int] = set()
    for sub in walk(node):
        if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            statements.append(sub)
            if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
                root = _root(sub.value)
                if isinstance(sub.targets[0], ast.Name) and root is not None:
                    aliases[sub.targets[0].id] = root[0]  # pipe = self.pipe
        elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call):
            discarded.add(id(sub.value))
        elif isinstance(sub, ast.Call):
            found.append(sub)
    sites = [
        _Site(attribute, inner, statement, value)
        for statement in statements
        for attribute, inner, value in _stores(statement, aliases)
    ]
    calls = []
    for call in found:
        for attribute, inner, _ in _call_writes(call, id(call) in discarded, aliases):
            sites.append(_Site(attribute, inner, call))
        chain = dotted(call.func) if isinstance(call.func, ast.Attribute) else None
        if chain and len(chain) == 2 and chain[0] in ("self", "cls"):
            calls.append((chain[1], call))
    arguments = node.args  # type: ignore[attr-defined]
    parameters = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    method = _Method(node, tuple(sites), tuple(parameters[1:]), tuple(calls))
    if len(_methods) > 2000:
        _methods.clear()
    _methods[id(node)] = (node, method)
    return method


def _records(body: list[ast.stmt], headers: tuple[ast.AST, ...] = ()) -> Iterator[_Record]:
    """A method's statements, compound ones opened: each with the headers around it."""
    for stmt in body:
        inner: list[tuple[list[ast.stmt], ast.AST | None]] = []
        if isinstance(stmt, (ast.If, ast.While)):
            head: ast.AST | None = stmt.test
            inner = [(stmt.body, None), (stmt.orelse, None)]
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            head = ast.Assign(targets=[stmt.target], value=stmt.iter)
            inner = [(stmt.body, None), (stmt.orelse, None)]
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            items = [
                ast.Assign([i.optional_vars], i.context_expr) if i.optional_vars else i.context_expr
                for i in stmt.items
            ]
            head = ast.Tuple(items, ast.Load())
            inner = [(stmt.body, None)]
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            head = None
            inner = [(stmt.body, None), (stmt.orelse, None), (stmt.finalbody, None)]  # type: ignore[attr-defined]
            inner += [(h.body, h.type) for h in stmt.handlers]  # type: ignore[attr-defined]
        elif isinstance(stmt, ast.Match):
            head = stmt.subject
            inner = [(case.body, case.guard) for case in stmt.cases]
        else:
            yield _record(stmt, headers)
            continue
        around = headers
        if head is not None:
            yield _record(head, headers)
            around = (*headers, head)
        for block, guard in inner:
            yield from _records(block, (*around, guard) if guard is not None else around)


def _record(node: ast.AST, headers: tuple[ast.AST, ...]) -> _Record:
    stores, loads = set(), set()
    for sub in walk(node):
        if isinstance(sub, ast.Name):
            (stores if isinstance(sub.ctx, (ast.Store, ast.Del)) else loads).add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            stores |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(sub.name)
    for header in headers:
        loads |= {n.id for n in walk(header) if isinstance(n, ast.Name)}
    return _Record(node, headers, frozenset(stores), frozenset(loads))


def _root(node: ast.AST) -> tuple[str, int] | None:
    """``(X, depth)`` when ``node`` is ``self.X`` followed by ``depth`` attributes or items."""
    depth = 0
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute) and is_name(node.value, "self"):
            # self.__class__.x: the class, made again by the reload (self.__dict__: setattr)
            return (node.attr, depth) if node.attr != "__class__" else None
        node = node.value
        depth += 1
    return None


def _stores(
    node: ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete, aliases: Mapping[str, str]
) -> Iterator[tuple[str, bool, ast.expr | None]]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    else:
        targets = node.targets if isinstance(node, ast.Delete) else [node.target]
    single = isinstance(node, (ast.Assign, ast.AnnAssign)) and len(targets) == 1
    for target in _flatten(targets):
        root = _root(target)
        if root is not None:
            name, depth = root
            value = node.value if single and depth == 0 else None  # type: ignore[union-attr]
            # `self.X[k] = v` puts an item into what X keeps; `self.X.a = v` changes X's object.
            yield name, depth > 1 or (depth == 1 and isinstance(target, ast.Attribute)), value
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            base = target.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                yield aliases[base.id], True, None


def _call_writes(
    call: ast.Call, discarded: bool, aliases: Mapping[str, str]
) -> Iterator[tuple[str, bool, ast.expr | None]]:
    """The write of a call: ``setattr(self, ...)``, an item put into a kept container, or a
    method whose result is discarded called on a kept object (it changes the object)."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and call.args:
        owner = call.args[0]
        if is_name(owner, "self"):
            key = call.args[1] if len(call.args) > 1 else None
            named = isinstance(key, ast.Constant) and isinstance(key.value, str)
            yield (key.value if named else UNKNOWN), False, None  # type: ignore[union-attr]
        elif (root := _root(owner)) is not None:
            yield root[0], True, None
        return
    if not isinstance(func, ast.Attribute) or func.attr in READS:
        return
    receiver = func.value
    if isinstance(receiver, ast.Attribute) and receiver.attr == "__dict__":
        if is_name(receiver.value, "self"):
            yield UNKNOWN, False, None  # self.__dict__.update(...)
        return
    root = _root(receiver)
    if root is None and isinstance(receiver, ast.Name) and receiver.id in aliases:
        root = (aliases[receiver.id], 1)
    if root is None:
        return
    if root[1] == 0 and func.attr in CONTAINER_WRITES:
        yield root[0], False, None  # items put into a kept container
    elif discarded:
        yield root[0], True, None  # self.pipe.load_lora_weights(url): changes the object


def _flatten(targets: list[ast.expr]) -> Iterator[ast.expr]:
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _flatten(list(target.elts))
        elif isinstance(target, ast.Starred):
            yield from _flatten([target.value])
        else:
            yield target


def _slice(
    target: str, method: _Method, seed: int, methods: Mapping[str, ast.AST], depth: int
) -> list[ast.AST]:
    """The statements of ``method`` that record ``seed`` depends on, the headers around them,
    and (``depth`` callers up) the statements of the calls that pass its parameters in."""
    records = method.records
    local = set(method.parameters).union(*(r.stores for r in records))
    chosen, todo, needed = {seed}, [seed], set()
    while todo:
        record = records[todo.pop()]
        fresh = (record.loads & local) - needed
        needed |= fresh
        for index, other in enumerate(records):
            if index not in chosen and (other.stores & fresh or _uses(other, needed)):
                chosen.add(index)
                todo.append(index)
    nodes: list[ast.AST] = []
    for index in sorted(chosen):
        nodes += [records[index].node, *records[index].headers]
    if depth and needed & set(method.parameters):
        name = target.rpartition(".")[2]
        for caller, node in methods.items():
            calling = _read(node)
            for called, call in calling.calls:
                if called == name and caller != target:
                    nodes += _slice(caller, calling, calling.record_of(call), methods, depth - 1)
    return nodes


def _uses(record: _Record, locals_: set[str]) -> bool:
    """A statement that changes a local of the slice in place (``pipe.to(device)``)."""
    node = record.node
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        base = func.value if isinstance(func, ast.Attribute) else None
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        return isinstance(base, ast.Name) and base.id in locals_
    if isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            base = target
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if base is not target and isinstance(base, ast.Name) and base.id in locals_:
                return True
    return False
