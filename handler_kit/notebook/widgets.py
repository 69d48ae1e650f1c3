"""The payload form: compose a request with widgets, send it to a handler, read the answer.

``payload_form(handler, sample)`` builds one field per key of the sample payload: ``inputs`` as
a text area with a file upload for images and audio (a thumbnail or a player shows it; from
code, ``form.upload(path)``), dates as a date picker, numbers and booleans as number fields and
checkboxes, ``parameters`` (and any list or dict) as JSON that is checked as you type. Send
runs the handler in a background thread, so the form never freezes, and shows the answer as a
result table (or the error); a history keeps the last requests, each line saying what differs
from the request before it.

The answer is shown by replacing the ``outputs`` of an ``Output`` widget in one assignment,
never with ``Output.clear_output()``: that one sends a Jupyter ``clear_output`` message, which a
live frontend routes to the widget only for the cell request in flight, so from the form's
background thread it clears nothing and the answers stack up (ipywidgets #3260).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import mimetypes
import re
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ipywidgets as w

from .. import style
from ..cases.case import save_case
from ..endpoint import contract
from ..errors import HandlerKitError, handler_frames
from . import colab
from .tables import result_table

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KINDS = ("text", "number", "bool", "date", "json")


class Field:
    """One key of the payload and its editor widget."""

    def __init__(self, name: str, value: Any, kind: str | None = None) -> None:
        self.name = name
        self.kind = kind or guess_kind(name, value)
        self.error = w.HTML()
        self.upload: w.FileUpload | None = None
        self.thumbnail: w.Image | None = None
        self.player: w.Audio | None = None
        self.clear = w.Button(
            description="✕", layout=w.Layout(width="32px"), tooltip="clear upload"
        )
        self.editor = self._editor(value)
        self.remove = w.Button(description="✕", layout=w.Layout(width="32px"), tooltip="remove")
        label = w.Label(name, layout=w.Layout(width="110px"))
        parts: list[w.Widget] = [label, self.editor]
        if name == "inputs":
            self.upload = w.FileUpload(accept="image/*,audio/*", multiple=False)
            self.thumbnail = w.Image(layout=w.Layout(max_width="96px", display="none"))
            self.player = w.Audio(autoplay=False, layout=w.Layout(width="240px", display="none"))
            self.upload.observe(self._uploaded, "value")
            self.clear.on_click(lambda _: self.clear_upload())
            self.clear.layout.display = "none"
            previews = [w.HBox([self.upload, self.clear]), self.thumbnail, self.player]
            parts += [w.VBox(previews)]
        else:
            parts.append(self.remove)
        self.widget = w.VBox([w.HBox(parts), self.error])

    def _editor(self, value: Any) -> w.Widget:
        layout = w.Layout(width="420px")
        if self.kind == "bool":
            return w.Checkbox(value=bool(value), indent=False)
        if self.kind == "number":
            number = w.IntText if isinstance(value, int) else w.FloatText
            return number(value=value or 0, layout=layout)
        if self.kind == "date":
            return w.DatePicker(value=dt.date.fromisoformat(value) if _is_date(value) else None)
        if self.kind == "json":
            editor = w.Textarea(value=json.dumps(value, indent=1), layout=layout)
            editor.observe(lambda _: self._validate(), "value")
            return editor
        area = w.Textarea if self.name == "inputs" else w.Text
        return area(value="" if value is None else str(value), layout=layout)

    def _validate(self) -> bool:
        problem = self.problem()
        self.error.value = (
            f'<span style="color:{style.ERROR}">{html.escape(problem)}</span>' if problem else ""
        )
        return problem is None

    def problem(self) -> str | None:
        """What keeps this field from being sent (JSON that does not parse), or None."""
        if self.kind != "json" or self.file() is not None:
            return None
        try:
            json.loads(self.editor.value or "null")
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            return f"{self.name} is not valid JSON: {error.msg} ({where})"
        return None

    def _uploaded(self, _: Any) -> None:
        file = self.file()
        if self.thumbnail is None or self.player is None:
            return
        self.clear.layout.display = None if file else "none"
        kind = contract.media_type(file["type"]) if file else ""
        if kind.startswith("image/"):
            self.thumbnail.value = bytes(file["content"])
        if kind.startswith("audio/"):
            # The player plays what the browser can: wav, flac, ogg and mp3 in the usual ones.
            self.player.format = kind.split("/", 1)[1]
            self.player.value = bytes(file["content"])
        self.thumbnail.layout.display = None if kind.startswith("image/") else "none"
        self.player.layout.display = None if kind.startswith("audio/") else "none"

    def load(
        self, file: str | Path | bytes, content_type: str | None = None, name: str | None = None
    ) -> None:
        """Put a file in the upload, as choosing it in the browser would (``inputs`` only).

        ``file`` is a path or the file's bytes; ``content_type`` is guessed from the name
        when not given (production decodes the body by it: image/png, audio/wav, ...).
        """
        if self.upload is None:
            raise HandlerKitError(f"`{self.name}` takes no file", hint="Upload into `inputs`.")
        if isinstance(file, (str, Path)):
            path = Path(file)
            content, name = path.read_bytes(), name or path.name
        else:
            content, name = bytes(file), name or "upload"
        content_type = content_type or mimetypes.guess_type(name)[0]
        if content_type not in contract.SUPPORTED_TYPES:
            raise HandlerKitError(
                f"cannot tell how production would decode {name} (type {content_type})",
                hint="Pass content_type, e.g. content_type='image/png' or 'audio/wav'.",
            )
        self.upload.value = (
            {
                "name": name,
                "type": content_type,
                "size": len(content),
                "content": memoryview(content),
                "last_modified": dt.datetime.now(dt.timezone.utc),
            },
        )

    def clear_upload(self) -> None:
        """Forget the uploaded file, so that the text is sent again."""
        if self.upload is not None:
            self.upload.value = ()  # the observer hides the thumbnail and this button

    def file(self) -> dict | None:
        """The uploaded file (name, type, content) of an ``inputs`` field, if any."""
        return self.upload.value[0] if self.upload is not None and self.upload.value else None

    def value(self) -> Any:
        """The value this field puts in the payload (an upload decoded as production does)."""
        file = self.file()
        if file is not None:
            return contract.decode_body(file["type"], bytes(file["content"]))["inputs"]
        if self.kind == "json":
            if not self._validate():
                raise HandlerKitError(f"{self.problem()}.", hint="Fix the field, then send again.")
            return json.loads(self.editor.value or "null")
        if self.kind == "date":
            return self.editor.value.isoformat() if self.editor.value else None
        return self.editor.value

    def set(self, value: Any) -> None:
        """Show ``value`` in the editor."""
        if self.kind == "json":
            self.editor.value = json.dumps(value, indent=1)
        elif self.kind == "date":
            self.editor.value = dt.date.fromisoformat(value) if _is_date(value) else None
        elif self.kind in ("bool", "number"):
            self.editor.value = value
        else:
            self.editor.value = "" if value is None else str(value)


def guess_kind(name: str, value: Any) -> str:
    """The editor for a payload value: text, number, bool, date or json."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if _is_date(value) or (name == "date" and value in (None, "")):
        return "date"
    if name == "parameters" or (not isinstance(value, str) and value is not None):
        return "json"
    return "text"


