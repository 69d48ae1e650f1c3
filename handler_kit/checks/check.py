"""Ready to deploy: check a handler repository the way production will start it.

The handler is built and called in a fresh Python process (a worker started with this
interpreter, or with the one given as ``python``: a venv with production's versions), so
nothing loaded in the current kernel can make it pass: the worker imports handler.py with
``handler_kit.load`` exactly as production does, builds the handler, times it and replays the
payload cases. The static checks (requirements.txt, imports against production's image,
hard-coded paths, large files outside git LFS) run here, against what the worker's
interpreter has installed. Every check is a row with a status and a detail line.
"""

from __future__ import annotations

import ast
import fnmatch
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import style
from ..cases.case import Case, CaseError, read_cases
from ..errors import HandlerKitError, HandlerLoadError, describe, user_location
from ..production.distributions import (
    candidates,
    distribution,
    image_provider,
    missing_hint,
    pip_command,
    usual_distribution,
)
from ..production.environment import Environment, import_name, namespace_names
from ..production.image import production
from ..production.requirements import Line, Requirements
from ..reload.live import load
from ..reload.repository import Repository, imports_in, source_text

if TYPE_CHECKING:
    from ..reload.live import LiveHandler

DEFAULT_PAYLOAD = {"inputs": "I am quite excited how this will turn out"}
DEFAULT_CASE = "default"  # the case sent when a repository has no case files
DEFAULT_TIMEOUT = 300.0
LFS_LIMIT = 10 * 1024 * 1024  # the Hub refuses files over 10 MB that git LFS does not track
# Folders of the developer's machine; production mounts the repository somewhere else.
# /tmp/ is not one: it is a normal scratch folder in production too.
MACHINE_PATH = re.compile(
    r"^(~[\\/]|/home/|/Users/|/root/|/mnt/|/media/|/var/folders/|[A-Za-z]:[\\/])"
)
STDERR_TAIL = 15  # lines of a crashed worker's stderr shown in its row
# What the worker imports besides the standard library (the kit's modules it loads, the JSON
# encoder and PIL of production's contract): another interpreter needs them installed.
WORKER_NEEDS = ("packaging", "starlette", "orjson", "PIL")


@dataclass(frozen=True)
class Row:
    """One check: its name, ``pass`` / ``fail`` / ``warn`` / ``skip``, and what was found."""

    check: str
    status: str
    detail: str


@dataclass
class CheckReport:
    """The rows of a deployment check; ``ok`` when none failed (warnings are fine)."""

    repo: Path
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[Row]:
        """The rows that failed."""
        return [row for row in self.rows if row.status == "fail"]

    @property
    def warnings(self) -> list[Row]:
        """The rows that warn."""
        return [row for row in self.rows if row.status == "warn"]

    @property
    def verdict(self) -> str:
        """``ready to deploy`` or ``not ready: N checks failed``, the last line of the report."""
        if self.failed:
            return f"not ready: {_count(len(self.failed), 'check')} failed"
        n = len(self.warnings)
        # A warning can be a file the Hub refuses: the verdict must not read as all clear.
        return "ready to deploy" + (f", but read the {_count(n, 'warning')} above" if n else "")

    def __str__(self) -> str:
        rows = [(row.check, row.status, row.detail) for row in self.rows]
        lines = [f"Deployment check of {self.repo}"]
        lines += style.text_table(("check", "status", "detail"), rows)
        lines.append(self.verdict)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        cells = "".join(
            f'<tr><td style="{cell}">{html.escape(row.check)}</td>'
            f'<td style="{cell}">{style.status(row.status)}</td>'
            f'<td style="{cell};white-space:pre-wrap">{html.escape(row.detail)}</td></tr>'
            for row in self.rows
        )
        head = "".join(f'<th style="{cell}">{name}</th>' for name in ("check", "status", "detail"))
        verdict = style.status("pass" if self.ok else "fail", self.verdict)
        return (
            f'<div style="color:{style.TEXT}"><b>Deployment check of '
            f"{html.escape(str(self.repo))}</b>"
            f'<table style="{style.table_style()}"><tr>{head}</tr>{cells}</table>'
            f"<div>{verdict}</div></div>"
        )


