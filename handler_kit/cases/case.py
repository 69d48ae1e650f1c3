"""Payload cases: requests kept as JSON files, with the answer they should get.

A case file (``cases/*.json`` in a repository by default) holds a ``payload`` (the request body
as JSON) or, for an image or audio request, a ``body_file`` next to it and its
``content_type``, with ``parameters`` sent in the query string (production's server makes
them the data's ``parameters``); optionally an ``expected`` answer, compared exactly (numbers
within the ``tolerance`` when the case gives one), or an ``expected_label`` with a
``tolerance`` on its ``expected_score``. The payload form's history exports to it (a label
answer as its top label and score, since scores vary across machines), and ``handler-kit
check`` and the pytest plugin replay it.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..endpoint import answers, contract
from ..errors import HandlerKitError, describe
from ..report import PREVIEW, shorten

FOLDER = "cases"  # a repository's folder of case files
# The one case a repository without case files gets, where a handler must answer something
# (the check, the comparison with production): the guide's first payload.
DEFAULT_CASE = "default"
DEFAULT_PAYLOAD = {"inputs": "I am quite excited how this will turn out"}


class CaseError(HandlerKitError):
    """A case file that cannot be read, or an answer that does not match its case."""


@dataclass
class Case:
    """One request and what its answer should be."""

    name: str
    payload: Any = None
    body_file: Path | None = None
    content_type: str = "application/json"
    parameters: dict[str, Any] | None = None  # a body_file case's, sent in the query string
    expected: Any = None
    expected_label: str | None = None
    expected_score: float | None = None
    tolerance: float = 0.05
    has_expected: bool = False
    has_tolerance: bool = False  # given in the file: numbers in `expected` may differ by it
    file: Path | None = field(default=None, repr=False)

    def data(self, env: Mapping[str, str] | None = None) -> Any:
        """The handler's ``data`` for this case, decoded the way production decodes it.

        The request is the one sent over HTTP (``body()`` with ``content_type``): a content
        type production refuses is refused here too. ``env`` (default: this process's
        environment) gives ``HF_TASK``, as the endpoint's: base64 ``inputs`` with
        ``parameters`` become bytes for the audio tasks.
        """
        task = contract.hf_task(env)
        return contract.request_data(self.content_type, self.body(), self.query(), task)

    def query(self) -> dict[str, str]:
        """The query string this case sends: its ``parameters`` as text ({} without)."""
        return query_of(self.parameters or {}, self.file)

    def address(self, url: str) -> str:
        """``url`` with this case's query string, the address its request is sent to."""
        query = urllib.parse.urlencode(self.query())
        if not query:
            return url
        return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{query}"

    def body(self) -> bytes:
        """The request body this case sends over HTTP: its payload as JSON, or its file's bytes."""
        if self.body_file is None:
            return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")
        try:
            return self.body_file.read_bytes()
        except OSError as error:
            raise CaseError(
                f"case {self.name}: cannot read its body file {self.body_file.name} "
                f"({error.strerror or error})",
                file=self.file,
                hint=f"Put {self.body_file.name} next to the case file, or fix `body_file`.",
            ) from None

    def check(self, answer: Any) -> None:
        """Raise CaseError when ``answer`` does not match what the case expects."""
        plain = json.loads(answers.encode_answer(answer))
        if self.has_tolerance and not is_number(self.tolerance):
            raise CaseError(
                f"case {self.name}: `tolerance` must be a number, not {_short(self.tolerance)}",
                file=self.file,
            )
        error = error_entry(plain)
        if error is not None and not self.has_expected:  # a case may expect an error answer
            raise CaseError(
                f"case {self.name}: the answer carries an error: {error}: the handler caught its "
                "own failure and returned it, so production answers HTTP 200 and the client "
                "takes it for an answer",
                file=self.file,
                hint="Let the exception propagate (production answers 400 with its message), "
                "or give the case an `expected` answer when the error is meant.",
            )
        tolerance = self.tolerance if self.has_tolerance else 0.0
        difference = _difference(self.expected, plain, tolerance) if self.has_expected else None
        if difference:
            raise CaseError(
                f"case {self.name}: the answer differs from `expected`: {difference}",
                file=self.file,
                hint=f"expected {_short(self.expected)}\n     got {_short(plain)}",
            )
        if self.expected_label is not None:
            self._check_label(plain)

    def _check_label(self, plain: Any) -> None:
        """Raise CaseError unless the top label of ``plain`` is ``expected_label`` (with its
        score within ``tolerance`` of ``expected_score`` when the case gives one)."""
        given = {"tolerance": self.tolerance}
        if self.expected_score is not None:
            given["expected_score"] = self.expected_score
        for key, value in given.items():
            if not is_number(value):
                raise CaseError(
                    f"case {self.name}: `{key}` must be a number, not {_short(value)}",
                    file=self.file,
                )
        try:
            top = _top_label(plain)
        except ValueError as error:
            raise CaseError(f"case {self.name}: {error}", file=self.file) from None
        if top is None:
            raise CaseError(f"case {self.name}: the answer has no label", file=self.file)
        label, score = top
        if label != self.expected_label:
            raise CaseError(
                f"case {self.name}: label {label!r}, expected {self.expected_label!r}",
                file=self.file,
            )
        if self.expected_score is not None and not math.isclose(
            score, self.expected_score, abs_tol=self.tolerance
        ):
            raise CaseError(
                f"case {self.name}: score {score:.4f} is not within {self.tolerance} of "
                f"{self.expected_score}",
                file=self.file,
            )


