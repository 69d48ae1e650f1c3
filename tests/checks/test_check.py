"""check.py: `handler-kit check` runs the handler in a fresh process and says what would fail.

Also `handler-kit test` (notebooks as tests) and `%handler_check`.
"""

import io
import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import requires, version
from pathlib import Path

import nbformat
import numpy as np
from IPython.core.interactiveshell import InteractiveShell
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PIL import Image

from handler_kit import CheckReport, check
from handler_kit.cases.case import Case
from handler_kit.checks.environment import differences
from handler_kit.checks.imports import import_rows
from handler_kit.checks.in_worker import unserializable_path
from handler_kit.checks.in_worker import work as _work
from handler_kit.checks.large_files import large_file_rows
from handler_kit.checks.paths import path_rows
from handler_kit.checks.report import CheckName, Difference, Row
from handler_kit.checks.requirements import requirement_rows
from handler_kit.checks.worker import WORKER_NEEDS
from handler_kit.cli import main
from handler_kit.packages.distributions import pip_command, usual_distribution
from handler_kit.packages.environment import Environment
from handler_kit.packages.image import production
from handler_kit.templates.samples import GUIDE_HANDLER

DEPLOY = Path(__file__).parents[1] / "fixtures" / "deploy"  # repositories as users write them

PYTEST = version("pytest")
HOLIDAYS = version("holidays")

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


def small_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A notebook of code cells, after a cell tagged `parameters` when one is given."""
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def deploy_repo(tmp_path: Path, name: str) -> Path:
    """A copy of the fixture repository ``deploy/<name>`` (the check may write caches in it)."""
    return Path(shutil.copytree(DEPLOY / name, tmp_path / name))


def other_python(folder: Path) -> Path:
    """A new venv's interpreter (the standard library only), made in a few hundred ms."""
    venv.create(folder, with_pip=False)
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def case(repo, name: str, expected_label: str, inputs: str = "a good day") -> None:
    payload = {"payload": {"inputs": inputs}, "expected_label": expected_label}
    repo.write(f"cases/{name}.json", text=json.dumps(payload))


# --- a repository that is ready ---------------------------------------------------------------


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


def test_the_report_reads_as_a_table_and_as_escaped_html(repo):
    repo.write("handler.py", "base.py")
    repo.write("requirements.txt", text="pytest<1\n")
    report = check(repo.path)
    text = str(report)
    assert repr(report) == text
    assert text.splitlines()[0] == f"Deployment check of {repo.path}"
    assert text.splitlines()[1].split() == ["check", "status", "detail"]
    assert text.splitlines()[-1] == "not ready: 1 check failed"
    page = report._repr_html_()
    assert "pytest&lt;1" in page and "pytest<1" not in page
    assert "not ready: 1 check failed" in page


# --- entry ------------------------------------------------------------------------------------


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


# --- requirements -----------------------------------------------------------------------------


def test_requirements_not_installed_or_in_another_version_fail_by_name(repo, capsys):
    repo.write("handler.py", "base.py")
    repo.write(
        "requirements.txt",
        text="-r missing.txt\npytest>=1\nsurely-not-installed-pkg==1.0\npytest<1  # too old\n",
    )
    report = check(repo.path)
    assert not report.ok
    rows = {(r.check, r.detail.split(":")[0]): r for r in report.rows}
    missing = rows["requirement surely-not-installed-pkg", "surely-not-installed-pkg==1.0"]
    assert missing.status == "fail" and "not installed" in missing.detail
    mismatch = rows["requirement pytest", "pytest<1"]
    assert mismatch.status == "fail" and f"{PYTEST} is installed" in mismatch.detail
    assert rows["requirement pytest", "pytest>=1"].status == "pass"
    include = row(report, "requirements")
    assert include.status == "fail"
    assert include.detail.startswith("requirements.txt:1: `-r missing.txt`: no missing.txt next")
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    assert out.splitlines()[-1] == "not ready: 3 checks failed"
    assert " fail    surely-not-installed-pkg==1.0: not installed" in out


def test_no_requirements_txt_is_a_pass_that_says_so(repo):
    repo.write("handler.py", "base.py")
    requirements = row(check(repo.path), "requirements")
    assert requirements.status == "pass" and "no requirements.txt" in requirements.detail


# --- imports ----------------------------------------------------------------------------------


