"""The rows for hard-coded paths: absolute paths of this machine in the handler's code."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from pathlib import Path

from ..reload.repository import Repository, source_text
from ..report import Status
from .report import CheckName, Row

# Folders of the developer's machine; production mounts the repository somewhere else.
# /tmp/ is not one: it is a normal scratch folder in production too.
MACHINE_PATH = re.compile(
    r"^(~[\\/]|/home/|/Users/|/root/|/mnt/|/media/|/var/folders/|[A-Za-z]:[\\/])"
)


def path_rows(repo: Path, roots: Collection[str] = ()) -> list[Row]:
    """Warn about string literals that are absolute paths of this machine, in every Python
    file the handler imports (its own modules and packages at any depth)."""
    repository = Repository.expected(repo).with_roots(roots)
    rows = []
    for file in sorted(set(repository.imported_by_entry().values())):
        try:
            tree = ast.parse(source_text(file))
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError, ValueError):
            continue  # the entry check reports an unreadable handler.py
        literals = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        for node in literals:
            if MACHINE_PATH.match(node.value):
                rows.append(
                    Row(
                        CheckName.HARD_CODED_PATH,
                        Status.WARN,
                        f"{repository.relative(file)}:{node.lineno}: {node.value!r} is a path on "
                        "this machine; production mounts the repository elsewhere: build paths "
                        "from the `path` passed to __init__",
                    )
                )
    rows.sort(key=lambda row: row.detail)
    return rows or [
        Row(CheckName.HARD_CODED_PATHS, Status.PASS, "none in the Python files the handler imports")
    ]
