"""Notebooks without what running them adds: what a repository keeps of a notebook.

Running a notebook in Jupyter writes its outputs, execution counts, widget state and the
kernel's details into the file; committed, every run is a change to review. ``strip`` keeps
what the notebook is (its cells, their tags, the kernel it runs in) and drops the rest.

``python -m handler_kit.notebook.strip`` is a git clean filter (a notebook on stdin, stripped
on stdout: `make setup` configures it for notebooks/), or strips the files it is given in place.
"""

from __future__ import annotations

import sys
from typing import Any

# What a cell keeps of its metadata: its tags (papermill finds the parameters cell by one).
CELL_METADATA = ("tags",)


def strip(notebook: Any) -> Any:
    """``notebook`` (an nbformat node) without outputs, execution counts and metadata other
    than the cells' tags, the kernel spec and the language's name; changed in place."""
    for cell in notebook.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    kept = {}
    if "kernelspec" in notebook.metadata:
        kept["kernelspec"] = notebook.metadata["kernelspec"]
    language = notebook.metadata.get("language_info", {}).get("name")
    if language:
        kept["language_info"] = {"name": language}
    notebook.metadata = kept
    return notebook


def strip_text(text: str) -> str:
    """A notebook's text, stripped, written as nbformat writes a notebook file."""
    import nbformat

    written = nbformat.writes(strip(nbformat.reads(text, as_version=4)))
    return written if written.endswith("\n") else written + "\n"


def main(argv: list[str]) -> int:
    """Strip stdin to stdout (a git clean filter), or each file named in place."""
    if not argv:  # bytes: git may run the filter under a locale that is not UTF-8
        sys.stdout.buffer.write(strip_text(sys.stdin.buffer.read().decode("utf-8")).encode())
        return 0
    for name in argv:
        with open(name, encoding="utf-8") as file:
            text = file.read()
        stripped = strip_text(text)
        if stripped != text:
            with open(name, "w", encoding="utf-8") as file:
                file.write(stripped)
            print(f"stripped {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
