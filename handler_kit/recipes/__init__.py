"""Recipes: how each template's small model is made on this machine, from what PyPI provides.

One module per kind of model. Each has a ``build(progress)`` that returns the model's cached
folder (made once by :func:`handler_kit.samples.cached_build`, under a key over its recipe,
data, code and library versions) and a ``write_cases(repo, model)`` that writes the
template's payload cases. The figures a build measured (held-out accuracy, F1, the ONNX
tolerance) are in the folder's stamp: ``samples.build_info(folder)``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TEMPLATES = Path(__file__).parent.parent / "templates"


def template_file(template: str, name: str) -> Path:
    """A file of a template's repository as the kit ships it (``handler.py``, ``crnn.py``)."""
    return TEMPLATES / template / name


def template_module(template: str, name: str) -> ModuleType:
    """Import a template's sibling module (its model's architecture) for training.

    The handler imports the same file in production, so the model trained here and the one
    served there are the same code. It is imported under a private name, never as ``name``,
    so that it cannot shadow the module of a repository loaded in this process.
    """
    key = f"handler_kit._template_{template.replace('-', '_')}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, template_file(template, f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
