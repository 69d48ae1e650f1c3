"""The check's worker: a fresh Python process that builds and calls the handler.

Nothing loaded in the current kernel can make a check pass: the worker is started with this
interpreter, or with the one given as ``python`` (a venv with production's versions), in a
scratch folder. It runs ``checks.in_worker`` and writes its rows as JSON lines, one record at a
time, so that what a worker did before it crashed or timed out is still read here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..packages.distributions import pip_command, usual_distribution
from ..packages.environment import Environment
from ..reload import flight
from ..report import Status
from .report import CheckName, Row

STDERR_TAIL = 15  # lines of a crashed worker's stderr shown in its row
# What the worker imports besides the standard library (the kit's modules it loads, the JSON
# encoder and PIL of production's contract): another interpreter needs them installed.
WORKER_NEEDS = ("packaging", "starlette", "orjson", "PIL")
# The module the worker runs, and how: argv is REPO OUT [CASES].
RUN = "handler_kit.checks.in_worker"
_COMMAND = f"import sys; from {RUN} import main; main(sys.argv[1:])"


@dataclass(frozen=True)
class Ran:
    """What the worker found: its rows, and the folders the handler put on sys.path."""

    rows: list[Row]
    roots: tuple[str, ...] = ()


class Worker:
    """How the worker process starts: its interpreter and, for another one, the kit on its path.

    Another interpreter (a venv with production's versions) does not have handler_kit
    installed: the worker finds it through PYTHONPATH, in a folder that holds only a link to
    this handler_kit (a whole site-packages there would put this environment's versions
    first). ``missing`` says what that interpreter lacks to run the worker, if anything.
    """

    def __init__(
        self, python: str | Path | None, scratch: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.python = _interpreter(python) if python is not None else sys.executable
        added = dict(env or {})
        self.env: dict[str, str] | None = {**os.environ, **added} if added else None
        self.missing: str | None = None
        if python is None:
            self.environment = Environment.here()
            return
        link = scratch / "handler_kit"
        package = Path(__file__).resolve().parent.parent
        try:
            link.symlink_to(package, target_is_directory=True)
        except OSError:  # no symbolic links (Windows without the right): a copy
            shutil.copytree(package, link, ignore=shutil.ignore_patterns("__pycache__"))
        paths = [str(scratch), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = {**os.environ, **added, "PYTHONPATH": os.pathsep.join(paths)}
        self.environment = Environment.of(self.python, [RUN, *WORKER_NEEDS], self.env)
        if self.environment.missing:
            module, error = self.environment.missing
            if error.startswith("SyntaxError"):  # an older Python than the kit's code needs
                todo = "the kit needs Python 3.10 or later"
            else:
                names = " ".join(map(usual_distribution, WORKER_NEEDS))
                pip = pip_command(str(self.python))
                todo = f"install what the worker needs there ({pip} install {names})"
            self.missing = (
                f"the check's worker cannot start in {self.python} (Python "
                f"{self.environment.python}): importing {module} there fails ({error}); "
                f"{todo}, or check with another --python"
            )

    def run(self, repo: Path, cases: Path | None, timeout: float) -> Ran:
        """Run the worker on ``repo``: its rows (a failed row when it crashed or timed out) and
        the folders the handler put on sys.path."""
        with tempfile.TemporaryDirectory(prefix="handler-kit-check-") as scratch:
            out = Path(scratch) / "rows.jsonl"
            command = [self.python, "-c", _COMMAND, str(repo), str(out)]
            if cases is not None:
                command.append(str(cases.expanduser().resolve()))
            # The scratch folder is the working directory: as in production, relative
            # paths do not land in the repository (pass `path` to __init__ instead).
            process = subprocess.Popen(
                command,
                cwd=scratch,
                env=self.env,
                stdin=subprocess.DEVNULL,  # a handler that waits for input would hang
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
            code: int | None = None
            try:
                _, stderr = process.communicate(timeout=timeout)
                code = process.returncode
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
            except BaseException:  # interrupted: the worker does not outlive the check
                process.kill()
                process.wait()
                raise
            # This report says how the worker ended: its flight record (what it was loading,
            # a fault's frames) is said here, and not again, as news, by the next load.
            ended = flight.forget(process.pid)
            records = _read_records(out)
        rows = [Row(**record["row"]) for record in records if "row" in record]
        roots = tuple(root for record in records for root in record.get("roots", ()))
        if code == 0 and any(record.get("done") for record in records):
            return Ran(rows, roots)
        fault = ended.fault if ended is not None else ()
        return Ran([*rows, _stopped(records, code, stderr, timeout, fault)], roots)


def _stopped(
    records: list[dict], code: int | None, stderr: str, timeout: float, fault: tuple[str, ...]
) -> Row:
    """The failed row of a worker that crashed (``code``) or timed out (no code): the step it
    was in, what Python's fault handler said (``fault``: its first line, the repository's
    frames) and the end of its stderr."""
    steps = [record["step"] for record in records if "step" in record]
    name, doing = steps[-1] if steps else (CheckName.ENTRY, "while starting Python")
    if code is None:
        what = (
            f"the worker timed out after {timeout:g} s {doing} "
            "(if the handler is just slow, raise the timeout: --timeout S)"
        )
    else:
        what = f"the worker crashed {doing} ({_exit_status(code)})"
    if fault:
        what += f": {'; '.join(fault)}"
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL:])
    detail = what + (f"; the end of its stderr:\n{tail}" if tail else "; it wrote no stderr")
    return Row(name, Status.FAIL, detail)


def _interpreter(python: str | Path) -> str:
    """The absolute path of ``python`` (the worker runs in another folder); a bare name such
    as ``python3.11`` is looked up on PATH. Not resolved: a venv's python is a link, and
    following it would leave the venv."""
    given = str(python)
    if os.sep not in given and "/" not in given:
        found = shutil.which(given)
        if found:
            return found
    return os.path.abspath(os.path.expanduser(given))


def _read_records(file: Path) -> list[dict]:
    """The records the worker wrote (``checks.in_worker.emit``), up to a line cut short."""
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
