"""Notebooks as tests: execute a notebook with papermill and say plainly how it went.

An executed copy is kept (and exported to HTML next to it) whatever happens, so a failure can
be read cell by cell; a failure names the notebook, the cell, the error and both copies.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import style
from ..errors import HandlerKitError
from ..report import Status, shorten

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
    source: str | None = None  # the failing cell's first non-empty line, shortened

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failure(self) -> NotebookError | None:
        """The failure as an error that names the notebook, the cell and both copies."""
        if self.ok:
            return None
        return NotebookError(
            f"cell {self.cell} failed: {self.error}",
            file=self.notebook,
            hint=(f"Cell {self.cell} begins: {self.source}\n" if self.source else "")
            + f"Executed copy: {self.output}"
            + (f" (HTML: {self.html})" if self.html else ""),
        )

    def check(self) -> NotebookRun:
        """Raise NotebookError when the run failed; return the run otherwise."""
        failure = self.failure
        if failure is not None:
            raise failure
        return self

    def __repr__(self) -> str:
        if self.ok:
            return f"{self.notebook.name} passed in {self.seconds:.1f} s: {self.output}"
        text = f"{self.notebook.name} failed at cell {self.cell}: {self.error} ({self.output})"
        return text + (f"; cell {self.cell} begins: {self.source}" if self.source else "")

    def _repr_html_(self) -> str:
        return style.line(repr(self), (Status.PASS if self.ok else Status.FAIL).colour)


def _kernel_config() -> Any:
    """The kernel manager's settings: IPC sockets (files only this user can open) where the
    system has them. Over TCP, ipykernel warns that the kernel is unencrypted, in the middle of
    the output of `make demo` and `handler-kit test`; a kernel of ours never needs a network."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "tcp" if os.name == "nt" else "ipc"}})


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

    A failing cell, a cell over ``timeout`` seconds and a dead kernel are all failed runs. The
    kernel runs in ``cwd``, by default the notebook's own folder (as in Jupyter). The executed
    copy and its HTML export are written to ``output_dir`` either way; call ``.check()`` on the
    result to raise on failure.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise NotebookError(f"no such notebook: {notebook}", hint="Check the path.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    started = time.perf_counter()
    index = error = None
    try:
        papermill.execute_notebook(
            notebook,
            output.resolve(),  # papermill saves it while in `cwd`: a relative path would move
            parameters=parameters or {},
            kernel_name=kernel or kernel_name(),
            language="python",  # handlers are Python; old notebooks may not say so
            cwd=str(notebook.parent if cwd is None else cwd),
            execution_timeout=timeout,
            progress_bar=False,
            config=_kernel_config(),
        )
    except PapermillExecutionError as exc:
        index, error = exc.cell_index, f"{exc.ename}: {exc.evalue}"
    except CellTimeoutError:
        error = f"CellTimeoutError: the cell ran over {timeout} s (raise --timeout)"
    except DeadKernelError:
        error = "DeadKernelError: the kernel died (it crashed, exited or ran out of memory)"
    seconds = time.perf_counter() - started
    cell = source = None
    if error is not None:
        cell, source, error = _locate(output, index, error)
    return NotebookRun(notebook, output, _export_html(output), seconds, cell, error, source)


def run_notebooks(
    notebooks: Sequence[str | Path],
    output_dir: str | Path = "build/notebooks",
    parameters: dict[str, Any] | None = None,
    kernel: str | None = None,
    timeout: int = 600,
    cwd: str | Path | None = None,
) -> Iterator[NotebookRun | HandlerKitError]:
    """Execute each notebook in turn (see ``run_notebook``); yields each one's run as it ends.

    A folder stands for the notebooks in it (``notebooks_in``). Each notebook is given the
    ``parameters`` its parameters cell declares (all of them when it has none, as papermill
    puts them first then); a parameter that no notebook declares is an error before any runs.
    A notebook that could not run at all (no such notebook, a kernel that does not exist or
    start) yields the error that says so: one broken notebook or kernel does not stop the rest.
    Notebooks that share a file name keep their executed copies apart (``output_folders``).
    """
    notebooks = notebooks_in(notebooks)
    parameters = parameters or {}
    declared = {notebook: declared_parameters(notebook) for notebook in notebooks}
    _check_declared(parameters, declared)
    for notebook, folder in zip(notebooks, output_folders(notebooks, output_dir), strict=True):
        names = declared[notebook]
        given = {k: v for k, v in parameters.items() if names is None or k in names}
        try:
            result: NotebookRun | HandlerKitError = run_notebook(
                notebook, folder, given, kernel, timeout, cwd
            )
        except HandlerKitError as error:
            result = error
        except Exception as error:  # papermill's and jupyter_client's own (NoSuchKernel, ...)
            result = NotebookError(f"{type(error).__name__}: {error}", file=notebook)
        yield result


def notebooks_in(paths: Sequence[str | Path]) -> list[Path]:
    """The notebooks ``paths`` name: each path itself, or a folder's notebooks (the ``.ipynb``
    files in it, by name; not those of its subfolders or Jupyter's checkpoints)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)  # run_notebook says when there is no such notebook
            continue
        inside = sorted(p for p in path.glob("*.ipynb") if p.is_file())
        if not inside:
            raise NotebookError(
                f"no notebooks in {path}",
                hint="A folder stands for the .ipynb files directly in it.",
            )
        found += inside
    return found


def declared_parameters(notebook: Path) -> set[str] | None:
    """The names a notebook's cell tagged ``parameters`` sets, None when it has no such cell
    (or cannot be read: running it says why)."""
    import nbformat
    from papermill.translators import PythonTranslator

    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return None
    cell = next((c for c in nb.cells if "parameters" in _tags(c)), None)
    if cell is None:
        return None
    # Papermill's own reading of the cell (handler notebooks are Python: run_notebook says so).
    return {parameter.name for parameter in PythonTranslator.inspect(cell)}


def _check_declared(parameters: dict[str, Any], declared: dict[Path, set[str] | None]) -> None:
    """Refuse a parameter that no notebook takes: a typo would otherwise run them all without."""
    if any(names is None for names in declared.values()):
        return  # a notebook without a parameters cell takes every parameter
    known = set().union(*declared.values())
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise NotebookError(
            f"no notebook declares the parameter{'s' * (len(unknown) > 1)} "
            f"{', '.join(unknown)}; their parameters cells declare: {', '.join(sorted(known))}",
            hint="-p NAME VALUE sets a variable of a notebook's cell tagged `parameters`.",
        )


def output_folders(notebooks: Sequence[str | Path], output_dir: str | Path) -> list[Path]:
    """Each notebook's folder for its executed copy: ``output_dir``, or a subfolder of it.

    Notebooks that share a file name get a subfolder each, named after their own folder (made
    unique), so that no executed copy overwrites another.
    """
    names = Counter(Path(notebook).name for notebook in notebooks)
    taken: set[str] = set()
    folders = []
    for notebook in map(Path, notebooks):
        if names[notebook.name] == 1:
            folders.append(Path(output_dir))
            continue
        base = notebook.resolve().parent.name or "root"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        folders.append(Path(output_dir) / name)
    return folders


def _locate(output: Path, index: int | None, error: str) -> tuple[int | None, str | None, str]:
    """The failing cell's input position and first line, and the error, from the executed copy.

    ``index`` is the cell papermill reported (None after a timeout or a dead kernel). Papermill
    adds a cell with the injected parameters (and, after a failure, marker cells that were not
    there while it ran); neither is the user's, so neither is counted.
    """
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except (OSError, ValueError):  # not written, or cut off mid-write
        return None, None, error
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in _tags(c)]
    if index is None:
        index = _last_started(cells)
    if index is None or index >= len(cells):
        return None, None, error
    failing = cells[index]
    if error.endswith(": "):  # no message (a magic's UsageError, a bare assert)
        error = _stderr_line(failing) or error[:-2]
    position = index + 1 - sum(1 for c in cells[:index] if "injected-parameters" in _tags(c))
    return position, _first_line(failing.source), error


def _tags(cell: Any) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _last_started(cells: list[Any]) -> int | None:
    """Index of the cell papermill marked failed, else of the last cell it started.

    A timeout or a dead kernel stops papermill before it marks the cell failed (it even marks
    every cell completed), but only cells it started have a start time.
    """
    marks = [c.get("metadata", {}).get("papermill", {}) for c in cells]
    failed = [i for i, mark in enumerate(marks) if mark.get("exception") is True]
    started = [i for i, mark in enumerate(marks) if mark.get("start_time")]
    return (failed or started or [None])[-1]


def _stderr_line(cell: Any) -> str | None:
    """The last non-empty stderr line of a cell that failed without an error output."""
    outputs = cell.get("outputs", [])
    if any(out.get("output_type") == "error" for out in outputs):
        return None  # its error output is the error; stderr may hold unrelated warnings
    lines = [
        line.strip()
        for out in outputs
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
        for line in out.get("text", "").splitlines()
        if line.strip()
    ]
    return lines[-1] if lines else None


def _first_line(source: str, width: int = 60) -> str | None:
    """The first non-empty line of ``source``, cut to ``width`` characters."""
    line = next((line.strip() for line in source.splitlines() if line.strip()), None)
    return None if line is None else shorten(line, width)


def _export_html(output: Path) -> Path | None:
    """Export the executed copy to HTML next to it; None when there is no readable copy."""
    import nbformat
    from nbconvert import HTMLExporter

    try:
        nb = nbformat.read(output, as_version=4)
    except (OSError, ValueError):  # not written, or cut off mid-write
        return None
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = output.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target
