"""checks/paths.py: paths of this machine hard-coded in the files the handler imports."""

from check_support import HANDLER, deploy_repo, handler, line_of, row, run_check

from handler_kit import check
from handler_kit.checks.paths import path_rows
from handler_kit.checks.report import Row


def test_a_path_in_a_package_the_handler_imports_is_warned_and_scripts_are_not(tmp_path):
    repo = deploy_repo(tmp_path, "nested_paths")
    assert path_rows(repo) == [
        Row(
            "hard-coded path",
            "warn",
            "pipeline_utils/loader.py:3: '/home/alice/.cache/emotion' is a path on this machine; "
            "production mounts the repository elsewhere: build paths from the `path` passed "
            "to __init__",
        )
    ]


def test_a_hard_coded_home_path_is_warned_with_its_line(repo, capsys):
    text = HANDLER.format(answer="[]").replace(
        "self.path = path", 'self.path = "/home/alice/models/emotion"'
    )
    repo.write("handler.py", text=text)  # line 3
    status, out = run_check(capsys, str(repo.path))
    assert status == 0  # a warning does not stop a deployment
    warned = line_of(out, "hard-coded path")
    assert " warn    handler.py:3: '/home/alice/models/emotion' is a path on this machine" in warned
    assert out.splitlines()[-1] == "ready to deploy, but read the 1 warning above"


def test_a_home_folder_path_is_warned_and_a_tmp_path_is_not(repo):
    answer = '[{"label": "x", "score": 1.0}] if "/tmp/scratch" else "~/models/emotion"'
    repo.write("handler.py", text=handler(answer))  # line 6
    warned = row(check(repo.path), "hard-coded path")  # the one row: none for /tmp/scratch
    assert warned.detail.startswith("handler.py:6: '~/models/emotion' is a path on this machine")
