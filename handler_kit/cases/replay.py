"""Replay a repository's cases against an endpoint URL: the last step after deploying.

Each case's request goes over HTTP as the case describes it (its JSON payload, or its body
file with its content type) to any endpoint: the kit's local one, production's server, or a
deployed Inference Endpoint (with its token). Its answer is checked with the case's own rule
(``Case.check``, the one the deployment check and the pytest plugin use). Every case gets a
row: it passes, its answer differs (and where), or it got no answer (and what to do).
"""

from __future__ import annotations

import html
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..endpoint import answers, contract
from ..errors import HandlerKitError
from ..report import PREVIEW, Column, Report, Status, count, duration, shorten
from .case import Case, CaseError, cases_folder, cases_for

DEFAULT_TIMEOUT = 60.0  # seconds per request: a cold endpoint or a large model answers slowly


class Unreachable(HandlerKitError):
    """No HTTP answer at all: connection refused, timed out, unknown host."""

    refused = False  # nothing listens there: the cases after it need not be sent


class Refused(Unreachable):
    """Nothing listens at the URL (connection refused)."""

    refused = True


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, media type (as the endpoint sent it) and body."""

    status: int
    content_type: str
    body: bytes
    seconds: float

    @property
    def is_json(self) -> bool:
        """Whether the endpoint said the body is JSON (any charset or case of the type)."""
        return contract.media_type(self.content_type) == contract.JSON

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)

    def error_message(self) -> str:
        """The ``error`` of a JSON error body, else the start of the body as text."""
        try:
            said = answers.error_of(self.json())
        except ValueError:
            said = None
        text = said if said is not None else self.body.decode("utf-8", "replace")
        return shorten(" ".join(text.split()), 300)


def send(
    url: str,
    content_type: str,
    body: bytes,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """POST ``body`` to ``url``; the answer whatever its status. Raises Unreachable.

    ``headers`` are sent besides the content type and the token (a deployed endpoint's
    ``X-Scale-Up-Timeout``).
    """
    check_url(url)
    sent = {**(headers or {}), "Content-Type": content_type}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    started = time.perf_counter()
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            status, received = response.status, response.read()
            media = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:  # an answer all the same: 4xx, 5xx
        with error:
            status, received = error.code, error.read()
            media = error.headers.get("Content-Type", "") if error.headers else ""
    except TimeoutError:
        raise _timed_out(url, timeout) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _timed_out(url, timeout) from None
        if isinstance(error.reason, ConnectionRefusedError):
            raise Refused(
                f"nothing listens at {url} (connection refused)",
                hint="Start the endpoint first (handler-kit serve REPO), or fix the URL's "
                "host and port.",
            ) from None
        raise Unreachable(
            f"cannot reach {url}: {error.reason}", hint="Check the URL and the network."
        ) from None
    except (ConnectionError, OSError) as error:  # reset or closed mid-answer
        raise Unreachable(
            f"the connection to {url} broke: {error}",
            hint="The server may have crashed or restarted: read its log, then replay again.",
        ) from None
    return Answer(status, media, received, time.perf_counter() - started)


def check_url(url: str) -> None:
    """Raise HandlerKitError unless ``url`` is an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HandlerKitError(
            f"{url!r} is not an endpoint URL",
            hint="Give it whole, e.g. http://127.0.0.1:8080 or "
            "https://xyz.endpoints.huggingface.cloud",
        )


@dataclass(frozen=True)
class ReplayRow:
    """One replayed case: pass, differs or error, what was found, the HTTP status and the time
    taken."""

    case: str
    outcome: Status
    detail: str
    status: int | None = None
    seconds: float | None = None


@dataclass(repr=False)
class ReplayReport(Report):
    """The rows of a replay; ``ok`` when every case passed."""

    url: str
    cases: Path
    rows: list[ReplayRow] = field(default_factory=list)

    columns = (
        Column("case"),
        Column("result", minimum=7),
        Column("HTTP", minimum=4),
        Column("time", minimum=9, right=True),
        Column("detail", wrap=True),
    )

    @property
    def ok(self) -> bool:
        return all(row.outcome is Status.PASS for row in self.rows)

    def count(self, outcome: Status) -> int:
        """How many rows have ``outcome``."""
        return sum(1 for row in self.rows if row.outcome is outcome)

    @property
    def verdict(self) -> str:
        """``all 3 cases pass`` or ``1 of 3 cases differs, 1 error``, the report's last line."""
        n = len(self.rows)
        if self.ok:
            return f"all {count(n, 'case')} pass"
        differ, errors = self.count(Status.DIFFERS), self.count(Status.ERROR)
        parts = [f"{self.count(Status.PASS)} of {n} pass"]
        if differ:
            parts.append(f"{differ} differ{'s' * (differ == 1)}")
        if errors:
            parts.append(count(errors, "error"))
        return ", ".join(parts)

    def heading(self) -> str:
        return f"Replay of {self.cases} against {self.url}"

    def heading_html(self) -> str:
        return (
            f"Replay of {html.escape(str(self.cases))} against <code>{html.escape(self.url)}</code>"
        )

    def cells(self, row: ReplayRow) -> tuple[str, Status, str, str, str]:
        status = str(row.status) if row.status is not None else "-"
        seconds = duration(row.seconds) if row.seconds is not None else "-"
        return row.case, row.outcome, status, seconds, row.detail