def _is_date(value: Any) -> bool:
    """A plain ISO date (2022-08-08), the only text a DatePicker can show and give back."""
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:  # 2022-13-45 has the shape but is no date
        return False
    return True


@dataclass
class Entry:
    """One request in the history: what was sent, what came back, how long it took."""

    payload: dict
    answer: Any
    ms: float
    error: str | None = None
    body: bytes | None = None  # the raw bytes of an uploaded file, with its type
    content_type: str = "application/json"
    suffix: str = ".bin"
    file_name: str = ""

    def summary(self, previous: Entry | None = None) -> str:
        """One line: the request (what differs from ``previous``), the answer, the time."""
        got = f"error: {self.error}" if self.error else _answer_summary(self.answer)
        return f"{self.request_summary(previous)} → {_cut(got, 50)}  {self.ms:.0f} ms"

    def request_summary(self, previous: Entry | None = None) -> str:
        """The request in a few words: every field, or only those that differ from ``previous``.

        A changed text is shown from a little before its first changed character, so that two
        long texts that differ near their end can be told apart.
        """
        sent, before = self._shown(), previous._shown() if previous is not None else None
        if before is None:
            parts = [f"{k}: {_short(v)}" for k, v in sent.items()]
        else:
            parts = [
                f"{k}: {_short(v, before.get(k))}"
                for k, v in sent.items()
                if k not in before or before[k] != v
            ]
            parts += [f"{k} removed" for k in before if k not in sent]
            if not parts:
                return "same request"
        return _cut(", ".join(parts), 90)

    def _shown(self) -> dict:
        """The payload as the history shows it: an upload by its file name."""
        if self.body is None:
            return self.payload
        return {**self.payload, "inputs": f"<file {self.file_name or self.content_type}>"}


