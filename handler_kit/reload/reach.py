"""What start-up code reaches in a repository's modules, across them, at any depth.

Start-up is ``__init__`` of the handler class, its bases and decorators, the top-level
effects of every module, and (for a hot swap's safety) the code of objects the instance
holds. Names are resolved across the modules to ``module:target`` ids. The handler class and
the bases the repository defines are one family (``Family``): ``self.f`` is looked up along
them as Python would, so that only what their ``__init__`` reaches is start-up code.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property

from .analysis import Analysis, Header
from .effects import REQUEST_TIME
from .syntax import Summary, dotted_or_name, summarise

# Bases whose __init__ calls nothing of the subclass's: a handler deriving from them has no
# library start-up code that could call back its methods.
INERT_BASES = frozenset({"object", "ABC", "Generic", "Protocol"})


def could_reach(
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


def home_of(modules: Mapping[str, Analysis], entry_key: str, class_name: str) -> tuple[str, str]:
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


@dataclass(frozen=True)
class Family:
    """The handler class and its bases defined in the repository, in method resolution order.

    Their members are the handler's: ``self.f`` in any of them is looked up along ``classes``,
    and each is compared member by member. ``library``: a base comes from a library (or
    cannot be told), whose own ``__init__`` may call back any method the family defines.
    """

    classes: tuple[tuple[str, str], ...]  # (module, class), the handler class first
    library: bool


_reached: dict[tuple, tuple[dict[str, str], tuple[Analysis, ...]]] = {}


class World:
    """One side's modules, resolving names across them to ``module:target`` ids."""

    def __init__(self, modules: Mapping[str, Analysis], home: tuple[str, str]) -> None:
        self.modules = modules
        self.home = home
        self._names: dict[str, dict[str, int]] = {}
        self._refs: dict[str, set[str]] = {}

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

    @cached_property
    def family(self) -> Family:
        """The handler class and the repository's classes it derives from, in resolution order."""
        bases: dict[tuple[str, str], list[tuple[str, str]]] = {}
        library, todo = False, [self.home]
        while todo:
            current = todo.pop()
            if current in bases:
                continue
            header = self.modules[current[0]].headers.get(current[1])
            bases[current] = []
            for base in header.node.bases if header else []:
                found = self._class_of(base, self.modules[current[0]])
                if found is not None:
                    bases[current].append(found)
                    todo.append(found)
                elif (dotted_name_of(base) or "").split(".")[-1] not in INERT_BASES:
                    library = True
        return Family(tuple(_linearise(self.home, bases)), library)

    def _class_of(self, node: ast.expr, module: Analysis) -> tuple[str, str] | None:
        """``(module, class)`` of a base written in ``module`` when the repository defines it."""
        if isinstance(node, ast.Subscript):  # `Base[T]`
            node = node.value
        parts = dotted_or_name(node)
        if not parts:
            return None
        if len(parts) == 1:
            ids = self._resolve(parts[0], module)
            for target in list(ids):  # `from base import BaseHandler`: where it is defined
                name, _, key = target.partition(":")
                binding = self.modules[name].bindings.get(key)
                for imported in binding.imports if binding else []:
                    ids |= self._import_target(imported)
        else:
            binding = module.bindings.get(parts[0])
            ids = set()
            for imported in binding.imports if binding else []:
                ids |= self._chain(imported, parts[1:])
        for target in ids:
            name, _, key = target.partition(":")
            if key in self.modules[name].headers:
                return name, key
        return None

    def member(self, name: str, start: int = 0) -> set[str]:
        """The id of the family's member ``name`` that an instance finds (``self.name``),
        looked up from the ``start``-th class on (``super().name``, ``Base.name``)."""
        for module, cls in self.family.classes[start:]:
            found = self._known(f"{module}:{cls}.{name}")
            if found:
                return found
        return set()

    def _family_names(self, module: Analysis) -> dict[str, int]:
        """The names ``module`` knows the family's classes by, with their place in it."""
        names = self._names.get(module.name)
        if names is None:
            names = {}
            for index, (defining, cls) in enumerate(self.family.classes):
                if defining == module.name:
                    names[cls] = index
                for local, binding in module.bindings.items():
                    if f"{defining}.{cls}" in binding.imports:
                        names[local] = index
            self._names[module.name] = names
        return names

    def _reachable(self, held: Collection[str], only_held: bool) -> dict[str, str]:
        family = self.family
        roots: list[tuple[str, str]] = []
        init = next(iter(self.member("__init__")), "")
        if init:
            roots.append((init, ""))
        for module, cls in family.classes:
            if cls in self.modules[module].headers:
                roots.append((f"{module}:<header>:{cls}", ""))
        if family.library:
            # A library base's __init__ may call back any method the handler's classes define.
            for module, cls in family.classes:
                for key in self.modules[module].units:
                    if key.startswith(f"{cls}.") and key != f"{cls}.__call__":
                        roots.append((f"{module}:{key}", " (the base class may call it)"))
        for name, analysis in self.modules.items():
            for effect in analysis.effects:
                if effect.kind not in REQUEST_TIME:
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
                todo += [ref for ref in self.references(target) if ref not in seen]
        return seen

    def summaries(self, target: str) -> list[Summary]:
        """What the code of a target id refers to."""
        module_name, _, key = target.partition(":")
        module = self.modules[module_name]
        if key.startswith("<header>:"):
            header = module.headers[key.partition(":")[2]]
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

    def closure(self, targets: set[str]) -> set[str]:
        """``targets`` and every id their code reaches, at any depth."""
        seen: set[str] = set()
        todo = list(targets)
        while todo:
            target = todo.pop()
            if target not in seen:
                seen.add(target)
                todo += self.references(target) - seen
        return seen

    def references(self, target: str) -> set[str]:
        """The ids a target's code refers to, following imports to the defining module."""
        found = self._refs.get(target)
        if found is None:
            found = self._refs[target] = self._references(target)
        return found

    def _references(self, target: str) -> set[str]:
        module_name, _, key = target.partition(":")
        module = self.modules[module_name]
        refs: set[str] = set()
        if key in module.bindings:
            family = self.family.classes
            for imported in module.bindings[key].imports:
                refs |= {self._header_of(t, family) for t in self._import_target(imported)}
        owner = (module_name, key.partition(".")[0])
        for summary in self.summaries(target):
            refs |= self.code_references(summary, module, owner)
        refs.discard(target)
        return refs

    def code_references(
        self, summary: Summary, module: Analysis, owner: tuple[str, str] | None = None
    ) -> set[str]:
        """The ids the code of ``summary``, written in ``module`` (in class ``owner``), refers to.

        A class of the handler's family stands for its header: its members are reached one
        by one, through ``self.f`` and ``super().f``.
        """
        family = self.family.classes
        in_family = owner in family or module.name == self.home[0]
        local = summary.local
        refs: set[str] = set()
        for name in summary.names:
            if name in local:
                refs |= self._import_target(local[name])
            else:
                refs |= self._resolve(name, module)
        for chain in summary.chains:
            if in_family and chain[0] in {"self", "cls"}:
                refs |= self.member(chain[1])
            elif chain[0] == "super()":
                refs |= self.member(chain[1], family.index(owner) + 1 if owner in family else 1)
            elif chain[0] in self._family_names(module) and chain[0] not in local:
                refs |= self.member(chain[1], self._family_names(module)[chain[0]])
            elif chain[0] in local:
                refs |= self._chain(local[chain[0]], list(chain[1:]))
            else:
                binding = module.bindings.get(chain[0])
                for imported in binding.imports if binding else []:
                    refs |= self._chain(imported, list(chain[1:]))
        if in_family and summary.calls_self:
            # `self(...)` in __init__ (a warm-up call) runs __call__ at start-up.
            refs |= self.member("__call__")
        return {self._header_of(ref, family) for ref in refs}

    @staticmethod
    def _header_of(target: str, family: tuple[tuple[str, str], ...]) -> str:
        module, _, key = target.partition(":")
        return f"{module}:<header>:{key}" if (module, key) in family else target

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


def dotted_name_of(node: ast.expr) -> str | None:
    parts = dotted_or_name(node.value if isinstance(node, ast.Subscript) else node)
    return ".".join(parts) if parts else None


def _linearise(
    cls: tuple[str, str], bases: Mapping[tuple[str, str], list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """The C3 method resolution order of ``cls`` over the repository's classes (depth first,
    left to right when the bases admit no C3 order: Python would refuse such a class)."""
    sequences = [_linearise(b, bases) for b in bases.get(cls, [])] + [list(bases.get(cls, []))]
    order = [cls]
    while any(sequences):
        sequences = [s for s in sequences if s]
        head = next(
            (s[0] for s in sequences if not any(s[0] in other[1:] for other in sequences)), None
        )
        if head is None:
            return list(dict.fromkeys([cls, *(c for s in sequences for c in s)]))
        order.append(head)
        sequences = [s[1:] if s[0] == head else s for s in sequences]
    return order


def header_summary(header: Header, module: Analysis) -> Summary:
    """What a class's bases, keywords and decorators refer to."""
    node = header.node
    return summarise([*node.bases, *node.keywords, *node.decorator_list], module.name, False)
