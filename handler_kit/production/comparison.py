"""The repository under production's real server and under the kit's endpoint, side by side.

``against_production`` starts both on the same repository, each in a fresh process: the
production toolkit's own server (``toolkit.ProductionServer``, in a venv with production's
pins) and ``handler-kit serve``. Every case's request goes to both; a row per case says
whether the two answers are the same (status, content type, body) and, when not, how they
differ. ``check_repository`` is what ``handler-kit check`` and ``%handler_check`` run: the
check and, with ``--against-production``, this comparison after it (``ProductionCheck``).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO

from .. import style
from ..cases.case import Case, CaseError, difference, read_cases
from ..cases.replay import Answer, Unreachable, send
from ..checks.check import DEFAULT_CASE, DEFAULT_PAYLOAD, DEFAULT_TIMEOUT, CheckReport, check
from ..endpoint.vertex import OFF, without_vertex
from ..errors import HandlerKitError
from ..reload.repository import Repository
from .requirements import Requirements, _option
from .toolkit import (
    ProductionServer,
    Toolkit,
    ensure_venv,
    find_toolkit,
    free_port,
    stop_process,
    tail,
    venv_python,
    wait_until_healthy,
)

START_TIMEOUT = 300.0  # seconds each server may take to build the handler and answer /health
REQUEST_TIMEOUT = 60.0  # seconds per request
INSTALL_TIMEOUT = 900.0  # seconds for pip to install a repository's requirements.txt
SHORT = 100  # characters of a body shown in a cell
# Numbers closer than this are the same answer when the case gives no tolerance: production's
# numpy (1.x) and this environment's sum in another order and differ in the last bits
# (seen: 0.23783064665874948 there, 0.23783064665874942 here), which no client can tell.
FLOAT_NOISE = 1e-9


class Match(str, Enum):
    """How production's answer and the kit's compare."""

    SAME = "same"
    DIFFERS = "differs"
    ERROR = "error"  # a case that could not be sent, or a server that did not answer


@dataclass(frozen=True)
class Side:
    """One server's answer to a case, as shown in a row: ``200 application/json {...}``."""

    status: int | None
    content_type: str
    body: str

    @classmethod
    def of(cls, answer: Answer) -> Side:
        if answer.status != 200:
            text = f"error: {answer.error_message()}"
        elif answer.is_json or answer.content_type.startswith("text/"):
            text = " ".join(answer.body.decode("utf-8", "replace").split())
        else:
            text = f"<{len(answer.body)} bytes>"
        return cls(answer.status, answer.content_type, _short(text))

    def __str__(self) -> str:
        if self.status is None:
            return self.body
        return f"{self.status} {self.content_type or '(no content type)'} {self.body}"


@dataclass(frozen=True)
class ComparisonRow:
    """One case: the same answer from both servers, or what differs."""

    case: str
    match: Match
    detail: str
    production: Side | None = None
    kit: Side | None = None