def test_the_guides_repository_without_requirements_txt_fails_on_holidays(repo):
    repo.write("handler.py", text=GUIDE_HANDLER)
    here = Environment.here()
    assert [r for r in import_rows(repo.path, here) if r.check.startswith("import")] == [
        Row(
            "import holidays",
            "fail",
            f"handler.py:3 imports holidays (holidays {HOLIDAYS} installed here), which neither "
            "requirements.txt nor production's image provides: production fails to start "
            "(ModuleNotFoundError); add `holidays` to requirements.txt",
        )
    ]
    repo.write("requirements.txt", text="Holidays>=0.1\n")
    assert [r.check for r in import_rows(repo.path, here)] == ["imports"]


def test_holidays_imported_without_requirements_txt_is_not_ready_and_exits_1(tmp_path, capsys):
    repo = deploy_repo(tmp_path, "holidays_unlisted")
    status, out = run_check(capsys, str(repo))
    assert status == 1
    assert " fail    handler.py:5 imports holidays" in line_of(out, "import holidays")
    assert " pass " in line_of(out, "case default")  # it runs here: holidays is installed
    assert out.splitlines()[-1] == "not ready: 1 check failed"
    (repo / "requirements.txt").write_text("holidays\n")
    status, out = run_check(capsys, str(repo))
    assert status == 0 and "import holidays" not in out


def test_every_package_of_productions_image_is_imported_without_a_warning(tmp_path, capsys):
    repo = deploy_repo(tmp_path, "image_packages")
    rows = import_rows(repo, Environment.here())
    assert not [r for r in rows if r.check.startswith("import ")], rows
    status, out = run_check(capsys, str(repo))
    assert status == 0, out
    assert "import " not in out and "may not have" not in out


def test_a_version_here_that_differs_from_productions_is_a_row():
    image = production()
    transformers = image.package("transformers")
    assert transformers.differs("5.24.0") == "transformers 5.24.0 here, 4.51.3 in production"
    assert transformers.differs("4.51.0") is None  # the same major and minor
    tokenizers = image.package("tokenizers")
    assert "tokenizers 0.23.3 here; production has tokenizers>=0.21,<0.22" in tokenizers.differs(
        "0.23.3"
    )
    assert tokenizers.differs("0.21.4") is None


def with_versions(**versions: str) -> Environment:
    """This environment, with other versions of some distributions."""
    here = Environment.here()
    return Environment(**{**here.__dict__, "versions": {**here.versions, **versions}})


def test_another_version_of_an_imported_package_is_said_of_the_environment_not_warned(repo):
    repo.write("handler.py", text=handler("[]", "import transformers\nimport holidays\n"))
    repo.write("requirements.txt", text="holidays\n")
    environment = with_versions(transformers="5.24.0")
    assert [r.check for r in import_rows(repo.path, environment)] == ["imports"]  # no row
    assert differences(repo.path, environment) == [Difference("transformers", "5.24.0", "4.51.3")]
    assert differences(repo.path, with_versions(transformers="4.51.3")) == []


def test_numpy_2_here_is_said_against_productions_numpy_below_2_and_never_to_pin(repo):
    # pyctcdecode, in production's image, holds numpy below 2: numpy 2.x here is not production,
    # and pinning numpy 2 in requirements.txt would fight production's own image.
    repo.write("handler.py", text=handler("[]", "import numpy as np\n"))
    environment = with_versions(numpy="2.4.6")
    assert [r.check for r in import_rows(repo.path, environment)] == ["imports"]
    assert differences(repo.path, environment) == [Difference("numpy", "2.4.6", ">=1.17,<2.0.0")]
    assert differences(repo.path, with_versions(numpy="1.26.4")) == []


def test_the_environment_is_said_once_above_the_rows_and_the_verdict_is_unwarned(repo, capsys):
    repo.write("handler.py", text=handler("[]", "import numpy as np\nimport transformers\n"))
    environment = with_versions(numpy="2.4.6", transformers="5.24.0")
    report = CheckReport(
        repo.path, [Row("entry", "pass", "built")], differences(repo.path, environment)
    )
    text = str(report).splitlines()
    assert text[1] == (
        "This environment is not production's: numpy 2.4.6 here, >=1.17,<2.0.0 in production; "
        "transformers 5.24.0 here, 4.51.3 in production. That is about this machine, not the "
        "repository: nothing to change or pin. The rows below ran with these versions; to see "
        "production's behaviour, check with --against-production (its real server and "
        "versions) or --python PATH (a venv with its versions)."
    )
    assert text[-1] == "ready to deploy" and "pin it" not in str(report)
    assert "This environment is not production&#x27;s" in report._repr_html_()
    assert CheckReport(repo.path, []).notes() == []


