"""check.py: `handler-kit check` runs the handler in a fresh process and says what would fail.

The check as a whole: a ready repository, the entry, `%handler_check`; each kind of row has
its own module (test_check_requirements.py, test_check_imports.py, ...).
"""

import os

from check_support import PYTEST, line_of, row, run_check
from IPython.core.interactiveshell import InteractiveShell

from handler_kit import check
from handler_kit.cli import main


def test_a_good_repository_is_ready_to_deploy(repo, capsys):
    repo.write("handler.py", "base.py")
    repo.write("requirements.txt", text="# what production installs\n\npytest>=1  # for tests\n")
    status, out = run_check(capsys, str(repo.path))
    assert status == 0
    assert out.splitlines()[-1] == "ready to deploy"
    assert "pass    handler.py: EndpointHandler(path) built" in line_of(out, "entry")
    assert f"pytest>=1: {PYTEST} installed" in line_of(out, "requirement pytest")
    start_up = line_of(out, "start-up")
    assert " pass " in start_up and "built in" in start_up and " MB" in start_up
    default = line_of(out, "case default")
    assert " pass " in default and " ms: " in default
    assert '{"inputs": "I am quite excited how this will turn out"}' in default
    assert '[{"label":"negative","score":1.0}]' in default  # the default payload's answer


def test_the_handler_is_built_in_a_fresh_process_as_production_builds_it(repo):
    # Each assert fails when the handler is imported in this process or not as production does.
    repo.write("utils.py", text="LABEL = 'sibling'\n")
    repo.write(
        "handler.py",
        text="""\
import os
import sys

import utils  # a sibling module: the repository is first on sys.path

assert __name__ == "handler.EndpointHandler", __name__


class EndpointHandler:
    def __init__(self, path=""):
        assert "pytest" not in sys.modules, "built in the test process"
        assert sys.path[0] == path, sys.path[:2]
        assert os.getcwd() != path, "the working directory is the repository"

    def __call__(self, data):
        return [{"label": utils.LABEL, "score": 1.0}]
""",
    )
    report = check(repo.path)
    assert report.ok, report
    assert '"label":"sibling"' in row(report, "case default").detail


def test_a_legacy_pipeline_py_is_checked_like_production_loads_it(repo):
    repo.write("pipeline.py", "legacy_pipeline.py")
    report = check(repo.path)
    assert report.ok, report
    assert row(report, "entry").detail == "pipeline.py: PreTrainedPipeline(path) built"


def test_a_missing_handler_py_fails_the_entry_and_skips_the_rest(repo, capsys):
    repo.write("model.txt", text="weights")
    report = check(repo.path)
    assert not report.ok
    entry = row(report, "entry")
    assert entry.status == "fail" and f"no handler.py in {repo.path}" in entry.detail
    assert row(report, "start-up").status == "skip"
    assert row(report, "cases").status == "skip"
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    assert " fail " in line_of(out, "entry")
    assert out.splitlines()[-1] == "not ready: 1 check failed"


def test_an_init_without_the_path_argument_fails_the_entry_with_its_line(repo, capsys):
    repo.write("handler.py", "keyword_only_init.py")  # def __init__(self, *, path) on line 17
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    entry = line_of(out, "entry")
    assert " fail " in entry
    assert f"{repo.path / 'handler.py'}:17: EndpointHandler.__init__ cannot take" in entry


def test_a_folder_that_does_not_exist_is_an_error_not_a_report(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_the_magic_shows_the_report(repo, capsys):
    repo.write("handler.py", "base.py")
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "handler_kit")
        result = shell.run_cell(f"%handler_check '{repo.path}'")
        assert result.error_in_exec is None
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr().out
    assert f"Deployment check of {repo.path}" in out
    assert out.rstrip().endswith("ready to deploy")


def test_check_is_exported():
    import handler_kit

    assert {"check", "CheckReport"} <= set(handler_kit.__all__)
    assert handler_kit.check is check


READS_GREETING = """\
import os


class EndpointHandler:
    def __init__(self, path=""):
        self.greeting = os.environ["GREETING"]

    def __call__(self, data):
        return [{"label": self.greeting, "score": 1.0}]
"""


def test_variables_given_are_the_workers_as_an_endpoints_are_its_handlers(repo, monkeypatch):
    # An endpoint's env and secrets are environment variables of its handler: a handler that
    # reads one in __init__ fails without it and is checked with it.
    monkeypatch.delenv("GREETING", raising=False)
    repo.write("handler.py", text=READS_GREETING)
    without = check(repo.path)
    assert not without.ok and "KeyError: 'GREETING'" in row(without, "entry").detail
    given = check(repo.path, env={"GREETING": "hello"})
    assert given.ok, given
    assert '"label":"hello"' in row(given, "case default").detail
    assert "GREETING" not in os.environ  # this process is left as it was


def test_the_command_and_the_magic_take_variables_as_deploy_does(repo, capsys, monkeypatch):
    monkeypatch.delenv("GREETING", raising=False)
    repo.write("handler.py", text=READS_GREETING)
    status, out = run_check(capsys, str(repo.path), "--env", "GREETING=hi")
    assert status == 0 and '"label":"hi"' in line_of(out, "case default"), out
    status, out = run_check(capsys, str(repo.path))
    assert status == 1 and "KeyError: 'GREETING'" in line_of(out, "entry"), out
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "handler_kit")
    report = shell.run_line_magic("handler_check", f"{repo.path} --env GREETING=ho")
    assert report.ok and '"label":"ho"' in row(report, "case default").detail
    assert main(["check", str(repo.path), "--env", "GREETING"]) == 1  # not NAME=VALUE
    assert "--env 'GREETING' is not NAME=VALUE" in capsys.readouterr().err
