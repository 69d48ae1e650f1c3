"""Recipes: how each template's small model is made on this machine, from what PyPI provides.

One module per kind of model. Each has a ``build(progress)`` that returns the model's cached
folder (made once by :func:`handler_kit.templates.builds.cached_build`, under a key over its
recipe, data, code and library versions) and a ``write_cases(repo, model)`` that writes the
template's payload cases. The figures a build measured (held-out accuracy, F1, the ONNX
tolerance) are in the folder's stamp: ``builds.build_info(folder)``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

TEMPLATES = Path(__file__).parent.parent


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


def steps(count: int, recipe: dict) -> int:
    """How many optimiser steps ``recipe`` takes over ``count`` examples."""
    return recipe["epochs"] * -(-count // recipe["batch_size"])


def fit(
    model: Any,
    count: int,
    recipe: dict,
    loss_of: Callable[[Any], Any],
    optimizer: Any,
    schedule: Any = None,
    desc: str = "training",
    progress: bool = True,
) -> None:
    """Train ``model`` on ``count`` examples: ``loss_of(indices)`` is a batch's loss.

    ``recipe`` gives ``epochs``, ``batch_size`` and ``seed``: each epoch goes through the
    examples in a new order drawn from the seed, so the same recipe gives the same weights.
    """
    import torch
    from tqdm.auto import tqdm

    size = recipe["batch_size"]
    order = torch.Generator().manual_seed(recipe["seed"])
    model.train()
    with tqdm(total=steps(count, recipe), desc=desc, disable=not progress) as bar:
        for _ in range(recipe["epochs"]):
            shuffled = torch.randperm(count, generator=order)
            for start in range(0, count, size):
                loss = loss_of(shuffled[start : start + size])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
    model.eval()


def card(
    title: str, pipeline_tag: str, tags: tuple[str, ...], body: str, library: str | None = None
) -> str:
    """A template model's card (its README.md): the Hub's front matter, a title, ``body``."""
    library_line = f"library_name: {library}\n" if library else ""
    return (
        f"---\nlicense: apache-2.0\npipeline_tag: {pipeline_tag}\n{library_line}"
        f"tags: [{', '.join((*tags, 'handler_kit-template'))}]\n---\n\n"
        f"# {title} (handler_kit template)\n\n{body}"
    )


def recipe_table(recipe: dict) -> str:
    """A recipe as the rows of a model card's Markdown table."""
    rows = "\n".join(f"| {key} | {value} |" for key, value in recipe.items())
    return f"| setting | value |\n| --- | --- |\n{rows}"