def test_a_row_sent_by_the_worker_as_json_is_named_by_its_check_name():
    sent = json.loads(json.dumps({"check": CheckName.ENTRY, "status": "pass", "detail": "ok"}))
    assert Row(**sent).check is CheckName.ENTRY and str(Row(**sent).check) == "entry"
    assert Row(CheckName.CASE.of("holiday"), "fail", "").check == "case holiday"


def test_only_imports_that_neither_requirements_nor_production_cover_fail(repo):
    repo.write(
        "handler.py",
        text="""\
import json
import numpy as np
from PIL import Image
import utils
from pkg.sub import thing
from . import relative


def later():
    import yaml
    from surely_missing_module.part import x
""",
    )
    repo.write("utils.py", text="import pytest\nimport holidays\n")
    repo.write("pkg/__init__.py")
    repo.write("pkg/sub.py", text="import holidays\nfrom ..utils import y\n")
    repo.write("requirements.txt", text="-r other.txt\nPyYAML>=5  # imported as yaml\n")
    rows = [r for r in import_rows(repo.path, Environment.here()) if r.check.startswith("import")]
    details = [(r.check, r.status, r.detail.split(",")[0]) for r in rows]
    assert details == [
        (
            "import surely_missing_module",
            "fail",
            "handler.py:11 imports surely_missing_module (not installed here)",
        ),
        ("import pytest", "fail", f"utils.py:1 imports pytest (pytest {PYTEST} installed here)"),
        (
            "import holidays",
            "fail",
            f"utils.py:2 imports holidays (holidays {HOLIDAYS} installed here)",
        ),
    ]


def test_an_import_guarded_by_except_import_error_warns_and_type_checking_is_skipped(repo):
    repo.write(
        "handler.py",
        text="""\
from typing import TYPE_CHECKING

try:
    import surely_missing_flash_attn
except ImportError:
    surely_missing_flash_attn = None

if TYPE_CHECKING:
    import surely_missing_stubs


def later():
    try:
        import surely_missing_xformers
    except (RuntimeError, ModuleNotFoundError):
        pass
    import surely_missing_xformers  # needed after all
""",
    )
    rows = {r.check: r for r in import_rows(repo.path, Environment.here())}
    assert set(rows) == {"import surely_missing_flash_attn", "import surely_missing_xformers"}
    optional = rows["import surely_missing_flash_attn"]
    assert optional.status == "warn"
    assert optional.detail.startswith(
        "handler.py:4 imports surely_missing_flash_attn inside try/except ImportError"
    )
    assert "production runs without it" in optional.detail
    needed = rows["import surely_missing_xformers"]
    assert needed.status == "fail" and needed.detail.startswith("handler.py:17 imports")


def test_code_that_the_handler_never_imports_is_not_scanned(repo):
    repo.write("handler.py", "base.py")
    repo.write("tests/test_handler.py", text="import surely_missing_test_tool\n")
    repo.write("scripts/train.py", text="import surely_missing_trainer\n")
    assert [r.check for r in import_rows(repo.path)] == ["imports"]


def test_a_module_on_a_folder_the_handler_puts_on_sys_path_is_its_own(repo, capsys):
    # sys.path.append(<here>/src); from engine import Engine: production imports it fine, so
    # the check must not ask to pip install `engine` (the reload finds it the same way).
    repo.copy("patterns/src_path")
    report = check(repo.path)
    assert report.ok, str(report)
    assert [r.status for r in report.rows if r.check == "imports"] == ["pass"]
    assert not [r for r in report.rows if "engine" in r.check]
    assert main(["check", str(repo.path)]) == 0
    assert "ready to deploy" in capsys.readouterr().out


def test_a_namespace_package_import_is_matched_by_its_dotted_name(repo):
    repo.write(
        "handler.py",
        text=handler(
            "[]",
            "from google.cloud import storage\nimport azure.storage.blob\n",
        ),
    )
    here = Environment.here()
    # protobuf provides the top-level `google` here too: it must not be taken for storage.
    modules = {**here.modules, "google": ["protobuf"], "azure": []}
    environment = Environment(**{**here.__dict__, "modules": modules})
    repo.write("requirements.txt", text="google-cloud-storage\nazure-storage-blob\n")
    assert [r.check for r in import_rows(repo.path, environment)] == ["imports"]
    repo.write("requirements.txt", text="holidays\n")
    rows = {r.check: r for r in import_rows(repo.path, environment)}
    assert sorted(rows) == ["import azure.storage.blob", "import google.cloud.storage"]
    assert "install google-cloud-storage" in rows["import google.cloud.storage"].detail
    assert "protobuf" not in rows["import google.cloud.storage"].detail
    assert "install azure-storage-blob" in rows["import azure.storage.blob"].detail
    assert "azure.storage " not in rows["import azure.storage.blob"].detail