@dataclass
class ProductionComparison:
    """A row per case: production's answer against the kit's; ``ok`` when all are the same."""

    repo: Path
    rows: list[ComparisonRow] = field(default_factory=list)
    production: str = ""  # which production ran: the toolkit and python used

    @property
    def ok(self) -> bool:
        return all(row.match is Match.SAME for row in self.rows)

    @property
    def differing(self) -> list[ComparisonRow]:
        """The rows that are not the same."""
        return [row for row in self.rows if row.match is not Match.SAME]

    @property
    def verdict(self) -> str:
        """``all 3 cases answer the same`` or ``1 of 3 cases differs from production``."""
        n = len(self.rows)
        if self.ok:
            return f"all {n} case{'s' * (n != 1)} answer the same in production and here"
        k = len(self.differing)
        return f"{k} of {n} case{'s' * (n != 1)} differ{'s' * (k == 1)} from production"

    def __str__(self) -> str:
        lines = [f"Production against the kit on {self.repo}"]
        if self.production:
            lines.append(f"production: {self.production}")
        rows = [
            (
                row.case,
                row.match.value,
                "\n".join(
                    [row.detail]
                    + [
                        f"{name}: {side}"
                        for name, side in (("production", row.production), ("kit", row.kit))
                        if side is not None and row.match is not Match.SAME
                    ]
                ),
            )
            for row in self.rows
        ]
        lines += style.text_table(("case", "result", "detail"), rows, minimum=(0, 7))
        lines.append(self.verdict)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        mono = f"{cell};font-family:{style.MONOSPACE};white-space:pre-wrap"

        def side(value: Side | None) -> str:
            return html.escape(str(value)) if value is not None else ""

        rows = "".join(
            f'<tr><td style="{cell}">{html.escape(row.case)}</td>'
            f'<td style="{cell}">{style.status(row.match.value)}</td>'
            f'<td style="{cell};white-space:pre-wrap">{html.escape(row.detail)}</td>'
            f'<td style="{mono}">{side(row.production)}</td>'
            f'<td style="{mono}">{side(row.kit)}</td></tr>'
            for row in self.rows
        )
        names = ("case", "result", "detail", "production", "the kit")
        head = "".join(f'<th style="{cell}">{name}</th>' for name in names)
        verdict = style.status("pass" if self.ok else "fail", self.verdict)
        said = (
            f'<div style="color:{style.MUTED}">production: {html.escape(self.production)}</div>'
            if self.production
            else ""
        )
        return (
            f'<div style="color:{style.TEXT}"><b>Production against the kit on '
            f"{html.escape(str(self.repo))}</b>{said}"
            f'<table style="{style.table_style()}"><tr>{head}</tr>{rows}</table>'
            f"<div>{verdict}</div></div>"
        )


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
) -> ProductionCheck:
    """Check ``repo``, then compare it under production's real server and the kit's endpoint.

    The toolkit (as in ``against_production``) is found first: a missing one is said at once,
    not after minutes of checking. Then ``check.check`` (``python`` is its worker's
    interpreter) and ``against_production``; ``timeout`` bounds each step, ``echo`` (e.g.
    ``print``) is told each one as it starts. Both reports are kept in the result.
    """
    kit = toolkit if isinstance(toolkit, Toolkit) else find_toolkit(toolkit)
    report = check(repo, cases, timeout, python)
    if echo is not None:
        echo(f"check: {report.verdict}")
    comparison = against_production(repo, cases, kit, timeout=timeout, echo=echo)
    return ProductionCheck(report, comparison)