def check(
    repo: str | Path = ".",
    cases: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | Path | None = None,
) -> CheckReport:
    """Check that the repository at ``repo`` is ready to deploy; returns the report.

    ``cases`` is the folder of payload cases (default ``<repo>/cases``; without cases a
    default payload is sent); ``timeout`` bounds the worker that builds and calls the
    handler, in seconds; ``python`` is the interpreter the worker runs in (default this
    one), e.g. a venv's ``bin/python`` with production's versions: the handler is built,
    and its requirements and imports are checked, with what that interpreter has.
    """
    given = Path(repo).expanduser()
    with tempfile.TemporaryDirectory(prefix="handler-kit-kit-") as kit:
        worker = Worker(python, Path(kit))
        return _check(given, cases, timeout, worker)


def _check(given: Path, cases: str | Path | None, timeout: float, worker: Worker) -> CheckReport:
    try:
        folder = Repository.find(given).path
    except HandlerKitError as error:
        folder = given.resolve()
        if not folder.is_dir():
            raise  # not a repository at all: nothing to report on
        ran = _not_built(str(error))
    else:
        if worker.missing:
            ran = _not_built(worker.missing)
        else:
            ran = worker.run(folder, Path(cases) if cases is not None else None, timeout)
    environment = worker.environment
    entry_rows = [row for row in ran.rows if row.check == "entry"]
    rows = [*entry_rows, python_row(environment)]
    rows += requirement_rows(folder, environment)
    rows += import_rows(folder, environment, ran.roots)
    rows += [row for row in ran.rows if row.check != "entry"]
    rows += path_rows(folder, ran.roots) + large_file_rows(folder)
    return CheckReport(folder, rows)


def _not_built(why: str) -> Ran:
    return Ran(
        [
            Row("entry", "fail", why),
            Row("start-up", "skip", "not built: the entry check failed"),
            Row("cases", "skip", "not run: the handler was not built"),
        ]
    )


# --- the worker: a fresh process that builds and calls the handler ---------------------------