def test_a_typo_is_named_as_one_and_never_as_a_package_to_install(tmp_path):
    repo = deploy_repo(tmp_path, "typos")
    report = check(repo)
    typo = row(report, "import holidyas")
    assert typo.status == "fail"
    assert typo.detail.endswith(
        "did you mean holidays? (holidyas is not installed here, holidays is.)"
    )
    assert "pip install" not in typo.detail
    entry = row(report, "entry")  # the worker's import fails: its hint says the same
    assert "No module named 'holidyas'" in entry.detail
    assert "Did you mean holidays?" in entry.detail and "pip install holidyas" not in entry.detail
    cv2 = row(report, "import cv2")
    assert "pip install opencv-python" in cv2.detail and "pip install cv2" not in cv2.detail
    dotenv = row(report, "import dotenv")
    assert "pip install python-dotenv" in dotenv.detail


def test_a_listed_requirement_missing_here_says_to_install_the_requirements(repo):
    repo.write("handler.py", text=handler("[]", "import surely_missing_listed_pkg\n"))
    repo.write("requirements.txt", text="surely-missing-listed-pkg==1.0\n")
    report = check(repo.path)
    entry = row(report, "entry")
    assert entry.status == "fail"
    assert (
        "requirements.txt:1 lists surely-missing-listed-pkg, which is not installed here: "
        f"install it here ({pip_command()} install -r {repo.path / 'requirements.txt'})."
    ) in entry.detail
    assert not [r for r in report.rows if r.check.startswith("import ")]


def test_a_package_imported_inside_call_gets_the_same_hint_in_its_case(repo):
    repo.write(
        "handler.py",
        text=handler('__import__("surely_missing_lazy_pkg")'),
    )
    repo.write("requirements.txt", text="surely-missing-lazy-pkg\n")
    default = row(check(repo.path), "case default")
    assert default.status == "fail"
    assert "ModuleNotFoundError: No module named 'surely_missing_lazy_pkg'" in default.detail
    assert "requirements.txt:1 lists surely-missing-lazy-pkg, which is not installed here" in (
        default.detail
    )


def test_a_typo_in_requirements_is_named_as_one_and_never_as_a_package_to_install(repo):
    repo.write("handler.py", text=handler("[]", "import holidays\n"))
    repo.write("requirements.txt", text="holidys\nsurely-unknown-pkg\n")
    rows = {r.check: r for r in requirement_rows(repo.path, Environment.here())}
    typo = rows["requirement holidys"]
    assert typo.status == "fail"
    assert typo.detail == (
        "holidys: did you mean holidays? (holidys is not installed here and is one letter from "
        "holidays; production would pip-install `holidys`, another package or none): fix "
        "requirements.txt:1"
    )
    assert "pip install" not in typo.detail
    unknown = rows["requirement surely-unknown-pkg"]  # no known package is one slip from it
    assert "pip install 'surely-unknown-pkg'" in unknown.detail


# --- requirements as users write them -----------------------------------------------------------


def test_includes_git_urls_extras_and_markers_are_read_as_pip_reads_them(tmp_path):
    repo = deploy_repo(tmp_path, "requirements_real")
    here = Environment.here()
    rows = {r.check: r for r in requirement_rows(repo, here)}
    assert set(rows) == {
        "requirement holidays",  # from requirements/base.txt
        "requirement whisper",  # git URL: the project's name
        "requirement pyannote.audio",  # -e ...#egg=
        "requirement transformers",  # extras and a marker
        "requirement pywin32",  # a marker false here
        "requirement librosa",  # a continued line with a hash
    }
    assert rows["requirement holidays"].status == "pass"
    assert rows["requirement pywin32"].status == "skip"
    whisper = rows["requirement whisper"]
    assert whisper.status == "fail"
    assert "pip install 'git+https://github.com/openai/whisper.git@v20231117'" in whisper.detail
    assert rows["requirement transformers"].status == "fail"  # 5.x here, <5 listed
    # whisper and pyannote.audio are listed (from git): no import row fails for them.
    assert [r.check for r in import_rows(repo, here)] == ["imports"]


