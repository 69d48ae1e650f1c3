"""cases.py: payload cases read, replayed and saved; a bad case is a clear CaseError."""

import base64
import json

import pytest

from handler_kit.cases.case import (
    DEFAULT_CASE,
    DEFAULT_PAYLOAD,
    Case,
    CaseError,
    cases_folder,
    cases_for,
    is_number,
    read_case,
    save_case,
)
from handler_kit.errors import HandlerKitError


def write_case(tmp_path, name: str, **fields) -> Case:
    file = tmp_path / f"{name}.json"
    file.write_text(json.dumps(fields))
    return read_case(file)


def test_a_missing_body_file_is_named_with_what_to_do(tmp_path):
    case = write_case(tmp_path, "photo", body_file="cat.png", content_type="image/png")
    with pytest.raises(CaseError) as raised:
        case.data()
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'photo.json'}: case photo: cannot read its body file")
    assert "cat.png" in message and "Put cat.png next to the case file" in message


def test_a_body_file_that_is_not_a_name_is_a_case_error(tmp_path):
    with pytest.raises(CaseError, match="`body_file` must be a file name next to the case"):
        write_case(tmp_path, "odd", body_file=5)


def test_a_body_file_cases_parameters_travel_in_its_query_string(tmp_path):
    (tmp_path / "cat.bin").write_bytes(b"RIFF....WAVEfmt ")
    case = write_case(
        tmp_path,
        "clip",
        body_file="cat.bin",
        content_type="audio/wav",
        parameters={"top_k": 3, "fields": False, "language": "de"},
    )
    assert case.query() == {"top_k": "3", "fields": "false", "language": "de"}
    assert case.address("http://h:1/predict") == (
        "http://h:1/predict?top_k=3&fields=false&language=de"
    )
    assert case.address("http://h:1/?a=b").startswith("http://h:1/?a=b&top_k=3")
    # As production's server reads a file body and the query string.
    assert case.data() == {"inputs": b"RIFF....WAVEfmt ", "parameters": case.parameters}
    saved = save_case(
        tmp_path / "out", "x", body=b"RIFF", content_type="audio/wav", parameters={"top_k": 3}
    )
    assert json.loads(saved.read_text())["parameters"] == {"top_k": 3}


@pytest.mark.parametrize(
    ("value", "arrives"),
    [(0.5, '"0.5"'), (-1, '"-1"'), ("7", "7"), ([1], '"[1]"'), (None, '"None"'), ("²", "400")],
)
def test_parameters_a_query_string_cannot_carry_are_a_case_error(tmp_path, value, arrives):
    with pytest.raises(CaseError, match="cannot travel in a query string") as raised:
        write_case(
            tmp_path, "odd", body_file="a.png", content_type="image/png", parameters={"p": value}
        )
    assert arrives in str(raised.value) and "odd.json" in str(raised.value)


def test_parameters_beside_a_payload_belong_in_it(tmp_path):
    with pytest.raises(CaseError, match="Move them into `payload`"):
        write_case(tmp_path, "odd", payload={"inputs": "x"}, parameters={"top_k": 1})


@pytest.mark.parametrize("key, value", [("expected_score", "high"), ("tolerance", None)])
def test_a_score_or_tolerance_that_is_not_a_number_is_a_case_error(tmp_path, key, value):
    fields = {"expected_score": 0.9, "tolerance": 0.05, key: value}
    case = write_case(tmp_path, "c", payload={"inputs": "x"}, expected_label="joy", **fields)
    with pytest.raises(CaseError, match=f"case c: `{key}` must be a number, not"):
        case.check([{"label": "joy", "score": 0.9}])


@pytest.mark.parametrize("score", [None, "0.9", True])
def test_an_answer_whose_score_is_not_a_number_is_a_case_error(score):
    case = Case("c", payload={"inputs": "x"}, expected_label="joy")
    with pytest.raises(
        CaseError, match=f'case c: the score of label "joy" is not a number: {json.dumps(score)}'
    ):
        case.check([{"label": "joy", "score": score}])


@pytest.mark.parametrize(
    "answer",
    [
        {"label": "joy", "score": 0.9},
        [{"label": "sadness", "score": 0.1}, {"label": "joy", "score": 0.9}],
        [[{"label": "joy", "score": 0.9}]],
    ],
)
def test_expected_label_reads_a_dict_a_list_and_a_batch(answer):
    Case("c", payload={"inputs": "x"}, expected_label="joy", expected_score=0.91).check(answer)
    with pytest.raises(CaseError, match="case c: label 'joy', expected 'anger'"):
        Case("c", payload={"inputs": "x"}, expected_label="anger").check(answer)


def test_a_label_answer_is_saved_as_its_label_and_a_tolerant_score(tmp_path):
    answer = [{"label": "joy", "score": 0.912345678}, {"label": "sadness", "score": 0.08}]
    file = save_case(tmp_path, "case_001", {"inputs": "x"}, answer)
    saved = json.loads(file.read_text())
    assert saved == {
        "payload": {"inputs": "x"},
        "expected_label": "joy",
        "expected_score": 0.9123,
        "tolerance": 0.05,
    }
    read_case(file).check([{"label": "joy", "score": 0.9100001}])  # another machine's digits