def check_repository(
    repo: str | Path = ".",
    cases: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | Path | None = None,
    against: bool = False,
    toolkit: str | Path | Toolkit | None = None,
    echo: Callable[[str], object] | None = None,
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
        return check(repo, cases, timeout, python)
    return check_against_production(repo, cases, timeout, python, toolkit, echo)


def against_production(
    repo: str | Path,
    cases: str | Path | None = None,
    toolkit: str | Path | Toolkit | None = None,
    python: str | Path | None = None,
    timeout: float = START_TIMEOUT,
    echo: Callable[[str], object] | None = None,
) -> ProductionComparison:
    """Run ``repo`` under production's real server and the kit's endpoint; compare each case.

    ``cases`` is the folder of cases (default ``<repo>/cases``; without one, the check's
    default payload); ``toolkit`` the production toolkit's source folder or a venv that has it
    (default: ``$HANDLER_KIT_TOOLKIT``, then the reference copy beside the project), or the
    ``Toolkit`` that ``toolkit.find_toolkit`` found;
    ``python`` the interpreter for production's server (default: a cached venv with
    production's pins, built on first use). ``timeout`` bounds each server's start-up;
    ``echo`` (e.g. ``print``) is told each step as it starts, the slow ones first of all.
    Raises HandlerKitError when there is no toolkit or a server does not start.
    """
    # The entry file production imports (HF_DEFAULT_PIPELINE_NAME, else handler.py, else
    # pipeline.py); none: the error says which file to create.
    folder = Repository.find(repo).path
    found = _cases(folder, Path(cases).expanduser() if cases is not None else None)
    # No toolkit: find_toolkit raises, saying how to get it.
    kit = toolkit if isinstance(toolkit, Toolkit) else find_toolkit(toolkit)
    say = echo or (lambda _: None)
    if python is None and kit.python is None:
        say("production's python: the venv with production's pins (its first build: 1-2 min)")
    base = Path(python) if python is not None else ensure_venv(kit)
    if (folder / "requirements.txt").is_file():
        say(
            "installing requirements.txt for production, as it does at start-up "
            "(cached by its text)"
        )
    python = with_requirements(folder, base)
    # Both on Inference Endpoints' routes and a port of their own: a Vertex AI variable of
    # this shell would move them. The kit's port is released before its server binds it:
    # production's must be another, or the comparison would send every case to one server
    # twice.
    kit_port = free_port()
    production = ProductionServer(folder, kit, python, env=OFF, avoid={kit_port})
    report = ProductionComparison(folder, production=_described(kit, base, python))
    say(f"starting production's server and the kit's endpoint on {folder}")
    with kit_server(folder, timeout, kit_port) as ready:
        production.start(timeout)  # while the kit's endpoint builds the handler too
        try:
            if production.port == kit_port:
                raise HandlerKitError(
                    f"production's server and the kit's endpoint were both given port {kit_port}",
                    hint="Unset AIP_HTTP_PORT (or AIP_MODE) in this shell and run it again.",
                )
            here = ready()
            say(f"sending {_count(len(found), 'case')} to both")
            for case in found:
                if isinstance(case, CaseError):
                    name = Path(case.file).stem if case.file else "?"
                    report.rows.append(ComparisonRow(name, Match.ERROR, f"not sent: {case}"))
                    continue
                report.rows.append(compare_case(case, production.url, here))
        finally:
            production.stop()
    return report


def compare_case(case: Case, production_url: str, kit_url: str) -> ComparisonRow:
    """Send ``case`` to both servers and compare the answers; its row."""
    try:
        body = case.body()
    except CaseError as error:
        return ComparisonRow(case.name, Match.ERROR, f"not sent: {error}")
    answers: list[Answer | Side] = []
    for url in (production_url, kit_url):
        try:
            answers.append(send(url, case.content_type, body, timeout=REQUEST_TIMEOUT))
        except Unreachable as error:
            answers.append(Side(None, "", error.one_line()))
    production, kit = answers
    if not isinstance(production, Answer) or not isinstance(kit, Answer):
        sides = [a if isinstance(a, Side) else Side.of(a) for a in answers]
        return ComparisonRow(case.name, Match.ERROR, "no answer", *sides)
    found = answer_difference(production, kit, tolerance_of(case))
    if found:
        return ComparisonRow(case.name, Match.DIFFERS, found, Side.of(production), Side.of(kit))
    side = Side.of(production)
    return ComparisonRow(case.name, Match.SAME, str(side), side, Side.of(kit))


def tolerance_of(case: Case) -> float:
    """How far numbers of production's answer and the kit's may be apart for ``case``: its
    own tolerance, else the last bits two numpy builds may differ in."""
    return case.tolerance if case.has_tolerance else FLOAT_NOISE


def answer_difference(production: Answer, kit: Answer, tolerance: float = 0.0) -> str | None:
    """What differs between production's answer and the kit's, or None when they are the same.

    Status, then content type, then body: JSON compared as values (numbers within
    ``tolerance``), other bodies byte for byte. An error answer's message is the kit's own
    (it says what to do), so two errors are the same when both are ``{"error": text}``.
    """
    if production.status != kit.status:
        return f"status {production.status} in production, {kit.status} here"
    if production.content_type != kit.content_type:
        return (
            f"Content-Type {production.content_type or '(none)'} in production, "
            f"{kit.content_type or '(none)'} here"
        )
    if production.is_json:
        try:
            expected, got = production.json(), kit.json()
        except ValueError as error:
            return f"a body that is not JSON: {error}"
        if production.status != 200 and _is_error(expected) and _is_error(got):
            return None
        found = difference(expected, got, tolerance)
        return f"body differs from production's: {found}" if found else None
    if production.body != kit.body:
        return f"body: {len(production.body)} bytes in production, {len(kit.body)} here, not equal"
    return None


def with_requirements(repo: Path, python: Path, timeout: float = INSTALL_TIMEOUT) -> Path:
    """A python that has ``python``'s packages and the repository's requirements.txt installed.

    Production runs ``pip install -r requirements.txt`` before its server starts. Here the
    packages go into a venv of their own, cached by the file's text, that sees ``python``'s
    packages through a ``.pth`` file: pip installs only what is missing or pinned otherwise
    (those shadow production's), and the venv with production's pins stays as it is. Without
    requirements.txt, ``python`` itself.
    """
    file = repo / "requirements.txt"
    if not file.is_file():
        return python
    from ..cache import cache_dir

    text = file.read_text(encoding="utf-8", errors="replace")
    base = _site_packages(python)
    # Keyed by what the base has too: over a rebuilt base (other pins), pip decides afresh.
    installed = sorted(p.name for p in base.glob("*.dist-info"))
    followed = "\n".join(
        f"{name}\n{name.read_text(encoding='utf-8', errors='replace')}" for name in _followed(repo)
    )
    key = hashlib.sha256(
        f"{python.absolute()}\n{text}\n{followed}\n{installed}".encode()
    ).hexdigest()[:16]
    venv = cache_dir() / "production-requirements" / key
    layered = venv_python(venv)
    stamp = venv / ".installed"
    if stamp.is_file() and layered.exists():
        return layered
    shutil.rmtree(venv, ignore_errors=True)  # half-built by a run that stopped
    log_file = venv.parent / f"{key}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with (
        open(log_file, "w", encoding="utf-8") as log,
        tempfile.TemporaryDirectory(prefix="handler-kit-pip-") as scratch,
    ):
        _run([str(python), "-m", "venv", str(venv)], log, deadline, log_file)
        pth = _site_packages(layered) / "_production_packages.pth"
        pth.write_text(f"{base}\n", encoding="utf-8")
        install = [str(layered), "-m", "pip", "install", "--disable-pip-version-check"]
        # In an empty folder, not the repository: production's pip runs in /app, where a
        # relative path (./mylib, -e .) names nothing, and its server does not start.
        _run([*install, "--no-input", "-r", str(file)], log, deadline, log_file, cwd=scratch)
    stamp.write_text(text, encoding="utf-8")
    return layered


