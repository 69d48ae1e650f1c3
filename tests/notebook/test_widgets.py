"""widgets.py: the payload form, driven the way a person would (set values, click)."""

import datetime as dt
import html
import io
import json
import threading
import time

import pytest
from PIL import Image

import handler_kit
from handler_kit.cases.case import load_cases
from handler_kit.errors import HandlerKitError
from handler_kit.notebook.form import payload_form
from handler_kit.notebook.form.export import Export
from handler_kit.report import Status

SAMPLE = {"inputs": "I am quite excited", "date": "2022-07-04", "top": 3, "flag": True}


def labeller(data):
    return [{"label": data.pop("inputs").upper(), "score": 0.75}, {"label": "other", "score": 0.25}]


def text_of(form):
    return form.shown


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
    assert "not valid JSON" in form.fields["parameters"].error.value
    assert "line 1, column 11" in form.fields["parameters"].error.value
    # Send is disabled and the status says why, not "ok" from an earlier send.
    assert form.send_button.disabled
    assert "not sent" in form.status.value and "parameters is not valid JSON" in form.status.value
    click_send(form)  # sent from code anyway: refused, saying what to fix
    assert calls == [] and "parameters is not valid JSON" in form.shown
    assert "Fix the field, then send again." in form.shown
    form.fields["parameters"].editor.value = '{"top_k": 2}'
    assert form.fields["parameters"].error.value == "" and not form.send_button.disabled
    assert form.status.value == "ready"
    click_send(form)
    assert calls == [{"inputs": "x", "parameters": {"top_k": 2}}]


def test_send_shows_the_result_table_latency_and_history():
    form = payload_form(labeller, {"inputs": "joy"})
    click_send(form)
    assert "JOY" in text_of(form) and "<table" in form.output.outputs[0]["data"]["text/html"]
    assert ">ok</b> in " in form.status.value and " ms" in form.status.value
    assert len(form.history) == 1
    entry = form.history[0]
    assert entry.payload == {"inputs": "joy"}  # the handler popped from its own copy
    assert form.history_list.options[0][0].startswith('1. inputs: "joy" → JOY (0.75)  ')


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
    # The same request got another answer: the history says the code changed in between.
    click_send(form)
    requests = [label.split(" → ")[0] for label, _ in form.history_list.options]
    assert requests == ['1. inputs: "a good day"', "2. same request · reloaded", "3. same request"]


def test_with_autoreload_send_answers_with_the_saved_code_and_says_it_reloaded(live, repo):
    from handler_kit.notebook.autoreload import AutoReload

    hook = AutoReload(say=pytest.fail)  # the form's calls run in its thread: nothing said here
    hook.attach(live)
    form = payload_form(live, {"inputs": "a good day"})
    click_send(form)
    assert "positive" in text_of(form) and form.reloaded.value == ""
    repo.write("handler.py", "call_edited.py")  # saved; no reload, no cell
    click_send(form)
    assert "POSITIVE" in text_of(form)
    assert "handler.py reloaded hot in " in form.reloaded.value
    repo.write("handler.py", "syntax_error.py")
    click_send(form)
    assert "POSITIVE" in text_of(form)  # the last good handler answered, and the form says so
    line = form.reloaded.value
    assert "the reload failed: the last good handler answered" in line and "SyntaxError" in line
    click_send(form)  # the same broken file: said once
    assert form.reloaded.value == "" and hook.take(live) == []
    lines = [label.split(" → ")[0] for label, _ in form.history_list.options]
    assert lines[1:] == [
        "2. same request · reloaded",
        "3. same request · reload failed",
        "4. same request",
    ]


def test_without_a_sample_the_repositorys_first_case_is_the_sample(repo):
    repo.write("handler.py", "image_handler.py")
    live = handler_kit.load(repo.path)
    assert payload_form(live).payload() == {"inputs": ""}  # no cases: an empty text
    (repo.path / "cases").mkdir()
    (repo.path / "cases" / "a_photo.png").write_bytes(png((6, 2)))
    photo = {"body_file": "a_photo.png", "content_type": "image/png", "parameters": {"top_k": 2}}
    repo.write("cases/a_photo.json", text=json.dumps(photo))
    repo.write("cases/b_text.json", text='{"payload": {"inputs": "words", "top": 1}}')
    form = payload_form(live)  # an image handler: its first case's image, in the upload
    assert form.fields["inputs"].file()["name"] == "a_photo.png"
    assert form.fields["inputs"].thumbnail.layout.display is None
    assert form.fields["parameters"].kind == "json"  # its query string, as a field
    click_send(form)
    assert form.history[-1].answer == [{"label": "RGB 6x2", "score": 1.0}]
    assert form.history[-1].payload["parameters"] == {"top_k": 2}
    (repo.path / "cases" / "a_photo.json").unlink()
    assert payload_form(live).payload() == {"inputs": "words", "top": 1}
    assert payload_form(live, {"inputs": "given"}).payload() == {"inputs": "given"}


