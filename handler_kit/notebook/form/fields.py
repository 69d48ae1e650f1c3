"""The form's fields: one editor per key of the payload, and the payload they compose.

``inputs`` is a text area with a file upload for images and audio (a thumbnail or a player
shows it; from code, ``Field.load(path)``), dates are date pickers, numbers and booleans number
fields and checkboxes, ``parameters`` (and any list or dict) JSON that is checked as you type.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w

from ... import style
from ...cases.case import is_number
from ...endpoint import contract
from ...errors import HandlerKitError

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldKind(str, enum.Enum):
    """The editor a payload value gets."""

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    JSON = "json"


# The value a field added by hand starts with.
EMPTY = {
    FieldKind.TEXT: "",
    FieldKind.NUMBER: 0,
    FieldKind.BOOL: False,
    FieldKind.DATE: "",
    FieldKind.JSON: {},
}


class Field:
    """One key of the payload and its editor widget."""

    def __init__(self, name: str, value: Any, kind: str | FieldKind | None = None) -> None:
        self.name = name
        self.kind = FieldKind(kind) if kind is not None else guess_kind(name, value)
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
        if self.kind is FieldKind.BOOL:
            return w.Checkbox(value=bool(value), indent=False)
        if self.kind is FieldKind.NUMBER:
            number = w.IntText if isinstance(value, int) else w.FloatText
            return number(value=value or 0, layout=layout)
        if self.kind is FieldKind.DATE:
            return w.DatePicker(value=dt.date.fromisoformat(value) if is_date(value) else None)
        if self.kind is FieldKind.JSON:
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
        if self.kind is not FieldKind.JSON or self.file() is not None:
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

        ``file`` is a path or the file's bytes; ``content_type`` is guessed from its bytes,
        else its name, when not given (production decodes the body by it: image/png, ...).
        """
        if self.upload is None:
            raise HandlerKitError(f"`{self.name}` takes no file", hint="Upload into `inputs`.")
        if isinstance(file, (str, Path)):
            path = Path(file)
            content, name = path.read_bytes(), name or path.name
        else:
            content, name = bytes(file), name or "upload"
        content_type = content_type or contract.guess_content_type(name, content)
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
        if self.kind is FieldKind.JSON:
            if not self._validate():
                raise HandlerKitError(f"{self.problem()}.", hint="Fix the field, then send again.")
            return json.loads(self.editor.value or "null")
        if self.kind is FieldKind.DATE:
            return self.editor.value.isoformat() if self.editor.value else None
        return self.editor.value

    def set(self, value: Any) -> None:
        """Show ``value`` in the editor."""
        if self.kind is FieldKind.JSON:
            self.editor.value = json.dumps(value, indent=1)
        elif self.kind is FieldKind.DATE:
            self.editor.value = dt.date.fromisoformat(value) if is_date(value) else None
        elif self.kind in (FieldKind.BOOL, FieldKind.NUMBER):
            self.editor.value = value
        else:
            self.editor.value = "" if value is None else str(value)


def guess_kind(name: str, value: Any) -> FieldKind:
    """The editor for a payload value: text, number, bool, date or json."""
    if isinstance(value, bool):
        return FieldKind.BOOL
    if is_number(value):
        return FieldKind.NUMBER
    if is_date(value) or (name == "date" and value in (None, "")):
        return FieldKind.DATE
    if name == "parameters" or (not isinstance(value, str) and value is not None):
        return FieldKind.JSON
    return FieldKind.TEXT


def is_date(value: Any) -> bool:
    """A plain ISO date (2022-08-08), the only text a DatePicker can show and give back."""
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:  # 2022-13-45 has the shape but is no date
        return False
    return True


class Fields(Mapping[str, Field]):
    """The payload's fields by name, in their ``box``, and the row that adds one (``adding``).

    ``changed`` is called when a field comes, goes or its JSON is edited (what can be sent may
    have changed); ``inputs_edited`` when the text of ``inputs`` is.
    """

    def __init__(self, changed: Callable[[], None], inputs_edited: Callable[[], None]) -> None:
        self._fields: dict[str, Field] = {}
        self._changed, self._inputs_edited = changed, inputs_edited
        self.box = w.VBox()
        self.new_name = w.Text(placeholder="new field", layout=w.Layout(width="140px"))
        kinds = [kind.value for kind in FieldKind]
        self.new_kind = w.Dropdown(options=kinds, value="text", layout=w.Layout(width="90px"))
        self.add_button = w.Button(description="add field", icon="plus")
        self.add_button.on_click(lambda _: self._add_by_hand())
        self.adding = w.HBox([self.new_name, self.new_kind, self.add_button])

    def __getitem__(self, name: str) -> Field:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def add(self, name: str, value: Any = None, kind: str | FieldKind | None = None) -> Field:
        """Add (or replace) a field of the payload."""
        if name in self._fields:
            self.remove(name)
        field = Field(name, value, kind)
        field.remove.on_click(lambda _: self.remove(name))
        if field.upload is not None:
            field.editor.observe(lambda _: self._inputs_edited(), "value")
        if field.kind is FieldKind.JSON:
            field.editor.observe(lambda _: self._changed(), "value")
        self._fields[name] = field
        self.box.children = [f.widget for f in self._fields.values()]
        self._changed()
        return field

    def remove(self, name: str) -> None:
        """Take a field out of the payload (``inputs`` stays)."""
        if name != "inputs":
            self._fields.pop(name, None)
            self.box.children = [f.widget for f in self._fields.values()]
            self._changed()

    def fill(self, payload: dict) -> None:
        """Show ``payload`` in the fields, adding those it needs and removing the others."""
        for name, value in payload.items():
            field = self._fields.get(name)
            if field is not None and field.kind is FieldKind.DATE and value and not is_date(value):
                self.add(name, value)  # a DatePicker cannot show it: a text field can
            elif field is not None:
                field.set(value)
            else:
                self.add(name, value)
        for name in set(self._fields) - set(payload) - {"inputs"}:
            self.remove(name)

    def problems(self) -> list[str]:
        """What keeps the payload from being sent (fields whose JSON does not parse)."""
        return [p for p in (f.problem() for f in self._fields.values()) if p]

    def payload(self) -> dict:
        """The payload the fields compose now."""
        return {name: field.value() for name, field in self._fields.items()}

    def upload(self) -> dict | None:
        """The file uploaded into ``inputs`` (it is sent in place of the text), if any."""
        inputs = self._fields.get("inputs")
        return inputs.file() if inputs is not None else None

    def _add_by_hand(self) -> None:
        name = self.new_name.value.strip()
        if name:
            kind = FieldKind(self.new_kind.value)
            self.add(name, EMPTY[kind], kind)
            self.new_name.value = ""