def test_a_requirement_that_replaces_the_servers_transformers_major_warns(repo):
    repo.write("handler.py", "base.py")
    repo.write(
        "requirements.txt",
        text="transformers>=5\ntransformers==4.46.0  # same major: fine\n"
        "git+https://github.com/huggingface/huggingface_hub.git\nhuggingface_hub<1\n",
    )
    rows = [r for r in requirement_rows(repo.path) if r.check.startswith("replaces")]
    assert rows == [
        Row(
            "replaces transformers",
            "warn",
            "requirements.txt:1: transformers>=5 installs 5.x over production's transformers "
            "4.51.3, and production's server itself runs on transformers 4.x: it may not start; "
            "keep transformers<5",
        ),
        Row(
            "replaces huggingface-hub",
            "warn",
            "requirements.txt:3: git+https://github.com/huggingface/huggingface_hub.git installs "
            "its current code over production's huggingface-hub 0.30.2, and production's server "
            "itself runs on huggingface-hub 0.x: it may not start; keep huggingface-hub<1",
        ),
    ]


def test_a_lower_bound_past_productions_version_without_an_upper_one_warns(repo):
    # pip installs the newest release over production's: transformers 5.x, huggingface_hub 1.x.
    repo.write("handler.py", "base.py")
    repo.write(
        "requirements.txt",
        text="transformers>=4.52\nhuggingface_hub>=0.31\n"
        "transformers>=4.52,<5  # bounded: fine\ntransformers>=4.40  # production's: fine\n",
    )
    rows = [r for r in requirement_rows(repo.path) if r.check.startswith("replaces")]
    assert rows == [
        Row(
            "replaces transformers",
            "warn",
            "requirements.txt:1: transformers>=4.52 excludes production's transformers 4.51.3, "
            "so pip installs the newest release, 5.x or later once it is out, and production's "
            "server itself runs on transformers 4.x: it may not start; add an upper bound "
            "(`transformers>=4.52,<5`)",
        ),
        Row(
            "replaces huggingface-hub",
            "warn",
            "requirements.txt:2: huggingface_hub>=0.31 excludes production's huggingface-hub "
            "0.30.2, so pip installs the newest release, 1.x or later once it is out, and "
            "production's server itself runs on huggingface-hub 0.x: it may not start; add an "
            "upper bound (`huggingface_hub>=0.31,<1`)",
        ),
    ]


def test_a_pip_freeze_is_one_row_that_says_what_is_missing_here(tmp_path):
    repo = deploy_repo(tmp_path, "freeze")
    rows = requirement_rows(repo, Environment.here())
    local = [r for r in rows if "file of this machine" in r.detail]
    assert [r.detail.split(":")[:2] for r in local] == [["requirements.txt", "17"]]
    assert "certifi @ file:///croot/certifi" in local[0].detail
    summary = rows[-1]
    assert len(rows) == 2 and summary.check == "requirements" and summary.status == "fail"
    assert summary.detail.startswith("requirements.txt lists 149 packages (a pip freeze?): ")
    assert "not installed here (" in summary.detail and "appnope" in summary.detail
    assert "--python v/bin/python" in summary.detail


# --- hard-coded paths in every file the handler imports -------------------------------------------


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


# --- an answer that carries an error ------------------------------------------------------------


def test_a_handler_that_returns_its_own_failure_fails_the_case(tmp_path, capsys):
    repo = deploy_repo(tmp_path, "swallowed_error")
    status, out = run_check(capsys, str(repo))
    assert status == 1
    default = line_of(out, "case default")
    assert " fail " in default
    assert '[{"error":"Inference failed: string indices must be integers' in default
    assert "the handler caught its own failure and returned it" in default
    assert out.splitlines()[-1] == "not ready: 1 check failed"


def test_an_error_dict_fails_the_case_unless_the_case_expects_it(repo):
    repo.write("handler.py", text=handler('{"error": "model not loaded"}'))
    repo.write("cases/plain.json", text=json.dumps({"payload": {"inputs": "hi"}}))
    expected = {"payload": {"inputs": "hi"}, "expected": {"error": "model not loaded"}}
    repo.write("cases/expected.json", text=json.dumps(expected))
    report = check(repo.path)
    plain = row(report, "case plain")
    assert (
        plain.status == "fail" and 'carries an error: {"error":"model not loaded"}' in plain.detail
    )
    assert row(report, "case expected").status == "pass"


