"""Decide between a hot swap and a re-init by comparing two versions of a repository's modules.

A hot swap keeps the instance's state (the loaded model) and runs the new code on it; it is only
safe when nothing the state was built from could differ under the new code. So the reload
re-initialises when something changed that start-up reaches:

- ``__init__`` of the handler class, its bases and decorators, and every function, method,
  class, module constant, class attribute or import that ``__init__`` reaches, at any depth
  and in any module of the repository: through ``self.x``, a direct call, ``utils.f`` or
  ``pkg.mod.f``, star imports, re-exports, imports inside functions or inside ``try`` and
  ``if`` blocks, module-level aliases, and ``self(...)`` warm-up calls;
- the classes of objects the instance holds (``self.pipe = Pipe(...)``, also when made lazily
  in ``__call__``): their methods keep running after a hot swap, so the code they reach counts
  as start-up code too; the caller passes them in as ``held``;
- top-level statements with effects beyond the module: library patches
  (``Lib.method = wrap(Lib.method)``, ``setattr``), environment variables, ``sys.path``, and any
  other top-level call; and the code such a statement calls.

Everything else is request-time code and reloads hot: ``__call__`` and what only it reaches,
imports, module constants and class attributes that start-up code does not read, logging
settings, ``print``, an ``if __name__ == "__main__":`` block (it never runs in production),
comments, formatting and docstrings.

This module is a function of texts: it never imports or runs the code it reads.
"""

from __future__ import annotations

import ast
import copy
import enum
import textwrap
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import CodeType


