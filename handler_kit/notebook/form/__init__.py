"""The payload form: compose a request with widgets, send it to a handler, read the answer.

``payload_form(handler, sample)`` builds one field per key of the sample payload (fields.py).
Send runs the handler in a background thread, so the form never freezes, and shows the answer
as a result table or the error (sender.py); a history keeps the last requests, each line saying
what differs from the request before it (history.py), and exports them as cases (export.py).
``PayloadForm`` puts these together and owns the one status line they speak through.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w

from ... import colab, style
from ...cases.case import Case, CaseError, cases_for
from ...endpoint.contract import AUDIO_TYPES, IMAGE_TYPES
from ...errors import HandlerKitError
from ...report import Status, count
from .export import export_cases, export_folder
from .fields import Field, FieldKind, Fields
from .history import Exchange, History, Reload
from .sender import Sender

__all__ = ["Exchange", "Field", "FieldKind", "PayloadForm", "payload_form"]

NOT_SENT = style.bold("not sent", Status.ERROR.colour)
MEDIA = IMAGE_TYPES + AUDIO_TYPES  # what the upload of ``inputs`` sends


class PayloadForm:
    """A form that composes payloads for a handler and shows its answers and history."""

    def __init__(self, handler: Any, sample: dict | None = None, keep: int = 20) -> None:
        self.handler = handler
        self.send_button = w.Button(description="Send", button_style="primary", icon="play")
        self.status = w.HTML("ready")
        self._sender = Sender(self._say, self._finished)
        self._history = History(keep)
        self.fields = Fields(self._check_fields, self._note_upload)
        for name, value in (sample or {"inputs": ""}).items():
            self.fields.add(name, value)
        self.resend_button = w.Button(description="re-send", icon="repeat")
        self.copy_button = w.Button(description="copy to form", icon="arrow-up")
        self.export_button = w.Button(description="export cases", icon="download")
        self.send_button.on_click(lambda _: self.send())
        self.resend_button.on_click(lambda _: self._resend())
        self.copy_button.on_click(lambda _: self._copy_back())
        self.export_button.on_click(lambda _: self._export())
        self.widget = w.VBox(
            [
                self.fields.box,
                self.fields.adding,
                w.HBox([self.send_button, self.status]),
                self.reloaded,
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
        return f"<PayloadForm for {self.handler!r}: {count(len(self.history), 'request')}>"

    # The parts' widgets and state, under the names the form has always had.
    @property
    def output(self) -> w.Output:
        """Where the current answer or error is shown."""
        return self._sender.output

    @property
    def reloaded(self) -> w.HTML:
        """What the autoreload did just before the current answer: its line, or why it failed."""
        return self._sender.reloaded

    @property
    def shown(self) -> str:
        """The text of what the form shows now: the answer's table, the error, or ""."""
        return self._sender.shown

    @property
    def history(self) -> list[Exchange]:
        """The last requests, oldest first."""
        return self._history.entries

    @property
    def history_list(self) -> w.Select:
        return self._history.list

    @property
    def keep(self) -> int:
        """How many requests the history keeps."""
        return self._history.keep

    @keep.setter
    def keep(self, keep: int) -> None:
        self._history.keep = keep

    @property
    def new_name(self) -> w.Text:
        return self.fields.new_name

    @property
    def new_kind(self) -> w.Dropdown:
        return self.fields.new_kind

    @property
    def add_button(self) -> w.Button:
        return self.fields.add_button

    # --- composing ---------------------------------------------------------------------

    def add_field(self, name: str, value: Any = None, kind: str | FieldKind | None = None) -> Field:
        """Add (or replace) a field of the payload."""
        return self.fields.add(name, value, kind)

    def remove_field(self, name: str) -> None:
        """Take a field out of the payload (``inputs`` stays)."""
        self.fields.remove(name)

    def upload(
        self, file: str | Path | bytes, content_type: str | None = None, name: str | None = None
    ) -> None:
        """Upload a file as ``inputs``, as choosing it in the browser would (see Field.load)."""
        self.fields["inputs"].load(file, content_type, name)

    def fill(self, payload: dict) -> None:
        """Show ``payload`` in the form, adding fields it needs."""
        self.fields.fill(payload)

    def problems(self) -> list[str]:
        """What keeps the form from sending now (fields whose JSON does not parse)."""
        return self.fields.problems()

    def payload(self) -> dict:
        """The payload the form composes now."""
        return self.fields.payload()

    def _check_fields(self) -> None:
        # Send is disabled while a field is wrong, and the status says why: never "ok" next to
        # a form that cannot send.
        problems = self.problems()
        if problems:
            self.send_button.disabled = True
            self._say(NOT_SENT + html.escape(f": {'; '.join(problems)}. Fix it to send."))
        elif not self.running:
            self.send_button.disabled = False
            if self.status.value.startswith(NOT_SENT):
                self._say("ready")

    def _note_upload(self) -> None:
        # The upload wins over the text (see Field.value): say so while the text is edited.
        file = self.fields.upload()
        if file is not None:
            name = html.escape(file["name"])
            self._say(f"sending the uploaded file {name}; clear it to send the text")

    # --- sending -----------------------------------------------------------------------

    def send(self, payload: dict | None = None, entry: Exchange | None = None) -> None:
        """Send the form's payload (or ``payload``) to the handler in a background thread."""
        if self.running:
            return
        try:
            if payload is None:
                payload = self.payload()
        except HandlerKitError as error:
            self._say(NOT_SENT)
            self._sender.show_error(str(error))
            return
        self.send_button.disabled = True
        self._sender.send(self.handler, entry or Exchange.of(payload, self.fields.upload()))

    @property
    def running(self) -> bool:
        """True while a request is in flight."""
        return self._sender.running

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the call in flight, if any (at most ``timeout`` seconds)."""
        self._sender.wait(timeout)

    def _finished(self, entry: Exchange) -> None:
        try:
            self._history.remember(entry)
        finally:
            self.send_button.disabled = bool(self.problems())

    def _say(self, status: str) -> None:
        self.status.value = status

    # --- history -----------------------------------------------------------------------

    def _resend(self) -> None:
        entry = self._history.selected()
        if entry is not None:
            again = replace(entry, answer=None, ms=0.0, error=None, reload=Reload.NONE)
            self.send(entry.payload, again)

    def _copy_back(self) -> None:
        entry = self._history.selected()
        if entry is None:
            return
        if entry.body is not None:
            # A FileUpload cannot be given bytes from Python: say so rather than do nothing.
            self._say(
                f"the uploaded file {html.escape(entry.file_name or 'of this request')} "
                "can't be copied back into the form; use re-send to send it again"
            )
            return
        if "inputs" in self.fields:
            self.fields["inputs"].clear_upload()  # else the old upload is sent, not this text
        self.fill(entry.payload)

    def export_cases(self, folder: str | Path | None = None) -> list[Path]:
        """Write the successful requests of the history as new payload cases (JSON files).

        Each distinct request once, with its last answer, and none that a case in the folder
        already sends; an upload's ``parameters`` go in its query string. An answer with
        labels and scores is kept as its top label and score, with a tolerance (scores vary
        in their last digits across machines); any other answer exactly.
        """
        return export_cases(self.history, export_folder(self.handler, folder)).written

    def _export(self) -> None:
        self._say(html.escape(str(export_cases(self.history, export_folder(self.handler)))))


NO_WIDGETS = (
    "A payload form (ipywidgets). You see this text because this frontend shows no widgets:\n"
    "- JupyterLab 4 and Notebook 7: pip install jupyterlab_widgets, where Jupyter runs;\n"
    "- classic Notebook 6: pip install widgetsnbextension, where Jupyter runs;\n"
    "- Colab: %load_ext handler_kit turns on Colab's widget manager.\n"
    "Then reload the page. Without the form: answer = handler(payload); show(answer)."
)


def payload_form(handler: Any, sample: dict | None = None) -> PayloadForm:
    """A payload form for ``handler`` (a LiveHandler or any callable), from a sample payload.

    Without ``sample``, the first case of the handler's repository is the sample (its file in
    the upload, for an image or audio case); without one, an empty ``inputs``.
    """
    colab.enable_widgets()  # for those who build the form without %load_ext handler_kit
    case = first_case(handler) if sample is None else None
    if case is None:
        return PayloadForm(handler, sample)
    if case.body_file is None:
        return PayloadForm(handler, case.payload)
    # An image or audio case: its file in the upload, its query-string parameters as a field.
    form = PayloadForm(
        handler, {"inputs": "", "parameters": case.parameters} if case.parameters else None
    )
    form.upload(case.body_file, case.content_type)
    return form


def first_case(handler: Any) -> Case | None:
    """The first case of ``handler``'s repository the form can show: a JSON object, or a
    file production decodes as an image or audio; None without one."""
    path = getattr(handler, "path", None)
    try:
        found = cases_for(path) if path is not None else []
    except CaseError:  # no cases folder, or no case file in it
        return None
    for case in found:
        if isinstance(case, CaseError):
            continue
        if case.body_file is None and isinstance(case.payload, dict):
            return case
        if case.body_file is not None and case.body_file.is_file() and case.content_type in MEDIA:
            return case
    return None
