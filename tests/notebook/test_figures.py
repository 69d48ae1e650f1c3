"""figures.py: boxes over a document, a speaker timeline, an image grid."""

import base64
import io
import re

from PIL import Image

from handler_kit import style
from handler_kit.notebook import figures

WORDS = [
    {"word": "Patient", "box": [43, 45, 154, 66], "label": "B-HEADER", "score": 0.99},
    {"word": "Name:", "box": [42, 114, 97, 127], "label": "B-QUESTION", "score": 0.97},
    {"word": "of", "box": [90, 157, 107, 171], "label": "I-QUESTION", "score": 0.9},
    {"word": "Grace", "box": [241, 114, 292, 127], "label": "B-ANSWER", "score": 0.96},
    {"word": "<capitals>", "box": [48, 360, 90, 372], "label": "O", "score": 0.8},
]
SEGMENTS = [
    {"speaker": "SPEAKER_01", "start": 0.5, "end": 3.0},
    {"speaker": "SPEAKER_00", "start": 3.5, "end": 5.5},
    {"speaker": "SPEAKER_01", "start": 6.0, "end": 10.0},
]
BOX = re.compile(
    r'class="handler-kit-box" title="[^"]*" style="[^"]*left:([\d.]+)%;top:([\d.]+)%;'
    r'[^"]*border:2px solid ([^"]+)"'
)
BAR = re.compile(
    r'class="handler-kit-segment" title="([^"]*)" style="[^"]*left:([\d.]+)%;width:([\d.]+)%'
)


def legend(page):
    """The legend's text: names and counts, without tags."""
    shown = re.search(r'class="handler-kit-legend"[^>]*>(.*?)</div>', page).group(1)
    return " ".join(re.sub("<[^>]+>", " ", shown).split())


def png(size, colour=(250, 250, 250)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_words_are_coloured_by_the_entity_their_label_names():
    assert [figures.entity(w["label"]) for w in WORDS] == [
        "HEADER", "QUESTION", "QUESTION", "ANSWER", "O",
    ]  # fmt: skip
    page = figures.boxes(WORDS)
    colours = [colour for _, _, colour in BOX.findall(page)]
    assert len(colours) == len(WORDS)
    assert colours[1] == colours[2]  # B-QUESTION and I-QUESTION
    assert len({colours[0], colours[1], colours[3]}) == 3 and colours[0] in style.PALETTE
    assert colours[4] == style.BORDER  # other text is grey
    assert legend(page) == "ANSWER 1 HEADER 1 QUESTION 2 other (O) 1"


def test_unlabelled_words_take_the_first_colour_and_the_text_key():
    found = [{"text": "Hello", "bbox": [0, 0, 50, 10]}, {"text": "you", "bbox": [60, 0, 90, 10]}]
    page = figures.boxes(found)
    assert {colour for _, _, colour in BOX.findall(page)} == {style.PALETTE[0]}
    assert ">Hello</span>" in page and "unlabelled" in page


def test_boxes_are_drawn_over_the_document_where_its_pixels_say():
    document = Image.new("RGB", (2048, 1024), "white")
    page = figures.boxes(WORDS, document)
    assert "width:720px;max-width:100%" in page  # drawn smaller, boxes and all
    encoded = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(encoded))).size == (1024, 512)
    # Placed in shares of the answer's pixels, whatever size the PNG or the drawing has.
    assert BOX.findall(page)[0][:2] == (f"{100 * 43 / 2048:.3f}", f"{100 * 45 / 1024:.3f}")
    assert "<span" not in page.split("handler-kit-legend")[0]  # the document has the words
    assert figures.NO_DOCUMENT not in page
    assert 'title="O &lt;capitals&gt; 0.8"' in page and "<capitals>" not in page


def test_without_the_document_the_words_are_written_in_their_boxes():
    page = figures.boxes(WORDS)
    assert "<img" not in page and figures.NO_DOCUMENT in page
    # An empty page as far as the farthest corner and a margin: 302 × 382 pixels.
    assert "width:302px" in page and f"padding-top:{100 * 382 / 302:.3f}%" in page
    assert BOX.findall(page)[0][:2] == (f"{100 * 43 / 302:.3f}", f"{100 * 45 / 382:.3f}")
    assert 'font-size:16.8px">Patient</span>' in page  # 0.8 of the box's 21 pixels


def test_the_request_image_is_found_in_every_form_a_request_carries():
    data = png((40, 30))
    encoded = base64.b64encode(data).decode()
    image = Image.open(io.BytesIO(data))
    for request in (
        {"inputs": image},
        {"inputs": encoded, "parameters": {"entities": True}},
        {"inputs": f"data:image/png;base64,{encoded}"},
        {"inputs": {"image": encoded}},
        data,
        image,
    ):
        found = figures.request_image(request)
        assert found is not None and found.size == (40, 30), request
    for request in (None, {"inputs": "a text"}, {"inputs": {"text": "x"}}, b"RIFF....WAVE"):
        assert figures.request_image(request) is None, request


def ticks(page):
    return re.findall(r"text-align:center\">([^<]+)</span>", page)


def test_a_timeline_has_a_lane_per_speaker_in_order_of_first_turn():
    page = figures.timeline(SEGMENTS)
    names = re.findall(r'overflow:hidden">([^<]*)</div>', page)
    assert names == ["SPEAKER_01", "SPEAKER_00", ""]  # and the axis's row
    lanes = page.split('overflow:hidden">')[1:3]
    assert [len(BAR.findall(lane)) for lane in lanes] == [2, 1]
    bars = [(title, float(left), float(width)) for title, left, width in BAR.findall(page)]
    assert [title for title, _, _ in bars] == [
        "SPEAKER_01: 0.50–3.00 s", "SPEAKER_01: 6.00–10.00 s", "SPEAKER_00: 3.50–5.50 s",
    ]  # fmt: skip
    # In shares of an axis of 10 s: the last bar ends on its last tick.
    assert [(left, width) for _, left, width in bars] == [(5, 25), (60, 40), (35, 20)]
    assert ticks(page) == [f"{s} s" for s in range(11)]  # at most ten steps, of 1, 2 or 5
    assert legend(page) == "SPEAKER_01 6.5 s, 2 turns SPEAKER_00 2.0 s, 1 turn"
    assert ticks(figures.timeline(SEGMENTS[:1])) == [
        "0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s", "3 s",
    ]  # fmt: skip


def test_a_long_recording_is_timed_in_minutes():
    page = figures.timeline([{"speaker": "A", "start": 0, "end": 400.0}])
    assert ticks(page) == ["0:00", "1:00", "2:00", "3:00", "4:00", "5:00", "6:00", "7:00"]


def test_a_grid_shows_each_image_its_rank_and_score():
    small = Image.new("RGB", (64, 64), "red")
    large = base64.b64encode(png((400, 300))).decode()
    matches = [
        {"image": small, "score": 0.9, "caption": "two <red> circles"},
        {"image": large, "score": -0.2},
    ]
    page = figures.grid(matches)
    assert page.count('class="handler-kit-match"') == 2 and page.count("<img") == 2
    assert "<b>#1</b> 0.900" in page and "<b>#2</b> -0.200" in page
    assert "two &lt;red&gt; circles" in page
    assert page.count("image-rendering:pixelated") == 1  # the small one, scaled up
    assert "width:86px" in page and "width:0px" in page  # the score bars
    many = figures.grid([{"image": small, "score": 0.5}] * (figures.MAX_MATCHES + 3))
    assert many.count("<img") == figures.MAX_MATCHES and "3 more not shown" in many
