"""Ready to deploy: check a handler repository the way production will start it.

The handler is built and called in a fresh Python process (a worker started with this
interpreter), so nothing loaded in the current kernel can make it pass: the worker imports
handler.py with ``handler_kit.load`` exactly as production does, builds the handler, times it
and replays the payload cases. The static checks (requirements.txt, hard-coded paths, large
files outside git LFS) run here. Every check is a row with a status and a detail line.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import style
from .cases import Case, CaseError, read_cases
from .errors import HandlerKitError, HandlerLoadError, describe, user_location
from .live import load
from .repository import Repository, imports_in, source_text

if TYPE_CHECKING:
    from .live import LiveHandler

DEFAULT_PAYLOAD = {"inputs": "I am quite excited how this will turn out"}
DEFAULT_CASE = "default"  # the case sent when a repository has no case files
DEFAULT_TIMEOUT = 300.0
LFS_LIMIT = 10 * 1024 * 1024  # the Hub refuses files over 10 MB that git LFS does not track
# Folders of the developer's machine; production mounts the repository somewhere else.
# /tmp/ is not one: it is a normal scratch folder in production too.
MACHINE_PATH = re.compile(
    r"^(~[\\/]|/home/|/Users/|/root/|/mnt/|/media/|/var/folders/|[A-Za-z]:[\\/])"
)
# What production's image has without requirements.txt, as import names: the inference
# toolkit's own dependency set. It may differ by image (a custom container has its own).
PRODUCTION_IMPORTS = frozenset(
    {
        "transformers",
        "torch",
        "huggingface_hub",
        "tokenizers",
        "safetensors",
        "numpy",
        "PIL",
        "starlette",
        "uvicorn",
        "orjson",
    }
)
STDERR_TAIL = 15  # lines of a crashed worker's stderr shown in its row


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
        """``ready to deploy`` or ``N checks failed``, the last line of the report."""
        if self.failed:
            n = len(self.failed)
            return f"{n} check{'s' * (n != 1)} failed"
        n = len(self.warnings)
        # A warning can be a file the Hub refuses: the verdict must not read as all clear.
        return "ready to deploy" + (f", but read the {_count(n, 'warning')} above" if n else "")

    def __str__(self) -> str:
        width = max([len("check"), *(len(row.check) for row in self.rows)])
        indent = " " * (width + 2 + 6 + 2)
        lines = [f"Deployment check of {self.repo}", f"{'check':<{width}}  status  detail"]
        for row in self.rows:
            first, *rest = row.detail.splitlines() or [""]
            lines.append(f"{row.check:<{width}}  {row.status:<6}  {first}")
            lines += [indent + line for line in rest]
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
    repo: str | Path = ".", cases: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT
) -> CheckReport:
    """Check that the repository at ``repo`` is ready to deploy; returns the report.

    ``cases`` is the folder of payload cases (default ``<repo>/cases``; without cases a
    default payload is sent); ``timeout`` bounds the worker that builds and calls the
    handler, in seconds.
    """
    given = Path(repo).expanduser()
    try:
        folder = Repository.find(given).path
    except HandlerKitError as error:
        folder = given.resolve()
        if not folder.is_dir():
            raise  # not a repository at all: nothing to report on
        worker = [
            Row("entry", "fail", str(error)),
            Row("start-up", "skip", "not built: the entry check failed"),
            Row("cases", "skip", "not run: the handler was not built"),
        ]
    else:
        worker = _run_worker(folder, Path(cases) if cases is not None else None, timeout)
    entry_rows = [row for row in worker if row.check == "entry"]
    rows = entry_rows + requirement_rows(folder) + import_rows(folder)
    rows += [row for row in worker if row.check != "entry"]
    rows += path_rows(sorted(folder.glob("*.py"))) + large_file_rows(folder)
    return CheckReport(folder, rows)


# --- the worker: a fresh process that builds and calls the handler ---------------------------


def _run_worker(repo: Path, cases: Path | None, timeout: float) -> list[Row]:
    """Run the worker on ``repo``; its rows, or a failed row when it crashed or timed out."""
    with tempfile.TemporaryDirectory(prefix="handler-kit-check-") as scratch:
        out = Path(scratch) / "rows.jsonl"
        command = [sys.executable, "-c", _WORKER, str(repo), str(out)]
        if cases is not None:
            command.append(str(cases.expanduser().resolve()))
        try:
            # The scratch folder is the working directory: as in production, relative paths
            # do not land in the repository (pass `path` to __init__ instead).
            done = subprocess.run(
                command,
                cwd=scratch,
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
    if code == 0 and any(record.get("done") for record in records):
        return rows
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
    return [*rows, Row(name, "fail", detail)]


# Run by the worker's `python -c`: argv is REPO OUT [CASES].
_WORKER = "import sys; from handler_kit.check import _worker_main; _worker_main(sys.argv[1:])"


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
        return failed(f"{at}{describe(exc)} (in __call__; production answers HTTP 400)")
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
    from .contract import unserializable

    found = unserializable(answer, "")
    if found is None:
        return None
    path, value = found
    where = f"answer{path}" if not path or path.startswith(" ") else path
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
    from .contract import encode_answer

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


def requirement_rows(repo: Path) -> list[Row]:
    """One row per line of requirements.txt: installed here, in a matching version?"""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    file = repo / "requirements.txt"
    if not file.is_file():
        return [Row("requirements", "pass", "no requirements.txt: nothing extra to install")]
    rows = []
    for number, line in _requirement_lines(file):
        where = f"requirements.txt:{number}"
        if line.startswith("-"):
            rows.append(
                Row("requirements", "warn", f"{where}: `{line}` not followed; check it yourself")
            )
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            rows.append(Row("requirements", "warn", f"{where}: not checked: {error}"))
            continue
        name = f"requirement {requirement.name}"
        if requirement.marker is not None and not requirement.marker.evaluate():
            rows.append(Row(name, "skip", f"{line}: not for this platform"))
            continue
        try:
            found = version(requirement.name)
        except PackageNotFoundError:
            rows.append(
                Row(
                    name,
                    "fail",
                    f"{line}: not installed in this environment; pip install '{line}' "
                    "to test with what production will install",
                )
            )
            continue
        if requirement.specifier and not requirement.specifier.contains(found, prereleases=True):
            rows.append(
                Row(
                    name,
                    "fail",
                    f"{line}: {found} is installed, which does not match; install "
                    f"a matching version (pip install '{line}') or fix the pin",
                )
            )
            continue
        rows.append(Row(name, "pass", f"{line}: {found} installed"))
    return rows or [Row("requirements", "pass", "requirements.txt lists nothing")]


def import_rows(repo: Path) -> list[Row]:
    """Warn about each package the repository's code imports that production may not have.

    Production installs requirements.txt into its image; a package installed only here
    passes every local test and fails at start-up there.
    """
    from importlib.metadata import packages_distributions, version

    from packaging.utils import canonicalize_name

    own = {name.split(".")[0] for name in Repository.expected(repo).modules_on_disk()}
    listed = _listed_requirements(repo)
    distributions = packages_distributions()
    rows = []
    for name, (file, line) in _imports(repo).items():
        if name in own or name in sys.stdlib_module_names or name in PRODUCTION_IMPORTS:
            continue
        dists = distributions.get(name, [])
        if {canonicalize_name(d) for d in [*dists, name]} & listed:
            continue
        here = (
            f"distribution {dists[0]} {version(dists[0])} here" if dists else "not installed here"
        )
        rows.append(
            Row(
                f"import {name}",
                "warn",
                f"{file}:{line} imports {name} ({here}), which requirements.txt does not list: "
                "production's image may not have it; add it to requirements.txt",
            )
        )
    return rows or [
        Row("imports", "pass", "requirements.txt or production's image has every package imported")
    ]


def _imports(repo: Path) -> dict[str, tuple[str, int]]:
    """Top-level names the handler's code imports, each with its first ``file, line``.

    The code is handler.py (or pipeline.py) and the repository's own modules it imports, at
    any depth: a tests/ or scripts/ folder that production never imports is left out.
    """
    repository = Repository.expected(repo)
    found: dict[str, tuple[str, int]] = {}
    for name, file in repository.imported_by_entry().items():
        try:
            text = source_text(file)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
            continue  # the entry check reports an unreadable handler.py
        for module, line in imports_in(text, name, file.name == "__init__.py"):
            found.setdefault(module.split(".")[0], (repository.relative(file), line))
    return found


def _listed_requirements(repo: Path) -> set[str]:
    """The canonical names of the distributions requirements.txt lists."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    file = repo / "requirements.txt"
    if not file.is_file():
        return set()
    names = set()
    for _, line in _requirement_lines(file):
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue  # requirement_rows warns about it
    return names


def _requirement_lines(file: Path) -> list[tuple[int, str]]:
    """``(line number, requirement)`` of a requirements file, without comments and blanks."""
    found = []
    pending, start = "", 0
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        # pip's rule: `#` starts a comment at the line's start or after whitespace.
        text = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not pending:
            start = number
        if text.endswith("\\"):  # a continued line
            pending += text[:-1] + " "
            continue
        text = (pending + text).strip()
        pending = ""
        if text:
            # Per-requirement options (`--hash=...`) do not change what is installed.
            found.append((start, text if text.startswith("-") else text.split(" --")[0].strip()))
    return found


def path_rows(files: list[Path]) -> list[Row]:
    """Warn about string literals in ``files`` that are absolute paths of this machine."""
    rows = []
    for file in files:
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError):
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
                        f"{file.name}:{node.lineno}: {node.value!r} is a path on this machine; "
                        "production mounts the repository elsewhere: build paths from the "
                        "`path` passed to __init__",
                    )
                )
    rows.sort(key=lambda row: row.detail)
    return rows or [Row("hard-coded paths", "pass", "none in the repository's Python files")]


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