class Mode(str, enum.Enum):
    """How a reload treats the running instance: let the edit decide, keep it, or rebuild."""

    AUTO = "auto"
    HOT = "hot"
    REINIT = "reinit"

    @classmethod
    def of(cls, value: str | Mode) -> Mode:
        """``"hot"`` -> ``Mode.HOT``; a clear error for anything else."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"mode must be one of {', '.join(m.value for m in cls)}, not {value!r}"
            ) from None


@dataclass(frozen=True)
class Decision:
    """The outcome: HOT or REINIT, the rule that decided, and what a hot swap must carry.

    ``carry`` names module globals (``(module, name)``) that start-up code writes with a
    ``global`` statement: a hot swap copies them into the re-run module. ``notes`` are things
    the user should know about the reload (a logging call that has no effect twice).
    """

    mode: Mode
    reason: str
    changed: tuple[str, ...] = ()
    carry: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()


# Bases whose __init__ calls nothing of the subclass's: a handler deriving from them has no
# library start-up code that could call back its methods.
INERT_BASES = frozenset({"object", "ABC", "Generic", "Protocol"})


class Kind(str, enum.Enum):
    """What a top-level statement does beyond binding names."""

    LOGGING = "logging setting"  # request-time: hot
    PRINT = "print"  # request-time: hot
    ENVIRONMENT = "environment variable"
    PATCH = "library patch"
    PATH = "sys.path change"
    CALL = "top-level call"
    STATEMENT = "top-level statement"


HOT_KINDS = frozenset({Kind.LOGGING, Kind.PRINT})


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
                chain = _dotted(sub)
                if chain:
                    chains.append(tuple(chain))
            elif isinstance(sub, (ast.Import, ast.ImportFrom)) and sub is not node:
                local.update(_import_bindings(sub, module, package))
            elif isinstance(sub, ast.Call) and _is_name(sub.func, "self"):
                calls_self = True
            elif isinstance(sub, ast.Global):
                globals_.update(sub.names)
    return Summary(frozenset(names), tuple(chains), local, calls_self, frozenset(globals_))


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
    _dump: str | None = None
    _summary: Summary | None = None

    @property
    def dump(self) -> object:
        """What the code does, without positions, comments or docstrings: equal when only
        those changed. For a function, its compiled code (compiling is C, quicker than a
        tree dump); for anything else, the tree."""
        if self._dump is None:
            self._dump = _code_key(self.text) if _is_function(self.node) else _dump(self.node)
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
    _dump: str | None = None

    @property
    def dump(self) -> str:
        if self._dump is None:
            header = copy.copy(self.node)
            header.body = []
            self._dump = _dump(header)
        return self._dump

    def same(self, other: Header | None) -> bool:
        return other is not None and (self.text == other.text or self.dump == other.dump)


@dataclass
class Binding:
    """A name bound at module level (or a class attribute) and the statements binding it."""

    label: str
    statements: list[ast.stmt]
    imports: list[str] = field(default_factory=list)  # absolute targets of import bindings
    _dump: str | None = None
    _summary: Summary | None = None

    @property
    def dump(self) -> str:
        if self._dump is None:
            self._dump = "\n".join(_dump(s) for s in self.statements)
        return self._dump

    def summary(self, module: str, package: bool) -> Summary:
        if self._summary is None:
            values = [_value_of(s) for s in self.statements if not _is_import(s)]
            self._summary = summarise(values, module, package)
        return self._summary


@dataclass
class Effect:
    """A top-level statement with an effect beyond the module (or a logging/print call)."""

    kind: Kind
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
        if self.kind is Kind.ENVIRONMENT:
            said += " (a library that read it when first imported keeps the old value)"
        return said


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


def decide(
    old: Mapping[str, str | None],
    new: Mapping[str, str | None],
    entry_key: str,
    class_name: str,
    files: Mapping[str, str] | None = None,
    held: Collection[str] | Callable[[set[str]], Collection[str]] = (),
) -> Decision:
    """Compare two versions of a repository's modules (name -> source; None when gone).

    ``files`` names each module's file for the reasons (default: ``name.py``); ``held`` is
    the set of ``module:Class`` (or ``module:function``) of objects the running instance
    holds, or a function that finds which of the candidates it is given the instance holds
    (called only when a held object could reach a change). Raises SyntaxError, with that
    file name, when a new source does not parse.
    """
    files = dict(files or {})
    names = sorted(set(old) | set(new), key=lambda n: (n != entry_key, n))
    for n in names:
        files.setdefault(n, n.replace(".", "/") + ".py")
    before = {n: analyse(n, old.get(n), files[n], n == entry_key) for n in names}
    after = {n: analyse(n, new.get(n), files[n], n == entry_key) for n in names}
    home = _home(after, entry_key, class_name)
    world_before, world_after = _World(before, home), _World(after, home)

    changed = _changed(before, after, home)
    labels = tuple(label for _, label in changed)
    effects = list(_changed_effects(before, after))

    for effect, verb in effects:
        if effect.kind not in HOT_KINDS:
            return Decision(Mode.REINIT, effect.describe(verb), labels)

    home_module, home_class = home
    header_old = before[home_module].headers.get(home_class)
    header_new = after[home_module].headers.get(home_class)
    if (header_old or header_new) and not (header_old and header_old.same(header_new)):
        return Decision(Mode.REINIT, f"bases or decorators of {class_name} changed", labels)

    reach_old, reach_new = world_before.reachable(), world_after.reachable()
    for target, label in changed:
        origin = reach_old.get(target, reach_new.get(target))
        if origin is not None:
            return Decision(Mode.REINIT, f"{label}{origin}", labels)
    if changed:
        if callable(held):
            candidates = _could_reach(after, {t for t, _ in changed}, home)
            held = held(candidates) if candidates else ()
        if held:
            by_held = world_before.reachable(held, only_held=True)
            for target, label in changed:
                if target in by_held:
                    return Decision(Mode.REINIT, f"{label}{by_held[target]}", labels)

    carry = tuple(sorted(world_after.globals_written(reach_new)))
    hot_effects = [f"{e.kind.value} {e.label} {verb}" for e, verb in effects if e.kind in HOT_KINDS]
    # A note about a logging call only when that call changed: the user just edited it.
    notes = tuple(e.note for e, _ in effects if e.note and e.kind in HOT_KINDS)
    if not labels and not hot_effects:
        return Decision(Mode.HOT, "only comments or formatting changed", (), carry, notes)
    return Decision(Mode.HOT, _join((*labels, *hot_effects)), labels, carry, notes)


def _could_reach(
    modules: Mapping[str, Analysis], changed: set[str], home: tuple[str, str]
) -> set[str]:
    """Classes and functions whose code could reach a changed target: those of the changed
    modules and of the modules that import them, at any depth."""
    reached = {t.partition(":")[0] for t in changed}
    while True:
        more = {
            name
            for name, analysis in modules.items()
            if name not in reached
            and any(i == r or i.startswith(f"{r}.") for i in analysis.imports for r in reached)
        }
        if not more:
            break
        reached |= more
    return {
        f"{name}:{unit}"
        for name in reached
        if name in modules
        for unit in modules[name].units
        if "." not in unit and (name, unit) != home
    }


def _join(labels: tuple[str, ...]) -> str:
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{len(labels)} changes ({', '.join(labels[:3])}, ...)"


def _home(modules: Mapping[str, Analysis], entry_key: str, class_name: str) -> tuple[str, str]:
    """``(module, class)`` where the handler class is defined.

    Usually handler.py itself; but handler.py may just do ``from impl import EndpointHandler``
    (or ``import Handler as EndpointHandler``), and then that sibling's class is the one whose
    ``__init__`` builds the state.
    """
    entry = modules.get(entry_key)
    if entry is None or class_name in entry.headers:
        return entry_key, class_name
    binding = entry.bindings.get(class_name)
    for target in binding.imports if binding else []:
        module, _, name = target.rpartition(".")
        if module in modules and name in modules[module].headers:
            return module, name
    return entry_key, class_name


# --- what changed -------------------------------------------------------------------------


def _changed(
    before: Mapping[str, Analysis], after: Mapping[str, Analysis], home: tuple[str, str]
) -> list[tuple[str, str]]:
    """``(target, label)`` of every definition and binding that differs, in file order.

    A class is compared whole, except the handler class, which is compared member by member.
    """
    out = []
    for name in before:
        a, b = before[name], after[name]
        for key in [*a.units, *(k for k in b.units if k not in a.units)]:
            if not _compared(name, key, home):
                continue
            old, new = a.units.get(key), b.units.get(key)
            if old is None or new is None or (old.text != new.text and old.dump != new.dump):
                label = _member_label((new or old).label, name, key, home)  # type: ignore[union-attr]
                verb = "added" if old is None else "removed" if new is None else "changed"
                out.append((f"{name}:{key}", f"{label} {verb}"))
        for key in [*a.bindings, *(k for k in b.bindings if k not in a.bindings)]:
            if not _compared(name, key, home):
                continue
            old_b, new_b = a.bindings.get(key), b.bindings.get(key)
            if old_b is None or new_b is None or old_b.dump != new_b.dump:
                label = (new_b or old_b).label  # type: ignore[union-attr]
                verb = "added" if old_b is None else "removed" if new_b is None else "changed"
                out.append((f"{name}:{key}", f"{label} {verb}"))
    return out


def _compared(module: str, key: str, home: tuple[str, str]) -> bool:
    """Members (``C.m``) of the handler class only; every other class as a whole."""
    owner, dot, _ = key.partition(".")
    is_home = (module, owner) == home
    return bool(dot) == is_home or (not dot and not is_home)


def _member_label(label: str, module: str, key: str, home: tuple[str, str]) -> str:
    owner, dot, member = key.partition(".")
    if not dot or (module, owner) != home:
        return label
    return member if member in {"__init__", "__call__"} else f"method {member}"


def _changed_effects(
    before: Mapping[str, Analysis], after: Mapping[str, Analysis]
) -> Iterator[tuple[Effect, str]]:
    """Effects that are new, changed or gone (compared as multisets), with that verb."""
    for name in before:
        old = Counter(e.dump for e in before[name].effects)
        new = Counter(e.dump for e in after[name].effects)
        changed = set()
        for effect in after[name].effects:
            if old[effect.dump] == 0:
                was = any(e.label == effect.label for e in before[name].effects)
                changed.add(effect.label)
                yield effect, "changed" if was else "added"
            else:
                old[effect.dump] -= 1
        for effect in before[name].effects:
            if new[effect.dump] == 0 and effect.label not in changed:
                yield effect, "removed"
            elif new[effect.dump]:
                new[effect.dump] -= 1


# --- what start-up reaches -------------------------------------------------------------------


_reached: dict[tuple, tuple[dict[str, str], tuple[Analysis, ...]]] = {}


class _World:
    """One side's modules, resolving names across them to ``module:target`` ids."""

    def __init__(self, modules: Mapping[str, Analysis], home: tuple[str, str]) -> None:
        self.modules = modules
        self.home = home

    def reachable(self, held: Collection[str] = (), only_held: bool = False) -> dict[str, str]:
        """Every id start-up code reaches, with why (the suffix of the reason).

        ``only_held``: just what the held objects' code reaches. Remembered for the same
        analyses (the old side of a reload is the new side of the one before).
        """
        key = (*map(id, self.modules.values()), self.home, tuple(sorted(held)), only_held)
        found = _reached.get(key)
        if found is None:
            found = self._reachable(held, only_held)
            if len(_reached) > 16:
                _reached.pop(next(iter(_reached)))
            # The analyses are kept with the answer: their ids stay theirs while it is here.
            _reached[key] = (found, tuple(self.modules.values()))
            return found
        return found[0]

    def _reachable(self, held: Collection[str], only_held: bool) -> dict[str, str]:
        home_module, home_class = self.home
        module = self.modules[home_module]
        roots: list[tuple[str, str]] = []
        init = f"{home_module}:{home_class}.__init__"
        if f"{home_class}.__init__" in module.units:
            roots.append((init, ""))
        header = module.headers.get(home_class)
        if header is not None:
            roots.append((f"{home_module}:<header>", ""))
            bases = [_dotted_name(b) for b in header.node.bases]
            if any(b is None or b.split(".")[-1] not in INERT_BASES for b in bases):
                # A library base's __init__ may call back any method the handler overrides.
                for key in module.units:
                    if key.startswith(f"{home_class}.") and key != f"{home_class}.__call__":
                        roots.append((f"{home_module}:{key}", " (the base class may call it)"))
        for name, analysis in self.modules.items():
            for effect in analysis.effects:
                if effect.kind not in HOT_KINDS:
                    roots.append((f"{name}:<effect>:{effect.line}", f" (used at {effect.where})"))
        if only_held:
            roots = []
        for target in held:
            module_name, _, unit = target.partition(":")
            if module_name in self.modules and unit in self.modules[module_name].units:
                roots.append((target, f" (the handler holds a {unit})"))

        # Root by root: a target reached from __init__ says so, even when a held object or a
        # patch reaches it too.
        seen: dict[str, str] = {}
        for root, why in roots:
            todo = [root]
            while todo:
                target = todo.pop()
                if target in seen:
                    continue
                seen[target] = why or (" (reached from __init__)" if target != init else "")
                if target == f"{home_module}:{home_class}":
                    continue  # the handler class as a whole: its members are followed one by one
                todo += [ref for ref in self.references(target) if ref not in seen]
        return seen

    def summaries(self, target: str) -> list[Summary]:
        """What the code of a target id refers to."""
        module_name, _, key = target.partition(":")
        module = self.modules[module_name]
        if key.startswith("<header>"):
            header = module.headers[self.home[1]]
            return [header_summary(header, module)]
        if key.startswith("<effect>"):
            line = int(key.rpartition(":")[2])
            return [
                e.summary(module.name, module.package) for e in module.effects if e.line == line
            ]
        if key in module.units:
            return [module.units[key].summary]
        if key in module.bindings:
            return [module.bindings[key].summary(module.name, module.package)]
        return []

    def references(self, target: str) -> set[str]:
        """The ids a target's code refers to, following imports to the defining module."""
        module_name, _, key = target.partition(":")
        module = self.modules[module_name]
        refs: set[str] = set()
        if key in module.bindings:
            for imported in module.bindings[key].imports:
                refs |= self._import_target(imported)
        for summary in self.summaries(target):
            refs |= self._code_references(summary, module)
        refs.discard(target)
        return refs

    def _code_references(self, summary: Summary, module: Analysis) -> set[str]:
        home_module, home_class = self.home
        in_home = module.name == home_module
        local = summary.local
        refs: set[str] = set()
        for name in summary.names:
            if name in local:
                refs |= self._import_target(local[name])
            else:
                refs |= self._resolve(name, module)
        for chain in summary.chains:
            if in_home and chain[0] in {"self", "cls", home_class}:
                refs |= self._known(f"{home_module}:{home_class}.{chain[1]}")
            elif chain[0] in local:
                refs |= self._chain(local[chain[0]], list(chain[1:]))
            else:
                binding = module.bindings.get(chain[0])
                for imported in binding.imports if binding else []:
                    refs |= self._chain(imported, list(chain[1:]))
        if in_home and summary.calls_self:
            # `self(...)` in __init__ (a warm-up call) runs __call__ at start-up.
            refs |= self._known(f"{home_module}:{home_class}.__call__")
        return refs

    def _resolve(self, name: str, module: Analysis) -> set[str]:
        found = self._known(f"{module.name}:{name}")
        if found:
            return found
        for star in module.stars:
            found = self._known(f"{star}:{name}")
            if found:
                return found
        return set()

    def _known(self, target: str) -> set[str]:
        module_name, _, key = target.partition(":")
        module = self.modules.get(module_name)
        if module is None:
            return set()
        if key in module.units or key in module.bindings:
            return {target}
        return set()

    def _import_target(self, imported: str) -> set[str]:
        """The ids an imported absolute name refers to: a module's definition or binding."""
        if imported in self.modules:
            return set()  # a whole module: its members are resolved when used (`utils.f`)
        module_name, _, name = imported.rpartition(".")
        return self._known(f"{module_name}:{name}")

    def _chain(self, imported: str, rest: list[str]) -> set[str]:
        """``utils.f`` or ``pkg.mod.f`` where ``imported`` is what the first name stands for."""
        current = imported
        for part in rest:
            if f"{current}.{part}" in self.modules:
                current = f"{current}.{part}"
                continue
            if current in self.modules:
                return self._known(f"{current}:{part}")
            return self._import_target(current)
        return set()

    def globals_written(self, reached: Mapping[str, str]) -> set[tuple[str, str]]:
        """``(module, name)`` of module globals that reached functions assign (``global x``)."""
        found = set()
        for target in reached:
            module_name = target.partition(":")[0]
            if module_name in self.modules:
                for summary in self.summaries(target):
                    found |= {(module_name, name) for name in summary.globals}
        return found