@pytest.mark.parametrize(
    "answer", [{"embedding": [0.1, 0.2]}, [{"label": "a", "score": None}], "plain text"]
)
def test_any_other_answer_is_saved_exactly(tmp_path, answer):
    saved = json.loads(save_case(tmp_path, "c", {"inputs": "x"}, answer).read_text())
    assert saved == {"payload": {"inputs": "x"}, "expected": answer}


def test_a_payload_case_is_sent_and_decoded_with_its_own_content_type(tmp_path):
    case = write_case(tmp_path, "plain", payload={"inputs": "héllo"})
    assert (case.content_type, case.body()) == ("application/json", '{"inputs": "héllo"}'.encode())
    assert case.data() == {"inputs": "héllo"}
    axios = write_case(
        tmp_path, "axios", payload={"inputs": "x"}, content_type="application/json; charset=utf-8"
    )
    with pytest.raises(HandlerKitError, match="production matches the Content-Type exactly"):
        axios.data()  # production refuses it with 400: so does the case


@pytest.mark.parametrize("task", ["automatic-speech-recognition", "audio-classification"])
def test_base64_audio_with_parameters_is_bytes_for_the_audio_tasks_as_on_the_endpoint(
    tmp_path, monkeypatch, task
):
    audio = b"RIFF\x24\x00\x00\x00WAVEfmt "
    payload = {"inputs": base64.b64encode(audio).decode(), "parameters": {}}
    case = write_case(tmp_path, "speech", payload=payload)
    assert case.data(env={"HF_TASK": task})["inputs"] == audio
    assert case.data(env={})["inputs"] == payload["inputs"]  # no task: left as it is
    # check and the pytest plugin call data() in a process with production's variables.
    monkeypatch.setenv("HF_TASK", task)
    assert case.data()["inputs"] == audio
    monkeypatch.setenv("HF_TASK", "text-classification")
    assert case.data()["inputs"] == payload["inputs"]


@pytest.mark.parametrize("answer", [{"error": "boom"}, [{"error": "Inference failed: x"}]])
def test_an_answer_that_carries_an_error_fails_unless_the_case_expects_it(answer):
    with pytest.raises(CaseError, match="carries an error") as info:
        Case("swallowed", payload={"inputs": "hi"}).check(answer)
    assert "Let the exception propagate" in info.value.hint
    Case("meant", payload={"inputs": "hi"}, expected=answer, has_expected=True).check(answer)
    Case("fine", payload={"inputs": "hi"}).check([{"error": ""}, {"label": "ok"}])


@pytest.mark.parametrize(
    "answer",
    [
        [{"label": "x", "error": 0.12}],  # an error metric, not a failure
        {"prediction": 3.5, "error": 1},
        [{"label": "x", "error": True}],
        [{"label": "x", "error": ["a"]}],
        {"error": {"code": 3}},
    ],
)
def test_an_error_that_is_not_a_message_is_not_a_failure(answer):
    Case("metric", payload={"inputs": "hi"}).check(answer)


# --- which cases a repository has: one rule for the check, the replay, the plugin, production ---


def test_a_repositorys_cases_are_its_cases_folder_or_the_folder_given(tmp_path):
    repo = tmp_path / "repo"
    save_case(repo / "cases", "mine", {"inputs": "a"})
    save_case(tmp_path / "other", "theirs", {"inputs": "b"})
    assert cases_folder(repo) == repo / "cases"
    assert [case.name for case in cases_for(repo)] == ["mine"]
    assert [case.name for case in cases_for(repo, tmp_path / "other")] == ["theirs"]
    (repo / "cases" / "broken.json").write_text("{")
    broken, mine = cases_for(repo)  # one that cannot be read is its error, in its place
    assert isinstance(broken, CaseError) and mine.name == "mine"


def test_without_case_files_the_default_case_is_given_only_when_asked_for(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (default,) = cases_for(repo, default=True)
    assert (default.name, default.payload, default.file) == (DEFAULT_CASE, DEFAULT_PAYLOAD, None)
    with pytest.raises(CaseError, match=f"no cases folder at {repo / 'cases'}"):
        cases_for(repo)
    (repo / "cases").mkdir()
    assert cases_for(repo, default=True) == [default]
    with pytest.raises(CaseError, match=r"no case files \(\*\.json\) in"):
        cases_for(repo)


def test_a_folder_given_that_is_not_there_is_an_error_even_with_a_default(tmp_path):
    with pytest.raises(CaseError, match=f"no cases folder at {tmp_path / 'missing'}"):
        cases_for(tmp_path, tmp_path / "missing", default=True)


def test_a_number_is_an_int_or_a_float_and_never_a_bool():
    assert is_number(1) and is_number(0.5)
    assert not is_number(True) and not is_number("0.9") and not is_number(None)
