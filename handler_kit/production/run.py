"""A repository under production's real server and under the kit's endpoint, side by side.

``against_production`` starts both on the same repository, each in a fresh process: the
production toolkit's own server (``servers.ProductionServer``, in a venv with production's
pins and the repository's requirements.txt installed over them, as production does at
start-up) and ``handler-kit serve`` (``servers.kit_server``). Every case's request goes to
both; the report (``comparison.ProductionComparison``) has a row per case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..cases.case import Case, CaseError, cases_for
from ..endpoint.vertex import OFF
from ..errors import HandlerKitError
from ..reload.repository import Repository
from ..report import Status, count
from .comparison import ComparisonRow, ProductionComparison, compare_case
from .processes import free_port
from .servers import START_TIMEOUT, ProductionServer, kit_server
from .toolkit import Toolkit, find_toolkit
from .venvs import ensure_venv, with_requirements


def against_production(
    repo: str | Path,
    cases: str | Path | None = None,
    toolkit: str | Path | Toolkit | None = None,
    python: str | Path | None = None,
    timeout: float = START_TIMEOUT,
    echo: Callable[[str], object] | None = None,
    env: Mapping[str, str] | None = None,
) -> ProductionComparison:
    """Run ``repo`` under production's real server and the kit's endpoint; compare each case.

    ``cases`` is the folder of cases (default ``<repo>/cases``; without one, the check's
    default payload); ``toolkit`` the production toolkit's source folder or a venv that has it
    (default: ``$HANDLER_KIT_TOOLKIT``, then the reference copy beside the project), or the
    ``Toolkit`` that ``toolkit.find_toolkit`` found;
    ``python`` the interpreter for production's server (default: a cached venv with
    production's pins, built on first use). ``timeout`` bounds each server's start-up;
    ``echo`` (e.g. ``print``) is told each step as it starts, the slow ones first of all;
    ``env`` adds variables to both servers' environments (an endpoint's env and secrets).
    Raises HandlerKitError when there is no toolkit or a server does not start.
    """
    # The entry file production imports (HF_DEFAULT_PIPELINE_NAME, else handler.py, else
    # pipeline.py); none: the error says which file to create.
    folder = Repository.find(repo).path
    found = cases_for(folder, Path(cases).expanduser() if cases is not None else None, default=True)
    # No toolkit: find_toolkit raises, saying how to get it.
    kit = toolkit if isinstance(toolkit, Toolkit) else find_toolkit(toolkit)
    say = echo or (lambda _: None)
    base, layered = _production_python(folder, kit, python, say)
    # Both on Inference Endpoints' routes and a port of their own: a Vertex AI variable of
    # this shell would move them. The kit's port is released before its server binds it:
    # production's must be another, or the comparison would send every case to one server
    # twice.
    kit_port = free_port()
    production = ProductionServer(
        folder, kit, layered, env={**(env or {}), **OFF}, avoid={kit_port}
    )
    report = ProductionComparison(folder, production=_described(kit, base, layered))
    say(f"starting production's server and the kit's endpoint on {folder}")
    with kit_server(folder, timeout, kit_port, env) as ready:
        production.start(timeout)  # while the kit's endpoint builds the handler too
        try:
            if production.port == kit_port:
                raise HandlerKitError(
                    f"production's server and the kit's endpoint were both given port {kit_port}",
                    hint="Unset AIP_HTTP_PORT (or AIP_MODE) in this shell and run it again.",
                )
            here = ready()
            say(f"sending {count(len(found), 'case')} to both")
            report.rows.extend(_compared(found, production.url, here))
        finally:
            production.stop()
    return report


def _production_python(
    folder: Path, kit: Toolkit, python: str | Path | None, say: Callable[[str], object]
) -> tuple[Path, Path]:
    """The python production's server runs with: ``(base, layered)``, the one with
    production's pins and the one with requirements.txt installed over it (the same one
    without requirements.txt)."""
    if python is None and kit.python is None:
        say("production's python: the venv with production's pins (its first build: 1-2 min)")
    base = Path(python) if python is not None else ensure_venv(kit)
    if (folder / "requirements.txt").is_file():
        say(
            "installing requirements.txt for production, as it does at start-up "
            "(cached by its text)"
        )
    return base, with_requirements(folder, base)


def _compared(
    found: Sequence[Case | CaseError], production_url: str, kit_url: str
) -> list[ComparisonRow]:
    """A row per case: its answers compared, or why it was not sent."""
    rows = []
    for case in found:
        if isinstance(case, CaseError):
            name = Path(case.file).stem if case.file else "?"
            rows.append(ComparisonRow(name, Status.ERROR, f"not sent: {case}"))
        else:
            rows.append(compare_case(case, production_url, kit_url))
    return rows


def _described(toolkit: Toolkit, base: Path, python: Path) -> str:
    said = f"the toolkit in {toolkit.source}, " if toolkit.source is not None else ""
    said += f"python {base}"
    if python != base:
        said += f", requirements.txt installed over it in {python.parent.parent}"
    return said
