"""notebooks.py, and every tutorial in notebooks/ executed top to bottom in a real kernel."""

from pathlib import Path

import nbformat
import pytest

from handler_kit.notebook.runner import NotebookError, output_folders, run_notebook

# Model builds, notebook runs, production's server: out of the fast lane (make test-fast).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
OUT = ROOT / "build" / "notebooks"


def small_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def test_a_failure_names_the_cell_the_error_and_the_copies(tmp_path):
    notebook = small_notebook(tmp_path / "three.ipynb", "x = 1", "y = 2", "assert x == y, 'x is 1'")
    run = run_notebook(notebook, tmp_path / "out")
    assert not run.ok
    assert run.cell == 3
    assert run.error == "AssertionError: x is 1"
    assert run.source == "assert x == y, 'x is 1'"
    assert run.output == tmp_path / "out" / "three.ipynb" and run.output.is_file()
    assert run.html == tmp_path / "out" / "three.html" and "x is 1" in run.html.read_text()
    with pytest.raises(NotebookError) as info:
        run.check()
    message = str(info.value)
    assert message.startswith(f"{notebook}: cell 3 failed: AssertionError: x is 1")
    assert str(run.output) in message and str(run.html) in message
    assert "Cell 3 begins: assert x == y, 'x is 1'" in message
    assert repr(run).endswith("; cell 3 begins: assert x == y, 'x is 1'")


def test_the_failing_cell_is_quoted_by_its_first_line_cut_to_60_characters(tmp_path):
    long = "assert " + " + ".join(["len('abc')"] * 10) + " == 0"
    notebook = small_notebook(tmp_path / "long.ipynb", "x = 1", f"\n# why\n{long}")
    run = run_notebook(notebook, tmp_path / "out")
    assert run.source == "# why"
    notebook = small_notebook(tmp_path / "long.ipynb", f"\n   \n{long}\nx = 2")
    run = run_notebook(notebook, tmp_path / "out")
    assert (run.cell, run.error) == (1, "AssertionError")  # a bare assert has no message
    assert run.source == long[:59].rstrip() + "…"  # 60 characters at most


def test_a_cell_over_the_timeout_is_a_failed_run_that_names_the_cell(tmp_path):
    notebook = small_notebook(tmp_path / "slow.ipynb", "x = 1", "import time; time.sleep(60)", "y")
    run = run_notebook(notebook, tmp_path / "out", timeout=2)
    assert (run.cell, run.source) == (2, "import time; time.sleep(60)")
    assert run.error == "CellTimeoutError: the cell ran over 2 s (raise --timeout)"
    assert run.seconds < 30 and run.output.is_file() and run.html.is_file()


def test_a_dead_kernel_is_a_failed_run_that_names_the_cell(tmp_path):
    notebook = small_notebook(tmp_path / "dies.ipynb", "x = 1", "import os; os._exit(1)", "y")
    run = run_notebook(notebook, tmp_path / "out", parameters={"n": 1}, timeout=30)
    assert (run.cell, run.source) == (2, "import os; os._exit(1)")
    assert run.error.startswith("DeadKernelError: the kernel died (")
    assert run.output.is_file() and run.html.is_file()


def test_an_error_without_a_message_is_told_by_the_cells_stderr(tmp_path):
    notebook = small_notebook(tmp_path / "magic.ipynb", "x = 1", "%history --bogus")
    run = run_notebook(notebook, tmp_path / "out")
    assert (run.cell, run.source) == (2, "%history --bogus")
    assert run.error == "UsageError: unrecognized arguments: --bogus"