class PayloadForm:
    """A form that composes payloads for a handler and shows its answers and history."""

    def __init__(self, handler: Any, sample: dict | None = None, keep: int = 20) -> None:
        self.handler = handler
        self.keep = keep
        self.fields: dict[str, Field] = {}
        self.history: list[Entry] = []
        self._thread: threading.Thread | None = None
        self.field_box = w.VBox()
        self.send_button = w.Button(description="Send", button_style="primary", icon="play")
        self.status = w.HTML("ready")
        self.output = w.Output()  # the current answer or error, and nothing else
        self.new_name = w.Text(placeholder="new field", layout=w.Layout(width="140px"))
        self.new_kind = w.Dropdown(options=KINDS, value="text", layout=w.Layout(width="90px"))
        self.add_button = w.Button(description="add field", icon="plus")
        self.history_list = w.Select(options=[], rows=5, layout=w.Layout(width="700px"))
        self.resend_button = w.Button(description="re-send", icon="repeat")
        self.copy_button = w.Button(description="copy to form", icon="arrow-up")
        self.export_button = w.Button(description="export cases", icon="download")

        self.send_button.on_click(lambda _: self.send())
        self.add_button.on_click(lambda _: self._add_from_inputs())
        self.resend_button.on_click(lambda _: self._resend())
        self.copy_button.on_click(lambda _: self._copy_back())
        self.export_button.on_click(lambda _: self._export())
        for name, value in (sample or {"inputs": ""}).items():
            self.add_field(name, value)
        self.widget = w.VBox(
            [
                self.field_box,
                w.HBox([self.new_name, self.new_kind, self.add_button]),
                w.HBox([self.send_button, self.status]),
                self.output,
                w.HTML("<b>history</b>"),
                self.history_list,
                w.HBox([self.resend_button, self.copy_button, self.export_button]),
            ]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # What a frontend without widget support shows instead of the form.
        return {**bundle, "text/plain": NO_WIDGETS} if bundle else bundle

    def __repr__(self) -> str:
        return f"<PayloadForm for {self.handler!r}: {_count(len(self.history), 'request')}>"

    @property
    def shown(self) -> str:
        """The text of what the form shows now: the answer's table, the error, or ""."""
        return "".join(o.get("data", {}).get("text/plain", "") for o in self.output.outputs)

    # --- composing ---------------------------------------------------------------------

    def add_field(self, name: str, value: Any = None, kind: str | None = None) -> Field:
        """Add (or replace) a field of the payload."""
        if name in self.fields:
            self.remove_field(name)
        field = Field(name, value, kind)
        field.remove.on_click(lambda _: self.remove_field(name))
        if field.upload is not None:
            field.editor.observe(lambda _: self._note_upload(), "value")
        if field.kind == "json":
            field.editor.observe(lambda _: self._check_fields(), "value")
        self.fields[name] = field
        self.field_box.children = [f.widget for f in self.fields.values()]
        self._check_fields()
        return field

    def upload(
        self, file: str | Path | bytes, content_type: str | None = None, name: str | None = None
    ) -> None:
        """Upload a file as ``inputs``, as choosing it in the browser would (see Field.load)."""
        self.fields["inputs"].load(file, content_type, name)

    def remove_field(self, name: str) -> None:
        """Take a field out of the payload (``inputs`` stays)."""
        if name != "inputs":
            self.fields.pop(name, None)
            self.field_box.children = [f.widget for f in self.fields.values()]
            self._check_fields()

    def problems(self) -> list[str]:
        """What keeps the form from sending now (fields whose JSON does not parse)."""
        return [p for p in (f.problem() for f in self.fields.values()) if p]

    def _check_fields(self) -> None:
        # Send is disabled while a field is wrong, and the status says why: never "ok" next to
        # a form that cannot send.
        problems = self.problems()
        if problems:
            self.send_button.disabled = True
            self.status.value = style.status("error", "not sent") + html.escape(
                f": {'; '.join(problems)}. Fix it to send."
            )
        elif not self.running:
            self.send_button.disabled = False
            if self.status.value.startswith(style.status("error", "not sent")):
                self.status.value = "ready"

    def payload(self) -> dict:
        """The payload the form composes now."""
        return {name: field.value() for name, field in self.fields.items()}

    def _note_upload(self) -> None:
        # The upload wins over the text (see Field.value): say so while the text is edited.
        file = self.fields["inputs"].file() if "inputs" in self.fields else None
        if file is not None:
            self.status.value = (
                f"sending the uploaded file {html.escape(file['name'])}; clear it to send the text"
            )

    def fill(self, payload: dict) -> None:
        """Show ``payload`` in the form, adding fields it needs."""
        for name, value in payload.items():
            field = self.fields.get(name)
            if field is not None and field.kind == "date" and value and not _is_date(value):
                self.add_field(name, value)  # a DatePicker cannot show it: a text field can
            elif field is not None:
                self.fields[name].set(value)
            else:
                self.add_field(name, value)
        for name in set(self.fields) - set(payload) - {"inputs"}:
            self.remove_field(name)

    def _add_from_inputs(self) -> None:
        name = self.new_name.value.strip()
        if name:
            defaults = {"text": "", "number": 0, "bool": False, "date": "", "json": {}}
            self.add_field(name, defaults[self.new_kind.value], self.new_kind.value)
            self.new_name.value = ""

    # --- sending -----------------------------------------------------------------------

    def send(self, payload: dict | None = None, entry: Entry | None = None) -> None:
        """Send the form's payload (or ``payload``) to the handler in a background thread."""
        if self.running:
            return
        try:
            if payload is None:
                payload = self.payload()
        except HandlerKitError as error:
            self.status.value = style.status("error", "not sent")
            self._show_error(str(error), "")
            return
        upload = self.fields["inputs"].file() if "inputs" in self.fields else None
        if entry is None:
            entry = Entry(payload, None, 0.0)
            if upload is not None:
                entry.body = bytes(upload["content"])
                entry.content_type = upload["type"]
                entry.suffix = Path(upload["name"]).suffix or ".bin"
                entry.file_name = upload["name"]
        self.send_button.disabled = True
        self._thread = threading.Thread(target=self._run, args=(entry,), daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the call in flight, if any (at most ``timeout`` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, entry: Entry) -> None:
        started = time.perf_counter()
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(started, done), daemon=True)
        ticker.start()
        try:
            try:
                # A copy: handlers such as the guide's pop keys from the payload they get.
                answer = self.handler(copy.deepcopy(entry.payload))
            except Exception as error:
                entry.ms = (time.perf_counter() - started) * 1000
                entry.error = f"{type(error).__name__}: {error}"
                done.set()
                ticker.join()  # so that "running…" cannot overwrite the outcome
                self._show_error(entry.error, self._trace(error))
                self.status.value = f"{style.status('failed')} in {entry.ms:.0f} ms"
            else:
                entry.ms = (time.perf_counter() - started) * 1000
                entry.answer = answer
                done.set()
                ticker.join()
                self.status.value = f"{style.status('ok')} in {entry.ms:.1f} ms"
                self._show(result_table(answer))
        except Exception as error:
            # This thread's exceptions only reach stderr: show a rendering failure in the form.
            message = f"cannot show the answer: {type(error).__name__}: {error}"
            self._show_error(message, "".join(traceback.format_tb(error.__traceback__)))
        finally:
            done.set()
            try:
                self._remember(entry)
            finally:
                self.send_button.disabled = bool(self.problems())

    def _tick(self, started: float, done: threading.Event) -> None:
        while not done.wait(0.25):
            self.status.value = f"running… {time.perf_counter() - started:.1f} s"

    def _trace(self, error: BaseException) -> str:
        return handler_frames(error, getattr(self.handler, "path", None))

    def _show(self, shown: Any) -> None:
        """Show one thing (a result table, an error) in place of what the form showed."""
        bundle = {"text/plain": repr(shown), "text/html": shown._repr_html_()}
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def _show_error(self, message: str, trace: str) -> None:
        self._show(_Error(message, trace))

    # --- history -----------------------------------------------------------------------

    def _remember(self, entry: Entry) -> None:
        self.history = [*self.history, entry][-self.keep :]
        before = [None, *self.history[:-1]]
        options = [
            (f"{i + 1}. {e.summary(previous)}", i)
            for i, (e, previous) in enumerate(zip(self.history, before, strict=True))
        ]
        self.history_list.options = options
        self.history_list.value = len(self.history) - 1

    def _selected(self) -> Entry | None:
        index = self.history_list.value
        return self.history[index] if index is not None and index < len(self.history) else None

    def _resend(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.send(entry.payload, replace(entry, answer=None, ms=0.0, error=None))

    def _copy_back(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        if entry.body is not None:
            # A FileUpload cannot be given bytes from Python: say so rather than do nothing.
            self.status.value = (
                f"the uploaded file {html.escape(entry.file_name or 'of this request')} "
                "can't be copied back into the form; use re-send to send it again"
            )
            return
        if "inputs" in self.fields:
            self.fields["inputs"].clear_upload()  # else the old upload is sent, not this text
        self.fill(entry.payload)

    def export_cases(self, folder: str | Path | None = None) -> list[Path]:
        """Write the successful requests of the history as new payload cases (JSON files).

        An answer with labels and scores is kept as its top label and score, with a tolerance
        (scores vary in their last digits across machines); any other answer exactly.
        """
        return self._write_cases(folder)[0]

    def _write_cases(self, folder: str | Path | None) -> tuple[list[Path], int]:
        """The case files written (never over existing ones) and the uploads skipped."""
        repo = getattr(self.handler, "path", None)
        folder = Path(folder) if folder is not None else Path(repo or ".") / "cases"
        taken = [re.match(r"case_(\d+)\.", p.name) for p in folder.glob("case_*")]
        number = max((int(m.group(1)) for m in taken if m), default=0)
        written, skipped = [], 0
        for entry in (e for e in self.history if e.error is None):
            if entry.body is not None and any(k != "inputs" for k in entry.payload):
                skipped += 1  # a binary body carries nothing else, as in production
                continue
            number += 1
            name = f"case_{number:03d}"
            if entry.body is not None:
                written.append(
                    save_case(
                        folder,
                        name,
                        answer=entry.answer,
                        body=entry.body,
                        content_type=entry.content_type,
                        suffix=entry.suffix,
                    )
                )
            else:
                written.append(save_case(folder, name, entry.payload, entry.answer))
        return written, skipped

    def _export(self) -> None:
        written, skipped = self._write_cases(None)
        where = f" to {written[0].parent}" if written else ""
        status = f"exported {_count(len(written), 'case')}{where}"
        if skipped:
            status += (
                f"; skipped {_count(skipped, 'upload')} with extra fields: "
                "a binary body carries nothing else"
            )
        self.status.value = html.escape(status)


@dataclass(frozen=True)
class _Error:
    """An error as the form shows it: the message, then the trace (the user's frames)."""

    message: str
    trace: str = ""

    def __repr__(self) -> str:
        return f"{self.message}\n{self.trace}".rstrip()

    def _repr_html_(self) -> str:
        return style.error_box(self.message, self.trace)


NO_WIDGETS = (
    "A payload form (ipywidgets). You see this text because this frontend shows no widgets:\n"
    "- JupyterLab 4 and Notebook 7: pip install jupyterlab_widgets, where Jupyter runs;\n"
    "- classic Notebook 6: pip install widgetsnbextension, where Jupyter runs;\n"
    "- Colab: %load_ext handler_kit turns on Colab's widget manager.\n"
    "Then reload the page. Without the form: answer = handler(payload); show(answer)."
)


def payload_form(handler: Any, sample: dict | None = None) -> PayloadForm:
    """A payload form for ``handler`` (a LiveHandler or any callable), from a sample payload."""
    colab.enable_widgets()  # for those who build the form without %load_ext handler_kit
    return PayloadForm(handler, sample)


def _answer_summary(answer: Any) -> str:
    """The top label and its score, else the answer as JSON: never an exception."""
    try:
        table = result_table(answer)
        if table.kind in ("labels", "top-k"):
            label, score = table.sections[0].rows[0]
            # A handler under development may answer a score of None or "0.9".
            shown = f"{score:.2f}" if isinstance(score, (int, float)) else repr(score)
            return f"{label} ({shown})"
    except Exception:  # a summary must not cost the history its entry
        pass
    return _json(answer)


def _short(value: Any, before: Any = None, width: int = 40) -> str:
    """A payload value in a few characters; a changed text from just before its change."""
    if not isinstance(value, str):
        return _cut(_json(value), width)
    start = 0
    if isinstance(before, str) and len(value) > width:
        pairs = zip(before, value, strict=False)
        same = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(before), len(value)))
        if same > width // 2:
            start = same - width // 4  # a few characters of context before the change
    text = ("…" if start else "") + _cut(value[start:], width)
    return json.dumps(text, ensure_ascii=False)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return repr(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