def _followed(repo: Path) -> list[Path]:
    """The files pip reads for ``repo``'s requirements.txt: it, its ``-r`` and ``-c`` files."""
    found = Requirements.read(repo)
    if found is None:
        return []
    files = {found.file.resolve(), *(line.file.resolve() for line in found.lines)}
    for line in found.lines:
        option, value = _option(line.text)
        if option in ("-c", "--constraint") and (line.file.parent / value).is_file():
            files.add((line.file.parent / value).resolve())
    return sorted(files)


def _site_packages(python: Path) -> Path:
    """The site-packages folder of ``python``'s environment."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    try:
        done = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as error:
        said = error.stderr.strip() if isinstance(error, subprocess.CalledProcessError) else ""
        raise HandlerKitError(
            f"{python} did not say where its packages are ({error}){': ' + said if said else ''}",
            hint="Pass a python that runs (--python), or delete the cached venv with "
            "production's pins so that it is built again.",
        ) from error
    return Path(done.stdout.strip())


def _run(
    command: list[str], log: IO[str], deadline: float, log_file: Path, cwd: Path | None = None
) -> None:
    log.flush()
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=max(deadline - time.monotonic(), 1),
        )
        failed = f"exit status {done.returncode}" if done.returncode else ""
    except subprocess.TimeoutExpired:
        failed = "it ran past its time"
    log.flush()
    if failed:
        raise HandlerKitError(
            f"installing requirements.txt for production's server failed ({failed}); the end "
            f"of pip's log:\n{tail(log_file)}",
            hint="Production runs the same `pip install -r requirements.txt` (in /app, not in "
            "the repository: a relative path such as ./mylib or -e . names nothing there) and "
            f"would fail to start too: fix requirements.txt. The full log: {log_file}",
        )


@contextlib.contextmanager
def kit_server(
    repo: Path, timeout: float = START_TIMEOUT, port: int | None = None
) -> Iterator[Callable[[], str]]:
    """``handler-kit serve REPO`` in a fresh process on ``port`` (default: a free one) of
    127.0.0.1.

    It starts at once; the function it gives waits (at most ``timeout`` s) until the endpoint
    answers and returns its URL, so another server can start meanwhile.
    """
    port = port if port is not None else free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="handler-kit-serve-") as scratch:
        log_file = Path(scratch) / "serve.log"
        command = [sys.executable, "-m", "handler_kit", "serve", str(repo), "--port", str(port)]
        with open(log_file, "w", encoding="utf-8") as log:
            # The scratch folder is the working directory, as in the check.
            process = subprocess.Popen(
                command,
                cwd=scratch,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**without_vertex(os.environ), "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # Ctrl-C in a notebook does not reach it
            )
        started = time.monotonic()

        def ready() -> str:
            left = max(timeout - (time.monotonic() - started), 1.0)
            wait_until_healthy(
                process,
                f"{url}/health",
                left,
                log_file,
                "the kit's endpoint",
                exited_hint="Run `handler-kit check REPO` to see why the handler does not start.",
                slow_hint="A handler that builds a big model needs longer: raise the timeout.",
            )
            return url

        try:
            yield ready
        finally:
            stop_process(process)


def _cases(repo: Path, folder: Path | None) -> list[Case | CaseError]:
    """The cases to send: the folder's (the error of one that cannot be read), or the default."""
    if folder is None and not (repo / "cases").is_dir():
        return [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]
    found = read_cases(folder or repo / "cases")  # no such --cases folder: the error says so
    return found or [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]


def _described(toolkit: Toolkit, base: Path, python: Path) -> str:
    said = f"the toolkit in {toolkit.source}, " if toolkit.source is not None else ""
    said += f"python {base}"
    if python != base:
        said += f", requirements.txt installed over it in {python.parent.parent}"
    return said


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _is_error(value: object) -> bool:
    return isinstance(value, dict) and list(value) == ["error"] and isinstance(value["error"], str)


def _short(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
