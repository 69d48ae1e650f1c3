"""What a person sees: the payload form in JupyterLab, driven in headless Chromium.

JupyterLab runs on 127.0.0.1 with a token; a notebook loads the guide's handler and opens the
form; Playwright types a text, clicks Send and reads the label from the rendered table. The
screenshot is kept in build/browser/. Skipped, saying why, where Chromium or the packages are
missing (`make setup` installs them where it can).
"""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parent.parent
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


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: install Debian's chromium (make setup does, as root)"
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"the {module} package is not installed (pip install -e '.[test]')"
    return None


pytestmark = [pytest.mark.model, pytest.mark.skipif(bool(_missing()), reason=_missing() or "")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 with a token, serving tmp_path; stopped after the test."""
    from handler_kit.notebooks import kernel_name

    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter-config")}
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--allow-root",  # CI runs as root in a throwaway machine
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = (tmp_path / "lab.log").open("w")
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
                    pytest.fail(f"JupyterLab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 90 s")
        yield url, token, kernel_name()
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_type_send_and_read_the_label_in_a_real_browser(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    from handler_kit import samples

    url, token, kernel = lab
    kernel_label = "Python (handler-kit)" if kernel == "handler-kit" else "Python 3 (ipykernel)"
    repo = os.environ.get("HANDLER_KIT_BROWSER_REPO") or samples.guide_repo(tmp_path / "emotion")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(f"%load_ext handler_kit\n%handler_load {repo}"),
        nbformat.v4.new_code_cell(
            '%handler_form --sample \'{"inputs": "", "date": "2022-08-08"}\''
        ),
    ]
    nbformat.write(notebook, tmp_path / "form.ipynb")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{url}/lab/tree/form.ipynb?token={token}")
            page.locator(".jp-Notebook").first.wait_for()
            page.get_by_text(f"{kernel_label} | Idle").first.wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            text_area = page.locator(".widget-textarea textarea").first
            text_area.wait_for(timeout=120_000)  # the first run loads the model
            text_area.fill(TEXT)
            page.locator("button.widget-button[title=Send]").click()
            first_label = page.locator(".handler-kit-result td").first
            first_label.wait_for()
            label = first_label.inner_text()
            page.screenshot(path=str(ARTEFACTS / "payload_form.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTEFACTS / "payload_form_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert label == "joy"
    assert (ARTEFACTS / "payload_form.png").stat().st_size > 10_000
