"""deploy() end to end through the stand-ins, with production's real server at both ends: the
rehearsal before the push, and the endpoint's replica after it.

One Hub stand-in and one control plane serve the module (each test deploys to its own
repository and endpoint); the plane's replicas run production's toolkit from
../shared/reference in the venv with production's pins. Skipped without the toolkit.
"""

from __future__ import annotations

import json
import time

import deploy_support
import pytest
from deploy_support import BROKEN, NEEDS_PRODUCTION, TOOLKIT, asked, write_repository
from standins import USER, EndpointsStandIn, HubStandIn, Timing, pointed_at

import handler_kit
from handler_kit import templates
from handler_kit.cli import main
from handler_kit.deploy.manifest import build_manifest
from handler_kit.deploy.report import Step
from handler_kit.production.servers import ProductionServer
from handler_kit.production.venvs import ensure_venv
from handler_kit.report import Status

pytestmark = NEEDS_PRODUCTION
WAIT = 300.0  # seconds: a bound for production's server to start on this shared machine


@pytest.fixture(scope="module")
def plane():
    """The stand-ins, shared by the module: production's server starts once per deploy."""
    with HubStandIn() as hub:
        plane = EndpointsStandIn(hub, Timing(pending=0.2), TOOLKIT, ensure_venv(TOOLKIT))
        with plane, pointed_at(hub, plane):
            yield plane


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """`handler-kit new text-generation`: a tiny GPT-2, its handler and two cases."""
    return templates.new("text-generation", tmp_path_factory.mktemp("t") / "gen", progress=False)


def test_a_template_is_deployed_and_answered_by_production_at_the_pushed_commit(plane, generator):
    hub, repo_id = plane.hub, f"{USER.name}/tiny-gpt2"
    report = handler_kit.deploy(generator, repo_id, wait_timeout=WAIT, refresh_every=0.2)
    assert report.ok, report
    oid = report.pushed.oid
    assert oid == hub.commits(repo_id)[0].oid == report.endpoint.revision
    assert hub.sizes(repo_id, oid) == build_manifest(generator).sizes  # its own .gitattributes
    served = plane.endpoints[(USER.name, "tiny-gpt2")]
    assert (served.config["model"]["revision"], served.replica.revision) == (oid, oid)
    assert isinstance(served.replica.server, ProductionServer) and served.replica.server.running
    cases = sorted(path.stem for path in (generator / "cases").glob("*.json"))
    verified = report.verification
    assert sorted(row.case for row in verified.rows) == cases
    assert all(row.outcome is Status.SAME and row.status == 200 for row in verified.rows)
    assert report.rehearsal.ok and all(row.answer is not None for row in report.rehearsal.rows)
    # Again, unchanged: no commit, no redeploy, the same answers; then paused.
    again = handler_kit.deploy(generator, repo_id, rehearsal=False, after="pause")
    assert again.ok, again
    assert again.row(Step.PUSH).detail.startswith("no change: ")
    assert again.row(Step.ENDPOINT).detail.startswith("tiny-gpt2 is at this revision already")
    assert again.endpoint.state == "paused" and served.replica is None
    assert len(hub.commits(repo_id)) == 2  # the Hub's first commit, and the deploy's


# A handler configured by its endpoint: a variable and a secret, read in __init__.
READS_ENV = """\
import os


class EndpointHandler:
    def __init__(self, path=""):
        self.version = os.environ["MODEL_VERSION"]
        assert os.environ["API_KEY"], "the endpoint's secret is empty"

    def __call__(self, data):
        return {"version": self.version, "inputs": data["inputs"]}
"""


def test_the_endpoints_variables_are_the_gates_the_rehearsals_and_the_endpoints(
    plane, tmp_path, monkeypatch
):
    # Without them here, the gate and both rehearsal servers would fail (KeyError) while the
    # endpoint, which has them, starts: the deploy would stop at what is not wrong.
    for name in ("MODEL_VERSION", "API_KEY"):
        monkeypatch.delenv(name, raising=False)
    repo = write_repository(tmp_path / "configured", READS_ENV)
    report = handler_kit.deploy(
        repo,
        f"{USER.name}/configured",
        env={"MODEL_VERSION": "1"},  # what the case expects
        secrets={"API_KEY": "k"},
        timeout=WAIT,
        wait_timeout=WAIT,
        refresh_every=0.2,
        after="pause",
    )
    assert report.ok, report
    assert report.row(Step.GATE).outcome is Status.PASS
    assert [(row.case, row.match) for row in report.rehearsal.rows] == [("hello", Status.SAME)]
    assert [(row.case, row.outcome) for row in report.verification.rows] == [("hello", Status.SAME)]


def test_a_file_the_manifest_cannot_see_is_missed_by_the_rehearsal_nothing_pushed(plane, tmp_path):
    # The name is built at run time: only running the uploaded files shows it is missing.
    reads = deploy_support.HANDLER.replace('"version.txt"', '"-".join(["secret", "v1.txt"])')
    repo = write_repository(
        tmp_path / "repo", reads, {"secret-v1.txt": "1\n", ".gitignore": "secret-*\n"}
    )
    sent = len(plane.hub.requests)
    report = handler_kit.deploy(repo, f"{USER.name}/reads-secret", timeout=WAIT)
    assert report.row(Step.MANIFEST).outcome is Status.PASS
    assert report.failed.step is Step.REHEARSAL
    detail = report.row(Step.REHEARSAL).detail
    assert "FileNotFoundError" in detail and "secret-v1.txt" in detail
    assert report.verdict == "stopped at the rehearsal: nothing was pushed"
    assert [r for r in asked(plane.hub)[sent:] if "whoami" not in r] == []


def test_a_handler_whose_init_raises_ends_the_wait_failed_with_its_traceback(
    plane, tmp_path, capsys
):
    repo = write_repository(tmp_path / "broken", BROKEN)
    began = time.monotonic()
    code = main(
        ["deploy", str(repo), f"{USER.name}/broken", "--force", "--no-rehearsal", "--json",
         "--wait-timeout", str(WAIT)]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and time.monotonic() - began < WAIT
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["gate"]["outcome"] == "warn"  # the check saw it too: --force went on
    assert steps["wait"]["outcome"] == "fail" and steps["verify"]["outcome"] == "skip"
    assert "the endpoint broken is failed after" in steps["wait"]["detail"]
    assert "ValueError: the model folder has no weights" in steps["wait"]["detail"]
    assert 'handler.py", line 3, in __init__' in steps["wait"]["detail"]
    assert report["endpoint"]["state"] == "failed"
    assert report["verdict"].endswith("the endpoint broken is failed")