class Worker:
    """How the worker process starts: its interpreter and, for another one, the kit on its path.

    Another interpreter (a venv with production's versions) does not have handler_kit
    installed: the worker finds it through PYTHONPATH, in a folder that holds only a link to
    this handler_kit (a whole site-packages there would put this environment's versions
    first). ``missing`` says what that interpreter lacks to run the worker, if anything.
    """

    def __init__(self, python: str | Path | None, scratch: Path) -> None:
        self.python = _interpreter(python) if python is not None else sys.executable
        self.env: dict[str, str] | None = None
        self.missing: str | None = None
        if python is None:
            self.environment = Environment.here()
            return
        link = scratch / "handler_kit"
        package = Path(__file__).resolve().parent.parent
        try:
            link.symlink_to(package, target_is_directory=True)
        except OSError:  # no symbolic links (Windows without the right): a copy
            import shutil

            shutil.copytree(package, link, ignore=shutil.ignore_patterns("__pycache__"))
        paths = [str(scratch), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        needs = ["handler_kit.checks.check", *WORKER_NEEDS]
        self.environment = Environment.of(self.python, needs, self.env)
        if self.environment.missing:
            module, error = self.environment.missing
            if error.startswith("SyntaxError"):  # an older Python than the kit's code needs
                todo = "the kit needs Python 3.10 or later"
            else:
                names = " ".join(map(usual_distribution, WORKER_NEEDS))
                todo = f"install what the worker needs there ({self.python} -m pip install {names})"
            self.missing = (
                f"the check's worker cannot start in {self.python} (Python "
                f"{self.environment.python}): importing {module} there fails ({error}); "
                f"{todo}, or check with another --python"
            )

    def run(self, repo: Path, cases: Path | None, timeout: float) -> Ran:
        """Run the worker on ``repo``; its rows (a failed row when it crashed or timed out) and
        the folders the handler put on sys.path."""
        return _run_worker(repo, cases, timeout, self.python, self.env)


def _interpreter(python: str | Path) -> str:
    """The absolute path of ``python`` (the worker runs in another folder); a bare name such
    as ``python3.11`` is looked up on PATH. Not resolved: a venv's python is a link, and
    following it would leave the venv."""
    given = str(python)
    if os.sep not in given and "/" not in given:
        import shutil

        found = shutil.which(given)
        if found:
            return found
    return os.path.abspath(os.path.expanduser(given))


@dataclass(frozen=True)
class Ran:
    """What the worker found: its rows, and the folders the handler put on sys.path."""

    rows: list[Row]
    roots: tuple[str, ...] = ()


def _run_worker(
    repo: Path,
    cases: Path | None,
    timeout: float,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run the worker on ``repo``; its rows, or a failed row when it crashed or timed out."""
    with tempfile.TemporaryDirectory(prefix="handler-kit-check-") as scratch:
        out = Path(scratch) / "rows.jsonl"
        command = [python, "-c", _WORKER, str(repo), str(out)]
        if cases is not None:
            command.append(str(cases.expanduser().resolve()))
        try:
            # The scratch folder is the working directory: as in production, relative paths
            # do not land in the repository (pass `path` to __init__ instead).
            done = subprocess.run(
                command,
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,  # a handler that waits for input would hang
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
            code, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as expired:
            code, stderr = None, _text(expired.stderr)
        records = _read_records(out)
    rows = [Row(**record["row"]) for record in records if "row" in record]
    roots = tuple(root for record in records for root in record.get("roots", ()))
    if code == 0 and any(record.get("done") for record in records):
        return Ran(rows, roots)
    steps = [record["step"] for record in records if "step" in record]
    name, doing = steps[-1] if steps else ("entry", "while starting Python")
    if code is None:
        what = (
            f"the worker timed out after {timeout:g} s {doing} "
            "(if the handler is just slow, raise the timeout: --timeout S)"
        )
    else:
        what = f"the worker crashed {doing} ({_exit_status(code)})"
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL:])
    detail = what + (f"; the end of its stderr:\n{tail}" if tail else "; it wrote no stderr")
    return Ran([*rows, Row(name, "fail", detail)], roots)


# Run by the worker's `python -c`: argv is REPO OUT [CASES].
_WORKER = (
    "import sys; from handler_kit.checks.check import _worker_main; _worker_main(sys.argv[1:])"
)


def _worker_main(argv: list[str]) -> None:
    """The worker's entry point: check ``argv = [repo, out, cases?]``, rows to ``out``."""
    repo, out = Path(argv[0]), Path(argv[1])
    cases = Path(argv[2]) if len(argv) > 2 else None
    with out.open("w", encoding="utf-8") as stream:
        _work(repo, cases, stream)
        _emit(stream, done=True)


def _work(repo: Path, cases: Path | None, out: IO[str]) -> None:
    _emit(out, step=("entry", "while importing the handler and building it"))
    try:
        live = load(repo)
    except HandlerLoadError as error:
        _emit(out, row=Row("entry", "fail", str(error)))
        _emit(out, row=Row("start-up", "skip", "not built: the entry check failed"))
        _emit(out, row=Row("cases", "skip", "not run: the handler was not built"))
        return
    name = live.entry.file.name
    _emit(out, row=Row("entry", "pass", f"{name}: {live.entry.class_name}(path) built"))
    # The folders the handler put on sys.path (src/): modules found there are its own.
    _emit(out, roots=live.repository.roots()[1:])
    memory = peak_memory_mb()
    said = f"peak memory {memory:.0f} MB" if memory is not None else "peak memory unknown"
    _emit(out, row=Row("start-up", "pass", f"built in {_duration(live.load_seconds)}; {said}"))
    try:
        found = _cases(repo, cases)
    except CaseError as error:
        _emit(out, row=Row("cases", "fail", str(error)))
        return
    for case in found:
        if isinstance(case, Row):  # a case file that could not be read
            _emit(out, row=case)
            continue
        _emit(out, step=(f"case {case.name}", f"while answering case {case.name}"))
        try:
            row = _run_case(live, case, repo)
        except Exception as exc:  # one bad case fails its own row; the others still run
            row = Row(f"case {case.name}", "fail", f"the case could not be run: {describe(exc)}")
        _emit(out, row=row)


def _cases(repo: Path, folder: Path | None) -> list[Case | Row]:
    """The cases to replay (a failed row for a case file that cannot be read).

    Without case files, the default payload is the one case.
    """
    if folder is None and not (repo / "cases").is_dir():
        return [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]
    found = read_cases(folder or repo / "cases")  # no such --cases folder: the error says so
    if not found:
        return [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]
    return [
        Row(f"case {Path(case.file or '').stem}", "fail", str(case))
        if isinstance(case, CaseError)
        else case
        for case in found
    ]


def _run_case(live: LiveHandler, case: Case, repo: Path) -> Row:
    """Answer one case; a failed row says why the answer would not do in production."""
    name = f"case {case.name}"
    default = case.name == DEFAULT_CASE and case.file is None
    sent = json.dumps(DEFAULT_PAYLOAD)

    def failed(detail: str) -> Row:
        if default:  # the user never wrote this payload: say what was sent and what to do
            detail += (
                f"\nsent the default payload {sent} because there are no case files; "
                "add a case in cases/ with a payload your handler takes, e.g. "
                'cases/first.json: {"payload": {"inputs": ...}}'
            )
        return Row(name, "fail", detail)

    try:
        data = case.data()
    except HandlerKitError as error:
        return failed(f"the payload is not one production accepts: {error}")
    started = time.perf_counter()
    try:
        answer = live(data)
    except Exception as exc:
        where, line = user_location(exc, repo)
        at = f"{where}:{line}: " if where else ""
        said = f"{at}{describe(exc)} (in __call__; production answers HTTP 400)"
        if isinstance(exc, ModuleNotFoundError) and exc.name:  # imported inside __call__
            said += "\n" + missing_hint(exc.name, requirements=Requirements.read(repo))
        return failed(said)
    took = _duration(time.perf_counter() - started)
    problem = unserializable_path(answer)
    if problem:
        return failed(
            f"{problem} cannot be turned into JSON by production; return plain lists, "
            "numbers and strings (e.g. `tensor.tolist()`, `tensor.item()`)"
        )
    try:
        case.check(answer)
    except HandlerKitError as error:
        return failed(f"{took}; {error}")
    said = f"{took}: {_preview(answer)}"
    if default:
        said = f"no case files; sent {sent}: {said}"
    return Row(name, "pass", said)


def unserializable_path(answer: Any) -> str | None:
    """``[0]["score"]: torch.Tensor``: where the first value production cannot serialise is.

    Production serialises answers with orjson (numpy values allowed, PIL images as PNG);
    None when the whole answer serialises.
    """
    from ..endpoint.contract import unserializable

    found = unserializable(answer, "")
    if found is None:
        return None
    path, value = found
    where = f"answer{path}" if not path or path.startswith(" ") else path
    if isinstance(value, (dict, list, tuple)):  # only a loop is returned as a container
        return f"{where}: a {type(value).__name__} that holds itself (the answer refers to itself)"
    keys = " (keys must be strings)" if path.endswith(f" key {value!r}") else ""
    return f"{where}: {_type_name(value)}{keys}"


def peak_memory_mb() -> float | None:
    """This process's peak resident memory in MB; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _emit(out: IO[str], **record: Any) -> None:
    # One JSON line per record, flushed: what a crashed worker did is still readable.
    if isinstance(record.get("row"), Row):
        record["row"] = asdict(record["row"])
    out.write(json.dumps(record) + "\n")
    out.flush()


def _read_records(file: Path) -> list[dict]:
    records = []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the last line of a worker killed while writing
    return records


def _exit_status(code: int) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ", maybe out of memory" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit status {code}"


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.001 else f"{seconds * 1000:.3f} ms"


def _preview(answer: Any, limit: int = 80) -> str:
    from ..endpoint.contract import encode_answer

    text = encode_answer(answer).decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _type_name(value: Any) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


# --- static checks: requirements.txt, imports, hard-coded paths, large files ------------------


def python_row(environment: Environment) -> Row:
    """Production's Python against the worker's: a minor version apart is a warning."""
    here, there = environment.python, production().python
    if here.split(".")[:2] == there.split(".")[:2]:
        return Row("python", "pass", f"Python {here} here, {there} in production")
    return Row(
        "python",
        "warn",
        f"Python {here} here, {there} in production: code or packages that need one fail on "
        f"the other; run the check with a Python {there} (--python PATH)",
    )


def requirement_rows(repo: Path, environment: Environment | None = None) -> list[Row]:
    """requirements.txt, line by line: installed in the worker's environment, in a matching
    version? A long file (a pip freeze) is one row that says what is missing here."""
    environment = environment or Environment.here()
    requirements = Requirements.read(repo)
    if requirements is None:
        return [Row("requirements", "pass", "no requirements.txt: nothing extra to install")]
    problems = [line for line in requirements.lines if line.problem]
    rows = [Row("requirements", "fail", f"{line.where}: {line.problem}") for line in problems[:3]]
    if len(problems) > 3:
        rows.append(Row("requirements", "fail", f"and {len(problems) - 3} more lines like these"))
    lines = [line for line in requirements.named() if not line.problem]
    rows += _replacing_rows(lines)
    if requirements.long:
        return [*rows, _long_file_row(requirements, lines, environment)]
    for line in lines:
        rows.append(_requirement_row(line, environment))
    return rows or [Row("requirements", "pass", "requirements.txt lists nothing")]


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
                    f"replaces {package.name}",
                    "warn",
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
                f"replaces {package.name}",
                "warn",
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
    name = f"requirement {line.name}"
    if not line.applies(environment.markers):
        return Row(name, "skip", f"{line.text}: not for this platform (its marker is false here)")
    found = environment.version(line.name or "")
    target = line.url or line.text
    pip = pip_command(environment.executable)
    if found is None:
        return Row(
            name,
            "fail",
            f"{line.text}: not installed in this environment; {pip} install '{target}' "
            "to test with what production will install",
        )
    spec = line.requirement.specifier if line.requirement is not None else None
    if spec and not spec.contains(found, prereleases=True):
        return Row(
            name,
            "fail",
            f"{line.text}: {found} is installed, which does not match; install "
            f"a matching version ({pip} install '{target}') or fix the pin",
        )
    built = "; production builds it from the URL" if line.url else ""
    return Row(name, "pass", f"{line.text}: {found} installed{built}")


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
        return Row("requirements", "pass", f"{head}: all installed here in matching versions")
    said = []
    if missing:
        said.append(f"{len(missing)} not installed here ({_first(missing)})")
    if other:
        said.append(f"{len(other)} in other versions ({_first(other)})")
    return Row(
        "requirements",
        "fail",
        f"{head}: {' and '.join(said)}; production installs them all: to test with them, "
        "install them in a fresh venv (python -m venv v && v/bin/pip install -r "
        "requirements.txt) and run the check there (--python v/bin/python)",
    )


def _first(names: list[str], n: int = 5) -> str:
    more = f"; and {len(names) - n} more" if len(names) > n else ""
    return "; ".join(names[:n]) + more


def import_rows(
    repo: Path, environment: Environment | None = None, roots: Collection[str] = ()
) -> list[Row]:
    """Each package the handler's code imports that neither requirements.txt nor production's
    image provides fails: production stops at start-up with ModuleNotFoundError. One it ships
    in another major or minor version than the worker's environment has is a warning.

    ``roots``: folders of the repository its handler puts on sys.path (the worker saw them).
    """
    environment = environment or Environment.here()
    repository = Repository.expected(repo).with_roots(roots)
    own = {name.split(".")[0] for name in repository.modules_on_disk()}
    requirements = Requirements.read(repo)
    listed = requirements.names() if requirements is not None else set()
    rows, versions = [], []
    for module, imported in _imports(repository).items():
        file, line = imported.file, imported.line
        top = module.split(".")[0]
        if top in own or top in environment.stdlib or top in sys.builtin_module_names:
            continue
        if {canonicalize_name(name) for name in candidates(module, environment)} & listed:
            continue  # production installs it from requirements.txt
        shipped = image_provider(module)
        if shipped is not None:
            here = environment.version(shipped.name)
            differs = shipped.differs(here) if here else None
            if differs and differs not in versions:
                versions.append(differs)
                rows.append(
                    Row(
                        f"version {shipped.name}",
                        "warn",
                        f"{differs} ({file}:{line} imports {module}): pin it in "
                        "requirements.txt, or run the check against production's versions "
                        "(--python PATH: a venv with them)",
                    )
                )
            continue
        name = distribution(module, environment)
        version = environment.version(name) if environment.provides(module) else None
        said = f"{file}:{line} imports {module}"
        provides = "which neither requirements.txt nor production's image provides"
        if imported.optional:
            rows.append(
                Row(
                    f"import {module}",
                    "warn",
                    f"{said} inside try/except ImportError, {provides}: production runs "
                    f"without it; list {name} in requirements.txt if the handler needs it there",
                )
            )
            continue
        if version is not None:
            detail = (
                f"{said} ({name} {version} installed here), {provides}: production fails to "
                f"start (ModuleNotFoundError); add `{name}` to requirements.txt"
            )
        else:
            hint = missing_hint(module, environment, requirements, own)
            detail = f"{said} (not installed here), {provides}: {hint[0].lower()}{hint[1:]}"
        rows.append(Row(f"import {module}", "fail", detail))
    return rows or [
        Row("imports", "pass", "requirements.txt or production's image has every package imported")
    ]


@dataclass(frozen=True)
class Imported:
    """Where the handler's code first imports a package; ``optional`` when every import of it
    is guarded by ``try: ... except ImportError`` (the code runs on without it)."""

    file: str
    line: int
    optional: bool


def _imports(repository: Repository) -> dict[str, Imported]:
    """Names the handler's code imports (``transformers``, ``google.protobuf``), each with
    where it is first imported.

    The code is handler.py (or pipeline.py) and the repository's own modules it imports, at
    any depth: a tests/ or scripts/ folder that production never imports is left out. Imports
    under ``if TYPE_CHECKING:`` never run and are left out too.
    """
    found: dict[str, Imported] = {}
    for name, file in repository.imported_by_entry().items():
        try:
            text = source_text(file)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
            continue  # the entry check reports an unreadable handler.py
        guarded, never = _guarded_lines(text)
        for module, line in imports_in(text, name, file.name == "__init__.py"):
            if line in never:
                continue
            key, optional = import_name(module), line in guarded
            first = found.get(key)
            if first is None:
                found[key] = Imported(repository.relative(file), line, optional)
            elif first.optional and not optional:  # one unguarded import makes it needed
                found[key] = Imported(repository.relative(file), line, False)
    # `from google.cloud import storage` names google.cloud and google.cloud.storage: the
    # namespace package itself is no distribution's, the deeper name says which one.
    return {
        key: imported
        for key, imported in found.items()
        if not namespace_names(key) or not any(k.startswith(f"{key}.") for k in found)
    }


# What `except` catches a failed import: ImportError, its subclass, or anything.
IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _guarded_lines(text: str) -> tuple[set[int], set[int]]:
    """Lines of import statements inside ``try`` blocks whose ``except`` catches ImportError,
    and lines under ``if TYPE_CHECKING:``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set(), set()

    def import_lines(statements: list[ast.stmt]) -> set[int]:
        return {
            node.lineno
            for statement in statements
            for node in ast.walk(statement)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        }

    guarded, never = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import(h.type) for h in node.handlers):
            guarded |= import_lines(node.body)
        elif isinstance(node, ast.If) and _name_of(node.test) == "TYPE_CHECKING":
            never |= import_lines(node.body)
    return guarded, never


def _catches_import(kind: ast.expr | None) -> bool:
    if kind is None:  # a bare `except:`
        return True
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(_name_of(k) in IMPORT_ERRORS for k in kinds)


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def path_rows(repo: Path, roots: Collection[str] = ()) -> list[Row]:
    """Warn about string literals that are absolute paths of this machine, in every Python
    file the handler imports (its own modules and packages at any depth)."""
    repository = Repository.expected(repo).with_roots(roots)
    rows = []
    for file in sorted(set(repository.imported_by_entry().values())):
        try:
            tree = ast.parse(source_text(file))
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError, ValueError):
            continue  # the entry check reports an unreadable handler.py
        literals = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        for node in literals:
            if MACHINE_PATH.match(node.value):
                rows.append(
                    Row(
                        "hard-coded path",
                        "warn",
                        f"{repository.relative(file)}:{node.lineno}: {node.value!r} is a path on "
                        "this machine; production mounts the repository elsewhere: build paths "
                        "from the `path` passed to __init__",
                    )
                )
    rows.sort(key=lambda row: row.detail)
    return rows or [Row("hard-coded paths", "pass", "none in the Python files the handler imports")]