def test_a_handler_error_shows_a_panel_trimmed_to_the_users_files(repo):
    repo.write("handler.py", "server/inspect_handler.py")
    form = payload_form(handler_kit.load(repo.path), {"inputs": "x", "fail": "nope"})
    click_send(form)
    panel = form.shown
    assert "ValueError: the handler refused: nope" in panel
    assert "handler.py:" in panel and "handler_kit" not in panel.replace("handler_kit-", "")
    assert "failed" in form.status.value and form.history[-1].error
    assert "handler-kit-error" in form.output.outputs[0]["data"]["text/html"]
    form.remove_field("fail")  # still usable
    click_send(form)
    assert len(form.output.outputs) == 1 and "builtins.str" in text_of(form)


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

    written = form.export_cases(tmp_path / "cases")  # the re-sent request once
    assert [p.name for p in written] == ["case_001.json", "case_002.json"]
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
    with pytest.raises(handler_kit.HandlerKitError, match="extra is not valid JSON"):
        form.payload()


@pytest.mark.parametrize("value", ["08/08/2022", "2022-08-08T10:00:00", "2022-13-45"])
def test_a_date_field_that_is_not_a_plain_iso_date_stays_text(value):
    form = payload_form(labeller, {"inputs": "x", "date": value})
    assert form.fields["date"].kind == "text"
    click_send(form)
    assert form.history[-1].payload == {"inputs": "x", "date": value}
    form.fill({"inputs": "y", "date": "2022-08-08"})  # and back: a date picker again
    form.fill({"inputs": "y", "date": value})
    assert form.payload() == {"inputs": "y", "date": value}


