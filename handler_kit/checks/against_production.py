"""The check, then production's real server against the kit's: what ``--against-production`` runs.

``check_repository`` is what ``handler-kit check`` and ``%handler_check`` run: the
deployment check (``check.check``) and, with ``--against-production``, the comparison with
production's real server after it (``production.run.against_production``); both reports are
kept in a ``ProductionCheck``. It sits above both: the production wing never imports the check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import HandlerKitError
from ..production.comparison import ProductionComparison
from ..production.run import against_production
from ..production.toolkit import Toolkit, find_toolkit
from .check import DEFAULT_TIMEOUT, check
from .report import CheckReport


@dataclass
class ProductionCheck:
    """The deployment check and the comparison with production after it; ``ok`` when both are."""

    check: CheckReport
    comparison: ProductionComparison

    @property
    def ok(self) -> bool:
        return self.check.ok and self.comparison.ok

    def __str__(self) -> str:
        return f"{self.check}\n\n{self.comparison}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<div>{self.check._repr_html_()}<br>{self.comparison._repr_html_()}</div>"


def check_against_production(
    repo: str | Path = ".",
    cases: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | Path | None = None,
    toolkit: str | Path | Toolkit | None = None,
    echo: Callable[[str], object] | None = None,
    env: Mapping[str, str] | None = None,
) -> ProductionCheck:
    """Check ``repo``, then compare it under production's real server and the kit's endpoint.

    The toolkit (as in ``against_production``) is found first: a missing one is said at once,
    not after minutes of checking. Then ``check.check`` (``python`` is its worker's
    interpreter) and ``against_production``; ``timeout`` bounds each step, ``echo`` (e.g.
    ``print``) is told each one as it starts; ``env`` adds variables to the handler's
    environment in both (an endpoint's). Both reports are kept in the result.
    """
    kit = toolkit if isinstance(toolkit, Toolkit) else find_toolkit(toolkit)
    report = check(repo, cases, timeout, python, env)
    if echo is not None:
        echo(f"check: {report.verdict}")
    comparison = against_production(repo, cases, kit, timeout=timeout, echo=echo, env=env)
    return ProductionCheck(report, comparison)


def check_repository(
    repo: str | Path = ".",
    cases: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | Path | None = None,
    against: bool = False,
    toolkit: str | Path | Toolkit | None = None,
    echo: Callable[[str], object] | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckReport | ProductionCheck:
    """What ``handler-kit check`` and ``%handler_check`` run: the check, or with ``against``
    ``check_against_production``. A ``toolkit`` without ``against`` is refused (it would be
    ignored)."""
    if not against:
        if toolkit is not None:
            raise HandlerKitError(
                "--toolkit goes with --against-production: add it, or drop --toolkit",
                hint="The toolkit is only used to compare with production's real server.",
            )
        return check(repo, cases, timeout, python, env)
    return check_against_production(repo, cases, timeout, python, toolkit, echo, env)
