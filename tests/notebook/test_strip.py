"""strip.py: the tutorials are stored without what a run adds, and git keeps them so."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from handler_kit.notebook.strip import strip, strip_text

ROOT = Path(__file__).parents[2]
GIT = shutil.which("git")


def tracked_notebooks() -> list[Path]:
    """The notebooks git tracks in this checkout (those in notebooks/ without git)."""
    if GIT is None or not (ROOT / ".git").exists():
        return sorted((ROOT / "notebooks").glob("*.ipynb"))
    listed = subprocess.run(
        [GIT, "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed]


def run(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` as Jupyter saves it after a run: outputs, counts, widgets, kernel details."""
    for n, cell in enumerate(notebook.cells, 1):
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
            cell.execution_count = n
            cell.metadata["execution"] = {"iopub.status.busy": "2025-01-01T00:00:00.000Z"}
            cell.metadata["scrolled"] = True
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return notebook


def test_every_tracked_notebook_is_stored_without_what_a_run_adds():
    notebooks = tracked_notebooks()
    assert len(notebooks) >= 5
    dirty = [n.relative_to(ROOT) for n in notebooks if strip_text(n.read_text()) != n.read_text()]
    assert not dirty, (
        f"{dirty} carry outputs or run metadata: strip them with `python -m "
        "handler_kit.notebook.strip notebooks/*.ipynb`; `make setup` makes git do it"
    )


def test_a_run_is_stripped_to_the_notebook_it_ran_and_its_tags_are_kept():
    clean = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "handler-kit", "display_name": "k", "language": "python"}}
    )
    clean.metadata["language_info"] = {"name": "python"}
    clean.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x)"),
    ]
    text = nbformat.writes(clean) + "\n"
    ran = run(nbformat.reads(text, as_version=4))
    assert strip(ran) == nbformat.reads(text, as_version=4)
    assert strip_text(nbformat.writes(run(nbformat.reads(text, as_version=4)))) == text


@pytest.mark.slow  # git runs the filter in a new python each time: seconds
@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_git_keeps_no_run_with_the_filter_make_setup_configures(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(
        r'git config filter\.nbstrip\.clean "\$\(abspath \$\(PY\)\) (.*)"', makefile
    )
    assert command is not None, "make setup configures the filter"
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    notebook = repo / "notebooks" / "tour.ipynb"
    shutil.copy(ROOT / "notebooks" / "03_local_endpoint.ipynb", notebook)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}

    def git(*args: str) -> str:
        done = subprocess.run(
            [GIT, *args], cwd=repo, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    git("init", "-q")
    git("config", "filter.nbstrip.clean", f"{sys.executable} {command.group(1)}")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tour")
    notebook.write_text(nbformat.writes(run(nbformat.read(notebook, as_version=4))))
    assert "outputs" in notebook.read_text() and '"ran\\n"' in notebook.read_text()
    # The run is in the file; git sees the notebook as committed: no diff, nothing to commit.
    assert git("diff") == ""
    git("add", "-A")  # (git status lists a file whose size changed until it is added)
    assert git("status", "--porcelain") == "" and git("diff", "--cached") == ""
