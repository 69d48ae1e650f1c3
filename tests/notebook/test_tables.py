"""tables.py: the usual shapes of handler answers, laid out to be read."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from handler_kit import HandlerKitError
from handler_kit.notebook.tables import TableKind, figure, json_text, result_table, show


def lines(table):
    return repr(table).splitlines()


def test_labels_are_sorted_by_score_with_bars():
    table = result_table([{"label": "sadness", "score": 0.1}, {"label": "joy", "score": 0.85}])
    assert table.kind == "labels"
    assert lines(table)[3:] == ["joy      0.85", "sadness  0.1"]
    html = table._repr_html_()
    assert html.index("joy") < html.index("sadness")
    assert "width:85px" in html and "width:10px" in html


@pytest.mark.parametrize(
    ("score", "shown"),
    [
        (0.63, "0.63"),  # a rounded score keeps its own digits
        (0.912345, "0.9123"),
        (1.0, "1.0"),
        (0.0, "0.0"),
        (0.00001234, "1.2e-05"),  # small, never shown as 0
        (-0.25, "-0.25"),
        (float("nan"), "nan"),
    ],
)
def test_scores_show_at_most_four_decimals_and_no_padding(score, shown):
    table = result_table([{"label": "a", "score": score}])
    assert lines(table)[-1] == f"a      {shown}".rstrip()
    assert f">{shown}</td>" in table._repr_html_()


def test_top_k_per_input_is_one_table_per_input():
    table = show([[{"label": "a", "score": 0.2}], [{"label": "b", "score": 0.9}]])
    assert table.kind == "top-k"
    assert [s.title for s in table.sections] == ["input 1", "input 2"]


def test_token_classification():
    table = result_table(
        [{"entity_group": "PER", "word": "Ann", "start": 0, "end": 3, "score": 0.99, "extra": 1}]
    )
    assert table.kind == "entities"
    assert table.sections[0].columns == ["entity_group", "word", "start", "end", "score"]
    assert "also in each item, not shown: extra" in repr(table)  # nothing dropped silently


def test_question_answering_and_generated_text():
    assert result_table({"answer": "Paris", "score": 0.9, "start": 1, "end": 6}).kind == "answers"
    table = result_table([{"generated_text": "x" * 250}])
    assert table.kind == "text"
    assert "x" * 200 + "… (50 more characters)" in repr(table)


def test_embeddings_show_shape_and_first_values_not_thousands_of_numbers():
    table = result_table(np.arange(2 * 384, dtype=np.float32).reshape(2, 384) / 1000)
    assert table.kind == "embeddings"
    assert table.sections[0].title == "embeddings, shape [2, 384]"
    text = repr(table)
    assert "… (376 more)" in text and len(text) < 600


def test_dicts_and_anything_else():
    assert result_table({"a": 1, "b": [1, 2]}).sections[0].rows == [["a", 1], ["b", [1, 2]]]
    other = result_table("hello")
    assert other.kind == "json" and '"hello"' in repr(other)


def test_long_tables_say_how_many_rows_were_left_out():
    table = result_table([{"label": str(i), "score": i / 100} for i in range(60)])
    assert len(table.sections[0].rows) == 50
    assert "(10 more rows not shown)" in repr(table)


def test_html_is_escaped():
    html = result_table([{"label": "<script>alert(1)</script>", "score": 0.5}])._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = result_table({"<b>key</b>": "<img src=x onerror=alert(1)>"})._repr_html_()
    assert "<img" not in html and "<b>key" not in html


def test_to_dataframe():
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(HandlerKitError, match="pip install pandas"):
            result_table([{"label": "a", "score": 1.0}]).to_dataframe()
        return
    frame = result_table([{"label": "a", "score": 1.0}]).to_dataframe()
    assert list(frame.columns) == ["label", "score"] and frame.iloc[0]["label"] == "a"


@pytest.mark.parametrize("score", [None, "0.9", True])
def test_labels_with_scores_that_are_not_numbers_still_render(score):
    table = result_table([{"label": "a", "score": score}, {"label": "b", "score": 0.5}])
    assert "a" in repr(table) and "<td" in table._repr_html_()


def test_images_are_shown_as_images():
    image = Image.new("RGB", (640, 480), (0, 128, 255))
    table = result_table(image)
    assert table.kind == "image" and "image 640×480 RGB" in repr(table)
    html = table._repr_html_()
    data = html.split('src="data:image/png;base64,')[1].split('"')[0]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (256, 192)
    several = result_table([image, Image.new("CMYK", (10, 10)), Image.new("F", (4, 4))])
    assert several.kind == "image" and "image 10×10 CMYK" in repr(several)
    assert several._repr_html_().count("<img") == 3


def test_batched_generation_is_one_table_per_input():
    table = result_table([[{"generated_text": "one"}], [{"generated_text": "two"}]])
    assert table.kind == "text"
    assert [s.title for s in table.sections] == ["input 1", "input 2"]
    assert [s.rows for s in table.sections] == [[["one"]], [["two"]]]


def test_answers_of_an_unforeseen_shape_fall_back_to_json():
    loop = []
    loop.append(loop)
    assert result_table({(1, 2): "tuple key"}).kind == "dict"
    assert "[[...]]" in repr(result_table(loop))


def test_json_text_writes_what_json_cannot_hold_by_its_str_and_keeps_accents():
    assert json_text({"score": np.float32(0.5), "text": "été"}) == '{"score": "0.5", "text": "été"}'
    assert json_text({(1, 2): "a tuple key"}) == "{(1, 2): 'a tuple key'}"  # no JSON: its repr


def png(size=(300, 200)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def wav(seconds=0.5, rate=8000):
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1), file.setsampwidth(2), file.setframerate(rate)
        file.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def test_a_base64_image_as_the_endpoint_returns_a_pil_image_is_a_thumbnail():
    encoded = base64.b64encode(png()).decode()
    table = result_table({"size": [300, 200], "thumbnail": encoded})
    assert table.kind == "dict"
    assert f"image png, {len(png())} bytes (base64)" in repr(table)
    html = table._repr_html_()
    assert html.count("<img") == 1 and encoded not in html  # scaled down, not the original
    data = html.split('src="data:image/png;base64,')[1].split('"')[0]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (256, 171)
    assert result_table(f"data:image/png;base64,{encoded}").kind == "image"


def test_audio_answers_are_players():
    table = result_table(wav())
    assert table.kind == "audio" and "audio wav" in repr(table)
    assert table._repr_html_().count('<audio controls preload="none" src="data:audio/wav') == 1
    samples = {"audio": np.zeros((1, 16000), dtype=np.float32), "sampling_rate": 16000}
    spoken = result_table(samples)
    assert spoken.kind == "audio" and "audio 1.00 s at 16000 Hz" in repr(spoken)
    assert "<audio controls" in spoken._repr_html_()
    mixed = result_table([wav(), base64.b64encode(png()).decode()])
    assert mixed.kind == "media" and mixed._repr_html_().count("<audio") == 1
    assert mixed._repr_html_().count("<img") == 1


def test_text_that_only_looks_like_base64_stays_text():
    for text in ["iVBORw0KGgo short", "SUQz" + "x" * 100, "UklGR" + "A" * 99]:
        table = result_table({"text": text})
        assert "<img" not in table._repr_html_() and "<audio" not in table._repr_html_()
        assert text[:20] in repr(table)


def test_entities_per_input_are_one_table_per_input():
    one = {"entity_group": "PER", "word": "Ines Haddad", "start": 10, "end": 21, "score": 0.9}
    other = {"entity_group": "ORG", "word": "Globex", "start": 22, "end": 28, "score": 0.8}
    table = result_table([[one], [other, one]])
    assert table.kind == "entities"
    assert [s.title for s in table.sections] == ["input 1", "input 2"]
    assert table.sections[1].rows[0] == ["ORG", "Globex", 22, 28, 0.8]


LABELLED = [
    {"word": "Name:", "box": [42, 114, 97, 127], "label": "B-QUESTION", "score": 0.97},
    {"word": "Grace", "box": [241, 114, 292, 127], "label": "B-ANSWER", "score": 0.96},
]


def test_labelled_words_with_boxes_are_drawn_over_the_document_the_request_holds():
    table = result_table(LABELLED)
    assert table.kind == "layout"  # not "labels", though each has a label and a score
    assert lines(table)[0] == "words with boxes"
    assert lines(table)[1].split() == ["word", "label", "box", "score"]
    assert lines(table)[3].startswith("Name:  B-QUESTION  [42, 114, 97, 127]  ")
    page = table._repr_html_()
    assert page.count('class="handler-kit-box"') == 2 and "<img" not in page
    assert page.index("handler-kit-boxes") < page.index("<details>") < page.index("<table")
    document = Image.new("RGB", (320, 200), "white")
    for request in ({"inputs": document}, {"inputs": base64.b64encode(png((320, 200))).decode()}):
        drawn = result_table(LABELLED, request)._repr_html_()
        assert '<img src="data:image/png;base64,' in drawn, request
        assert "width:320px" in drawn
    assert show(LABELLED, request=document).request is document


def test_grouped_entities_with_boxes_are_a_layout_too():
    grouped = [{"label": "QUESTION", "text": "Date of birth:", "box": [42, 157, 158, 171]}]
    table = result_table(grouped)
    assert table.kind == "layout" and table.sections[0].columns == ["text", "label", "box"]
    assert ">Date of birth:</span>" in table._repr_html_()
    assert result_table([{"word": "x", "box": [1, 2, 3]}]).kind == "json"  # not a box


def test_speaker_segments_are_a_timeline_above_their_table():
    segments = [
        {"speaker": "SPEAKER_00", "start": 0.4, "end": 3.49},
        {"speaker": "SPEAKER_01", "start": 3.95, "end": 5.87},
        {"speaker": "SPEAKER_00", "start": 6.53, "end": 8.83},
    ]
    table = result_table(segments)
    assert table.kind == "segments" and table.sections[0].title == "segments, 2 speakers"
    assert lines(table)[3].split()[0] == "SPEAKER_00"
    page = table._repr_html_()
    assert page.count('class="handler-kit-segment"') == 3
    assert "the table (3 rows)</summary>" in page
    assert result_table([{"speaker": "A", "start": "0.4", "end": "1"}]).kind != "segments"


def test_images_with_scores_are_a_grid_and_nothing_more():
    matches = [{"image": Image.new("RGB", (64, 64)), "score": 0.9}, {"image": png(), "score": 0.5}]
    table = result_table(matches)
    assert table.kind == "matches"
    assert lines(table)[3].endswith("  image 64×64 RGB")
    assert lines(table)[4].endswith(f"  image png, {len(png())} bytes")
    page = table._repr_html_()
    assert page.count('class="handler-kit-match"') == 2 and "<table" not in page


def test_a_figure_that_cannot_be_drawn_leaves_the_table(monkeypatch):
    def broken(*args):
        raise ValueError("no")

    monkeypatch.setattr("handler_kit.notebook.tables.figure", broken)
    page = result_table(LABELLED)._repr_html_()
    assert "the figure could not be drawn: ValueError(&#x27;no&#x27;)" in page
    assert "<table" in page and "Grace" in page


def test_only_three_layouts_have_a_figure():
    assert figure(TableKind.LABELS, [{"label": "a", "score": 1.0}]) is None
    assert not figure(TableKind.LAYOUT, LABELLED).complete  # the table follows
    assert figure(TableKind.MATCHES, [{"image": png((8, 8)), "score": 1.0}]).complete
    assert result_table(LABELLED).kind is TableKind.LAYOUT and f"{TableKind.TOP_K}" == "top-k"
