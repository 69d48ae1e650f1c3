"""colab.py: in Colab (simulated here by a stand-in `google.colab` module), the widget manager is
turned on and the endpoint says at which address a browser reaches it."""

import sys
import types

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell

from handler_kit import colab, payload_form, serve


@pytest.fixture
def in_colab(monkeypatch):
    """A stand-in for Colab's `google.colab.output`: records what the kit asked of it."""
    asked = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: asked.append("widgets")

    def eval_js(script, ignore_result=False, timeout_sec=None):
        asked.append(script)
        port = script.split("(")[1].rstrip(")")
        return f"https://{port}-m-s-abc123.colab.googleusercontent.com/"

    output.eval_js = eval_js
    google = types.ModuleType("google")
    package = types.ModuleType("google.colab")
    package.output, google.colab = output, package
    for name, module in [("google", google), ("google.colab", package)]:
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return asked


def test_elsewhere_nothing_is_asked_of_colab():
    assert not colab.running() and colab.proxy_url(8080) is None
    colab.enable_widgets()  # does nothing, raises nothing


def test_the_extension_and_the_form_turn_on_colabs_widget_manager(in_colab):
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "handler_kit")
    finally:
        InteractiveShell.clear_instance()
    assert in_colab == ["widgets"]
    payload_form(lambda data: [])
    assert in_colab == ["widgets", "widgets"]


def test_the_endpoint_shows_colabs_proxied_address(in_colab):
    with serve(lambda data: {"ok": True}) as endpoint:
        proxied = f"https://{endpoint.port}-m-s-abc123.colab.googleusercontent.com/"
        assert in_colab == [f"google.colab.kernel.proxyPort({endpoint.port})"]
        assert endpoint.browser_url == proxied
        assert f"\nfrom your browser: {proxied}" in repr(endpoint)
        assert f'<a href="{proxied}" target="_blank">' in endpoint._repr_html_()
        # The kernel itself still calls it on 127.0.0.1.
        assert httpx.post(endpoint.url, json={"inputs": 1}).json() == {"ok": True}


def test_a_colab_frontend_that_does_not_answer_leaves_no_address(in_colab, monkeypatch):
    def no_answer(script, ignore_result=False, timeout_sec=None):
        raise TimeoutError("no reply")

    monkeypatch.setattr(sys.modules["google.colab.output"], "eval_js", no_answer)
    with serve(lambda data: {}) as endpoint:
        assert endpoint.browser_url is None and "from your browser" not in repr(endpoint)