# --- check --python -----------------------------------------------------------------------------


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


def test_the_worker_runs_in_the_interpreter_given(repo, tmp_path, capsys, monkeypatch):
    python = python_without_the_kit(tmp_path / "venv")
    repo.write(
        "handler.py", text=handler('[{"label": sys.prefix, "score": 1.0}]', "import sys\n\n")
    )
    monkeypatch.chdir(tmp_path)  # a path relative to where the command runs
    status, out = run_check(capsys, str(repo.path), "--python", str(python.relative_to(tmp_path)))
    assert status == 0, out
    assert f'"label":"{tmp_path / "venv"}"' in line_of(out, "case default")


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


def test_another_python_than_productions_is_said_of_the_environment(repo):
    repo.write("handler.py", "base.py")
    here = Environment.here()
    assert differences(repo.path, Environment(**{**here.__dict__, "python": "3.11.9"})) == []
    other = Environment(**{**here.__dict__, "python": "3.12.1"})
    assert differences(repo.path, other) == [Difference("Python", "3.12.1", "3.11")]


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
    repo.write("handler.py", text=handler('[{"label": sys.prefix, "score": 1.0}]', "import sys\n"))
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "handler_kit")
        result = shell.run_cell(f"%handler_check '{repo.path}' --python '{python}'")
        assert result.error_in_exec is None
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr().out
    assert f'"label":"{tmp_path / "venv"}"' in out
    assert out.rstrip().endswith("ready to deploy")


# --- cases ------------------------------------------------------------------------------------


def test_each_case_is_a_row_and_a_wrong_label_fails_it(repo, capsys):
    repo.write("handler.py", "base.py")
    case(repo, "good", "positive")
    case(repo, "bad", "negative")
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    assert " pass " in line_of(out, "case good") and " ms: " in line_of(out, "case good")
    bad = line_of(out, "case bad")
    assert " fail " in bad and "label 'positive', expected 'negative'" in bad
    assert "case default" not in out


def test_cases_come_from_the_folder_given(repo, tmp_path, capsys):
    repo.write("handler.py", "base.py")
    case(repo, "in_repo", "negative")  # would fail: not replayed when another folder is given
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.json").write_text(
        json.dumps({"payload": {"inputs": "good"}, "expected_label": "positive"})
    )
    status, out = run_check(capsys, str(repo.path), "--cases", str(elsewhere))
    assert status == 0, out
    assert " pass " in line_of(out, "case other") and "case in_repo" not in out
    status, out = run_check(capsys, str(repo.path), "--cases", str(tmp_path / "missing"))
    assert status == 1
    assert f"no cases folder at {tmp_path / 'missing'}" in line_of(out, "cases")


def test_an_unreadable_case_fails_alone(repo):
    repo.write("handler.py", "base.py")
    repo.write("cases/broken.json", text="{not json")
    case(repo, "good", "positive")
    report = check(repo.path)
    assert row(report, "case broken").status == "fail"
    assert "cannot read the case" in row(report, "case broken").detail
    assert row(report, "case good").status == "pass"


def test_a_bad_case_fails_its_own_row_and_the_later_cases_still_run(repo):
    repo.write(
        "handler.py",
        text=handler('[{"label": "x", "score": None if data["inputs"] == "null" else 0.9}]'),
    )
    cases = {
        "a_missing_file": {"body_file": "cat.png", "content_type": "image/png"},
        "b_bad_score": {"payload": {"inputs": "hi"}, "expected_label": "x", "expected_score": "hi"},
        "c_null_score": {"payload": {"inputs": "null"}, "expected_label": "x"},
        "d_good": {"payload": {"inputs": "hi"}, "expected_label": "x", "expected_score": 0.9},
    }
    for name, content in cases.items():
        repo.write(f"cases/{name}.json", text=json.dumps(content))
    report = check(repo.path)
    missing = row(report, "case a_missing_file")
    assert missing.status == "fail" and "cannot read its body file cat.png" in missing.detail
    assert "Put cat.png next to the case file" in missing.detail
    bad = row(report, "case b_bad_score")
    assert bad.status == "fail" and '`expected_score` must be a number, not "hi"' in bad.detail
    null = row(report, "case c_null_score")
    assert null.status == "fail" and 'the score of label "x" is not a number: null' in null.detail
    assert row(report, "case d_good").status == "pass"


