"""%handler_deploy in a real IPython shell: the loaded handler's repository by default, a status
line updated in place while it runs, the report as the cell's value."""

from __future__ import annotations

import deploy_support
import pytest
from IPython.core.interactiveshell import InteractiveShell
from standins import USER, pointed_at

from handler_kit import DeployReport, HandlerKitError
from handler_kit.notebook import magics

hub, tiny = deploy_support.hub, deploy_support.tiny  # fixtures
DRY = f"{USER.name}/tiny --dry-run --no-rehearsal"


@pytest.fixture(scope="module")
def shell():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "handler_kit")
    yield shell
    InteractiveShell.clear_instance()


class Shown:
    """What the magic displays: each object, and each update of a display."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def display(self, obj, display_id=False):
        self.lines.append(getattr(obj, "data", repr(obj)))  # %handler_load shows its handler
        return self

    def update(self, obj) -> None:
        self.lines.append(obj.data)


@pytest.fixture
def shown(monkeypatch):
    found = Shown()
    monkeypatch.setattr(magics, "display", found.display)
    return found


def test_without_a_path_it_deploys_the_loaded_handlers_repository(shell, hub, tiny, shown):
    shell.run_line_magic("handler_load", f"'{tiny}'")
    with pointed_at(hub, token=None):  # a dry run needs none
        report = shell.run_line_magic("handler_deploy", DRY)
    assert isinstance(report, DeployReport) and report.ok and report.repo == tiny
    assert report.repo_id == f"{USER.name}/tiny" and report.dry_run
    assert "deploy: starting" in shown.lines[1]  # after the loaded handler
    assert any("gate: handler-kit check" in line for line in shown.lines)
    assert "deploy: dry run passed" in shown.lines[-1]
    assert "var(--jp-success-color0" in shown.lines[-1]  # the verdict in the theme's colour


def test_a_path_and_the_endpoint_options_are_the_commands(shell, hub, tiny, tmp_path, shown):
    shell.user_ns.pop("handler", None)
    report = shell.run_line_magic(
        "handler_deploy", f"'{tiny}' {DRY} --endpoint my-endpoint --env A=1"
    )
    assert report.ok and report.repo == tiny
    refused = shell.run_line_magic("handler_deploy", f"'{tiny}' {DRY} --endpoint Not_Valid")
    assert refused.failed.step.value == "account" and refused.row(refused.failed.step).seconds
    assert "'Not_Valid' is not a valid endpoint name" in refused.failed.detail
    assert "deploy: stopped at the account: nothing was pushed" in shown.lines[-1]
    with pytest.raises(HandlerKitError, match="--env 'A' is not NAME=VALUE"):
        shell.run_line_magic("handler_deploy", f"'{tiny}' {DRY} --env A")