def load_cases(folder: str | Path) -> list[Case]:
    """Every case in ``folder``, by name; raises the error of the first malformed one."""
    found = read_cases(folder)
    for case in found:
        if isinstance(case, CaseError):
            raise case
    return found  # type: ignore[return-value]


def cases_folder(repository: str | Path, folder: str | Path | None = None) -> Path:
    """Where the cases of ``repository`` are: ``folder`` when given, else ``<repository>/cases``."""
    return Path(folder if folder is not None else Path(repository) / FOLDER).expanduser()


def cases_for(
    repository: str | Path, folder: str | Path | None = None, *, default: bool = False
) -> list[Case | CaseError]:
    """The cases of ``repository``: every case file in ``folder`` when given, else in
    ``<repository>/cases``, by name (a CaseError in place of one that cannot be read).

    A ``folder`` given that does not exist raises CaseError. When there are no case files,
    ``default`` gives the one default case (the guide's payload); without it, CaseError says
    where to write them.
    """
    where = cases_folder(repository, folder)
    # A folder given must be there; the repository's own may be missing.
    found = read_cases(where) if folder is not None or where.is_dir() else []
    if found:
        return found
    if default:
        return [Case(DEFAULT_CASE, payload=DEFAULT_PAYLOAD)]
    if not where.is_dir():
        raise _no_folder(where)
    raise CaseError(
        f"no case files (*.json) in {where}",
        hint="Write cases there (the payload form's export_cases(), or "
        'cases/first.json: {"payload": {"inputs": ...}}), or pass --cases DIR.',
    )


def read_cases(folder: str | Path) -> list[Case | CaseError]:
    """Every ``*.json`` case file in ``folder``, by name: the case, or why it cannot be read.

    One unreadable case does not hide the others. Raises CaseError when there is no such
    folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _no_folder(folder)
    found: list[Case | CaseError] = []
    for file in sorted(folder.glob("*.json")):
        try:
            found.append(read_case(file))
        except CaseError as error:
            found.append(error)
        except Exception as error:  # a case of an unforeseen shape fails alone, said plainly
            found.append(CaseError(f"cannot read the case: {describe(error)}", file=file))
    return found


def _no_folder(folder: Path) -> CaseError:
    return CaseError(f"no cases folder at {folder}", hint="Create it, or pass --cases DIR.")


def read_case(file: Path) -> Case:
    """One case file."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CaseError(f"cannot read the case: {error}", file=file) from None
    if not isinstance(raw, dict) or ("payload" not in raw and "body_file" not in raw):
        raise CaseError(
            "a case needs `payload` (the JSON body) or `body_file` (with `content_type`)",
            file=file,
        )
    if "body_file" in raw and not isinstance(raw["body_file"], str):
        raise CaseError(
            f"`body_file` must be a file name next to the case, not {_short(raw['body_file'])}",
            file=file,
        )
    if "parameters" in raw and "body_file" not in raw:
        raise CaseError(
            "`parameters` beside `payload`: a JSON request carries them in its body",
            file=file,
            hint="Move them into `payload`; a top-level `parameters` is for a `body_file` case "
            "(sent in the query string).",
        )
    query_of(raw.get("parameters") or {}, file)  # parameters that cannot travel fail here
    return Case(
        name=file.stem,
        payload=raw.get("payload"),
        body_file=file.parent / raw["body_file"] if "body_file" in raw else None,
        content_type=raw.get("content_type", "application/json"),
        parameters=raw.get("parameters"),
        expected=raw.get("expected"),
        expected_label=raw.get("expected_label"),
        expected_score=raw.get("expected_score"),
        tolerance=raw.get("tolerance", 0.05),
        has_expected="expected" in raw,
        has_tolerance="tolerance" in raw,
        file=file,
    )


