"""`make demo`: the guide's tutorial, executed: notebooks/01_custom_handler.ipynb via papermill.

Builds the sample emotion repository (cached after the first build), runs the notebook in the
project's kernel, prints the guide's two predictions and what the reload did, and writes the
executed notebook and its HTML next to each other.
"""

import sys
from pathlib import Path

import nbformat

from handler_kit.notebook.runner import run_notebook
from handler_kit.templates import samples

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_custom_handler.ipynb"
OUT = ROOT / "build" / "demo"


def main() -> int:
    # Built here, with a progress bar, so the notebook finds it in the cache.
    print("the sample emotion model (fine-tuned once, then cached):", flush=True)
    print(f"  {samples.emotion_repo()}")
    print(f"running {NOTEBOOK.relative_to(ROOT)} with papermill ...", flush=True)
    run = run_notebook(NOTEBOOK, OUT, parameters={"workdir": str(OUT / "repos")}, cwd=OUT)
    if run.ok:
        for cell in nbformat.read(run.output, as_version=4).cells:
            if "summary" in cell.get("metadata", {}).get("tags", []):
                print("".join(o.get("text", "") for o in cell.outputs), end="")
    print(run)
    print(f"executed notebook: {run.output}")
    print(f"as HTML:           {run.html}")
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
