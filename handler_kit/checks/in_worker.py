"""Inside the check's worker: the handler built and called as production does it.

``main`` is what the worker process runs. It loads the handler with ``handler_kit.load``
(production's way), then answers each case; every step is a row (entry, start-up, one per
case) written to the worker's output as it happens, with the step it is in, so that a
crash or a timeout is blamed on the right row.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..cases.case import DEFAULT_CASE, DEFAULT_PAYLOAD, Case, CaseError, cases_for
from ..endpoint.answers import encode_answer, unserializable
from ..endpoint.contract import type_name
from ..errors import HandlerKitError, HandlerLoadError, describe, user_location
from ..packages.distributions import missing_hint
from ..packages.requirements import Requirements
from ..reload.live import load
from ..reload.memory import peak_rss
from ..report import PREVIEW, Status, duration, shorten
from .report import CheckName, Row

if TYPE_CHECKING:
    from ..reload.live import LiveHandler


def main(argv: list[str]) -> None:
    """The worker's entry point: check ``argv = [repo, out, cases?]``, records to ``out``."""
    repo, out = Path(argv[0]), Path(argv[1])
    cases = Path(argv[2]) if len(argv) > 2 else None
    with out.open("w", encoding="utf-8") as stream:
        work(repo, cases, stream)
        emit(stream, done=True)


def not_built(why: str) -> list[Row]:
    """The rows of a handler that could not be built: its entry fails, the rest is skipped."""
    return [
        Row(CheckName.ENTRY, Status.FAIL, why),
        Row(CheckName.START_UP, Status.SKIP, "not built: the entry check failed"),
        Row(CheckName.CASES, Status.SKIP, "not run: the handler was not built"),
    ]


def work(repo: Path, cases: Path | None, out: IO[str]) -> None:
    """Build the handler of ``repo`` and answer its cases (those in ``cases`` when given),
    each row written to ``out`` as it is found."""
    emit(out, step=(CheckName.ENTRY, "while importing the handler and building it"))
    try:
        live = load(repo)
    except HandlerLoadError as error:
        for row in not_built(str(error)):
            emit(out, row=row)
        return
    name = live.entry.file.name
    emit(out, row=Row(CheckName.ENTRY, Status.PASS, f"{name}: {live.entry.class_name}(path) built"))
    # The folders the handler put on sys.path (src/): modules found there are its own.
    emit(out, roots=live.repository.roots()[1:])
    peak = peak_rss()
    said = f"peak memory {peak / 2**20:.0f} MB" if peak is not None else "peak memory unknown"
    emit(
        out,
        row=Row(CheckName.START_UP, Status.PASS, f"built in {duration(live.load_seconds)}; {said}"),
    )
    try:
        found = cases_for(repo, cases, default=True)
    except CaseError as error:  # no such folder given
        emit(out, row=Row(CheckName.CASES, Status.FAIL, str(error)))
        return
    for case in found:
        if isinstance(case, CaseError):  # a case file that could not be read
            stem = Path(case.file or "").stem
            emit(out, row=Row(CheckName.CASE.of(stem), Status.FAIL, str(case)))
            continue
        emit(out, step=(CheckName.CASE.of(case.name), f"while answering case {case.name}"))
        try:
            row = answer_case(live, case, repo)
        except Exception as exc:  # one bad case fails its own row; the others still run
            detail = f"the case could not be run: {describe(exc)}"
            row = Row(CheckName.CASE.of(case.name), Status.FAIL, detail)
        emit(out, row=row)


def answer_case(live: LiveHandler, case: Case, repo: Path) -> Row:
    """Answer one case; a failed row says why the answer would not do in production."""
    name = CheckName.CASE.of(case.name)
    default = case.name == DEFAULT_CASE and case.file is None
    sent = json.dumps(DEFAULT_PAYLOAD)

    def failed(detail: str) -> Row:
        if default:  # the user never wrote this payload: say what was sent and what to do
            detail += (
                f"\nsent the default payload {sent} because there are no case files; "
                "add a case in cases/ with a payload your handler takes, e.g. "
                'cases/first.json: {"payload": {"inputs": ...}}'
            )
        return Row(name, Status.FAIL, detail)

    try:
        data = case.data()
    except HandlerKitError as error:
        return failed(f"the payload is not one production accepts: {error}")
    started = time.perf_counter()
    try:
        answer = live(data, check=False)  # case.data() checked it as production does
    except Exception as exc:
        where, line = user_location(exc, repo)
        at = f"{where}:{line}: " if where else ""
        said = f"{at}{describe(exc)} (in __call__; production answers HTTP 400)"
        if isinstance(exc, ModuleNotFoundError) and exc.name:  # imported inside __call__
            said += "\n" + missing_hint(exc.name, requirements=Requirements.read(repo))
        return failed(said)
    took = duration(time.perf_counter() - started)
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
    return Row(name, Status.PASS, said)


def unserializable_path(answer: Any) -> str | None:
    """``[0]["score"]: torch.Tensor``: where the first value production cannot serialise is.

    Production serialises answers with orjson (numpy values allowed, PIL images as PNG);
    None when the whole answer serialises.
    """
    found = unserializable(answer, "")
    if found is None:
        return None
    path, value = found
    where = f"answer{path}" if not path or path.startswith(" ") else path
    if isinstance(value, (dict, list, tuple)):  # only a loop is returned as a container
        return f"{where}: a {type(value).__name__} that holds itself (the answer refers to itself)"
    keys = " (keys must be strings)" if path.endswith(f" key {value!r}") else ""
    return f"{where}: {type_name(value)}{keys}"


def emit(out: IO[str], **record: Any) -> None:
    """Write one record (a ``row``, the ``step`` begun, the ``roots``, ``done``) for the
    check to read (``worker._read_records``)."""
    # One JSON line per record, flushed: what a crashed worker did is still readable.
    if isinstance(record.get("row"), Row):
        record["row"] = asdict(record["row"])
    out.write(json.dumps(record) + "\n")
    out.flush()


def _preview(answer: Any) -> str:
    return shorten(encode_answer(answer).decode("utf-8"), PREVIEW)
