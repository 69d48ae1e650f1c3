"""contract.py: production's decoding, inputs check and serialisation, rule by rule.

The cases of the toolkit's own unit tests (tests/unit/test_serializer.py, the custom-pipeline
cases of test_handler.py and test_utils.py) are re-expressed here against the kit's contract,
where they apply; tests/endpoint/test_parity.py compares the whole with the real server.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import shutil

import httpx
import numpy as np
import pytest
from PIL import Image

import handler_kit
from handler_kit.endpoint import answers, contract
from handler_kit.endpoint.answers import NotSerializable
from handler_kit.endpoint.contract import BadRequest, Kind
from handler_kit.endpoint.server import serve
from handler_kit.production.toolkit import ToolkitError, find_toolkit

try:
    REFERENCE = find_toolkit().source
except ToolkitError:
    REFERENCE = None
needs_reference = pytest.mark.skipif(
    REFERENCE is None,
    reason="the production toolkit's source is not here (../shared/reference/"
    "huggingface-inference-toolkit beside the checkout, or $HANDLER_KIT_TOOLKIT)",
)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Production's own unit tests (test_serializer.py), re-expressed.


def test_json_answers_serialise_numpy_as_production_writes_them():
    answer = {"res": np.array([2.0]), "text": "I like you.", "float": 1.2}
    assert answers.encode_answer(answer) == b'{"res":[2.0],"text":"I like you.","float":1.2}'


def test_pil_images_inside_json_answers_become_base64_png():
    masks = [Image.new("RGB", (60, 30), color="red") for _ in range(3)]
    answer = [{"label": "cat", "mask": mask, "score": 0.99} for mask in masks]
    body, media = answers.encode_response(answer, None)
    assert media == "application/json"
    decoded = Image.open(io.BytesIO(base64.b64decode(json.loads(body)[0]["mask"])))
    assert (decoded.format, decoded.size, decoded.getpixel((0, 0))) == (
        "PNG",
        (60, 30),
        (255, 0, 0),
    )


def test_an_image_answer_is_written_in_the_accepted_format():
    image = Image.new("RGB", (60, 30), color="red")
    body, media = answers.encode_response(image, "image/png")
    assert media == "image/png" and body == png(image)


def test_a_json_body_is_decoded_as_json():
    assert contract.decode_body("application/json", b'{\n\t"inputs": "i like you"\n}') == {
        "inputs": "i like you"
    }


@needs_reference
def test_every_sample_image_arrives_as_a_pil_image_in_rgb():
    folder = REFERENCE / "tests" / "resources" / "image"
    for file in sorted(folder.iterdir()):
        kind = "image/jpeg" if file.suffix == ".jpeg" else f"image/{file.suffix[1:]}"
        data = contract.decode_body(kind, bytearray(file.read_bytes()))
        assert isinstance(data["inputs"], Image.Image), file.name
        assert data["inputs"].mode == "RGB"


@needs_reference
def test_every_sample_audio_file_arrives_as_its_bytes():
    folder = REFERENCE / "tests" / "resources" / "audio"
    for file in sorted(folder.iterdir()):
        raw = file.read_bytes()
        data = contract.decode_body("audio/wav", bytearray(raw))
        assert data == {"inputs": raw} and type(data["inputs"]) is bytes


# Production's custom-pipeline cases (test_handler.py, test_utils.py), re-expressed.


@needs_reference
def test_the_legacy_custom_pipeline_of_productions_tests_loads_and_answers(tmp_path):
    repo = tmp_path / "custom_handler"
    shutil.copytree(REFERENCE / "tests" / "resources" / "custom_handler", repo)
    handler = handler_kit.load(repo)
    assert handler.instance.path == str(repo)  # the path, given positionally as a string
    assert handler("test", check=False) == "tset"  # pipeline.py calls its sibling module


ECHO_HANDLER = """
class EndpointHandler:
    def __init__(self, path=""):
        pass

    def __call__(self, data):
        return data
