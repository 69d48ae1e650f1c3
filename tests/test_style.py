"""style.py: every HTML the kit renders takes its colours from the frontend's theme.

A colour written as it is (``#cf222e``, ``rgb(...)``) reads in one theme only; each must be the
last fallback of ``var(--jp-..., var(--vscode-..., var(--colab-..., colour)))``. The rendered
result in a real light and dark theme is checked in test_browser.py.
"""

import re
from pathlib import Path

import pytest
from PIL import Image

from handler_kit import style
from handler_kit.cases.replay import ReplayReport, ReplayRow
from handler_kit.checks.report import CheckReport, Row
from handler_kit.endpoint.server import serve
from handler_kit.notebook.form import payload_form
from handler_kit.notebook.form.export import Export
from handler_kit.notebook.form.sender import _Error
from handler_kit.notebook.runner import NotebookRun
from handler_kit.notebook.tables import result_table
from handler_kit.production.comparison import ComparisonRow, ProductionComparison, Side
from handler_kit.reload.report import ReloadReport
from handler_kit.report import Status

STYLE = re.compile(r'style="([^"]*)"')
INNERMOST_VAR = re.compile(r"var\(--[\w-]+, (?:[^()]|\([^()]*\))*\)")
NAMED = r"(?<![\w-])(?:white|black|red|green)(?![\w-])"  # not white-space
BARE_COLOUR = re.compile(rf"#[0-9a-fA-F]{{3,8}}\b|rgba?\(|{NAMED}")


def bare_colours(page: str) -> list[str]:
    """The colours in the page's style attributes that are not a theme variable's fallback."""
    found = []
    for css in STYLE.findall(page):
        while INNERMOST_VAR.search(css):
            css = INNERMOST_VAR.sub("VAR", css)
        found += BARE_COLOUR.findall(css)
    return found


def test_a_fixed_colour_is_found_and_a_fallback_is_not():
    assert bare_colours('<b style="color:#cf222e">x</b>') == ["#cf222e"]
    assert bare_colours(f'<b style="color:{style.ERROR};background:#fff">x</b>') == ["#fff"]
    assert bare_colours(f'<b style="color:{style.ERROR}">x</b>') == []
    assert "var(--vscode-errorForeground" in style.ERROR and "var(--colab-" in style.ERROR


def failing_endpoint():
    def handler(data):
        raise ValueError("no")

    return serve(handler)


def pages():
    """The HTML of each thing the kit shows in a notebook."""
    tables = [
        [{"label": "joy", "score": 0.9}, {"label": "sadness", "score": 0.1}],
        [{"entity_group": "PER", "word": "Ann", "start": 0, "end": 3, "score": 0.99}],
        [[0.1, 0.2, 0.3]],
        {"answer": "Paris", "score": 0.9, "start": 0, "end": 5},
        {"a": 1},
        ["x"] * 60,
    ]
    yield from (("table", result_table(answer)._repr_html_()) for answer in tables)
    words = [
        {"word": "Name:", "box": [4, 4, 40, 14], "label": "B-QUESTION", "score": 0.9},
        {"word": "Ann", "box": [50, 4, 70, 14], "label": "B-ANSWER", "score": 0.9},
        {"word": "note", "box": [4, 20, 30, 30], "label": "O", "score": 0.9},
        {"word": "x", "box": [40, 20, 50, 30]},
    ]
    yield "boxes", result_table(words)._repr_html_()
    document = Image.new("RGB", (80, 40), (255, 255, 255))
    yield "boxes over a document", result_table(words, {"inputs": document})._repr_html_()
    speakers = [{"speaker": f"S{n}", "start": n, "end": n + 0.5} for n in range(8)]
    yield "timeline", result_table(speakers)._repr_html_()
    matches = [{"image": document, "score": 0.5, "caption": "a"}] * 30
    yield "image grid", result_table(matches)._repr_html_()
    for mode in ("hot", "reinit", "unchanged"):
        report = ReloadReport(("handler.py",), mode, "because", 0.01)
        yield f"reload {mode}", report._repr_html_()
    rows = [Row("a", status, "detail") for status in ("pass", "fail", "warn", "skip")]
    yield "check", CheckReport(Path("repo"), rows)._repr_html_()
    replayed = [
        ReplayRow(o.value, o, "detail", 200, 0.01)
        for o in (Status.PASS, Status.DIFFERS, Status.ERROR)
    ]
    yield "replay", ReplayReport("http://127.0.0.1:1", Path("cases"), replayed)._repr_html_()
    side = Side(200, "application/json", "[]")
    compared = [
        ComparisonRow(m.value, m, "detail", side, side)
        for m in (Status.SAME, Status.DIFFERS, Status.ERROR)
    ]
    yield "production", ProductionComparison(Path("repo"), compared, "python")._repr_html_()
    for error in (None, "ValueError: no"):
        run = NotebookRun(Path("a.ipynb"), Path("out/a.ipynb"), None, 1.0, error=error)
        yield "notebook run", run._repr_html_()
    yield (
        "form error",
        _Error("ValueError: `x` is wrong", "  handler.py:3 in __call__")._repr_html_(),
    )
    yield "export", Export([Path("cases/case_001.json")], 1, ["no query string"])._repr_html_()
    form = payload_form(lambda data: [], {"inputs": "", "parameters": {}})
    form.fields["parameters"].editor.value = "{"
    yield "form status", form.status.value
    yield "form field", form.fields["parameters"].error.value


@pytest.mark.parametrize(("what", "page"), list(pages()))
def test_every_colour_is_the_themes(what, page):
    assert bare_colours(page) == [], what


def test_the_endpoint_too(monkeypatch):
    import httpx

    monkeypatch.setattr("handler_kit.endpoint.server.exposed", lambda host: True)  # and its warning
    with failing_endpoint() as endpoint:
        httpx.post(endpoint.url, json={"inputs": ""})
        page = endpoint._repr_html_()
    assert "last handler error" in page and "warning" in page and "log (" in page
    assert bare_colours(page) == []


def test_messages_show_code_as_code_and_lines_as_lines():
    assert style.message("`inputs` is <missing>\nSend it.") == (
        "<code>inputs</code> is &lt;missing&gt;<br>Send it."
    )