def png(size=(8, 4)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_answer_is_drawn_over_the_document_the_form_sent():
    def reader(data):
        return [{"word": "Name:", "box": [1, 1, 6, 3], "label": "B-QUESTION", "score": 0.9}]

    form = payload_form(reader)
    upload(form, "form.png", "image/png", png((8, 4)))
    click_send(form)
    page = form.output.outputs[0]["data"]["text/html"]
    assert 'class="handler-kit-box"' in page and '<img src="data:image/png' in page


def test_an_upload_can_be_cleared_and_typing_says_which_is_sent():
    seen = []
    form = payload_form(lambda data: seen.append(data["inputs"]) or [])
    inputs = form.fields["inputs"]
    assert inputs.clear.layout.display == "none"  # nothing to clear yet
    upload(form, "photo.png", "image/png", png())
    assert inputs.clear.layout.display is None
    inputs.editor.value = "some text"
    assert "sending the uploaded file photo.png; clear it to send the text" in form.status.value
    inputs.clear.click()
    assert inputs.file() is None and inputs.thumbnail.layout.display == "none"
    click_send(form)
    assert seen == ["some text"]


def test_copy_to_form_clears_the_upload_or_says_it_cannot_copy_one():
    seen = []
    form = payload_form(lambda data: seen.append(data["inputs"]) or [], {"inputs": "words"})
    click_send(form)
    upload(form, "photo.png", "image/png", png())
    click_send(form)
    form.history_list.value = 1
    form.copy_button.click()
    assert "photo.png can't be copied back" in form.status.value and "re-send" in form.status.value
    form.history_list.value = 0
    form.copy_button.click()
    assert form.fields["inputs"].file() is None
    click_send(form)
    assert seen[2] == "words"
    form.history_list.value = 1
    form.resend_button.click()
    form.wait(10)
    assert seen[3].size == (8, 4)  # the upload is re-sent as it was


def test_exports_never_overwrite_and_say_what_they_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a handler without a path exports to ./cases
    form = payload_form(lambda data: [{"label": type(data["inputs"]).__name__, "score": 1.0}])
    form.fields["inputs"].editor.value = "first"
    click_send(form)
    assert [p.name for p in form.export_cases()] == ["case_001.json"]
    (tmp_path / "cases" / "case_002.json").write_text('{"payload": {"inputs": "by hand"}}')
    form.add_field("top", 3)
    upload(form, "photo.png", "image/png", png())
    click_send(form)  # an upload with another field: no production request looks like it
    form.remove_field("top")
    click_send(form)
    form.export_button.click()
    names = sorted(p.name for p in (tmp_path / "cases").iterdir())
    assert names == ["case_001.json", "case_002.json", "case_003.json", "case_003.png"]
    assert form.status.value == (
        "exported 1 case to cases; 1 request already had a case; skipped 1 upload: `top` "
        "cannot travel with a file body (production reads the file as `inputs` and the query "
        "string as `parameters`, nothing else)"
    )
    cases = load_cases(tmp_path / "cases")
    assert cases[1].payload == {"inputs": "by hand"}  # not written over
    # A label answer is kept as its top label and score: scores vary across machines.
    assert [(c.expected_label, c.expected_score, c.has_expected) for c in cases] == [
        ("str", 1.0, False),
        (None, None, False),
        ("Image", 1.0, False),
    ]


def test_an_export_writes_each_distinct_request_once_and_never_an_existing_case(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the button exports to ./cases
    folder = tmp_path / "cases"
    folder.mkdir()
    # A case written by hand that sends the form's first request (its keys in another order).
    (folder / "mine.json").write_text('{"payload": {"top": 1, "inputs": "known"}}')
    answers = iter(range(100))
    form = payload_form(lambda data: {"n": next(answers)}, {"inputs": "known", "top": 1})
    for _ in range(3):
        click_send(form)
    form.fields["inputs"].editor.value = "new"
    for _ in range(5):
        click_send(form)
    form.remove_field("top")  # a file body carries nothing else
    upload(form, "photo.png", "image/png", png())
    for _ in range(5):
        click_send(form)
    upload(form, "photo.png", "image/jpeg", png())  # the same bytes as another type
    click_send(form)
    written = form.export_cases(folder)
    assert [p.name for p in written] == ["case_001.json", "case_002.json", "case_003.json"]
    # One copy of the image per distinct request, not one per send.
    assert sorted(p.name for p in folder.glob("*.png")) == ["case_002.png", "case_003.png"]
    cases = {c.name: c for c in load_cases(folder)}
    assert cases["case_001"].payload == {"inputs": "new", "top": 1}
    assert cases["case_001"].expected == {"n": 7}  # the last answer of that request
    assert (cases["case_002"].content_type, cases["case_003"].content_type) == (
        "image/png",
        "image/jpeg",
    )
    assert cases["case_002"].expected == {"n": 12} and cases["case_002"].parameters is None
    again = form.export_cases(folder)  # every request has its case now
    assert again == [] and len(list(folder.iterdir())) == 6
    form.export_button.click()
    assert form.status.value == "exported 0 cases; 4 requests already had a case"


def test_an_upload_with_parameters_is_exported_with_them_in_its_query_string(repo, tmp_path):
    from handler_kit.endpoint.server import serve

    repo.write("handler.py", "server/inspect_handler.py")
    live = handler_kit.load(repo.path)
    form = payload_form(live, {"inputs": "", "parameters": {"top_k": 2, "fields": True}})
    upload(form, "photo.png", "image/png", png())
    click_send(form)
    form.fields["parameters"].editor.value = '{"threshold": 0.5}'
    click_send(form)
    written = form.export_cases()
    assert [p.name for p in written] == ["case_001.json"]
    assert json.loads(written[0].read_text())["parameters"] == {"top_k": 2, "fields": True}
    form.export_button.click()
    assert form.status.value == html.escape(
        "exported 0 cases; 1 request already had a case; skipped 1 upload: parameter "
        "`threshold` = 0.5 cannot travel in a query string: production's server would give "
        'the handler "0.5"'
    )
    (case,) = load_cases(repo.path / "cases")
    assert case.address("http://127.0.0.1:1") == "http://127.0.0.1:1?top_k=2&fields=true"
    data = case.data()  # as production's server reads the body and the query string
    assert data["parameters"] == {"top_k": 2, "fields": True} and data["inputs"].mode == "RGB"
    with serve(live) as endpoint:  # and replayed over HTTP, the answer is the one recorded
        report = handler_kit.replay(endpoint.url, repo.path / "cases")
    assert [row.outcome for row in report.rows] == [Status.PASS], report


def test_an_exported_label_answer_has_a_tolerant_score_and_others_are_exact(tmp_path):
    form = payload_form(labeller, {"inputs": "joy"})
    click_send(form)
    form.handler = lambda data: {"embedding": [0.1, 0.2]}
    form.fields["inputs"].editor.value = "calm"
    click_send(form)
    first, second = (json.loads(p.read_text()) for p in form.export_cases(tmp_path))
    assert first == {
        "payload": {"inputs": "joy"},
        "expected_label": "JOY",
        "expected_score": 0.75,
        "tolerance": 0.05,
    }
    assert second == {"payload": {"inputs": "calm"}, "expected": {"embedding": [0.1, 0.2]}}


@pytest.mark.parametrize("score", [None, "0.9"])
def test_an_answer_with_a_score_that_is_not_a_number_is_still_remembered(score):
    form = payload_form(lambda data: [{"label": "a", "score": score}], {"inputs": "x"})
    click_send(form)
    assert len(form.history) == 1 and f"→ a ({score!r})" in form.history_list.options[0][0]
    assert "ok" in form.status.value and not form.send_button.disabled
    assert "a" in text_of(form)


def test_a_failure_to_show_the_answer_is_shown_and_the_history_kept(monkeypatch):
    def broken(answer, request=None):
        raise RuntimeError("cannot render")

    monkeypatch.setattr("handler_kit.notebook.form.sender.result_table", broken)
    form = payload_form(lambda data: {"a": 1}, {"inputs": "x"})
    click_send(form)
    assert "cannot show the answer: RuntimeError: cannot render" in form.shown
    assert len(form.history) == 1 and not form.send_button.disabled
    assert form.history_list.options[0][0].endswith('→ {"a": 1}  ' + f"{form.history[0].ms:.0f} ms")


def test_one_answer_or_error_is_shown_at_a_time():
    form = payload_form(labeller, {"inputs": "joy"})
    for text in ("joy", "fear", "love"):
        form.fields["inputs"].editor.value = text
        click_send(form)
        assert len(form.output.outputs) == 1 and text.upper() in form.shown
    form.handler = lambda data: 1 / 0
    click_send(form)
    assert len(form.output.outputs) == 1 and form.shown.startswith("ZeroDivisionError")
    form.handler = labeller
    click_send(form)
    assert len(form.output.outputs) == 1 and "LOVE" in form.shown


def test_history_lines_say_what_changed_since_the_request_before():
    long = "I am so happy and thrilled about the new job, it will be great for all of us"
    form = payload_form(labeller, {"inputs": long, "date": "2022-08-08"})
    click_send(form)
    form.fields["date"].editor.value = dt.date(2022, 7, 4)
    click_send(form)
    form.fields["inputs"].editor.value = long.replace("all of us", "the whole team")
    click_send(form)
    click_send(form)
    form.remove_field("date")
    click_send(form)
    requests = [label.split(" → ")[0] for label, _ in form.history_list.options]
    assert requests == [
        '1. inputs: "I am so happy and thrilled about the new…", date: "2022-08-08"',
        '2. date: "2022-07-04"',
        '3. inputs: "…great for the whole team"',
        "4. same request",
        "5. date removed",
    ]


def test_without_a_widget_frontend_the_form_says_what_to_install():
    form = payload_form(labeller)
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "jupyterlab_widgets" in bundle["text/plain"]
    assert "widgetsnbextension" in bundle["text/plain"]
    assert "handler(payload)" in bundle["text/plain"]


def test_an_audio_upload_gets_a_player_and_is_sent_as_bytes(tmp_path):
    seen = []
    form = payload_form(lambda data: seen.append(data["inputs"]) or [])
    clip = tmp_path / "clip.flac"
    clip.write_bytes(b"fLaC\0\0\0\x22 not really a flac")
    form.upload(clip)
    field = form.fields["inputs"]
    assert field.file()["type"] == "audio/flac" and field.file()["name"] == "clip.flac"
    assert field.player.value == clip.read_bytes() and field.player.format == "flac"
    assert field.player.layout.display is None and field.thumbnail.layout.display == "none"
    click_send(form)
    assert seen == [clip.read_bytes()]  # audio bodies reach the handler as bytes
    form.upload(png(), "image/png", "photo.png")  # an image replaces it: thumbnail, no player
    assert field.player.layout.display == "none" and field.thumbnail.layout.display is None


def test_an_upload_from_code_needs_a_type_production_decodes(tmp_path):
    form = payload_form(lambda data: [])
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(HandlerKitError, match=r"cannot tell how production would decode notes"):
        form.upload(notes)
    form.upload(notes.read_bytes(), "audio/wav")
    assert form.fields["inputs"].file()["name"] == "upload"


def test_an_upload_from_code_is_typed_by_its_bytes_before_its_name(tmp_path):
    # As `handler-kit call @FILE` types a file: a name that says nothing, or the wrong thing.
    form = payload_form(lambda data: [])
    form.upload(png())  # bytes without a name
    assert form.fields["inputs"].file()["type"] == "image/png"
    scan = tmp_path / "scan.jpg"  # a PNG saved under a .jpg name
    scan.write_bytes(png())
    form.upload(scan)
    assert form.fields["inputs"].file()["type"] == "image/png"


def test_an_export_reads_as_what_it_did_and_the_files_it_wrote(tmp_path):
    done = Export([tmp_path / "case_001.json"], known=2)
    assert (
        repr(done)
        == f"exported 1 case to {tmp_path}; 2 requests already had a case\n  case_001.json"
    )
    page = done._repr_html_()
    assert "exported 1 case to" in page and ">case_001.json</div>" in page
