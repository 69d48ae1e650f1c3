"""checks/imports.py: every package the handler imports is listed or in production's image."""

from importlib.metadata import version

from check_support import PYTEST, deploy_repo, handler, line_of, row, run_check

from handler_kit import check
from handler_kit.checks.imports import import_rows
from handler_kit.checks.report import Row
from handler_kit.cli import main
from handler_kit.packages.distributions import pip_command
from handler_kit.packages.environment import Environment
from handler_kit.templates.samples import GUIDE_HANDLER

HOLIDAYS = version("holidays")


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
