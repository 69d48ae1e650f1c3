"""What a person sees: the payload form in JupyterLab and Notebook 7, driven in headless Chromium.

One Jupyter server (JupyterLab and Notebook 7 both) runs on 127.0.0.1 with a token; a notebook
loads the guide's handler and opens the form. Playwright types, picks a date, clicks Send three
times, then makes a send fail, as a person would; after each send exactly one answer or error is
on screen, and the history's lines can be told apart. Then JupyterLab is switched to its dark
theme from the Settings menu, and the error's text must keep a contrast ratio of at least 4.5
against its background, computed from the rendered styles. Screenshots are kept in
build/browser/. Skipped, saying why, where Chromium or the packages are missing (`make setup`
installs them where it can).
"""

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[2]
ARTEFACTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("HANDLER_KIT_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEXT = "I am so happy and thrilled about the new job"
SAMPLE = '{"inputs": "", "date": "2022-08-08"}'
ANSWERS = ".handler-kit-result, .handler-kit-error"

# The contrast ratio (WCAG 2) of an element's text against its effective background: the
# background colours of it and its ancestors composited over the first opaque one.
CONTRAST = """(element) => {
  const rgba = (text) => {
    const parts = text.match(/[\\d.]+/g).map(Number);
    return parts.length > 3 ? parts : [...parts, 1];
  };
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour[3] > 0) layers.push(colour);
    if (colour[3] >= 1) break;
  }
  let background = [255, 255, 255];  // the canvas, when no ancestor is opaque
  if (layers.length && layers[layers.length - 1][3] >= 1) background = layers.pop().slice(0, 3);
  for (const layer of layers.reverse()) {
    background = background.map((v, i) => layer[3] * layer[i] + (1 - layer[3]) * v);
  }
  const text = rgba(getComputedStyle(element).color);
  const foreground = background.map((v, i) => text[3] * text[i] + (1 - text[3]) * v);
  const luminance = (c) => {
    const s = c.map((v) => v / 255).map(
      (v) => (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4)));
    return 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
  };
  const [high, low] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
  return {ratio: (high + 0.05) / (low + 0.05), foreground, background};
}"""


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: install Debian's chromium (make setup does, as root)"
    for module in ("playwright", "jupyterlab", "notebook"):
        try:
            __import__(module)
        except ImportError:
            return f"the {module} package is not installed (pip install -e '.[test]')"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.model,
    pytest.mark.skipif(bool(_missing()), reason=_missing() or ""),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """One Jupyter server (JupyterLab and Notebook 7) on 127.0.0.1 with a token."""
    from handler_kit.notebook.runner import kernel_name
    from handler_kit.templates import samples

    root = tmp_path_factory.mktemp("jupyter")
    repo = os.environ.get("HANDLER_KIT_BROWSER_REPO") or samples.guide_repo(root / "emotion")
    port, token = _free_port(), secrets.token_hex(16)
    config = root / ".jupyter-config"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config)}
    # No "notified about Jupyter news?" pop-up over the screenshots.
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--allow-root",  # CI runs as root in a throwaway machine
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = (root / "jupyter.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"Jupyter exited: {(root / 'jupyter.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("Jupyter did not answer within 90 s")
        yield url, token, root, repo, kernel_name()
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def form_notebook(root: Path, name: str, repo: Path, kernel: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(f"%load_ext handler_kit\n%handler_load '{repo}'"),
        nbformat.v4.new_code_cell(f"%handler_form --sample '{SAMPLE}'"),
    ]
    nbformat.write(notebook, root / name)
    return name


def run_all_cells(page) -> None:
    """Run > Run All Cells, as a person does; again while the first cell's prompt stays
    "[ ]" (the page can show an idle kernel before it is connected, and the click then runs
    nothing), as a person would click again."""
    from playwright.sync_api import TimeoutError as Timeout
    from playwright.sync_api import expect

    prompt = page.locator(".jp-InputPrompt").first
    # JupyterLab asks, at times, which kernel to start although the notebook names one: a
    # person accepts the one it offers (the dialog may come a moment after the page).
    choose = page.locator(".jp-Dialog", has_text="Select Kernel")
    for _ in range(6):
        if choose.is_visible():
            choose.locator("button", has_text="Select").click()
        try:
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            expect(prompt).not_to_have_text(re.compile(r"^\[\s*\]:?$"), timeout=10_000)
            return
        except (AssertionError, Timeout):
            continue
    pytest.fail("Run All Cells ran nothing in 60 s: the kernel never connected")


def field_row(page, name: str):
    """The row of the form's field ``name``: its label, editor and buttons."""
    label = page.locator(".widget-label", has_text=re.compile(f"^{name}$"))
    return page.locator(".widget-hbox", has=label).last


def send(page, expect, sends: int) -> None:
    """Click Send and wait until the history holds ``sends`` requests."""
    page.locator("button.widget-button[title=Send]").click()
    expect(page.locator(".widget-select select option")).to_have_count(sends, timeout=60_000)


def use_the_form(page, screenshot: str) -> list[str]:
    """Three sends and a failing one, checking that one answer or error shows after each.

    Screenshots: after the third answer (``*_answer.png``) and after the error. Returns the
    history's lines.
    """
    from playwright.sync_api import expect

    text_area = page.locator(".widget-textarea textarea").first
    text_area.wait_for(timeout=120_000)  # the first run loads the model
    answers = page.locator(ANSWERS)
    text_area.fill(TEXT)
    send(page, expect, 1)
    expect(answers).to_have_count(1)
    expect(page.locator(".handler-kit-result td").first).to_have_text("joy")

    field_row(page, "date").locator("input[type=date]").fill("2022-07-04")
    send(page, expect, 2)
    expect(answers).to_have_count(1)
    expect(page.locator(".handler-kit-result td").first).to_have_text("happy")

    text_area.fill("I feel so sad and lonely today")
    field_row(page, "date").locator("input[type=date]").fill("2022-08-09")
    send(page, expect, 3)
    expect(answers).to_have_count(1)
    expect(page.locator(".handler-kit-result td").first).to_have_text("sadness")
    page.screenshot(path=str(ARTEFACTS / screenshot.replace(".png", "_answer.png")))

    # The date as free text (a person adds the field again as text): the holiday
    # calendar cannot read it, and the handler fails.
    page.locator("input[placeholder='new field']").fill("date")
    page.locator("button.widget-button", has_text="add field").click()
    date = field_row(page, "date").locator("input[type=text]")
    date.fill("someday")
    send(page, expect, 4)
    expect(answers).to_have_count(1)
    expect(page.locator(".handler-kit-error")).to_contain_text("Cannot parse date")
    expect(page.locator(".handler-kit-error")).to_contain_text("handler.py")
    page.screenshot(path=str(ARTEFACTS / screenshot), full_page=True)
    # The Select widget shows spaces as no-break spaces.
    return [t.replace("\xa0", " ") for t in page.locator(".widget-select option").all_inner_texts()]


def assert_distinguishable(lines: list[str]) -> None:
    assert len(lines) == 4, lines
    requests = [re.sub(r"^\d+\. ", "", line).split(" → ")[0] for line in lines]
    assert len(set(requests)) == 4, lines
    assert "2022-07-04" in requests[1] and "sad and lonely" in requests[2], lines
    assert "2022-08-09" in requests[2], lines
    assert "someday" in requests[3] and "error: ValueError" in lines[3], lines


@contextlib.contextmanager
def new_page(browser, name: str):
    """A page, closed after use; on a failure its screenshot is kept as ``<name>_failure.png``."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.set_default_timeout(60_000)
    try:
        yield page
    except BaseException:  # pytest.fail's Failed too
        page.screenshot(path=str(ARTEFACTS / f"{name}_failure.png"), full_page=True)
        raise
    finally:
        page.close()


def choose_theme(page, dark: bool) -> None:
    """Settings > Theme > JupyterLab Dark (or Light), as a person does; returns once the
    theme's colours apply and its splash has gone."""
    name, light, background = ("Dark", "false", "#111") if dark else ("Light", "true", "white")
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=f"JupyterLab {name}").first.click()
    page.locator(f"body[data-jp-theme-light='{light}']").wait_for(state="attached")
    # The theme's style sheet comes after the attribute: wait for its colours.
    page.wait_for_function(
        "getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()"
        f" === '{background}'"
    )
    # A theme change shows JupyterLab's splash over the page for a moment: a person
    # looks once it has gone, and so does the screenshot.
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=30_000)


def error_contrast(page) -> dict:
    return page.locator(".handler-kit-error b").first.evaluate(CONTRAST)


def kernel_label(kernel: str) -> str:
    """How JupyterLab's status bar names the kernel."""
    return "Python (handler-kit)" if kernel == "handler-kit" else "Python 3 (ipykernel)"


def open_notebook(page, frontend: str, jupyter, name: str) -> None:
    """Open notebook ``name`` in ``frontend`` ("lab", "notebook7") and wait for its kernel."""
    url, token, _, _, kernel = jupyter
    if frontend == "lab":
        # A workspace of its own: not the tabs the other tests left open.
        page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={token}")
        page.locator(".jp-Notebook").first.wait_for()
        page.get_by_text(f"{kernel_label(kernel)} | Idle").first.wait_for()
    else:
        page.goto(f"{url}/notebooks/{name}?token={token}")
        page.locator(".jp-Notebook").first.wait_for()
        page.locator(".jp-NotebookKernelStatus-idle, [data-status=idle]").first.wait_for()


def test_the_form_in_jupyterlab_light_and_dark(jupyter, browser):
    url, token, root, repo, kernel = jupyter
    name = form_notebook(root, "lab.ipynb", repo, kernel)
    with new_page(browser, "lab") as page:
        page.goto(f"{url}/lab/tree/{name}?token={token}")
        page.locator(".jp-Notebook").first.wait_for()
        page.get_by_text(f"{kernel_label(kernel)} | Idle").first.wait_for()
        run_all_cells(page)
        lines = use_the_form(page, "lab_form_light.png")
        light = error_contrast(page)

        choose_theme(page, dark=True)
        dark = error_contrast(page)
        page.screenshot(path=str(ARTEFACTS / "lab_form_dark.png"), full_page=True)
    assert_distinguishable(lines)
    assert light["ratio"] >= 4.5, light
    assert dark["ratio"] >= 4.5, dark
    assert max(dark["background"]) < 128, dark  # the dark theme really is on


def test_the_form_in_notebook_7(jupyter, browser):
    _, _, root, repo, kernel = jupyter
    name = form_notebook(root, "notebook7.ipynb", repo, kernel)
    with new_page(browser, "notebook7") as page:
        open_notebook(page, "notebook7", jupyter, name)
        run_all_cells(page)
        lines = use_the_form(page, "notebook7_form.png")
        contrast = error_contrast(page)  # in the theme the server's settings have now
    assert_distinguishable(lines)
    assert contrast["ratio"] >= 4.5, contrast


@pytest.mark.parametrize("frontend", ["lab", "notebook7"])
def test_autoreload_answers_send_with_the_saved_code_without_a_cell(jupyter, browser, frontend):
    """Edit handler.py on disk, click Send: the new answer and the reload line, no cell run."""
    from playwright.sync_api import expect

    _, _, root, repo, kernel = jupyter
    # A repository of its own: the other tests' stays as it is.
    repo = Path(shutil.copytree(repo, root / f"autoreload-{frontend}"))
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f"%load_ext handler_kit\n%handler_load '{repo}'\n%handler_autoreload on"
        ),
        nbformat.v4.new_code_cell("%handler_form"),  # the sample: the repository's first case
    ]
    name = f"autoreload_{frontend}.ipynb"
    nbformat.write(notebook, root / name)
    handler = repo / "handler.py"
    with new_page(browser, f"autoreload_{frontend}") as page:
        open_notebook(page, frontend, jupyter, name)
        run_all_cells(page)
        text_area = page.locator(".widget-textarea textarea").first
        text_area.wait_for(timeout=120_000)
        expect(text_area).to_have_value(re.compile("^I am quite excited"))  # the first case
        field_row(page, "date").locator("input[type=date]").fill("2022-07-04")
        send(page, expect, 1)
        expect(page.locator(".handler-kit-result td").first).to_have_text("happy")
        expect(page.locator(".handler-kit-reload")).to_have_text("")

        handler.write_text(handler.read_text().replace('"happy"', '"festive"'))
        send(page, expect, 2)  # no cell runs in between
        expect(page.locator(".handler-kit-result td").first).to_have_text("festive")
        expect(page.locator(".handler-kit-reload")).to_contain_text("handler.py reloaded hot in")
        page.screenshot(path=str(ARTEFACTS / f"{frontend}_autoreload.png"), full_page=True)

        handler.write_text(handler.read_text() + "\ndef broken(:\n")
        send(page, expect, 3)
        expect(page.locator(".handler-kit-result td").first).to_have_text("festive")
        failed = page.locator(".handler-kit-reload-failed")
        expect(failed).to_contain_text("the reload failed: the last good handler answered")
        expect(failed).to_contain_text("SyntaxError")
        page.screenshot(path=str(ARTEFACTS / f"{frontend}_autoreload_failed.png"), full_page=True)
        send(page, expect, 4)  # the same broken file: said once
        expect(failed).to_have_count(0)
        lines = [
            t.replace("\xa0", " ") for t in page.locator(".widget-select option").all_inner_texts()
        ]
    assert [line.split(" → ")[0] for line in lines[1:]] == [
        "2. same request · reloaded",
        "3. same request · reload failed",
        "4. same request",
    ], lines
    assert "festive" in lines[1] and "happy" in lines[0], lines


