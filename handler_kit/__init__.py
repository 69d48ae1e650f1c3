"""handler_kit: develop Hugging Face Inference Endpoints handlers in a live kernel.

``%load_ext handler_kit`` registers the magics; everything they do is in the Python API below.
"""

from typing import TYPE_CHECKING

from .cases.replay import ReplayReport, replay
from .checks.check import CheckReport, check
from .endpoint.server import Endpoint, serve
from .errors import HandlerKitError, HandlerLoadError, HandlerReloadError
from .notebook.tables import ResultTable, result_table, show
from .production.comparison import (
    ProductionCheck,
    ProductionComparison,
    against_production,
    check_against_production,
)
from .production.toolkit import ProductionServer, Toolkit, find_toolkit
from .reload.live import LiveHandler, load
from .reload.plan import ReloadReport

__all__ = [
    "CheckReport",
    "Endpoint",
    "HandlerKitError",
    "HandlerLoadError",
    "HandlerReloadError",
    "LiveHandler",
    "ProductionCheck",
    "ProductionComparison",
    "ProductionServer",
    "ReloadReport",
    "ReplayReport",
    "ResultTable",
    "Toolkit",
    "against_production",
    "check",
    "check_against_production",
    "find_toolkit",
    "load",
    "payload_form",
    "replay",
    "result_table",
    "serve",
    "show",
]


def payload_form(handler: object, sample: dict | None = None) -> "PayloadForm":
    """An ipywidgets form to compose payloads for ``handler`` and read its answers."""
    from .notebook.widgets import payload_form

    return payload_form(handler, sample)


__version__ = "0.1.0"

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .notebook.widgets import PayloadForm


def load_ipython_extension(ipython: "InteractiveShell") -> None:
    """Register the handler_kit magics (``%load_ext handler_kit``); in Colab, turn on the
    widget manager that the payload form needs there."""
    from .notebook import colab
    from .notebook.magics import HandlerMagics

    ipython.register_magics(HandlerMagics)
    colab.enable_widgets()
