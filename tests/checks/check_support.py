"""Helpers of the check's tests: a handler.py of one answer, a row of a report, the CLI's check."""

import shutil
from importlib.metadata import version
from pathlib import Path

from handler_kit import CheckReport
from handler_kit.checks.report import Row
from handler_kit.cli import main

DEPLOY = Path(__file__).parents[1] / "fixtures" / "deploy"  # repositories as users write them
PYTEST = version("pytest")

HANDLER = """\
class EndpointHandler:
    def __init__(self, path=""):
        self.path = path

    def __call__(self, data):
        return {answer}
"""


def handler(answer: str, imports: str = "") -> str:
    """A handler.py whose __call__ returns the Python expression ``answer``."""
    return imports + HANDLER.format(answer=answer)


def row(report: CheckReport, name: str) -> Row:
    """The one row of ``report`` for the check ``name``."""
    found = [r for r in report.rows if r.check == name]
    assert len(found) == 1, f"{name!r} in {[r.check for r in report.rows]}"
    return found[0]


def run_check(capsys, *args: str) -> tuple[int, str]:
    """`handler-kit check ARGS`: exit status and what it printed."""
    status = main(["check", *args])
    return status, capsys.readouterr().out


def line_of(out: str, check_name: str) -> str:
    """The table line of the check ``check_name`` in the printed report."""
    lines = [line for line in out.splitlines() if line.split("  ")[0] == check_name]
    assert len(lines) == 1, out
    return lines[0]


def deploy_repo(tmp_path: Path, name: str) -> Path:
    """A copy of the fixture repository ``deploy/<name>`` (the check may write caches in it)."""
    return Path(shutil.copytree(DEPLOY / name, tmp_path / name))
