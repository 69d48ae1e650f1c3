"""``deploy``: a repository to an Inference Endpoint, one step after the other, each stoppable.

account (whose token; may it push there) -> gate (``check``) -> manifest (exactly the files
to upload) -> rehearsal (those files under production's real server) -> push (one commit)
-> endpoint (created or updated at that commit) -> wait (until it runs that commit) ->
verify (the cases at the endpoint against the rehearsal's answers) -> after (pause or scale
to zero, when asked). The first step that fails stops the deploy; those after it are
skipped. Nothing is uploaded before the manifest and the rehearsal passed, and no endpoint
is touched unless the push did. The CLI and the magic only print the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks.check import DEFAULT_TIMEOUT, check
from ..choice import Choice
from ..errors import HandlerKitError
from ..production.toolkit import Toolkit, find_toolkit
from ..report import Status, count
from .endpoints import REFRESH_EVERY, WAIT_TIMEOUT, EndpointStatus, ensure_endpoint
from .endpoints import wait_until_running as wait_for
from .errors import DeployError, hub_error
from .hub import Account, account, push, validate_repo_id
from .manifest import build_manifest, human_size
from .rehearsal import rehearse
from .report import DeployReport, Step, StepRow
from .settings import Access, EndpointSettings
from .verify import PASSED, SCALE_UP_TIMEOUT, verify

if TYPE_CHECKING:
    from huggingface_hub import InferenceEndpoint

LIVE = (Step.PUSH, Step.ENDPOINT, Step.WAIT, Step.VERIFY, Step.AFTER)  # what a dry run skips
STARTS = {  # what each step tells ``echo`` as it starts
    Step.ACCOUNT: "asking the Hub whose token this is",
    Step.GATE: "handler-kit check (the handler is built in a fresh process)",
    Step.MANIFEST: "listing the files to upload",
    Step.REHEARSAL: "running exactly those files under production's real server",
    Step.PUSH: "uploading the files in one commit",
    Step.ENDPOINT: "creating or updating the endpoint at that commit",
    Step.WAIT: "waiting for the endpoint to run that commit",
    Step.VERIFY: "sending the cases to the endpoint",
    Step.AFTER: "stopping the endpoint's replica, as asked",
}


class After(Choice):
    """What becomes of the endpoint once verified: paused, or scaled to zero."""

    PAUSE = "pause"  # no replica, nothing billed, until resumed
    SCALE_TO_ZERO = "scale-to-zero"  # no replica until a request comes


@dataclass(frozen=True)
class Plan:
    """What a deploy was asked to do."""

    repo: Path
    repo_id: str
    settings: EndpointSettings
    token: str | None = None
    private: bool | None = None
    cases: str | Path | None = None
    force: bool = False
    dry_run: bool = False
    rehearsal: bool = True
    update: bool = False
    toolkit: str | Path | Toolkit | None = None
    timeout: float = DEFAULT_TIMEOUT
    wait_timeout: float = WAIT_TIMEOUT
    refresh_every: float = REFRESH_EVERY
    scale_up_timeout: float = SCALE_UP_TIMEOUT
    after: After | None = None


def deploy(
    repo: str | Path,
    repo_id: str,
    *,
    endpoint: str | None = None,
    namespace: str | None = None,
    accelerator: str | None = None,
    vendor: str | None = None,
    region: str | None = None,
    instance_type: str | None = None,
    instance_size: str | None = None,
    type: str | Access | None = None,
    task: str | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    cases: str | Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    rehearsal: bool = True,
    update: bool = False,
    toolkit: str | Path | Toolkit | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    wait_timeout: float = WAIT_TIMEOUT,
    refresh_every: float = REFRESH_EVERY,
    scale_up_timeout: float = SCALE_UP_TIMEOUT,
    after: str | After | None = None,
    echo: Callable[[str], object] | None = None,
) -> DeployReport:
    """Deploy the repository at ``repo`` to the Hub repository ``repo_id`` and an endpoint.

    The endpoint: ``endpoint`` (its name; default from ``repo_id``) in ``namespace``
    (default: the token's user); its hardware (``accelerator`` ... ``instance_size``) and
    ``type`` (authenticated or public) default to a small CPU instance on AWS us-east-1 when
    it is new and must match it when it exists, unless ``update``; ``env``, ``secrets`` and
    ``task`` are its variables. ``token``: default huggingface_hub's (HF_TOKEN, `hf auth
    login`); ``private``: a new repository's visibility; ``cases``: default ``repo/cases``;
    ``force``: go on when the check fails; ``dry_run``: gate, manifest and rehearsal only, no
    token; ``rehearsal``: run the files under production first; ``toolkit``: production's
    (as ``against_production``); ``timeout``: the check's and the servers' start, in s;
    ``wait_timeout``, ``refresh_every``: the wait; ``scale_up_timeout``: what verify lets a
    scaled-to-zero endpoint take to wake; ``after``: "pause" or "scale-to-zero" once
    verified. ``echo`` (e.g. ``print``) is told each step and each change of state.
    Returns the report; raises HandlerKitError only for arguments that make no deploy.
    """
    folder = Path(repo).expanduser().resolve()
    if not folder.is_dir():
        raise DeployError(f"no such folder: {repo}", hint="Pass the folder that holds handler.py.")
    settings = EndpointSettings(
        endpoint, namespace, accelerator, vendor, region, instance_type, instance_size,
        Access.of(type) if type is not None else None, task, env, secrets,
    )  # fmt: skip
    plan = Plan(
        folder, repo_id, settings, token, private, cases, force, dry_run, rehearsal, update,
        toolkit, timeout, wait_timeout, refresh_every, scale_up_timeout,
        After.of(after) if after is not None else None,
    )  # fmt: skip
    return Deployment(plan, echo).run()


class Deployment:
    """One deploy under way: it runs the steps of ``plan`` in order and owns the report."""

    def __init__(self, plan: Plan, echo: Callable[[str], object] | None = None) -> None:
        self.plan = plan
        self.say = echo or (lambda _: None)
        self.report = DeployReport(plan.repo, plan.repo_id, plan.dry_run)
        self.account: Account | None = None
        self.endpoint: InferenceEndpoint | None = None

    def run(self) -> DeployReport:
        """Run each step until one fails; a row for every step."""
        actions = {
            Step.ACCOUNT: self._account,
            Step.GATE: self._gate,
            Step.MANIFEST: self._manifest,
            Step.REHEARSAL: self._rehearsal,
            Step.PUSH: self._push,
            Step.ENDPOINT: self._endpoint,
            Step.WAIT: self._wait,
            Step.VERIFY: self._verify,
            Step.AFTER: self._after,
        }
        for step, action in actions.items():
            skipped = self._skipped(step)
            if skipped is not None:
                self.report.rows.append(StepRow(step, Status.SKIP, skipped))
                continue
            self.say(f"{step}: {STARTS[step]}")
            began = time.perf_counter()
            try:
                outcome, detail = action()
            except HandlerKitError as error:
                outcome, detail = Status.FAIL, str(error)
            self.report.rows.append(StepRow(step, outcome, detail, time.perf_counter() - began))
            self.say(f"{step}: {outcome}: {detail.splitlines()[0] if detail else ''}")
        return self.report

    def _skipped(self, step: Step) -> str | None:
        """Why ``step`` does not run, or None when it does."""
        plan, failed = self.plan, self.report.failed
        if failed is not None:
            return f"not run: the {failed.step} failed"
        if plan.dry_run and step in LIVE:
            return "dry run: nothing is pushed"
        if step is Step.REHEARSAL and not plan.rehearsal:
            return "not run (--no-rehearsal): the files were not run under production first"
        if step is Step.AFTER and plan.after is None:
            return "the endpoint keeps running (--pause-after or --scale-to-zero-after stop it)"
        return None

    # --- the steps: each returns its outcome and what it found, or raises HandlerKitError ---

    def _account(self) -> tuple[Status, str]:
        plan = self.plan
        if plan.dry_run:
            validate_repo_id(plan.repo_id)
            plan.settings.endpoint_name(plan.repo_id)
            return Status.SKIP, "dry run: no token needed (the names are valid)"
        self.account = account(plan.repo_id, plan.token)
        name = plan.settings.endpoint_name(self.account.repo_id)
        return Status.PASS, f"{self.account}; the endpoint is {name}"

    def _gate(self) -> tuple[Status, str]:
        plan = self.plan
        report = check(plan.repo, plan.cases, plan.timeout, env=plan.settings.variables())
        self.report.check = report
        lines = [f"{row.check}: {row.detail}" for row in report.failed + report.warnings]
        if report.ok and lines:
            said = f"ready to deploy; {count(len(lines), 'warning')} to read:"
            return Status.WARN, "\n".join([said, *lines])
        if report.ok:
            return Status.PASS, report.verdict
        if self.plan.force:
            said = f"{report.verdict}; going on all the same (--force)"
            return Status.WARN, "\n".join([said, *lines])
        said = f"{report.verdict}: fix them, or deploy with --force to go on anyway"
        return Status.FAIL, "\n".join([said, *lines])

    def _manifest(self) -> tuple[Status, str]:
        manifest = build_manifest(self.plan.repo)
        self.report.manifest = manifest
        if not manifest.ok:
            return Status.FAIL, "\n".join([manifest.verdict, *map(str, manifest.errors)])
        left = f"\nleft out: {manifest.left_out}" if manifest.excluded else ""
        return Status.PASS, f"{manifest.verdict}{left}"

    def _rehearsal(self) -> tuple[Status, str]:
        plan, manifest = self.plan, self.report.manifest
        assert manifest is not None
        try:
            toolkit = (
                plan.toolkit if isinstance(plan.toolkit, Toolkit) else find_toolkit(plan.toolkit)
            )
        except HandlerKitError as error:
            raise DeployError(
                f"the rehearsal runs production's server, and its toolkit is not here: {error}",
                hint="Or deploy with --no-rehearsal (rehearsal=False): the files are then not "
                "run under production before they are pushed.",
            ) from error
        try:
            comparison = rehearse(
                manifest, plan.cases, toolkit, plan.timeout, self.say, plan.settings.variables()
            )
        except HandlerKitError as error:
            # Say what was run: a file the handler needs and the upload leaves out is why.
            left = f" (left out: {manifest.left_out})" if manifest.excluded else ""
            raise DeployError(
                f"production's server on a copy of exactly the files to upload{left}:\n{error}"
            ) from error
        self.report.rehearsal = comparison
        lines = [f"{row.case}: {row.match}: {row.detail}" for row in comparison.differing]
        return (Status.PASS if comparison.ok else Status.FAIL), "\n".join(
            [comparison.verdict, *lines]
        )

    def _push(self) -> tuple[Status, str]:
        manifest, to = self.report.manifest, self.account
        assert manifest is not None and to is not None
        pushed = push(manifest, to, self.plan.private)
        self.report.pushed = pushed
        files = f"{count(len(manifest.files), 'file')}, {human_size(manifest.size)}"
        if not pushed.changed:
            return Status.PASS, f"no change: {to.repo_id} holds these {files} at {pushed.oid[:12]}"
        return Status.PASS, f"commit {pushed.oid[:12]} on {to.repo_id} ({files})"

    def _endpoint(self) -> tuple[Status, str]:
        plan, pushed, to = self.plan, self.report.pushed, self.account
        assert pushed is not None and to is not None
        name = plan.settings.endpoint_name(to.repo_id)
        self.endpoint, said = ensure_endpoint(
            plan.settings, name, to.repo_id, pushed.oid, to.token, plan.update
        )
        self.report.endpoint = EndpointStatus.of(self.endpoint)
        return Status.PASS, f"{said}, at revision {pushed.oid[:12]}"

    def _wait(self) -> tuple[Status, str]:
        plan, pushed, endpoint = self.plan, self.report.pushed, self.endpoint
        assert pushed is not None and endpoint is not None
        try:
            wait_for(endpoint, pushed.oid, plan.wait_timeout, plan.refresh_every, self.say)
        finally:
            self.report.endpoint = EndpointStatus.of(endpoint)  # fetch() updates it in place
        status = self.report.endpoint
        return Status.PASS, f"{status.state} at revision {status.revision[:12]}: {status.url}"

    def _verify(self) -> tuple[Status, str]:
        plan, status, to = self.plan, self.report.endpoint, self.account
        assert status is not None and status.url and to is not None
        report = verify(
            status.url, plan.repo, plan.cases, to.token, self.report.rehearsal,
            plan.scale_up_timeout, max(plan.timeout, 60.0),
        )  # fmt: skip
        self.report.verification = report
        lines = [
            f"{row.case}: {row.outcome}: {row.detail}"
            for row in report.rows
            if row.outcome not in PASSED
        ]
        return (Status.PASS if report.ok else Status.FAIL), "\n".join([report.verdict, *lines])

    def _after(self) -> tuple[Status, str]:
        endpoint, after = self.endpoint, self.plan.after
        assert endpoint is not None and after is not None
        try:
            endpoint = endpoint.pause() if after is After.PAUSE else endpoint.scale_to_zero()
        except Exception as error:
            raise hub_error(f"asking the endpoint to {after.value}", error) from error
        self.report.endpoint = status = EndpointStatus.of(endpoint)
        if after is After.PAUSE:
            return Status.PASS, (
                f"{status.state}: nothing is billed until `handler-kit endpoint resume "
                f"{status.name}`"
            )
        return Status.PASS, (
            f"{status.state}: no replica until a request comes (the first waits for one to "
            "start: send X-Scale-Up-Timeout)"
        )
