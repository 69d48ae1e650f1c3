"""The rows for the packages the handler's code imports: does production have each one?

A package neither requirements.txt nor production's image provides stops production at
start-up (ModuleNotFoundError): that is a row. One the image ships in another version than
the worker's environment has is a fact about the environment, not the repository: the
report says it once, under its heading (``checks.environment``), never as a row.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ..packages.distributions import candidates, distribution, image_provider, missing_hint
from ..packages.environment import Environment, import_name, namespace_names
from ..packages.requirements import Requirements
from ..reload.repository import Repository, source_text
from ..reload.syntax import imports_in
from ..report import Status
from .report import CheckName, Row


def import_rows(
    repo: Path, environment: Environment | None = None, roots: Collection[str] = ()
) -> list[Row]:
    """Each package the handler's code imports that neither requirements.txt nor production's
    image provides fails: production stops at start-up with ModuleNotFoundError (one imported
    only inside ``try: ... except ImportError`` warns).

    ``roots``: folders of the repository its handler puts on sys.path (the worker saw them).
    """
    environment = environment or Environment.here()
    repository = Repository.expected(repo).with_roots(roots)
    own = {name.split(".")[0] for name in repository.modules_on_disk()}
    requirements = Requirements.read(repo)
    rows: list[Row] = []
    for module, imported in unlisted_imports(repository, environment, requirements).items():
        if image_provider(module) is not None:
            continue  # production's image ships it
        row = _missing_row(module, imported, environment, requirements, own)
        # One row per package: the first import of each of its modules says it.
        if all(r.check != row.check for r in rows):
            rows.append(row)
    return rows or [
        Row(
            CheckName.IMPORTS,
            Status.PASS,
            "requirements.txt or production's image has every package imported",
        )
    ]


def unlisted_imports(
    repository: Repository, environment: Environment, requirements: Requirements | None
) -> dict[str, Imported]:
    """The packages the handler's code imports that production must have in its image:
    neither the repository's own modules, the standard library, nor listed in
    requirements.txt (production installs those); each with where it is first imported."""
    own = {name.split(".")[0] for name in repository.modules_on_disk()}
    listed = requirements.names() if requirements is not None else set()
    found = {}
    for module, imported in _imports(repository).items():
        top = module.split(".")[0]
        if top in own or top in environment.stdlib or top in sys.builtin_module_names:
            continue
        if {canonicalize_name(name) for name in candidates(module, environment)} & listed:
            continue  # production installs it from requirements.txt
        found[module] = imported
    return found


def _missing_row(
    module: str,
    imported: Imported,
    environment: Environment,
    requirements: Requirements | None,
    own: set[str],
) -> Row:
    """The row of a package neither requirements.txt nor production's image provides: a
    warning when every import of it is optional, else a failure that says what to add."""
    name = distribution(module, environment)
    version = environment.version(name) if environment.provides(module) else None
    said = f"{imported.file}:{imported.line} imports {module}"
    provides = "which neither requirements.txt nor production's image provides"
    if imported.optional:
        return Row(
            CheckName.IMPORT.of(module),
            Status.WARN,
            f"{said} inside try/except ImportError, {provides}: production runs "
            f"without it; list {name} in requirements.txt if the handler needs it there",
        )
    if version is not None:
        detail = (
            f"{said} ({name} {version} installed here), {provides}: production fails to "
            f"start (ModuleNotFoundError); add `{name}` to requirements.txt"
        )
    else:
        hint = missing_hint(module, environment, requirements, own)
        detail = f"{said} (not installed here), {provides}: {hint[0].lower()}{hint[1:]}"
    return Row(CheckName.IMPORT.of(module), Status.FAIL, detail)


@dataclass(frozen=True)
class Imported:
    """Where the handler's code first imports a package; ``optional`` when every import of it
    is guarded by ``try: ... except ImportError`` (the code runs on without it)."""

    file: str
    line: int
    optional: bool


def _imports(repository: Repository) -> dict[str, Imported]:
    """Names the handler's code imports (``transformers``, ``google.protobuf``), each with
    where it is first imported.

    The code is handler.py (or pipeline.py) and the repository's own modules it imports, at
    any depth: a tests/ or scripts/ folder that production never imports is left out. Imports
    under ``if TYPE_CHECKING:`` never run and are left out too.
    """
    found: dict[str, Imported] = {}
    for name, file in repository.imported_by_entry().items():
        try:
            text = source_text(file)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
            continue  # the entry check reports an unreadable handler.py
        guarded, never = _guarded_lines(text)
        for module, line in imports_in(text, name, file.name == "__init__.py"):
            if line in never:
                continue
            key, optional = import_name(module), line in guarded
            first = found.get(key)
            if first is None:
                found[key] = Imported(repository.relative(file), line, optional)
            elif first.optional and not optional:  # one unguarded import makes it needed
                found[key] = Imported(repository.relative(file), line, False)
    # `from google.cloud import storage` names google.cloud and google.cloud.storage: the
    # namespace package itself is no distribution's, the deeper name says which one.
    return {
        key: imported
        for key, imported in found.items()
        if not namespace_names(key) or not any(k.startswith(f"{key}.") for k in found)
    }


# What `except` catches a failed import: ImportError, its subclass, or anything.
IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _guarded_lines(text: str) -> tuple[set[int], set[int]]:
    """Lines of import statements inside ``try`` blocks whose ``except`` catches ImportError,
    and lines under ``if TYPE_CHECKING:``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set(), set()

    def import_lines(statements: list[ast.stmt]) -> set[int]:
        return {
            node.lineno
            for statement in statements
            for node in ast.walk(statement)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        }

    guarded, never = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import(h.type) for h in node.handlers):
            guarded |= import_lines(node.body)
        elif isinstance(node, ast.If) and _name_of(node.test) == "TYPE_CHECKING":
            never |= import_lines(node.body)
    return guarded, never


def _catches_import(kind: ast.expr | None) -> bool:
    if kind is None:  # a bare `except:`
        return True
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(_name_of(k) in IMPORT_ERRORS for k in kinds)


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None
