"""handler_kit: develop Hugging Face Inference Endpoints handlers in a live kernel.

``%load_ext handler_kit`` registers the magics; everything they do is in the Python API below.
The package is lazy (PEP 562): a name is imported from its wing when it is first used, so
``import handler_kit`` and its pure parts (``handler_kit.reload.decision``) do not import the
web stack (starlette, uvicorn) or the notebook's (ipywidgets).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import HandlerKitError, HandlerLoadError, HandlerReloadError

__version__ = "0.1.0"

# The public API: each name and the module that defines it.
_EXPORTS = {
    "CheckReport": ".checks.check",
    "DeployReport": ".deploy.report",
    "Endpoint": ".endpoint.running",
    "LiveHandler": ".reload.live",
    "ProductionCheck": ".checks.against_production",
    "ProductionComparison": ".production.comparison",
    "ProductionServer": ".production.servers",
    "ReloadReport": ".reload.report",
    "ReplayReport": ".cases.replay",
    "ResultTable": ".notebook.tables",
    "Toolkit": ".production.toolkit",
    "against_production": ".production.run",
    "check": ".checks.check",
    "check_against_production": ".checks.against_production",
    "deploy": ".deploy",  # a callable package: see handler_kit/deploy/__init__.py
    "find_toolkit": ".production.toolkit",
    "load": ".reload.live",
    "payload_form": ".notebook.form",
    "replay": ".cases.replay",
    "result_table": ".notebook.tables",
    "serve": ".endpoint.server",
    "show": ".notebook.tables",
}

__all__ = [
    "CheckReport",
    "DeployReport",
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
    "deploy",
    "find_toolkit",
    "load",
    "payload_form",
    "replay",
    "result_table",
    "serve",
    "show",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    imported = importlib.import_module(module, __name__)
    # A wing that is its own entry point (``deploy``) is the name itself.
    value = imported if module == f".{name}" else getattr(imported, name)
    globals()[name] = value  # asked once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .cases.replay import ReplayReport, replay
    from .checks.against_production import ProductionCheck, check_against_production
    from .checks.check import CheckReport, check
    from .deploy.flow import deploy
    from .deploy.report import DeployReport
    from .endpoint.running import Endpoint
    from .endpoint.server import serve
    from .notebook.form import payload_form
    from .notebook.tables import ResultTable, result_table, show
    from .production.comparison import ProductionComparison
    from .production.run import against_production
    from .production.servers import ProductionServer
    from .production.toolkit import Toolkit, find_toolkit
    from .reload.live import LiveHandler, load
    from .reload.report import ReloadReport


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the handler_kit magics (``%load_ext handler_kit``); in Colab, turn on the
    widget manager that the payload form needs there."""
    from . import colab
    from .notebook.magics import HandlerMagics

    ipython.register_magics(HandlerMagics)
    colab.enable_widgets()