def test_any_exception_in_a_case_fails_that_case_only(repo, monkeypatch):
    repo.write("handler.py", "base.py")
    case(repo, "a_boom", "positive")
    case(repo, "b_good", "positive")
    real = Case.data

    def data(self):
        if self.name == "a_boom":
            raise RuntimeError("something unforeseen")
        return real(self)

    monkeypatch.setattr(Case, "data", data)
    out = io.StringIO()
    _work(repo.path, None, out)
    rows = [json.loads(line)["row"] for line in out.getvalue().splitlines() if '"row"' in line]
    found = {r["check"]: r for r in rows}
    assert found["case a_boom"]["status"] == "fail"
    assert found["case a_boom"]["detail"] == (
        "the case could not be run: RuntimeError: something unforeseen"
    )
    assert found["case b_good"]["status"] == "pass"


def test_a_wrong_exact_answer_is_named_in_its_row(repo):
    repo.write("handler.py", "base.py")
    content = {"payload": {"inputs": "good"}, "expected": [{"label": "positive", "score": 0.5}]}
    repo.write("cases/exact.json", text=json.dumps(content))
    exact = row(check(repo.path), "case exact")
    assert exact.status == "fail"
    assert "case exact: the answer differs from `expected`" in exact.detail
    assert 'expected [{"label": "positive", "score": 0.5}]' in exact.detail
    assert 'got [{"label": "positive", "score": 1.0}]' in exact.detail


def test_a_score_outside_the_tolerance_is_named_in_its_row(repo):
    repo.write("handler.py", "base.py")
    content = {
        "payload": {"inputs": "good"},
        "expected_label": "positive",
        "expected_score": 0.9,
        "tolerance": 0.05,
    }
    repo.write("cases/near.json", text=json.dumps(content))
    near = row(check(repo.path), "case near")
    assert near.status == "fail"
    assert "case near: score 1.0000 is not within 0.05 of 0.9" in near.detail