def large_file_rows(repo: Path) -> list[Row]:
    """Warn about files over 10 MB that git LFS does not track: the Hub refuses them."""
    patterns = lfs_patterns(repo)
    rows = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            file = Path(folder, name)
            if file.is_symlink():
                continue
            size = file.stat().st_size
            relative = file.relative_to(repo).as_posix()
            if size > LFS_LIMIT and not _lfs_tracked(relative, patterns):
                rows.append(
                    Row(
                        "large file",
                        "warn",
                        f"{relative} is {size / 1024 / 1024:.1f} MB and not tracked by git LFS; "
                        f'the Hub refuses files over 10 MB without it: git lfs track "{relative}"',
                    )
                )
    return rows or [Row("large files", "pass", "none over 10 MB outside git LFS")]


def lfs_patterns(repo: Path) -> list[str]:
    """The patterns that ``.gitattributes`` at the repository root hands to git LFS."""
    try:
        text = (repo / ".gitattributes").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    patterns = []
    for line in text.splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _lfs_tracked(relative: str, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" not in pattern.rstrip("/"):
            # git: a pattern without a slash matches the file name in any folder
            if fnmatch.fnmatchcase(name, pattern):
                return True
            continue
        pattern = pattern.lstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        if pattern.endswith("/**"):
            candidates.append(pattern[:-3] + "/*")
        if any(fnmatch.fnmatchcase(relative, p) for p in candidates):
            return True
    return False
