"""flow.py: deploy()'s steps in order, each stopping the deploy with a clear error and nothing
half-done, through the stand-ins. Production's server never starts here (no rehearsal, and
the plane's endpoints stay pending); test_end_to_end.py runs it.
"""

from __future__ import annotations

import json
import re

import deploy_support
import pytest
from deploy_support import asked, write_repository, writes
from standins import USER, pointed_at

import handler_kit
from handler_kit.cli import main
from handler_kit.deploy.report import DeployReport, Step
from handler_kit.errors import HandlerKitError
from handler_kit.report import Status

hub, plane, tiny = deploy_support.hub, deploy_support.plane, deploy_support.tiny  # fixtures
REPO = f"{USER.name}/tiny"
FAST = {"rehearsal": False, "refresh_every": 0.1}  # no production server in this module
READS_SECRET = deploy_support.HANDLER.replace('"version.txt"', '"secret.txt"')
READS_WEIGHTS = deploy_support.HANDLER.replace(
    'with open(os.path.join(path, "version.txt")) as file:',
    'with open(os.path.join(path, "model.bin"), "rb") as file:',
).replace("file.read().strip()", "len(file.read())")
POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 438016493\n"
)
ANY_ANSWER = '{"payload": {"inputs": "hello"}}\n'
RAISES_IN_CALL = deploy_support.HANDLER.replace(
    'return {"version"', 'raise RuntimeError("no"); return {"version"'
)


def outcomes(report: DeployReport) -> dict[str, str]:
    return {row.step.value: row.outcome.value for row in report.rows}


def test_a_handler_reading_a_git_ignored_file_stops_at_the_manifest_nothing_pushed(hub, tmp_path):
    repo = write_repository(
        tmp_path / "repo", READS_SECRET, {"secret.txt": "1\n", ".gitignore": "secret.txt\n"}
    )
    report = handler_kit.deploy(repo, REPO, **FAST)
    assert outcomes(report) == {
        "account": "pass", "gate": "pass", "manifest": "fail", "rehearsal": "skip",
        "push": "skip", "endpoint": "skip", "wait": "skip", "verify": "skip", "after": "skip",
    }  # fmt: skip
    detail = report.row(Step.MANIFEST).detail
    assert f"{repo / 'handler.py'}:6: opens `secret.txt`" in detail
    assert "secret.txt is git-ignored: .gitignore:1 `secret.txt`" in detail
    assert report.row(Step.PUSH).detail == "not run: the manifest failed"
    assert report.verdict == "stopped at the manifest: nothing was pushed"
    assert writes(hub) == [] and hub.repos == {}


def test_an_lfs_pointer_in_place_of_weights_stops_at_the_manifest_nothing_pushed(hub, tmp_path):
    repo = write_repository(
        tmp_path / "repo", READS_WEIGHTS, {"cases/hello.json": ANY_ANSWER, "model.bin": POINTER}
    )
    report = handler_kit.deploy(repo, REPO, **FAST)
    assert report.row(Step.GATE).outcome is Status.PASS  # it loads here: 130 bytes of text
    assert report.failed.step is Step.MANIFEST
    assert "model.bin is a git LFS pointer" in report.row(Step.MANIFEST).detail
    assert "git lfs pull --include=model.bin" in report.row(Step.MANIFEST).detail
    assert writes(hub) == [] and hub.repos == {}


def test_without_a_token_the_deploy_stops_first_and_the_hub_hears_nothing(hub, tiny, capsys):
    with pointed_at(hub, token=None):
        code = main(["deploy", str(tiny), REPO, "--no-rehearsal"])
    out, err = capsys.readouterr()
    assert code == 1
    assert re.search(r"^account +fail .* there is no Hugging Face token", out, re.MULTILINE)
    assert re.search(r"^gate +skip +- +not run: the account failed", out, re.MULTILINE)
    assert out.rstrip().endswith("stopped at the account: nothing was pushed")
    assert "account: asking the Hub whose token this is" in err  # progress goes to stderr
    assert asked(hub) == []


def test_a_taken_repository_name_stops_before_the_slow_steps(hub, tiny):
    hub.add_repo("someone-else/tiny", {"README.md": b"theirs"})
    report = handler_kit.deploy(tiny, "someone-else/tiny", **FAST)
    assert report.failed.step is Step.ACCOUNT and report.row(Step.GATE).seconds is None
    assert "stand-in-user cannot push to someone-else/tiny" in report.row(Step.ACCOUNT).detail
    invalid = handler_kit.deploy(tiny, "stand-in-user/bad--name", **FAST)
    assert "not a valid repository name" in invalid.row(Step.ACCOUNT).detail
    assert [c.title for c in hub.commits("someone-else/tiny")] == [
        "Upload folder",
        "initial commit",
    ]