def save_case(
    folder: str | Path,
    name: str,
    payload: Any = None,
    answer: Any = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    suffix: str = ".bin",
    expect: dict[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Path:
    """Write a case: a JSON payload, or raw ``body`` bytes saved next to the case file (with
    ``parameters`` for its query string; CaseError when one cannot travel there).

    What the answer should be comes from ``answer`` (as the form's export keeps it) or is
    given as ``expect``: the case file's own keys, e.g. ``{"expected_label": "joy"}`` or
    ``{"expected": [...], "tolerance": 1e-4}``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    case: dict[str, Any] = {}
    if body is not None:
        if parameters:
            query_of(parameters)
        (folder / f"{name}{suffix}").write_bytes(body)
        case.update(body_file=f"{name}{suffix}", content_type=content_type)
        if parameters:
            case["parameters"] = dict(parameters)
    else:
        case["payload"] = payload
    if answer is not None:
        plain = json.loads(answers.encode_answer(answer))
        try:
            top = _top_label(plain)
        except ValueError:
            top = None
        if top is None:
            case["expected"] = plain
        else:
            # Scores differ in their last digits across machines and thread counts: an exact
            # `expected` would fail CI for nothing, so keep the label and a tolerant score.
            case.update(expected_label=top[0], expected_score=round(top[1], 4), tolerance=0.05)
    case.update(expect or {})
    file = folder / f"{name}.json"
    file.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return file


def query_of(parameters: Any, file: Path | None = None) -> dict[str, str]:
    """``parameters`` as the query string production's server turns back into them.

    Its server reads digits as whole numbers, ``true``/``false`` as booleans and anything
    else as text (``contract.query_parameters``); a value that would arrive as something else
    (a float, a negative number, a list, text made of digits) raises CaseError.
    """
    if not isinstance(parameters, Mapping):
        raise CaseError(f"`parameters` must be a JSON object, not {_short(parameters)}", file=file)
    query = {}
    for key, value in parameters.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        try:
            arrives: Any = contract.query_parameters({key: text})[key]
            gets = f"would give the handler {_short(arrives)}"
        except ValueError:  # digits int() cannot read ("²")
            arrives, gets = None, "answers 400 to it"
        if type(arrives) is not type(value) or arrives != value:
            raise CaseError(
                f"parameter `{key}` = {_short(value)} cannot travel in a query string: "
                f"production's server {gets}",
                file=file,
                hint="A query string carries text, whole numbers and true/false; send the "
                "others as text and convert them in the handler (float(...), json.loads(...)).",
            )
        query[key] = text
    return query


def difference(expected: Any, got: Any, tolerance: float = 0.0) -> str | None:
    """Where the JSON value ``got`` first differs from ``expected``, or None when alike.

    Numbers may differ by ``tolerance``; the rule every comparison of answers in the kit uses.
    """
    return _difference(expected, got, tolerance)


def _difference(expected: Any, got: Any, tolerance: float, path: str = "answer") -> str | None:
    """Where ``got`` first differs from ``expected`` (numbers may differ by ``tolerance``)."""
    if is_number(expected) and is_number(got):
        if math.isclose(got, expected, rel_tol=0, abs_tol=tolerance):
            return None
        within = f" (tolerance {tolerance:g})" if tolerance else ""
        return f"{path} is {got!r}, expected {expected!r}{within}"
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return f"{path} has {len(got)} items, expected {len(expected)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            found = _difference(e, g, tolerance, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, dict) and isinstance(got, dict):
        if expected.keys() != got.keys():
            return f"{path} has keys {sorted(got)}, expected {sorted(expected)}"
        for key in expected:
            found = _difference(expected[key], got[key], tolerance, f"{path}[{json.dumps(key)}]")
            if found:
                return found
        return None
    if expected != got:
        return f"{path} is {_short(got)}, expected {_short(expected)}"
    return None


def _top_label(answer: Any) -> tuple[str, float] | None:
    """The label with the highest score, or None when the answer has no labels.

    The answer is a list of ``{"label", "score"}`` (nested lists too, as a batch) or one such
    dict; ValueError when a score is not a number.
    """
    while isinstance(answer, list) and answer and isinstance(answer[0], list):
        answer = answer[0]
    items = answer if isinstance(answer, list) else [answer]
    scored = [a for a in items if isinstance(a, dict) and "label" in a and "score" in a]
    if not scored:
        return None
    for item in scored:
        if not is_number(item["score"]):
            raise ValueError(
                f"the score of label {_short(item['label'])} is not a number: "
                f"{_short(item['score'])}"
            )
    best = max(scored, key=lambda a: a["score"])
    return best["label"], float(best["score"])


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number: an int or a float, not a bool."""
    # JSON true/false are bools, which Python counts as ints: not scores.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def error_entry(answer: Any, limit: int = PREVIEW) -> str | None:
    """The error a JSON answer carries (``{"error": "..."}``, ``[{"error": "..."}]``), shortened;
    None for an answer without one.

    Only a message counts: a non-empty string. An ``error`` that is a number is a metric a
    handler reports (``{"label": "x", "error": 0.12}``), not a failure.
    """
    entries = answer if isinstance(answer, list) else [answer]
    if not any(_carries_error(entry) for entry in entries):
        return None
    return shorten(json.dumps(answer, ensure_ascii=False, separators=(",", ":")), limit)


def _carries_error(entry: Any) -> bool:
    return bool(answers.error_of(entry))  # a message: an empty one says nothing


def _short(value: Any) -> str:
    return shorten(json.dumps(value, ensure_ascii=False), 300, say_more=True)
