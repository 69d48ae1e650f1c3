"""The rows for what production installs: requirements.txt, line by line.

Each is checked against the environment of the worker's interpreter (this one, or the venv
given with ``--python``): what the handler will be built with there.
"""

from __future__ import annotations

from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..packages.distributions import distribution_typo, pip_command
from ..packages.environment import Environment
from ..packages.image import production
from ..packages.requirements import Line, Requirements
from ..report import Status
from .report import CheckName, Row


def requirement_rows(repo: Path, environment: Environment | None = None) -> list[Row]:
    """requirements.txt, line by line: installed in the worker's environment, in a matching
    version? A long file (a pip freeze) is one row that says what is missing here."""
    environment = environment or Environment.here()
    requirements = Requirements.read(repo)
    if requirements is None:
        return [
            Row(
                CheckName.REQUIREMENTS, Status.PASS, "no requirements.txt: nothing extra to install"
            )
        ]
    problems = [line for line in requirements.lines if line.problem]
    rows = [
        Row(CheckName.REQUIREMENTS, Status.FAIL, f"{line.where}: {line.problem}")
        for line in problems[:3]
    ]
    if len(problems) > 3:
        rows.append(
            Row(
                CheckName.REQUIREMENTS,
                Status.FAIL,
                f"and {len(problems) - 3} more lines like these",
            )
        )
    lines = [line for line in requirements.named() if not line.problem]
    rows += _replacing_rows(lines)
    if requirements.long:
        return [*rows, _long_file_row(requirements, lines, environment)]
    for line in lines:
        rows.append(_requirement_row(line, environment))
    return rows or [Row(CheckName.REQUIREMENTS, Status.PASS, "requirements.txt lists nothing")]


def _replacing_rows(lines: list[Line]) -> list[Row]:
    """Warn about requirements that put another major version of a package production's
    server itself runs on (transformers, huggingface_hub) in its place."""
    rows = []
    for line in lines:
        package = production().package(line.name or "")
        if package is None or not package.server or not package.version:
            continue
        if not line.applies(production().markers):
            continue
        theirs = Version(package.version).major
        majors = _majors(line)
        if majors == {theirs} and _unbounded_past(line, package.version, theirs + 1):
            # pip replaces production's version with the newest release there is: a later
            # major, once one is out (transformers>=4.52 installs 5.x).
            rows.append(
                Row(
                    CheckName.REPLACES.of(package.name),
                    Status.WARN,
                    f"{line.where}: {line.text} excludes production's {package.name} "
                    f"{package.version}, so pip installs the newest release, {theirs + 1}.x or "
                    f"later once it is out, and production's server itself runs on "
                    f"{package.name} {theirs}.x: it may not start; add an upper bound "
                    f"(`{line.name}{line.requirement.specifier},<{theirs + 1}`)",
                )
            )
            continue
        if majors is None or majors == {theirs}:
            continue
        other = "its current code" if line.url else f"{'/'.join(map(str, sorted(majors)))}.x"
        rows.append(
            Row(
                CheckName.REPLACES.of(package.name),
                Status.WARN,
                f"{line.where}: {line.text} installs {other} over production's {package.name} "
                f"{package.version}, and production's server itself runs on {package.name} "
                f"{theirs}.x: it may not start; keep {package.name}<{theirs + 1}",
            )
        )
    return rows


def _unbounded_past(line: Line, version: str, major: int) -> bool:
    """True when ``line`` excludes ``version`` and lets pip pick major ``major`` or later
    (no upper bound below it)."""
    if line.requirement is None:
        return False
    spec = line.requirement.specifier
    if spec.contains(version, prereleases=True):
        return False  # production's version satisfies it: pip keeps it
    return any(spec.contains(v, prereleases=True) for v in (f"{major}.0.0", f"{major + 99}.0"))


def _majors(line: Line) -> set[int] | None:
    """The major versions a requirement line asks for (a URL: an unknown one), None when it
    does not say (no version, or only upper bounds)."""
    if line.url:
        return {-1}
    if line.requirement is None:
        return None
    found = set()
    for spec in line.requirement.specifier:
        if spec.operator in ("==", "===", ">=", ">", "~="):
            try:
                found.add(Version(spec.version.rstrip(".*")).major)
            except InvalidVersion:
                continue
    return found or None


def _requirement_row(line: Line, environment: Environment) -> Row:
    name = CheckName.REQUIREMENT.of(line.name)
    if not line.applies(environment.markers):
        return Row(
            name, Status.SKIP, f"{line.text}: not for this platform (its marker is false here)"
        )
    found = environment.version(line.name or "")
    target = line.url or line.text
    pip = pip_command(environment.executable)
    if found is None:
        typo = distribution_typo(line.name or "", environment) if not line.url else None
        if typo is not None:
            return Row(
                name,
                Status.FAIL,
                f"{line.text}: did you mean {typo}? ({line.name} is not installed here and is "
                f"one letter from {typo}; production would pip-install `{line.name}`, another "
                f"package or none): fix {line.where}",
            )
        return Row(
            name,
            Status.FAIL,
            f"{line.text}: not installed in this environment; {pip} install '{target}' "
            "to test with what production will install",
        )
    spec = line.requirement.specifier if line.requirement is not None else None
    if spec and not spec.contains(found, prereleases=True):
        return Row(
            name,
            Status.FAIL,
            f"{line.text}: {found} is installed, which does not match; install "
            f"a matching version ({pip} install '{target}') or fix the pin",
        )
    built = "; production builds it from the URL" if line.url else ""
    return Row(name, Status.PASS, f"{line.text}: {found} installed{built}")


def _long_file_row(requirements: Requirements, lines: list[Line], env: Environment) -> Row:
    """One row for a long requirements file (a pip freeze): what is missing or differs here."""
    wanted = [line for line in lines if line.applies(env.markers)]
    missing, other = [], []
    for line in wanted:
        found = env.version(line.name or "")
        spec = line.requirement.specifier if line.requirement is not None else None
        if found is None:
            missing.append(line.name)
        elif spec and not spec.contains(found, prereleases=True):
            other.append(f"{line.name} {found} here ({spec} listed)")
    head = f"{requirements.file.name} lists {len(wanted)} packages (a pip freeze?)"
    if not missing and not other:
        return Row(
            CheckName.REQUIREMENTS, Status.PASS, f"{head}: all installed here in matching versions"
        )
    said = []
    if missing:
        said.append(f"{len(missing)} not installed here ({_first(missing)})")
    if other:
        said.append(f"{len(other)} in other versions ({_first(other)})")
    return Row(
        CheckName.REQUIREMENTS,
        Status.FAIL,
        f"{head}: {' and '.join(said)}; production installs them all: to test with them, "
        "install them in a fresh venv (python -m venv v && v/bin/pip install -r "
        "requirements.txt) and run the check there (--python v/bin/python)",
    )


def _first(names: list[str], n: int = 5) -> str:
    more = f"; and {len(names) - n} more" if len(names) > n else ""
    return "; ".join(names[:n]) + more