def header_summary(header: Header, module: Analysis) -> Summary:
    """What a class's bases, keywords and decorators refer to."""
    node = header.node
    return summarise([*node.bases, *node.keywords, *node.decorator_list], module.name, False)


# --- reading one module ------------------------------------------------------------------------


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
    tree = ast.parse(text, filename=file)
    lines = text.splitlines()
    display = "" if entry else f"{name}."
    bindings: dict[str, list[ast.stmt]] = {}
    imports: dict[str, list[str]] = {}
    for stmt, context in _top_level(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, target in _import_bindings(stmt, name, package):
                if target.endswith(".*"):
                    analysis.stars.append(target[:-2])
                    continue
                bindings.setdefault(local, []).extend([*context, stmt])
                imports.setdefault(local, []).append(target)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            label = f"helper {display}{stmt.name}"
            analysis.units[stmt.name] = _unit(label, _segment(lines, stmt), stmt, name, package)
        elif isinstance(stmt, ast.ClassDef):
            _analyse_class(stmt, analysis, lines, display, bindings, package)
        elif _is_docstring(stmt) or _is_main_block(stmt):
            continue  # prose, and a block production never runs
        else:
            effect = _effect(stmt, bindings, imports)
            if effect is not None:
                effect.where = f"{file}:{effect.line}"
                effect.note = f"{effect.where}: {effect.note}" if effect.note else ""
                analysis.effects.append(effect)
            if effect is None or effect.kind not in (Kind.PATCH, Kind.ENVIRONMENT):
                for assigned in _assigned_names(stmt):
                    bindings.setdefault(assigned, []).extend([*context, stmt])
    analysis.imports = _imports(tree.body, lines, name, package)
    for local, statements in bindings.items():
        if "." in local:
            label = f"class attribute {local}"
        elif all(_is_import(s) or isinstance(s, _Context) for s in statements):
            label = f"import {local}"
        else:
            label = f"module constant {display}{local}"
        analysis.bindings[local] = Binding(label, statements, imports.get(local, []))
    return analysis


def _imports(body: list[ast.stmt], lines: list[str], name: str, package: bool) -> set[str]:
    """Every module a text imports, at the top or inside functions and classes.

    Only the statements whose source mentions ``import`` are walked: walking the whole tree
    of a long file costs more than the rest of its analysis.
    """
    found = set()
    for stmt in body:
        if "import" not in _segment(lines, stmt):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found |= {t.removesuffix(".*") for _, t in _import_bindings(node, name, package)}
                if isinstance(node, ast.ImportFrom):
                    found.add(absolute_module(node, name, package))
    return found


class _Context(ast.stmt):
    """The test of an ``if`` (or the handlers of a ``try``) around a binding: part of it."""

    _fields = ("test",)


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
                yield from _top_level(inner, (*context, _Context(test=test)))
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
    analysis.units[cls.name] = _unit(label, _segment(lines, cls), cls, name, package)
    first = min([cls.lineno, *(d.lineno for d in cls.decorator_list)])
    body = cls.body[0].lineno if cls.body else cls.end_lineno or cls.lineno
    analysis.headers[cls.name] = Header("\n".join(lines[first - 1 : body - 1]), cls)
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = f"{cls.name}.{stmt.name}"
            segment = _segment(lines, stmt)
            analysis.units[key] = _unit(f"method {stmt.name}", segment, stmt, name, package)
        elif not _is_docstring(stmt):
            for assigned in _assigned_names(stmt) or [f"<line {stmt.lineno}>"]:
                bindings.setdefault(f"{cls.name}.{assigned}", []).append(stmt)


def _import_bindings(
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


def _effect(
    stmt: ast.stmt, bindings: Mapping[str, list[ast.stmt]], imports: Mapping[str, list[str]]
) -> Effect | None:
    """What a top-level statement other than a definition or import does beyond the module."""
    line, dump = stmt.lineno, _dump(stmt)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        func = ".".join(_dotted(call.func) or []) if isinstance(call.func, ast.Attribute) else ""
        if isinstance(call.func, ast.Name):
            func = call.func.id
        last = func.rsplit(".", 1)[-1]
        if func == "print":
            return Effect(Kind.PRINT, "print", line, stmt, dump)
        if _is_environ(func) and last in ENVIRONMENT_CALLS:
            key = _constant(call.args[0]) if call.args else None
            label = str(key) if key is not None else "(os.environ)"
            return Effect(Kind.ENVIRONMENT, label, line, stmt, dump)
        if func in ("os.putenv", "os.unsetenv"):
            return Effect(Kind.ENVIRONMENT, func, line, stmt, dump)
        if last in LOGGING_CALLS and (
            "logging" in func or "warnings" in func or _is_logger(func, bindings)
        ):
            note = ""
            if func.endswith("basicConfig") and not any(k.arg == "force" for k in call.keywords):
                note = (
                    f"{func} does nothing once logging is configured (the first run did): "
                    "pass force=True"
                )
            return Effect(Kind.LOGGING, func, line, stmt, dump, note)
        if func == "setattr" and call.args:
            owner = ".".join(_dotted_or_name(call.args[0]) or ["?"])
            attr = _constant(call.args[1]) if len(call.args) > 1 else None
            return Effect(Kind.PATCH, f"{owner}.{attr}" if attr else owner, line, stmt, dump)
        if func.startswith("sys.path."):
            return Effect(Kind.PATH, func, line, stmt, dump)
        return Effect(Kind.CALL, f"{func or 'call'}(...)", line, stmt, dump)
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                owner = _dotted_or_name(target.value)
                if owner and _is_environ(".".join(owner)):
                    key = _constant(target.slice)
                    label = str(key) if key is not None else "(os.environ)"
                    return Effect(Kind.ENVIRONMENT, label, line, stmt, dump)
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                owner = _dotted_or_name(target.value)
                if owner and owner[0] in imports:
                    name = ".".join(owner)
                    attr = f".{target.attr}" if isinstance(target, ast.Attribute) else "[...]"
                    return Effect(Kind.PATCH, name + attr, line, stmt, dump)
        return None  # binds module names (a constant), or changes an object of the module
    if isinstance(stmt, (ast.Delete, ast.Pass, ast.Global, ast.Nonlocal)):
        return None
    return Effect(Kind.STATEMENT, f"at line {line}", line, stmt, dump)


def _is_environ(func: str) -> bool:
    return func in ("os.environ", "environ") or func.startswith(("os.environ.", "environ."))


def _is_logger(func: str, bindings: Mapping[str, list[ast.stmt]]) -> bool:
    """``logger.setLevel`` where ``logger = logging.getLogger(...)`` at module level."""
    head = func.split(".")[0]
    for stmt in bindings.get(head, []):
        value = _value_of(stmt)
        if isinstance(value, ast.Call):
            called = ".".join(_dotted_or_name(value.func) or [])
            if called.endswith("getLogger") or called.endswith("get_logger"):
                return True
    return False


def _constant(node: ast.AST) -> object:
    return node.value if isinstance(node, ast.Constant) else None


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


def _value_of(stmt: ast.stmt) -> ast.AST:
    """What a binding statement's names refer to: the assigned value, or the statement."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        return stmt.value
    if isinstance(stmt, _Context):
        return stmt.test
    return stmt


def _is_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Import, ast.ImportFrom))


def _is_main_block(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: production imports the module, so it never runs."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and _is_name(test.left, "__name__")
        and len(test.comparators) == 1
        and _constant(test.comparators[0]) == "__main__"
        and not stmt.orelse  # type: ignore[union-attr]
    )


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


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


def _dotted_or_name(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    return _dotted(node) if isinstance(node, ast.Attribute) else None


def _dotted_name(node: ast.AST) -> str | None:
    parts = _dotted_or_name(node)
    return ".".join(parts) if parts else None


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _segment(lines: list[str], node: ast.AST) -> str:
    """The source lines of a definition, decorators included: cheap to compare."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno])


def _is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


# Code objects whose first constant is not a docstring slot.
_NO_DOCSTRING = frozenset({"<module>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def _code_key(text: str) -> object:
    """A function's source compiled, as a comparable value that leaves out line numbers and
    its docstring (in CPython a function's first constant); the tree dump when it does not
    compile on its own (a ``nonlocal`` of an enclosing scope)."""
    try:
        code = compile(textwrap.dedent(text), "<unit>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return _dump(ast.parse(textwrap.dedent(text)))
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


def _dump(node: ast.AST) -> str:
    """The tree without positions or docstrings: moving code or editing prose is no change."""
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and _is_docstring(body[0]):
        node = copy.copy(node)
        node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(node, include_attributes=False)