def replay(
    url: str,
    cases: str | Path | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ReplayReport:
    """Send every case in ``cases`` to ``url``; a row per case.

    ``cases`` is a folder of case files, by default those of the repository this runs in
    (``./cases``).

    ``token`` is sent as ``Authorization: Bearer TOKEN`` (a deployed endpoint's, or the
    local endpoint's ``--token``); ``timeout`` bounds each request, in seconds. Once the
    endpoint refuses a connection, the cases after it are not sent.
    """
    check_url(url)
    # No such folder, or no case files: the error says where they go.
    found = cases_for(Path.cwd(), cases)
    report = ReplayReport(url, cases_folder(Path.cwd(), cases).resolve())
    refused: Unreachable | None = None
    for case in found:
        if isinstance(case, CaseError):
            name = Path(case.file).stem if case.file else "?"
            report.rows.append(ReplayRow(name, Status.ERROR, f"not sent: {case}"))
        elif refused is not None:
            report.rows.append(ReplayRow(case.name, Status.ERROR, f"not sent: {refused.what}"))
        else:
            try:
                report.rows.append(_replay(url, case, token, timeout))
            except HandlerKitError as error:  # unreachable, or a body file it cannot read
                report.rows.append(ReplayRow(case.name, Status.ERROR, str(error)))
                if isinstance(error, Unreachable) and error.refused:
                    refused = error
    return report


def replay_case(
    url: str,
    case: Case,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> ReplayRow:
    """Send one case to ``url`` (with ``headers``, as ``send``) and check its answer; its row."""
    try:
        return _replay(url, case, token, timeout, headers)
    except HandlerKitError as error:
        return ReplayRow(case.name, Status.ERROR, str(error))


def _replay(
    url: str,
    case: Case,
    token: str | None,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> ReplayRow:
    """One case's row; raises Unreachable when no answer came."""
    answer = send(case.address(url), case.content_type, case.body(), token, timeout, headers)
    if answer.status != 200:
        return ReplayRow(
            case.name, Status.ERROR, status_advice(answer, token), answer.status, answer.seconds
        )
    if not answer.is_json:
        said = answer.content_type or "no Content-Type"
        return ReplayRow(
            case.name,
            Status.DIFFERS,
            f"answered {said} ({len(answer.body)} bytes), not JSON",
            answer.status,
            answer.seconds,
        )
    try:
        got = answer.json()
    except ValueError as error:
        detail = f"the answer says JSON but is not: {error}"
        return ReplayRow(case.name, Status.DIFFERS, detail, answer.status, answer.seconds)
    try:
        case.check(got)
    except CaseError as error:
        # The row names the case already; the rest says what differs.
        what = error.what.removeprefix(f"case {case.name}: ")
        detail = "\n".join(part for part in (what, error.hint) if part)
        return ReplayRow(case.name, Status.DIFFERS, detail, answer.status, answer.seconds)
    preview = shorten(answer.body.decode("utf-8", "replace"), PREVIEW)
    return ReplayRow(case.name, Status.PASS, preview, answer.status, answer.seconds)


def status_advice(answer: Answer, token: str | None) -> str:
    """What an error status means for a replay, and what to do about it."""
    status, said = answer.status, answer.error_message()
    if status in (401, 403):
        if token:
            return (
                f"HTTP {status}: the endpoint refused the token ({said}); check it: a deployed "
                "endpoint needs a Hugging Face token that may call it"
            )
        return (
            f"HTTP {status}: the endpoint wants a token: pass --token T (token=...); "
            f"it said: {said}"
        )
    if status in (404, 405):
        return (
            f"HTTP {status}: no predict route at this URL: give the endpoint's root URL "
            "(it answers POST / and POST /predict)"
        )
    if status == 413:
        return f"HTTP 413: the body is too large for this endpoint ({said})"
    if status in (502, 503, 504):
        return (
            f"HTTP {status}: the endpoint is not answering yet (starting, scaled to zero or "
            f"paused): wait, then replay again ({said})"
        )
    if status == 400:
        return f"HTTP 400: the handler failed or the request was refused: {said}"
    return f"HTTP {status}: {said}"


def _timed_out(url: str, timeout: float) -> Unreachable:
    return Unreachable(
        f"no answer from {url} within {timeout:g} s",
        hint="The handler may be slow or the endpoint still starting: raise --timeout S.",
    )


def _opener(url: str) -> urllib.request.OpenerDirector:
    # An HTTP proxy from the environment cannot reach this machine's own ports.
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()
