"""The files a handler opens by name, read from its source with ast (nothing is imported).

Production builds the handler as ``EndpointHandler(repo_dir)``: a file the handler reads is
named relative to that ``path`` (``os.path.join(path, "labels.json")``, ``Path(path) /
"model"``, ``f"{path}/vocab.txt"``, ``path + "/x"``), relative to a module's own folder
(``Path(__file__).parent / "x"``), or by a literal (``open("labels.json")``,
``AutoModel.from_pretrained("./model")``). Names given to the path (``self.model_dir =
os.path.join(path, "model")``) are followed within a function, across the class's methods
through ``self`` and through module-level names. What cannot be known without running the
code (a name built at run time) is not guessed.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..reload.repository import Repository, source_text
from ..report import shorten

# Calls whose first argument (or a keyword of PATH_KEYWORDS) names a file or folder to read.
OPENERS = frozenset(
    {
        "open",
        "Path",
        "PurePath",
        "load",
        "load_file",
        "safe_open",
        "read_csv",
        "read_json",
        "read_parquet",
        "read_table",
        "read_pickle",
        "read_excel",
        "read_feather",
        "imread",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "memmap",
        "from_pretrained",
        "from_file",
        "InferenceSession",
        "SentenceTransformer",
        "load_model",
        "listdir",
        "scandir",
    }
)
PATH_KEYWORDS = frozenset(
    {"model", "model_path", "pretrained_model_name_or_path", "path", "file", "filename"}
)
# Calls that return their argument's path in another form.
SAME_PATH = frozenset(
    {"Path", "PurePath", "PosixPath", "str", "fspath", "abspath", "realpath", "normpath"}
)
SAME_PATH_METHODS = frozenset({"resolve", "absolute", "expanduser"})
CODE_LIMIT = 60  # characters of an expression quoted in a message
FUNCTION = ast.FunctionDef | ast.AsyncFunctionDef


class OpenedBy(str, Enum):
    """How a handler names a file."""

    PATH = "the path production passes to __init__"
    MODULE = "a module's own folder (__file__)"
    LITERAL = "a literal name"


@dataclass(frozen=True)
class Opened:
    """One name of a file or folder the handler reads, and where its source says so."""

    name: str  # relative to the repository, posix
    file: Path  # the source file that names it
    line: int
    code: str  # the expression, shortened
    by: OpenedBy


# A resolved expression: (name relative to the repository, how it is rooted, derived): a
# name is derived when a literal part was joined to its root (Path(path) is not, Path(path)
# / "x" is).
Resolved = tuple[str, OpenedBy, bool]


def opened_names(repo: str | Path) -> list[Opened]:
    """Every file or folder name the repository's handler (and the modules it imports) opens.

    The entry (handler.py, or what production imports instead) is read for all three kinds;
    the repository's modules it imports for names relative to their own folder and literals.
    """
    repository = Repository.expected(Path(repo))
    found: list[Opened] = []
    for file in dict.fromkeys(repository.imported_by_entry().values()):
        try:
            tree = ast.parse(source_text(file))
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError, ValueError):
            continue  # the check reports a file that does not parse
        folder = file.parent.relative_to(repository.path).as_posix()
        entry = repository.entry.class_name if file == repository.entry.file else None
        found += _Reader(file, "" if folder == "." else folder, tree, entry).names()
    return sorted(set(found), key=lambda o: (str(o.file), o.line, o.name))


class _Reader:
    """One source file: its names bound to paths, and the paths its expressions build."""

    def __init__(self, file: Path, folder: str, tree: ast.Module, entry_class: str | None):
        self.file = file
        self.folder = folder  # the file's folder, relative to the repository
        self.tree = tree
        self.entry_class = entry_class
        self.module: dict[str, Resolved] = {}
        self.attributes: dict[str, Resolved] = {}  # self.<name>, across the class's methods

    def names(self) -> list[Opened]:
        functions = [n for n in ast.walk(self.tree) if isinstance(n, FUNCTION)]
        top = [n for n in self.tree.body if not isinstance(n, FUNCTION | ast.ClassDef)]
        self.module = self._bind(top, {})
        scopes = {id(f): {**self.module, **self._parameters(f)} for f in functions}
        for _ in range(3):  # self.x bound in one method and used to bind in another
            for function in functions:
                scopes[id(function)] = self._bind(function.body, scopes[id(function)])
        found = [o for node in top for o in self._scan(node, self.module)]
        for function in functions:
            for statement in function.body:
                found += self._scan(statement, scopes[id(function)])
        return found

    def _parameters(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, Resolved]:
        """The entry class's __init__: its first parameter after self is the repository."""
        if function.name != "__init__" or self.entry_class is None:
            return {}
        for node in self.tree.body:
            if (
                isinstance(node, ast.ClassDef)
                and node.name == self.entry_class
                and function in node.body
            ):
                arguments = [*function.args.posonlyargs, *function.args.args][1:2]
                return {a.arg: ("", OpenedBy.PATH, False) for a in arguments}
        return {}

    def _bind(self, body: list[ast.stmt], names: dict[str, Resolved]) -> dict[str, Resolved]:
        """``names`` with every assignment in ``body`` whose value is a path added."""
        names = dict(names)
        assignments = [
            node
            for statement in body
            for node in ast.walk(statement)
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        ]
        for _ in range(len(assignments) + 1):  # a fixed point: each pass binds one more
            changed = False
            for node in assignments:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = self._resolve(node.value, names)  # type: ignore[arg-type]
                if value is not None:  # a use of the name is not where it is built
                    value = (value[0], value[1], False)
                for target in targets:
                    key = _key(target)
                    if key is None or value is None or names.get(key) == value:
                        continue
                    names[key] = value
                    if key.startswith("self."):
                        self.attributes[key] = value
                    changed = True
            if not changed:
                break
        return names

    def _scan(self, node: ast.AST, names: dict[str, Resolved]) -> Iterator[Opened]:
        """The names the outermost path expressions in ``node`` build."""
        if isinstance(node, FUNCTION | ast.ClassDef):
            return  # a scope of its own, scanned with its own names
        if isinstance(node, ast.expr):
            resolved = self._resolve(node, names) or self._literal(node)
            if resolved is not None and resolved[2]:
                code = shorten(ast.unparse(node), CODE_LIMIT)
                yield Opened(resolved[0], self.file, node.lineno, code, resolved[1])
                return
        for child in ast.iter_child_nodes(node):
            yield from self._scan(child, names)

    def _resolve(self, node: ast.expr, names: dict[str, Resolved]) -> Resolved | None:
        """The repository path ``node`` evaluates to, when it is built from a known root."""
        key = _key(node)
        if key is not None and key != "__file__":
            return names.get(key) or self.attributes.get(key)
        if isinstance(node, ast.Name):  # __file__: this module's own file
            return _joined(self.folder, self.file.name, OpenedBy.MODULE, derived=False)
        if isinstance(node, ast.Call):
            return self._call(node, names)
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            return _parent(self._resolve(node.value, names))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div | ast.Add):
            base, text = self._resolve(node.left, names), _text(node.right)
            if base is None or text is None:
                return None
            if isinstance(node.op, ast.Add) and not text.startswith("/"):
                return None  # path + "x" names no file inside the folder
            return _joined(base[0], text, base[1])
        if isinstance(node, ast.JoinedStr) and node.values:
            first, rest = node.values[0], node.values[1:]
            texts = [_text(value) for value in rest]
            if not isinstance(first, ast.FormattedValue) or not rest or None in texts:
                return None
            tail = "".join(texts)  # type: ignore[arg-type]
            base = self._resolve(first.value, names)
            if base is None or not tail.startswith("/"):
                return None
            return _joined(base[0], tail, base[1])
        return None

    def _call(self, node: ast.Call, names: dict[str, Resolved]) -> Resolved | None:
        name = _call_name(node.func)
        inner = node.func.value if isinstance(node.func, ast.Attribute) else None
        if name in SAME_PATH_METHODS and inner is not None and not node.args:
            return self._resolve(inner, names)
        if name == "joinpath" and inner is not None:
            return self._join(self._resolve(inner, names), node.args)
        if not node.args:
            return None
        first = node.args[0]
        if name == "join":  # os.path.join(root, "a", "b")
            base = self._resolve(first, names)
            if base is None and isinstance(_text(first), str):
                base = (_clean(_text(first)), OpenedBy.LITERAL, True)  # type: ignore[arg-type]
            return self._join(base, node.args[1:])
        if name == "dirname" and len(node.args) == 1:
            return _parent(self._resolve(first, names))
        if name in SAME_PATH and len(node.args) == 1:
            found = self._resolve(first, names)
            if found is None and name in ("Path", "PurePath") and _text(first) is not None:
                return (_clean(_text(first)), OpenedBy.LITERAL, True)  # type: ignore[arg-type]
            return found
        return None

    def _join(self, base: Resolved | None, parts: list[ast.expr]) -> Resolved | None:
        texts = [_text(part) for part in parts]
        if base is None or None in texts:
            return None
        if not texts:
            return base
        return _joined(base[0], "/".join(texts), base[1])  # type: ignore[arg-type]

    def _literal(self, node: ast.expr) -> Resolved | None:
        """``open("labels.json")``: a literal name given to a call that reads files."""
        if not isinstance(node, ast.Call) or _call_name(node.func) not in OPENERS:
            return None
        given = [*node.args[:1], *(k.value for k in node.keywords if k.arg in PATH_KEYWORDS)]
        for value in given:
            text = _text(value)
            if text and "://" not in text and not text.startswith(("/", "~")) and "\n" not in text:
                return _clean(text), OpenedBy.LITERAL, True
        return None


def _key(node: ast.AST) -> str | None:
    """``name`` for a variable, ``self.name`` for an attribute of self."""
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return f"self.{node.attr}"
    return None


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _clean(name: str) -> str:
    cleaned = posixpath.normpath(name.replace("\\", "/"))
    return "" if cleaned == "." else cleaned


def _joined(base: str, text: str, by: OpenedBy, derived: bool = True) -> Resolved | None:
    """``base`` joined with ``text``; None when the result leaves the repository."""
    name = _clean(posixpath.join(base, text.lstrip("/")))
    if name == ".." or name.startswith("../"):
        return None
    return name, by, derived


def _parent(found: Resolved | None) -> Resolved | None:
    if found is None or found[0] == "":
        return None  # the repository's own parent: outside it
    return posixpath.dirname(found[0]), found[1], False