def test_an_upload_that_fails_midway_touches_no_endpoint(plane, hub, tiny):
    hub.fail_upload(after=0)  # the LFS upload of weights.bin
    report = handler_kit.deploy(tiny, REPO, **FAST)
    assert report.failed.step is Step.PUSH
    assert "Nothing was committed" in report.row(Step.PUSH).detail
    assert report.row(Step.ENDPOINT).detail == "not run: the push failed"
    assert plane.endpoints == {}
    assert [c.title for c in hub.commits(REPO)] == ["initial commit"]


def test_an_endpoint_with_other_settings_stops_the_deploy_unchanged(plane, hub, tiny):
    first = handler_kit.deploy(tiny, REPO, instance_size="x4", wait_timeout=0.1, **FAST)
    assert first.failed.step is Step.WAIT  # still pending: fine, it exists now
    config = json.dumps(plane.endpoints[(USER.name, "tiny")].config, sort_keys=True)
    report = handler_kit.deploy(tiny, REPO, instance_size="x1", **FAST)
    assert report.failed.step is Step.ENDPOINT
    assert "instance_size: x4 there, x1 asked" in report.row(Step.ENDPOINT).detail
    assert "--update" in report.row(Step.ENDPOINT).detail
    assert json.dumps(plane.endpoints[(USER.name, "tiny")].config, sort_keys=True) == config
    assert report.verdict.startswith(f"stopped at the endpoint: {REPO} is at ")
    assert report.verdict.endswith("; no endpoint was created or updated")


def test_a_wait_that_times_out_ends_the_deploy_with_how_to_look_again(plane, tiny, capsys):
    code = main(["deploy", str(tiny), REPO, "--no-rehearsal", "--wait-timeout", "0.3", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    wait = next(step for step in report["steps"] if step["step"] == "wait")
    assert wait["outcome"] == "fail" and wait["seconds"] < 5
    assert "still pending after 0.3 s" in wait["detail"]
    assert "handler-kit endpoint status tiny" in wait["detail"]
    assert report["endpoint"]["state"] == "pending"
    assert report["endpoint"]["revision"] == report["commit"]


def test_a_failing_check_stops_the_deploy_unless_forced_and_the_report_says_so(hub, tmp_path):
    repo = write_repository(tmp_path / "repo", RAISES_IN_CALL)
    stopped = handler_kit.deploy(repo, REPO, dry_run=True, rehearsal=False)
    assert stopped.failed.step is Step.GATE
    assert "deploy with --force to go on anyway" in stopped.row(Step.GATE).detail
    assert stopped.row(Step.MANIFEST).outcome is Status.SKIP
    forced = handler_kit.deploy(repo, REPO, dry_run=True, rehearsal=False, force=True)
    assert forced.ok and forced.row(Step.GATE).outcome is Status.WARN
    assert "going on all the same (--force)" in forced.row(Step.GATE).detail


def test_a_dry_run_needs_no_token_and_pushes_nothing(hub, tiny, capsys):
    with pointed_at(hub, token=None):
        assert main(["deploy", str(tiny), REPO, "--dry-run", "--no-rehearsal"]) == 0
    out = capsys.readouterr().out
    assert "account    skip" in out and "dry run: no token needed" in out
    assert re.search(r"^push +skip +- +dry run: nothing is pushed", out, re.MULTILINE)
    assert re.search(r"^dry run passed \(4 files, .*\); nothing was pushed$", out, re.MULTILINE)
    assert "Files to upload from" in out and re.search(r"^ *2\.0 kB  weights\.bin$", out, re.M)
    assert asked(hub) == []


def test_the_report_is_text_html_in_the_themes_colours_and_json(hub, tiny):
    report = handler_kit.deploy(tiny, REPO, dry_run=True, rehearsal=False)
    text = str(report)
    assert text.splitlines()[0] == f"Deploy of {tiny} to {REPO} (dry run)"
    assert text.splitlines()[1].split() == ["step", "outcome", "time", "detail"]
    page = report._repr_html_()
    assert "var(--jp-success-color0" in page and "#" not in page.split("var(")[0]
    assert "<td" in page and "manifest" in page
    assert "<details" in page and "weights.bin" in page  # the files, folded
    data = report.to_json()
    assert [step["step"] for step in data["steps"]] == [s.value for s in Step]
    assert data["ok"] and data["commit"] is None and data["dry_run"]


def test_a_folder_that_is_not_there_is_an_error_not_a_report(tmp_path):
    with pytest.raises(HandlerKitError, match="no such folder"):
        handler_kit.deploy(tmp_path / "nowhere", REPO)


def test_without_the_toolkit_the_rehearsal_says_how_to_go_without_it(hub, tiny, tmp_path):
    report = handler_kit.deploy(tiny, REPO, dry_run=True, toolkit=tmp_path / "no-toolkit")
    assert report.failed.step is Step.REHEARSAL
    assert "its toolkit is not here: no such file or folder" in report.failed.detail
    assert "Or deploy with --no-rehearsal" in report.failed.detail
