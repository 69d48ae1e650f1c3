"""What start-up code reaches in a repository's modules, across them, at any depth.

Start-up is ``__init__`` of the handler class, its bases and decorators, the top-level
effects of every module, and (for a hot swap's safety) the code of objects the instance
holds. Names are resolved across the modules to ``module:target`` ids.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .analysis import Analysis, Header
from .effects import REQUEST_TIME
from .syntax import Summary, dotted_name, summarise

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


_reached: dict[tuple, tuple[dict[str, str], tuple[Analysis, ...]]] = {}


class World:
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
            bases = [dotted_name(b) for b in header.node.bases]
            if any(b is None or b.split(".")[-1] not in INERT_BASES for b in bases):
                # A library base's __init__ may call back any method the handler overrides.
                for key in module.units:
                    if key.startswith(f"{home_class}.") and key != f"{home_class}.__call__":
                        roots.append((f"{home_module}:{key}", " (the base class may call it)"))
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
