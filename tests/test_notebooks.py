"""The tutorial notebooks run top to bottom in a real kernel (papermill); their cells assert."""

from pathlib import Path

import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
OUT = ROOT / "build" / "notebooks"


def kernel_name() -> str:
    """The project's kernel (registered by `make setup`), else this Python's own."""
    return "handler-kit" if "handler-kit" in KernelSpecManager().find_kernel_specs() else "python3"


@pytest.mark.model
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    OUT.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        notebook,
        OUT / notebook.name,
        parameters={"workdir": str(tmp_path)},
        kernel_name=kernel_name(),
        cwd=tmp_path,
        execution_timeout=600,
        progress_bar=False,
    )
