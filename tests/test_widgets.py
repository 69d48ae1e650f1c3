"""widgets.py: the payload form, driven the way a person would (set values, click)."""

import datetime as dt
import io
import threading
import time

import pytest
from PIL import Image

import handler_kit
from handler_kit.cases import load_cases
from handler_kit.widgets import payload_form

SAMPLE = {"inputs": "I am quite excited", "date": "2022-07-04", "top": 3, "flag": True}


def labeller(data):
    return [{"label": data.pop("inputs").upper(), "score": 0.75}, {"label": "other", "score": 0.25}]


def text_of(form):
    return "".join(o["data"]["text/plain"] for o in form.output.outputs)


def click_send(form):
    form.send_button.click()
    form.wait(10)


def test_fields_follow_the_sample_payload():
    form = payload_form(labeller, {**SAMPLE, "parameters": {"top_k": None}, "ratio": 0.5})
    kinds = {name: field.kind for name, field in form.fields.items()}
    assert kinds == {
        "inputs": "text",
        "date": "date",
        "top": "number",
        "flag": "bool",
        "parameters": "json",
        "ratio": "number",
    }
    assert form.fields["date"].editor.value == dt.date(2022, 7, 4)
    form.fields["date"].editor.value = dt.date(2022, 12, 25)
    form.fields["flag"].editor.value = False
    form.fields["top"].editor.value = 5
    assert form.payload() == {
        "inputs": "I am quite excited",
        "date": "2022-12-25",
        "top": 5,
        "flag": False,
        "parameters": {"top_k": None},
        "ratio": 0.5,
    }


def test_default_form_has_just_inputs_and_fields_can_be_added_and_removed():
    form = payload_form(labeller)
    assert form.payload() == {"inputs": ""}
    form.new_name.value, form.new_kind.value = "country", "text"
    form.add_button.click()
    form.fields["country"].editor.value = "DE"
    form.new_name.value, form.new_kind.value = "parameters", "json"
    form.add_button.click()
    assert form.payload() == {"inputs": "", "country": "DE", "parameters": {}}
    form.fields["country"].remove.click()
    assert list(form.payload()) == ["inputs", "parameters"]


def test_parameters_are_validated_as_you_type_and_bad_json_is_not_sent():
    calls = []
    form = payload_form(lambda data: calls.append(data) or [], {"inputs": "x", "parameters": {}})
    form.fields["parameters"].editor.value = '{"top_k": }'
    assert "not JSON" in form.fields["parameters"].error.value
    assert "line 1, column 11" in form.fields["parameters"].error.value
    click_send(form)
    assert calls == [] and "`parameters` is not valid JSON" in form.error_panel.value
    form.fields["parameters"].editor.value = '{"top_k": 2}'
    assert form.fields["parameters"].error.value == ""
    click_send(form)
    assert calls == [{"inputs": "x", "parameters": {"top_k": 2}}]


def test_send_shows_the_result_table_latency_and_history():
    form = payload_form(labeller, {"inputs": "joy"})
    click_send(form)
    assert "JOY" in text_of(form) and "<table" in form.output.outputs[0]["data"]["text/html"]
    assert "ok</span> in " in form.status.value and " ms" in form.status.value
    assert len(form.history) == 1
    entry = form.history[0]
    assert entry.payload == {"inputs": "joy"}  # the handler popped from its own copy
    assert "→ JOY (0.75)" in form.history_list.options[0][0]


def test_send_always_uses_the_current_handler(repo):
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path)
    form = payload_form(live, {"inputs": "a good day"})
    click_send(form)
    assert "positive" in text_of(form)
    repo.write("handler.py", "call_edited.py")
    live.reload()
    click_send(form)
    assert "POSITIVE" in text_of(form)


def test_a_handler_error_shows_a_panel_trimmed_to_the_users_files(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    form = payload_form(handler_kit.load(repo.path), {"inputs": "x", "fail": "nope"})
    click_send(form)
    panel = form.error_panel.value
    assert "ValueError: the handler refused: nope" in panel
    assert "handler.py:" in panel and "handler_kit" not in panel.replace("handler_kit-", "")
    assert "failed" in form.status.value and form.history[-1].error
    form.remove_field("fail")  # still usable
    click_send(form)
    assert form.error_panel.value == "" and "builtins.str" in text_of(form)


def test_a_long_call_shows_that_it_is_running():
    gate = threading.Event()
    form = payload_form(lambda data: gate.wait(10) and [], {"inputs": "slow"})
    form.send_button.click()
    time.sleep(0.6)
    assert form.running and form.send_button.disabled
    assert form.status.value.startswith("running… ")
    gate.set()
    form.wait(10)
    assert not form.send_button.disabled and "ok" in form.status.value


def upload(form, name, kind, content):
    form.fields["inputs"].upload.value = (
        {
            "name": name,
            "type": kind,
            "size": len(content),
            "content": memoryview(content),
            "last_modified": dt.datetime.now(dt.timezone.utc),
        },
    )


def test_an_uploaded_image_is_sent_as_production_decodes_it_with_a_thumbnail():
    seen = []
    form = payload_form(lambda data: seen.append(data["inputs"]) or [])
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 4), (255, 0, 0, 10)).save(buffer, format="PNG")
    upload(form, "photo.png", "image/png", buffer.getvalue())
    assert form.fields["inputs"].thumbnail.value == buffer.getvalue()
    assert form.fields["inputs"].thumbnail.layout.display is None
    click_send(form)
    assert seen[0].mode == "RGB" and seen[0].size == (8, 4)


def test_uploaded_audio_stays_bytes():
    seen = []
    form = payload_form(lambda data: seen.append(data["inputs"]) or [])
    upload(form, "clip.wav", "audio/wav", b"RIFF....WAVEfmt ")
    assert form.fields["inputs"].thumbnail.layout.display == "none"
    click_send(form)
    assert seen == [b"RIFF....WAVEfmt "]


def test_history_resends_copies_back_and_exports_cases(tmp_path):
    form = payload_form(labeller, {"inputs": "first", "top": 1})
    click_send(form)
    form.fields["inputs"].editor.value = "second"
    form.fields["top"].editor.value = 2
    click_send(form)
    form.history_list.value = 0
    form.copy_button.click()
    assert form.payload() == {"inputs": "first", "top": 1}
    form.resend_button.click()
    form.wait(10)
    assert len(form.history) == 3 and form.history[-1].payload == {"inputs": "first", "top": 1}

    written = form.export_cases(tmp_path / "cases")
    assert [p.name for p in written] == ["case_001.json", "case_002.json", "case_003.json"]
    cases = load_cases(tmp_path / "cases")
    assert cases[1].payload == {"inputs": "second", "top": 2}
    for case in cases:
        case.check(labeller(case.data()))  # the recorded answers replay


def test_history_keeps_the_last_n():
    form = payload_form(labeller, {"inputs": "x"})
    form.keep = 3
    for _ in range(5):
        click_send(form)
    assert len(form.history) == 3 and len(form.history_list.options) == 3


@pytest.mark.parametrize("bad", ["not json", "[1, 2"])
def test_json_fields_name_the_problem(bad):
    form = payload_form(labeller, {"inputs": "x", "extra": [1]})
    form.fields["extra"].editor.value = bad
    with pytest.raises(handler_kit.HandlerKitError, match="`extra` is not valid JSON"):
        form.payload()