def image_case(folder) -> None:
    """A case sending a small PNG as production's image/png body."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 4)).save(folder / "cat.png")
    content = {"body_file": "cat.png", "content_type": "image/png", "expected_label": "RGB 8x4"}
    (folder / "cat.json").write_text(json.dumps(content))


def test_a_body_file_case_is_sent_as_production_decodes_it(repo):
    repo.write("handler.py", "image_handler.py")
    image_case(repo.path / "cases")
    cat = row(check(repo.path), "case cat")
    assert cat.status == "pass", cat.detail
    assert '"label":"RGB 8x4"' in cat.detail


def test_a_failing_default_payload_says_what_was_sent_and_what_to_do(repo):
    repo.write("handler.py", text=handler('{"label": data["text"]}'))
    default = row(check(repo.path), "case default")
    assert default.status == "fail"
    first, second = default.detail.splitlines()
    assert first.endswith("KeyError: 'text' (in __call__; production answers HTTP 400)")
    assert second.startswith(
        'sent the default payload {"inputs": "I am quite excited how this will turn out"} '
        "because there are no case files; add a case in cases/ with a payload your handler takes"
    )


def test_an_answer_holding_a_tensor_is_named_with_its_path(repo, capsys):
    repo.write(
        "handler.py",
        text=handler('[{"label": "joy", "score": torch.tensor(0.9)}]', "import torch\n\n"),
    )
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    default = line_of(out, "case default")
    assert ' fail    [0]["score"]: torch.Tensor cannot be turned into JSON' in default


def test_an_exception_in_call_fails_the_case_with_the_users_line(repo, capsys):
    repo.write("handler.py", text=handler('{"label": data["missing"]}'))  # line 6
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    default = line_of(out, "case default")
    assert f" fail    {repo.path / 'handler.py'}:6: KeyError: 'missing'" in default


def test_unserializable_path_names_the_first_value_production_cannot_serialise():
    class Thing:
        pass

    assert unserializable_path([{"score": np.float32(0.5), "ids": np.arange(3)}]) is None
    assert unserializable_path({"a": (1, "x"), "b": [None, True]}) is None
    assert unserializable_path([{"ok": 1}, {"x": [2, Thing()]}]) == (
        f'[1]["x"][1]: {Thing.__module__}.{Thing.__qualname__}'
    )
    assert unserializable_path({"a": {1: "x"}}) == '["a"] key 1: int (keys must be strings)'
    assert unserializable_path({1, 2}) == "answer: set"
    loop: dict = {"a": [1]}
    loop["a"].append(loop)
    assert unserializable_path(loop) == (
        '["a"][1]: a dict that holds itself (the answer refers to itself)'
    )


# --- the worker -------------------------------------------------------------------------------


def test_a_worker_that_times_out_is_a_failed_row_with_its_stderr(repo):
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


# --- warnings ---------------------------------------------------------------------------------


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


def test_a_big_file_outside_git_lfs_is_warned(repo, capsys):
    repo.write("handler.py", "base.py")
    for name in ("model.bin", "weights/model.safetensors"):
        file = repo.path / name
        file.parent.mkdir(exist_ok=True)
        with file.open("wb") as f:
            f.truncate(11 * 1024 * 1024)
    repo.write(".gitattributes", text="*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    status, out = run_check(capsys, str(repo.path))
    assert status == 0
    warned = line_of(out, "large file")
    assert " warn    model.bin is 11.0 MB and not tracked by git LFS" in warned
    assert "safetensors" not in warned
    repo.write(".gitattributes", text="*.safetensors filter=lfs\n/model.bin filter=lfs -text\n")
    assert row(check(repo.path), "large files").status == "pass"


def big_files(repo, *names: str) -> None:
    for name in names:
        file = repo.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("wb") as f:
            f.truncate(11 * 1024 * 1024)


def test_lfs_tracking_is_read_as_git_reads_gitattributes(repo):
    # A .gitattributes in a subfolder counts for its files; a folder's name as a pattern does
    # not cover the files in it (git's rules, not a glob's).
    big_files(repo, "onnx/model.onnx", "weights/model.bin", "model.pt")
    repo.write(".gitattributes", text="weights filter=lfs\n**/*.pt filter=lfs\n")
    repo.write("onnx/.gitattributes", text="*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    rows = large_file_rows(repo.path)
    assert [row.detail.split(" is ")[0] for row in rows] == ["weights/model.bin"]


def test_without_git_a_large_file_is_warned_as_unknown(repo, monkeypatch):
    big_files(repo, "model.bin")
    repo.write(".gitattributes", text="*.bin filter=lfs\n")
    monkeypatch.setattr("handler_kit.checks.large_files.shutil.which", lambda name: None)
    (row,) = large_file_rows(repo.path)
    assert row.status == "warn" and row.detail.startswith(
        "model.bin is 11.0 MB (git is not here to say whether git LFS tracks it)"
    )


# --- %handler_check ---------------------------------------------------------------------------


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


# --- handler-kit test -------------------------------------------------------------------------


def test_a_notebook_failing_in_its_third_cell_is_reported_as_cell_3(tmp_path, capsys):
    notebook = small_notebook(tmp_path / "three.ipynb", "x = 1", "y = 2", "assert x == y, 'x is 1'")
    out_dir = tmp_path / "out"
    assert main(["test", str(notebook), "--output", str(out_dir)]) == 1
    out, err = capsys.readouterr()
    copy = out_dir / "three.ipynb"
    assert f"three.ipynb failed at cell 3: AssertionError: x is 1 ({copy})" in out
    assert out.splitlines()[-1] == "1 notebook: 0 passed, 1 failed"
    assert f"{notebook}: cell 3 failed: AssertionError: x is 1" in err
    assert f"HTML: {out_dir / 'three.html'}" in err


def test_notebook_parameters_are_json_when_they_parse(tmp_path, capsys):
    notebook = small_notebook(
        tmp_path / "params.ipynb",
        "assert (n, label) == (3, 'joy'), (n, label)",
        parameters="n = 0\nlabel = ''",
    )
    args = ["test", str(notebook), "--output", str(tmp_path / "out")]
    assert main([*args, "-p", "n", "3", "-p", "label", "joy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("params.ipynb passed in ")
    assert out.splitlines()[-1] == "1 notebook: 1 passed, 0 failed"
    assert main([*args, "-p", "n", '"3"', "-p", "label", "joy"]) == 1  # "3" is a string


def test_a_missing_notebook_fails_the_run(tmp_path, capsys):
    assert main(["test", str(tmp_path / "nope.ipynb"), "--output", str(tmp_path / "out")]) == 1
    assert "no such notebook" in capsys.readouterr().err


def test_check_is_exported():
    import handler_kit

    assert {"check", "CheckReport"} <= set(handler_kit.__all__)
    assert handler_kit.check is check