# Answers the figures draw (tables.py, figures.py): labelled words over the document they were
# read from, three speakers' segments, and images ranked for a caption.
FIGURES = """
from PIL import Image, ImageDraw, ImageFont

from handler_kit import show
from handler_kit.notebook.search import rank_images

font = ImageFont.load_default(size=20)
document = Image.new("RGB", (480, 200), "white")
pen = ImageDraw.Draw(document)
pairs = [("Name:", "Ann"), ("Date:", "2024-05-01"), ("City:", "Oslo")]
lines = [(20, [("Visitor", "B-HEADER"), ("form", "I-HEADER")])] + [
    (70 + 40 * n, [(question, "B-QUESTION"), (answer, "B-ANSWER")])
    for n, (question, answer) in enumerate(pairs)
]
words = []
for y, said in lines:
    for x, (word, label) in zip((30, 220), said):
        pen.text((x, y), word, fill="black", font=font)
        box = list(pen.textbbox((x, y), word, font=font))
        words.append({"word": word, "box": box, "label": label, "score": 0.9})
segments = [
    {"speaker": f"SPEAKER_0{n % 3}", "start": 2.0 * n + 0.3, "end": 2.0 * n + 1.8} for n in range(5)
]
colours = ["red", "orange", "green", "blue", "purple", "gray"]
images = [Image.new("RGB", (64, 64), colour) for colour in colours]
vectors = [[1.0 - 0.15 * n, 0.1 * n] for n in range(len(colours))]
matches = rank_images([1.0, 0.0], images, vectors, top=6, captions=colours)
"""
COUNTS = {".handler-kit-box": 8, ".handler-kit-segment": 5, ".handler-kit-match": 6}