"""


def test_a_custom_handler_that_returns_its_input_gets_the_request_body(repo):
    # Production's test_pt_custom_pipeline: a custom handler answers with what it was given,
    # so the answer is the request body, whole (here over the kit's endpoint).
    repo.write("handler.py", text=ECHO_HANDLER)
    body = {"inputs": "My name is Wolfgang and I live in Berlin", "parameters": {"top_k": 2}}
    with serve(handler_kit.load(repo.path)) as endpoint:
        answer = httpx.post(endpoint.url, json=body, timeout=10)
    assert (answer.status_code, answer.json()) == (200, body)


# The Content-Type table.


@needs_reference
def test_the_table_is_productions_entry_for_entry():
    # Read (not imported) from the toolkit's serialization/base.py: every key in its order,
    # with the kind of its (de)serialiser.
    source = REFERENCE / "src" / "huggingface_inference_toolkit" / "serialization" / "base.py"
    tree = ast.parse(source.read_text())
    table = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") == "content_type_mapping"
    )
    kinds = {"Jsoner": Kind.JSON, "Imager": Kind.IMAGE, "Audioer": Kind.AUDIO, None: Kind.LISTED}
    theirs = {
        key.value: kinds[getattr(value, "id", None)]
        for key, value in zip(table.keys, table.values, strict=True)
    }
    assert list(theirs.items()) == list(contract.MEDIA_TYPES.items())


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
def test_the_two_json_entries_decode_json(content_type):
    assert contract.decode_body(content_type, b'{"inputs": 1}') == {"inputs": 1}


@pytest.mark.parametrize(
    ("content_type", "send"),
    [
        ("application/json; charset=utf-8", "application/json"),
        ("application/json;charset=UTF-8", "application/json"),
        ("Application/JSON", "application/json"),
        ('application/json; charset="UTF-8"', "application/json"),
        ("image/PNG", "image/png"),
        ("IMAGE/JPEG; q=1", "image/jpeg"),
        ("audio/mp3", "audio/mpeg"),
        ("audio/webm; codecs=opus", "audio/webm"),
        ("Audio/AMR-WB", "audio/AMR-WB"),
    ],
)
def test_a_variant_of_a_known_type_is_refused_and_the_exact_one_named(content_type, send):
    with pytest.raises(BadRequest) as caught:
        contract.decode_body(content_type, b"{}")
    message = caught.value.one_line()
    assert f"production matches the Content-Type exactly and refuses `{content_type}`" in message
    assert f"send `{send}`" in message


@pytest.mark.parametrize("content_type", ["audio/AMR-WB+", "audio/webm;codecs=opus", "audio/AMR"])
def test_the_odd_audio_entries_production_lists_are_accepted(content_type):
    assert contract.decode_body(content_type, b"RIFF") == {"inputs": b"RIFF"}


@pytest.mark.parametrize("content_type", ["text/csv", "text/plain"])
def test_the_text_types_production_lists_always_fail(content_type):
    # Production's table maps them to no decoder: 400 with an AttributeError's message.
    with pytest.raises(BadRequest, match="has no decoder for it") as caught:
        contract.decode_body(content_type, b"a,b\n1,2\n")
    assert "Send the text inside JSON" in caught.value.one_line()


def test_no_content_type_and_unknown_ones_are_refused_with_what_to_send():
    with pytest.raises(BadRequest, match="no Content-Type header"):
        contract.decode_body(None, b"{}")
    with pytest.raises(BadRequest, match="production does not know Content-Type `text/xml`"):
        contract.decode_body("text/xml", b"<x/>")
    with pytest.raises(BadRequest, match="the Content-Type header is empty"):
        contract.decode_body("", b"{}")
    with pytest.raises(BadRequest, match="refuses an empty one: send `Accept: application/json`"):
        answers.encode_response([], "")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "the body is empty"),
        (b'{"inputs": ', "not valid JSON"),
        (b'{"inputs": NaN}', "not valid JSON"),
        (b'\xef\xbb\xbf{"inputs": 1}', "not valid JSON"),  # orjson refuses a BOM
        ('{"inputs": "café"}'.encode("latin-1"), "not valid JSON"),  # and non-UTF-8 text
    ],
)
def test_bodies_orjson_refuses_are_refused(body, says):
    with pytest.raises(BadRequest, match=says):
        contract.decode_body("application/json", body)


def test_a_broken_image_is_refused():
    with pytest.raises(BadRequest, match="not a readable image"):
        contract.decode_body("image/png", b"not a png")
    with pytest.raises(BadRequest, match="the body is empty"):
        contract.decode_body("image/png", b"")


def test_a_file_sent_with_another_kinds_type_is_named_with_the_type_to_send():
    image = png(Image.new("RGB", (3, 2), "red"))
    with pytest.raises(BadRequest) as caught:  # production: 400 (orjson cannot read it)
        contract.decode_body("application/json", image)
    assert caught.value.one_line() == (
        "the body is a PNG image, but `Content-Type: application/json` tells production to "
        "read it as JSON (production answers 400). Send it with `Content-Type: image/png`: "
        'the handler then gets {"inputs": <PIL image>}.'
    )
    assert "UTF-8" not in str(caught.value)
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt "
    with pytest.raises(BadRequest, match="the body is WAV audio") as caught:
        contract.decode_body("application/json; charset=UTF-8", wav)
    assert "Send it with `Content-Type: audio/wav`" in caught.value.one_line()
    with pytest.raises(BadRequest, match="the body is JSON, but `Content-Type: image/png`"):
        contract.decode_body("image/png", b'{"inputs": "a"}')
    with pytest.raises(BadRequest, match=r"Send `image/png` \(the body is a PNG image\)"):
        contract.decode_body(None, image)
    with pytest.raises(BadRequest, match=r"`application/octet-stream`. Send `audio/wav`"):
        contract.decode_body("application/octet-stream", wav)


def test_an_image_body_is_converted_to_rgb():
    rgba = png(Image.new("RGBA", (3, 2), (0, 0, 255, 128)))
    assert contract.decode_body("image/png", rgba)["inputs"].mode == "RGB"


# The inputs check: production's `in`.


@pytest.mark.parametrize(
    "data",
    [{"inputs": 1}, {"instances": []}, "my inputs", ["inputs"], "some instances", {"inputs": None}],
)
def test_what_production_lets_through(data):
    assert contract.has_inputs(data)
    contract.check_payload(data)


@pytest.mark.parametrize("data", [{}, {"input": 1}, "hello", [1, 2], 42, None, 1.5, True])
def test_what_production_refuses(data):
    assert not contract.has_inputs(data)
    with pytest.raises(BadRequest, match="must be a JSON object with an `inputs` key"):
        contract.check_payload(data)


def test_a_caller_that_has_checked_tells_a_checking_handler_not_to_check_again():
    calls = []

    def checking(data, *, check=True):
        calls.append(check)

    def plain(data):
        calls.append("plain")

    def positional(data, check=True):  # a `check` of another meaning is left alone
        calls.append(check)

    contract.unchecked(checking)({"inputs": 1})
    assert contract.unchecked(plain) is plain and contract.unchecked(positional) is positional
    assert contract.unchecked(print) is print  # no signature: called as it is
    assert calls == [False]


# Query parameters and base64 audio.


def test_query_parameters_are_converted_as_production_converts_them():
    query = {"k": "007", "a": "true", "b": "false", "neg": "-1", "f": "1.5", "T": "True", "e": ""}
    assert contract.query_parameters(query) == {
        "k": 7,
        "a": True,
        "b": False,
        "neg": "-1",
        "f": "1.5",
        "T": "True",
        "e": "",
    }
    with pytest.raises(ValueError, match="invalid literal for int"):
        contract.query_parameters({"k": "²"})  # isnumeric, but no int: production's 400 too


def test_query_parameters_fill_parameters_only_when_the_body_has_none():
    data = contract.request_data("application/json", b'{"inputs": "a"}', {"top_k": "2"})
    assert data == {"inputs": "a", "parameters": {"top_k": 2}}
    own = b'{"inputs": "a", "parameters": {"x": 1}}'
    assert contract.request_data("application/json", own, {"top_k": "2"})["parameters"] == {"x": 1}
    with pytest.raises(BadRequest, match="not a JSON object"):
        contract.request_data("application/json", b'"my inputs"', {"top_k": "2"})


@pytest.mark.parametrize("task", contract.AUDIO_TASKS)
def test_the_audio_tasks_take_base64_inputs_when_parameters_are_given(task):
    audio = base64.b64encode(b"RIFF").decode()
    with_parameters = f'{{"inputs": "{audio}", "parameters": {{}}}}'.encode()
    assert contract.request_data("application/json", with_parameters, {}, task)["inputs"] == (
        b"RIFF"
    )
    without = f'{{"inputs": "{audio}"}}'.encode()
    assert contract.request_data("application/json", without, {}, task)["inputs"] == audio
    other_task = contract.request_data("application/json", with_parameters, {}, "text-generation")
    assert other_task["inputs"] == audio
    with pytest.raises(BadRequest, match="not valid base64"):
        contract.request_data("application/json", b'{"inputs": "a!", "parameters": {}}', {}, task)


# Answers by Accept.


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_json_is_the_answer_without_accept_or_for_any(accept):
    assert answers.encode_response({"a": 1}, accept) == (b'{"a":1}', "application/json")


def test_the_json_entry_with_a_charset_answers_with_that_media_type():
    exact = "application/json; charset=UTF-8"
    assert answers.encode_response([1], exact) == (b"[1]", exact)


@pytest.mark.parametrize(
    ("accept", "says"),
    [
        ("text/plain", "lists Accept `text/plain` but cannot write it"),
        ("text/csv", "lists Accept `text/csv` but cannot write it"),
        ("audio/wav", "cannot answer in audio"),
        ("application/json, text/plain, */*", "send `Accept: application/json`"),
        ("*/*; q=0.8", "send `Accept: application/json`"),
        ("", "send `Accept: application/json`"),
        ("application/json; charset=utf-8", "send `Accept: application/json`"),
        ("image/PNG", "send `Accept: image/png` for the raw image"),
    ],
)
def test_other_accept_values_are_refused_with_what_to_ask_for(accept, says):
    with pytest.raises(BadRequest) as caught:
        answers.encode_response({"a": 1}, accept)
    assert says in caught.value.one_line()


@pytest.mark.parametrize("accept", contract.WRITABLE_IMAGES)
def test_an_image_answer_is_written_in_every_format_production_can(accept):
    body, media = answers.encode_response(Image.new("RGB", (4, 3), "red"), accept)
    assert media == accept
    assert Image.open(io.BytesIO(body)).format == contract.IMAGE_FORMATS[accept]


def test_the_image_formats_pillow_does_not_know_are_refused():
    assert set(contract.IMAGE_TYPES) - set(contract.WRITABLE_IMAGES) == {
        "image/jpg",
        "image/x-image",
    }
    with pytest.raises(BadRequest, match="Pillow knows no format JPG") as caught:
        answers.encode_response(Image.new("RGB", (1, 1)), "image/jpg")
    assert "image/jpeg" in caught.value.one_line()


def test_an_image_pillow_cannot_write_in_that_format_is_refused():
    with pytest.raises(BadRequest, match="cannot write mode RGBA as JPEG") as caught:
        answers.encode_response(Image.new("RGBA", (1, 1)), "image/jpeg")
    assert 'convert("RGB")' in caught.value.one_line()


def test_an_answer_that_is_not_an_image_is_refused_for_an_image_accept():
    with pytest.raises(BadRequest, match="not a PIL image"):
        answers.encode_response([Image.new("RGB", (1, 1))], "image/png")


@pytest.mark.parametrize(
    ("answer", "path", "says"),
    [
        ({"labels": {"joy"}}, 'answer["labels"]', "Return a list instead of a set"),
        ([b"raw"], "answer[0]", "base64"),
        ({1: "one"}, "answer key 1", "keys must be strings"),
        ([{"z": 1j}], 'answer[0]["z"]', "Convert it to lists"),
    ],
)
def test_an_unserialisable_answer_names_its_part_and_what_to_return(answer, path, says):
    with pytest.raises(NotSerializable) as caught:
        answers.encode_answer(answer)
    message = caught.value.one_line()
    assert path in message and says in message
    assert isinstance(caught.value, BadRequest)  # a 400, as production's


def test_an_answer_that_refers_to_itself_is_a_400_that_names_where():
    # orjson (production's) raises "Recursion limit reached"; the kit names the loop.
    answer = {"label": "joy", "scores": [0.5]}
    answer["scores"].append(answer)
    with pytest.raises(NotSerializable) as caught:
        answers.encode_answer(answer)
    message = caught.value.one_line()
    assert 'answer["scores"][1] is a dict that holds it' in message
    assert "Recursion limit reached" in message
    assert answers.unserializable(answer) == ('answer["scores"][1]', answer)


def test_a_part_shared_by_two_branches_is_no_loop():
    shared = [1, 2]
    assert answers.unserializable({"a": shared, "b": [shared]}) is None
    assert answers.encode_answer({"a": shared, "b": [shared]}) == b'{"a":[1,2],"b":[[1,2]]}'


def test_an_answer_nested_deeper_than_orjson_allows_says_so():
    deep: list = []
    for _ in range(3000):  # deeper than Python's own recursion limit too
        deep = [deep]
    assert answers.unserializable(deep) is None
    with pytest.raises(NotSerializable, match="deeper than production's JSON writer allows"):
        answers.encode_answer(deep)


def test_numpy_nan_and_python_values_orjson_writes_are_written():
    import datetime

    answer = {"n": np.int64(3), "f": np.float32(0.5), "nan": float("nan"), "t": (1, 2)}
    answer["at"] = datetime.datetime(2022, 7, 4, 12, 30)
    assert answers.encode_answer(answer) == (
        b'{"n":3,"f":0.5,"nan":null,"t":[1,2],"at":"2022-07-04T12:30:00"}'
    )


def test_a_torch_tensor_gets_the_tolist_hint():
    torch = pytest.importorskip("torch")
    with pytest.raises(NotSerializable, match="tolist"):
        answers.encode_answer([torch.tensor(0.5)])


def test_guessing_what_a_header_meant():
    assert contract.meant("Application/JSON; charset=utf-8") == "application/json"
    assert contract.meant("audio/amr-wb") == "audio/AMR-WB"
    assert contract.meant("text/csv") is None  # listed, but never what to send
    assert contract.meant("") is None and contract.meant(None) is None


def test_a_files_content_type_is_what_its_bytes_are_else_what_its_name_says():
    image = png(Image.new("RGB", (3, 2), "red"))
    assert contract.file_content_type("photo.jpg", image) == "image/png"  # the bytes win
    assert contract.file_content_type("clip.wav", b"?") == "audio/x-wav"
    assert contract.file_content_type("clip.m4a", b"?") == "audio/m4a"  # mimetypes' audio/mp4
    assert contract.file_content_type("payload", b'{"inputs": 1}') == "application/json"
    with pytest.raises(handler_kit.HandlerKitError, match="cannot tell how production"):
        contract.file_content_type("notes.txt", b"just words")  # text/plain: never decoded


def test_an_image_is_a_pil_image_and_nothing_else():
    assert answers.is_image(Image.new("RGB", (2, 2)))
    assert not answers.is_image(b"\x89PNG") and not answers.is_image(np.zeros((2, 2, 3)))


def test_an_error_body_is_written_and_read_by_one_rule():
    body = answers.encode_answer(answers.error_body("bad input"))
    assert json.loads(body) == {"error": "bad input"}
    assert answers.error_of(json.loads(body)) == "bad input"
    assert answers.error_of({"error": "loading", "estimated_time": 20.0}) == "loading"
    assert answers.error_of({"error": 0.12}) is None and answers.error_of([]) is None
