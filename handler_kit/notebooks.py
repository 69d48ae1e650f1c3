"""Notebooks as tests: execute a notebook with papermill and say plainly how it went.

An executed copy is kept (and exported to HTML next to it) whatever happens, so a failure can
be read cell by cell; a failure names the notebook, the cell, the error and both copies.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HandlerKitError

KERNEL = "handler-kit"  # the kernel spec `make setup` registers for the project's venv


class NotebookError(HandlerKitError):
    """A notebook failed while it was executed."""


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook run went: where its executed copies are, and the failure if any."""

    notebook: Path
    output: Path
    html: Path | None
    seconds: float
    cell: int | None = None  # 1-based position of the failing cell in the input notebook
    error: str | None = None  # "Type: message" of the failure

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> NotebookRun:
        """Raise NotebookError when the run failed; return the run otherwise."""
        if not self.ok:
            raise NotebookError(
                f"cell {self.cell} failed: {self.error}",
                file=self.notebook,
                hint=f"Executed copy: {self.output}"
                + (f" (HTML: {self.html})" if self.html else ""),
            )
        return self

    def __repr__(self) -> str:
        if self.ok:
            return f"{self.notebook.name} passed in {self.seconds:.1f} s: {self.output}"
        return f"{self.notebook.name} failed at cell {self.cell}: {self.error} ({self.output})"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        return f'<div style="color:{colour};font-family:monospace">{html.escape(repr(self))}</div>'


def kernel_name() -> str:
    """The project's kernel when it is registered, else the running Python's own."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def run_notebook(
    notebook: str | Path,
    output_dir: str | Path = "build/notebooks",
    parameters: dict[str, Any] | None = None,
    kernel: str | None = None,
    timeout: int = 600,
    cwd: str | Path | None = None,
) -> NotebookRun:
    """Execute ``notebook`` with papermill into ``output_dir``; never raises for a failing cell.

    ``timeout`` bounds each cell (seconds). The executed copy and its HTML export are written
    to ``output_dir`` either way; call ``.check()`` on the result to raise on failure.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise NotebookError(f"no such notebook: {notebook}", hint="Check the path.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    started = time.perf_counter()
    cell = error = None
    try:
        papermill.execute_notebook(
            notebook,
            output,
            parameters=parameters or {},
            kernel_name=kernel or kernel_name(),
            language="python",  # handlers are Python; old notebooks may not say so
            cwd=str(cwd) if cwd else None,
            execution_timeout=timeout,
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        cell, error = _input_position(output, exc.cell_index), f"{exc.ename}: {exc.evalue}"
    seconds = time.perf_counter() - started
    return NotebookRun(notebook, output, _export_html(output), seconds, cell, error)


def _input_position(output: Path, index: int) -> int:
    """1-based position in the input notebook of the executed notebook's cell ``index``.

    Papermill adds a cell with the injected parameters (and, after a failure, marker cells
    that were not there while it ran); neither is the user's, so neither is counted.
    """
    import nbformat

    cells = [
        cell.get("metadata", {}).get("tags", [])
        for cell in nbformat.read(output, as_version=4).cells
        if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])
    ]
    return index + 1 - sum(1 for tags in cells[:index] if "injected-parameters" in tags)


def _export_html(output: Path) -> Path | None:
    if not output.is_file():
        return None
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(output, as_version=4))
    target = output.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target
