"""Ready to deploy: check a handler repository the way production will start it.

The handler is built and called in a fresh Python process (``checks.worker``: this
interpreter, or the one given as ``python``, a venv with production's versions), so nothing
loaded in the current kernel can make it pass; inside it, ``checks.in_worker`` imports handler.py
with ``handler_kit.load`` exactly as production does, builds the handler, times it and
replays the payload cases. The static checks run here, against what the worker's
interpreter has installed: requirements.txt (``checks.requirements``), the packages the code
imports (``checks.imports``), hard-coded
paths (``checks.paths``) and large files outside git LFS (``checks.large_files``). Every
check is a row of the ``CheckReport``; where that interpreter's Python or packages are not
production's, the report says so once, above its rows (``checks.environment``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import HandlerKitError
from ..reload.repository import Repository
from .environment import differences
from .imports import import_rows
from .in_worker import not_built
from .large_files import large_file_rows
from .paths import path_rows
from .report import CheckName, CheckReport
from .requirements import requirement_rows
from .worker import Ran, Worker

DEFAULT_TIMEOUT = 300.0

__all__ = ["DEFAULT_TIMEOUT", "CheckReport", "check"]  # CheckReport: what check returns


def check(
    repo: str | Path = ".",
    cases: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check that the repository at ``repo`` is ready to deploy; returns the report.

    ``cases`` is the folder of payload cases (default ``<repo>/cases``; without cases a
    default payload is sent); ``timeout`` bounds the worker that builds and calls the
    handler, in seconds; ``python`` is the interpreter the worker runs in (default this
    one), e.g. a venv's ``bin/python`` with production's versions: the handler is built,
    and its requirements and imports are checked, with what that interpreter has. ``env``
    adds variables to the worker's environment (an endpoint's ``env`` and secrets: a handler
    that reads one in ``__init__`` is checked as the endpoint will run it).
    """
    given = Path(repo).expanduser()
    with tempfile.TemporaryDirectory(prefix="handler-kit-kit-") as kit:
        worker = Worker(python, Path(kit), env)
        return _check(given, cases, timeout, worker)


def _check(given: Path, cases: str | Path | None, timeout: float, worker: Worker) -> CheckReport:
    try:
        folder = Repository.find(given).path
    except HandlerKitError as error:
        folder = given.resolve()
        if not folder.is_dir():
            raise  # not a repository at all: nothing to report on
        ran = Ran(not_built(str(error)))
    else:
        if worker.missing:
            ran = Ran(not_built(worker.missing))
        else:
            ran = worker.run(folder, Path(cases) if cases is not None else None, timeout)
    environment = worker.environment
    entry_rows = [row for row in ran.rows if row.check is CheckName.ENTRY]
    rows = [*entry_rows, *requirement_rows(folder, environment)]
    rows += import_rows(folder, environment, ran.roots)
    rows += [row for row in ran.rows if row.check is not CheckName.ENTRY]
    rows += path_rows(folder, ran.roots) + large_file_rows(folder)
    return CheckReport(folder, rows, differences(folder, environment, ran.roots))
