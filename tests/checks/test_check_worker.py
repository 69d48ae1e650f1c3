"""checks/worker.py: the fresh process the check runs in: another python, a crash, a timeout."""

import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import requires
from pathlib import Path

from check_support import handler, line_of, row, run_check
from IPython.core.interactiveshell import InteractiveShell
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from handler_kit import check
from handler_kit.checks.worker import WORKER_NEEDS
from handler_kit.cli import main
from handler_kit.packages.distributions import usual_distribution
from handler_kit.packages.environment import Environment
from handler_kit.reload import flight


def other_python(folder: Path) -> Path:
    """A new venv's interpreter (the standard library only), made in a few hundred ms."""
    venv.create(folder, with_pip=False)
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def python_without_the_kit(folder: Path) -> Path:
    """A venv that sees this environment's packages but not handler_kit.

    handler_kit is installed here as an editable project, through a .pth file that a plain
    path entry does not run: the worker must find the kit through the path the check gives it.
    """
    python = other_python(folder)
    site = sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)})
    paths = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "this_environment.pth").write_text("\n".join(paths) + "\n")
    alone = subprocess.run(
        [python, "-c", "import handler_kit"], capture_output=True, cwd=folder, timeout=120
    )
    assert alone.returncode != 0, "handler_kit is importable there without the check's help"
    return python


def ran_in(venv) -> str:
    """An answer that says whether the handler ran in ``venv``: short, whatever its path."""
    return f'[{{"label": "the venv given" if sys.prefix == {str(venv)!r} else sys.prefix}}]'


def test_the_worker_runs_in_the_interpreter_given(repo, tmp_path, capsys, monkeypatch):
    python = python_without_the_kit(tmp_path / "venv")
    repo.write("handler.py", text=handler(ran_in(tmp_path / "venv"), "import sys\n\n"))
    monkeypatch.chdir(tmp_path)  # a path relative to where the command runs
    status, out = run_check(capsys, str(repo.path), "--python", str(python.relative_to(tmp_path)))
    assert status == 0, out
    assert '"label":"the venv given"' in line_of(out, "case default")


def test_an_interpreter_that_cannot_run_the_worker_says_what_it_lacks(repo, tmp_path):
    python = other_python(tmp_path / "bare")  # only the standard library
    repo.write("handler.py", "base.py")
    repo.write("requirements.txt", text="holidays\n")
    report = check(repo.path, python=python)
    # The static checks ask that interpreter, which has nothing installed.
    assert "not installed in this environment" in row(report, "requirement holidays").detail
    entry = row(report, "entry")
    assert entry.status == "fail"
    assert entry.detail.startswith(f"the check's worker cannot start in {python} (Python 3.")
    assert "there fails (ModuleNotFoundError: No module named" in entry.detail
    assert f"({python} -m pip install packaging starlette orjson pillow)" in entry.detail
    assert row(report, "start-up").status == "skip"


def test_a_python_that_is_not_there_is_an_error_not_a_report(repo, tmp_path, capsys):
    repo.write("handler.py", "base.py")
    assert main(["check", str(repo.path), "--python", str(tmp_path / "nope" / "python")]) == 1
    err = capsys.readouterr().err
    assert f"cannot run the Python interpreter {tmp_path / 'nope' / 'python'}" in err


def test_a_lazily_imported_need_of_the_worker_is_asked_up_front(repo, tmp_path):
    # orjson is imported only when an answer is encoded: the check says so before the run.
    python = python_without_the_kit(tmp_path / "venv")
    site = sysconfig.get_path("purelib", vars={"base": str(tmp_path / "venv")})
    Path(site, "orjson.py").write_text("raise ImportError('not here', name='orjson')\n")
    repo.write("handler.py", "base.py")
    entry = row(check(repo.path, python=python), "entry")
    assert entry.status == "fail"
    assert "importing orjson there fails (ImportError: not here)" in entry.detail


def test_the_worker_needs_only_what_worker_needs_lists():
    # What `import handler_kit.checks.check` loads besides the standard library, in a fresh process:
    # each distribution is one WORKER_NEEDS names, or one those require.
    code = (
        "import sys; before = set(sys.modules); import handler_kit.checks.check; "
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    tops = set(loaded.stdout.split()) - set(sys.stdlib_module_names) - {"handler_kit"}
    here = Environment.here()
    needed = {canonicalize_name(usual_distribution(module)) for module in WORKER_NEEDS}
    for name in list(needed):
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or "extra" not in str(requirement.marker):
                needed.add(canonicalize_name(requirement.name))
    found = {canonicalize_name(here.provides(top)[0]) for top in tops if here.provides(top)}
    assert found and found <= needed, found - needed


def test_python_is_an_argument_of_the_magic(repo, tmp_path, capsys):
    python = python_without_the_kit(tmp_path / "venv")
    repo.write("handler.py", text=handler(ran_in(tmp_path / "venv"), "import sys\n"))
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "handler_kit")
        result = shell.run_cell(f"%handler_check '{repo.path}' --python '{python}'")
        assert result.error_in_exec is None
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr().out
    assert '"label":"the venv given"' in out
    assert out.rstrip().endswith("ready to deploy")


def test_a_worker_that_times_out_is_a_failed_row_with_its_stderr(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))  # where flight records go
    repo.write(
        "handler.py",
        text="""\
import sys
import time


class EndpointHandler:
    def __init__(self, path=""):
        print("loading weights", file=sys.stderr, flush=True)
        time.sleep(60)

    def __call__(self, data):
        return []
""",
    )
    report = check(repo.path, timeout=3)
    assert not report.ok
    entry = row(report, "entry")
    assert entry.status == "fail"
    assert entry.detail.startswith("the worker timed out after 3 s while importing the handler")
    assert entry.detail.endswith("the end of its stderr:\nloading weights")
    # Said by the report: the next load does not say it again as news of a dead process.
    assert flight.ended(repo.path) is None


def test_a_worker_that_segfaults_says_where_and_the_next_load_does_not_repeat_it(
    repo, tmp_path, monkeypatch
):
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)  # the flight record has the fault
    repo.write("handler.py", "hostile/segfault_at_import.py")
    entry = row(check(repo.path), "entry")
    assert entry.detail.startswith(
        "the worker crashed while importing the handler and building it (killed by SIGSEGV): "
        "Fatal Python error: Segmentation fault; handler.py:7 in <module>"
    ), entry.detail
    assert flight.ended(repo.path) is None


def test_a_worker_that_crashes_is_a_failed_row_and_keeps_the_rows_before(repo):
    repo.write(
        "handler.py",
        text="""\
import os
import sys


class EndpointHandler:
    def __init__(self, path=""):
        pass

    def __call__(self, data):
        print("segfault, or so", file=sys.stderr, flush=True)
        os._exit(3)
""",
    )
    report = check(repo.path)
    assert row(report, "entry").status == "pass"
    assert row(report, "start-up").status == "pass"
    crashed = row(report, "case default")
    assert crashed.status == "fail"
    assert crashed.detail == (
        "the worker crashed while answering case default (exit status 3); "
        "the end of its stderr:\nsegfault, or so"
    )