def figures_notebook(root: Path, kernel: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(FIGURES),
        nbformat.v4.new_code_cell('show(words, request={"inputs": document})'),
        nbformat.v4.new_code_cell("show(segments)"),
        nbformat.v4.new_code_cell("show(matches)"),
    ]
    nbformat.write(notebook, root / "figures.ipynb")
    return "figures.ipynb"


def look_at_the_figures(page, theme: str) -> dict:
    """Count each figure's parts, check they are drawn at a size a person sees, screenshot
    each figure, and measure the contrast of the timeline's speaker names."""
    from playwright.sync_api import expect

    for selector, count in COUNTS.items():
        expect(page.locator(selector)).to_have_count(count, timeout=60_000)
    for name in ("boxes", "timeline", "grid"):
        figure = page.locator(f".handler-kit-{name}").first
        figure.scroll_into_view_if_needed()
        size = figure.bounding_box()
        assert size and size["width"] > 300 and size["height"] > 60, (name, size)
        result = page.locator(".handler-kit-result", has=figure)
        result.screenshot(path=str(ARTEFACTS / f"lab_{name}_{theme}.png"))
    # The colours come from the theme: a box's border is a colour, never black or none.
    border = page.locator(".handler-kit-box").first.evaluate(
        "(e) => getComputedStyle(e).borderTopColor"
    )
    assert border.startswith("rgb(") and border != "rgb(0, 0, 0)", border
    # Each box sits on its word: the first, "Visitor" at x=30 of 480 pixels, where the drawn
    # document has it.
    document = page.locator(".handler-kit-boxes img").first.bounding_box()
    box = page.locator(".handler-kit-box").first.bounding_box()
    assert abs(box["x"] - document["x"] - 30 * document["width"] / 480) < 2, (box, document)
    speaker = page.locator(".handler-kit-timeline div", has_text="SPEAKER_00").last
    return speaker.evaluate(CONTRAST)


def test_the_figures_in_jupyterlab_light_and_dark(jupyter, browser):
    url, token, root, _, kernel = jupyter
    kernel_label = "Python (handler-kit)" if kernel == "handler-kit" else "Python 3 (ipykernel)"
    name = figures_notebook(root, kernel)
    with new_page(browser, "figures") as page:
        # reset: the other tests' notebooks stay closed, so that the page has only this one.
        page.goto(f"{url}/lab/tree/{name}?token={token}&reset")
        page.locator(".jp-Notebook").first.wait_for()
        page.get_by_text(f"{kernel_label} | Idle").first.wait_for()
        choose_theme(page, dark=False)  # another test may have left the dark one on
        run_all_cells(page)
        light = look_at_the_figures(page, "light")
        choose_theme(page, dark=True)
        dark = look_at_the_figures(page, "dark")
    assert light["ratio"] >= 4.5, light
    assert dark["ratio"] >= 4.5, dark
    assert max(dark["background"]) < 128, dark
