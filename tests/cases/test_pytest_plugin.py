"""pytest_plugin.py: `pytest --handler-repo REPO` turns each payload case into a test item.

Every run is a fresh `python -m pytest` process, so the plugin must come in through its
installed `pytest11` entry point, as it does for users.
"""

import json

from PIL import Image

pytest_plugins = ["pytester"]

COUNTING = """\
from pathlib import Path

from base import EndpointHandler as Base


class EndpointHandler(Base):
    def __init__(self, path=""):
        super().__init__(path)
        with open(Path(path) / "builds.txt", "a") as f:  # one line per build
            f.write("built\\n")
"""


def case(folder, name: str, expected_label: str, inputs: str = "a good day") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"payload": {"inputs": inputs}, "expected_label": expected_label}
    (folder / f"{name}.json").write_text(json.dumps(payload))


def test_each_case_is_an_item_and_the_handler_is_built_once(repo, pytester):
    repo.write("base.py", "base.py")
    repo.write("handler.py", text=COUNTING)
    case(repo.path / "cases", "good", "positive")
    case(repo.path / "cases", "also_good", "negative", inputs="a bad day")
    case(repo.path / "cases", "bad", "negative")
    result = pytester.runpytest_subprocess("--handler-repo", str(repo.path), "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*collected 3 items",
            "*cases/also_good.json::also_good PASSED*",
            "*cases/bad.json::bad FAILED*",
            "*cases/good.json::good PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(["*case bad: label 'positive', expected 'negative'*"])
    assert (repo.path / "builds.txt").read_text() == "built\n"


def test_a_body_file_case_sends_the_file_as_production_decodes_it(repo, pytester):
    repo.write("handler.py", "image_handler.py")
    folder = repo.path / "cases"
    folder.mkdir()
    Image.new("L", (8, 4)).save(folder / "cat.png")
    content = {"body_file": "cat.png", "content_type": "image/png", "expected_label": "RGB 8x4"}
    (folder / "cat.json").write_text(json.dumps(content))
    content["body_file"] = "dog.png"  # not there: fails alone, with what to do
    (folder / "dog.json").write_text(json.dumps(content))
    result = pytester.runpytest_subprocess("--handler-repo", str(repo.path), "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*cases/cat.json::cat PASSED*", "*cases/dog.json::dog FAILED*"])
    result.stdout.fnmatch_lines(["*case dog: cannot read its body file dog.png*"])


def test_cases_come_from_the_folder_given_and_k_selects_among_them(repo, pytester):
    repo.write("handler.py", "base.py")
    case(repo.path / "cases", "not_this_one", "negative")
    other = pytester.path / "other_cases"
    case(other, "good", "positive")
    case(other, "wrong", "negative")
    args = ["--handler-repo", str(repo.path), "--handler-cases", str(other), "-v"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*not_this_one*")
    result.stdout.fnmatch_lines(["other_cases/good.json::good PASSED*"])  # relative to rootdir
    pytester.runpytest_subprocess(*args, "-k", "good").assert_outcomes(passed=1, deselected=1)


def test_a_handler_that_does_not_load_fails_every_case_with_the_reason(repo, pytester):
    repo.write("handler.py", "keyword_only_init.py")
    case(repo.path / "cases", "one", "positive")
    case(repo.path / "cases", "two", "positive")
    result = pytester.runpytest_subprocess("--handler-repo", str(repo.path))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*handler.py:17: EndpointHandler.__init__ cannot take*"])


def test_a_missing_cases_folder_is_a_usage_error(repo, pytester):
    repo.write("handler.py", "base.py")
    result = pytester.runpytest_subprocess("--handler-repo", str(repo.path))
    assert result.ret == 4  # pytest's usage error
    result.stderr.fnmatch_lines([f"*handler-kit: no cases folder at {repo.path / 'cases'}*"])


def test_an_empty_cases_folder_is_a_usage_error_that_says_so(repo, pytester):
    repo.write("handler.py", "base.py")
    (repo.path / "cases").mkdir()
    result = pytester.runpytest_subprocess("--handler-repo", str(repo.path))
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*handler-kit: no case files (*.json) in {repo.path / 'cases'}*"])


def test_without_the_option_the_plugin_adds_nothing(repo, pytester):
    repo.write("handler.py", "base.py")
    case(repo.path / "cases", "good", "positive")
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*good.json*")
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--handler-repo=REPO*", "*--handler-cases=DIR*"])
