"""checks/requirements.py: requirements.txt, line by line, as production's pip reads it."""

from check_support import PYTEST, deploy_repo, handler, row, run_check

from handler_kit import check
from handler_kit.checks.imports import import_rows
from handler_kit.checks.report import Row
from handler_kit.checks.requirements import requirement_rows
from handler_kit.packages.environment import Environment


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
