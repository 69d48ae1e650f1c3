"""The pytest plugin: ``pytest --handler-repo REPO`` replays the repository's payload cases.

Each case file of the repository (``REPO/cases/*.json``, or ``--handler-cases DIR``: the
rule of ``cases.case.cases_for``) becomes a test item named after it. The handler is loaded
once per session with :func:`handler_kit.load`, as production loads it; an item sends
``Case.data()`` to it and checks the answer with ``Case.check()``.
Without ``--handler-repo`` the plugin does nothing. handler_kit is imported only then, so the
plugin costs other test runs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

_HANDLER = pytest.StashKey[dict]()  # the session's handler, or the error loading it raised


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--handler-repo`` and ``--handler-cases``."""
    group = parser.getgroup("handler_kit", "handler-kit: replay payload cases against a handler")
    group.addoption(
        "--handler-repo",
        metavar="REPO",
        help="model repository (the folder that holds handler.py) whose cases to replay",
    )
    group.addoption(
        "--handler-cases",
        metavar="DIR",
        help="folder of payload cases (default: REPO/cases)",
    )


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect items: they apply to ours too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add one item per case file when ``--handler-repo`` is given."""
    repo = config.getoption("handler_repo")
    if not repo:
        return
    from .cases.case import CaseError, cases_folder, cases_for

    repo_path = Path(repo).expanduser().resolve()
    given = config.getoption("handler_cases")
    folder = cases_folder(repo_path, given).resolve()
    try:
        found = cases_for(repo_path, given)
    except CaseError as error:  # no folder, or no case files in it
        raise pytest.UsageError(
            f"handler-kit: {error.what}\n"
            "Save payload cases there (the payload form's history exports them), "
            "or pass --handler-cases DIR."
        ) from None
    nodeid = _relative(folder, config.rootpath)
    cases = CaseFolder.from_parent(
        session, name=folder.name, nodeid=nodeid, path=folder, repo=repo_path, cases=found
    )
    # Collected through the hooks so that the terminal counts the items and shows errors.
    report = config.hook.pytest_make_collect_report(collector=cases)
    config.hook.pytest_collectreport(report=report)
    items.extend(node for node in report.result if isinstance(node, pytest.Item))


class CaseFolder(pytest.Collector):
    """The folder of payload cases: one item per ``*.json`` file."""

    def __init__(self, *, repo: Path, cases: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo = repo
        self.cases = cases  # each a Case, or the CaseError of a file that cannot be read

    def collect(self) -> list[pytest.Item]:
        """One CaseItem per case file; a file that cannot be read fails its item alone."""
        items = []
        for case in self.cases:
            file = Path(case.file or "")
            nodeid = f"{_relative(file, self.config.rootpath)}::{file.stem}"
            items.append(
                CaseItem.from_parent(
                    self, name=file.stem, nodeid=nodeid, path=file, case=case, repo=self.repo
                )
            )
        return items


class CaseItem(pytest.Item):
    """One payload case sent to the session's handler."""

    def __init__(self, *, case: Any, repo: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.repo = repo

    def runtest(self) -> None:
        """Send the case's data to the handler and check the answer against the case."""
        from .endpoint.contract import unchecked

        if isinstance(self.case, Exception):
            raise self.case
        handler = _session_handler(self.config, self.repo)
        # case.data() checks the request as production does: the handler need not again.
        self.case.check(unchecked(handler)(self.case.data()))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """Our errors already say what/where/what to do: show just their message."""
        from .errors import HandlerKitError

        if isinstance(excinfo.value, HandlerKitError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"handler case {self.name}"


def _session_handler(config: pytest.Config, repo: Path) -> Any:
    """The handler, loaded on first use; a failed load fails every case with the same error."""
    from . import load
    from .errors import HandlerKitError

    loaded = config.stash.setdefault(_HANDLER, {})
    if not loaded:
        try:
            loaded["handler"] = load(repo)
        except HandlerKitError as error:
            loaded["error"] = error
    if "error" in loaded:
        raise loaded["error"]
    return loaded["handler"]


def _relative(file: Path, root: Path) -> str:
    try:
        relative = os.path.relpath(file, root)
    except ValueError:  # another drive on Windows
        return file.as_posix()
    return file.as_posix() if relative.startswith("..") else Path(relative).as_posix()