def test_the_kernel_runs_in_the_notebooks_folder_unless_told_otherwise(tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "nbs", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    (folder / "data.txt").write_text("beside the notebook")
    (elsewhere / "data.txt").write_text("elsewhere")
    small_notebook(folder / "reads.ipynb", "text = open('data.txt').read()\nassert 0, text")
    monkeypatch.chdir(tmp_path)
    run = run_notebook("nbs/reads.ipynb", "out")  # relative paths, from another folder
    assert run.error == "AssertionError: beside the notebook"
    assert run.output == Path("out/reads.ipynb") and run.output.is_file()
    assert not (folder / "out").exists()
    run = run_notebook("nbs/reads.ipynb", "out", cwd=elsewhere)
    assert run.error == "AssertionError: elsewhere"


def test_cells_are_counted_in_the_users_notebook_not_with_the_injected_one(tmp_path):
    notebook = small_notebook(
        tmp_path / "params.ipynb",
        "assert expected == 'joy', expected",
        parameters="expected = 'joy'",
    )
    assert run_notebook(notebook, tmp_path / "out").check().ok
    run = run_notebook(notebook, tmp_path / "out", parameters={"expected": "anger"})
    assert (run.cell, run.error) == (2, "AssertionError: anger")


def test_the_kernel_prints_no_transport_warning(tmp_path, capfd):
    notebook = small_notebook(tmp_path / "quiet.ipynb", "x = 1")
    assert run_notebook(notebook, tmp_path / "out").ok
    out, err = capfd.readouterr()  # what the kernel process printed too
    assert "without encryption" not in out + err


def test_a_missing_notebook_is_named(tmp_path):
    with pytest.raises(NotebookError, match="no such notebook"):
        run_notebook(tmp_path / "nope.ipynb")


def printed(notebook: Path) -> list[str]:
    """The text every cell of an executed notebook showed, cell by cell."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [
        "".join(
            out.get("text", "") + out.get("data", {}).get("text/plain", "")
            for out in cell.get("outputs", [])
        )
        for cell in cells
    ]


@pytest.mark.model
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_tutorial_notebook_runs(notebook, tmp_path):
    if notebook.name == "05_deploy.ipynb":
        _needs_the_toolkit()
    run = run_notebook(notebook, OUT, parameters={"workdir": str(tmp_path)}, cwd=tmp_path)
    cells = printed(run.check().output)
    shown = "".join(cells)
    assert "Loading weights" not in shown  # transformers' bar at every model load
    assert "np.float" not in shown and "np.int" not in shown  # numpy's reprs, not numbers
    if notebook.name == "04_gallery.ipynb":  # a line as each template's tour ends
        from handler_kit import templates

        tour = next(text for text in cells if "hot reload in" in text)
        lines = [line for line in tour.splitlines() if line.strip()]
        # A model the cache lacks is built first: its bar (a widget here) and its figure.
        built = [line for line in lines if "held-out" in line or "%|" in line]
        toured = [line for line in lines if line not in built]
        assert [line.split(":")[0] for line in toured] == templates.names(), tour
        assert all(", ready to deploy, " in line for line in toured), tour


@pytest.mark.model
def test_the_tutorial_fails_when_its_answer_is_wrong(tmp_path):
    notebook = ROOT / "notebooks" / "01_custom_handler.ipynb"
    cells = nbformat.read(notebook, as_version=4).cells
    check = next(i for i, c in enumerate(cells) if "the model said" in c.source) + 1
    parameters = {"workdir": str(tmp_path), "expected_label": "anger"}
    run = run_notebook(notebook, tmp_path / "out", parameters=parameters, cwd=tmp_path)
    assert run.cell == check
    assert run.error.startswith("AssertionError: expected 'anger', the model said [{'label': 'joy'")


def test_notebooks_that_share_a_name_get_a_folder_each_named_after_theirs(tmp_path):
    notebooks = ["p/a/x.ipynb", "q/a/x.ipynb", "r/b/x.ipynb", "y.ipynb"]
    out = tmp_path / "out"
    assert output_folders([tmp_path / n for n in notebooks], out) == [
        out / "a",
        out / "a-2",
        out / "b",
        out,
    ]


def _needs_the_toolkit() -> None:
    """Skip, saying why, where production's toolkit source is not beside the checkout: the
    deploy tutorial rehearses and serves every endpoint with its real server."""
    from handler_kit.production.toolkit import ToolkitError, find_toolkit

    try:
        found = find_toolkit()
    except ToolkitError as error:
        pytest.skip(f"the deploy tutorial runs production's real server: {error.headline}")
    if found.source is None:
        pytest.skip("the deploy tutorial runs production's real server from its source folder")
