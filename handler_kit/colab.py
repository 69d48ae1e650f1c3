"""Google Colab: its widget manager, and its proxy that lets a browser reach a kernel's port.

Colab runs ipywidgets 8 only once its custom widget manager is enabled, and a server in the
kernel's machine is reachable from the user's browser only through Colab's proxy, at an address
the frontend gives. Elsewhere (JupyterLab, Notebook, VS Code) these do nothing. It sits below
the wings (the standard library only): the payload form turns the widget manager on, the
endpoint asks for its address.
"""

from __future__ import annotations

import sys


def running() -> bool:
    """True inside a Colab kernel (which has imported ``google.colab`` before any cell)."""
    return "google.colab" in sys.modules


def enable_widgets() -> None:
    """Turn on Colab's custom widget manager, which ipywidgets 8 needs there."""
    if running():
        from google.colab import output

        output.enable_custom_widget_manager()


def proxy_url(port: int) -> str | None:
    """The address at which the user's browser reaches ``port`` of this machine, in Colab."""
    if not running():
        return None
    from google.colab import output

    try:
        return str(output.eval_js(f"google.colab.kernel.proxyPort({int(port)})", timeout_sec=10))
    except Exception:  # no frontend answered (a Colab kernel run headless): no proxy
        return None
