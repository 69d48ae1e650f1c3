"""ONNX models: the emotion classifier and MiniLM's sentence embeddings, run by ONNX Runtime.

The guide's "Optimum and ONNX Runtime" templates export a transformers model to ONNX and serve
it without PyTorch. Optimum's exporter pins transformers 4.x, so the models here are exported
with PyTorch's own exporter (``torch.onnx.export(..., dynamo=True)``, which needs onnx and
onnxscript) and served with ``onnxruntime`` directly. Each build measures how far ONNX
Runtime's answers are from PyTorch's on the held-out sentences.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds, training
from . import card

CLASSIFIER = "onnx-text-classification"
EMBEDDINGS = "sentence-embeddings"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PACKAGES = (*builds.DEFAULT_PACKAGES, "onnx", "onnxscript", "onnxruntime")
RECIPE = {"opset": 18, "max_length": 128, "version": 1}
REFERENCE_SENTENCE = "I love this phone"
REFERENCE_TOLERANCE = 1e-4  # ONNX Runtime against PyTorch, per value of an embedding
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build_classifier(progress: bool = True) -> Path:
    """The emotion model as ONNX (built from the cached emotion sample, which it keys on)."""
    emotion = training.emotion_model(progress=progress)
    key = builds.build_info(emotion)["key"]

    def train(dest: Path, progress: bool) -> dict:
        return _export_classifier(emotion, dest)

    recipe = {**RECIPE, "model": "emotion classifier"}
    code = Path(__file__)
    return builds.cached_build(CLASSIFIER, recipe, train, [key, code], PACKAGES, progress)


def build_embeddings(progress: bool = True) -> Path:
    """all-MiniLM-L6-v2 with mean pooling and L2 normalisation inside the ONNX graph."""
    recipe = {**RECIPE, "model": "all-MiniLM-L6-v2, mean pooled, normalised"}

    def train(dest: Path, progress: bool) -> dict:
        return _export_embeddings(training.minilm_dir(), dest)

    return builds.cached_build(EMBEDDINGS, recipe, train, [Path(__file__)], PACKAGES, progress)


def export(module: Any, example: dict[str, Any], outputs: list[str], dest: Path) -> None:
    """Export ``module`` to ONNX at ``dest``: batch and sequence length stay dynamic."""
    import torch

    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {name: {0: batch, 1: sequence} for name in example}
    with _quiet():
        program = torch.onnx.export(
            module.eval(),
            (),
            kwargs=example,
            input_names=list(example),
            output_names=outputs,
            dynamic_shapes=shapes,
            opset_version=RECIPE["opset"],
            dynamo=True,
            verbose=False,
        )
    program.save(str(dest), external_data=False)  # one file: what a Hub repository holds


@contextlib.contextmanager
def _quiet():
    """The exporter's notices (no torchvision, deprecations) say nothing about this model."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def session(model: Path) -> Any:
    """An ONNX Runtime session on ``model``, as the templates' handlers open one."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])


def _example(tokenizer: Any) -> dict[str, Any]:
    encoded = tokenizer(
        ["an example sentence", "and a second, longer example sentence"],
        padding=True,
        return_tensors="pt",
    )
    return {name: encoded[name] for name in INPUTS}


def _feed(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    encoded = tokenizer(
        texts, padding=True, truncation=True, max_length=RECIPE["max_length"], return_tensors="np"
    )
    return {name: encoded[name] for name in INPUTS}


def _export_classifier(source: Path, dest: Path) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source).eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    export(Logits(), _example(tokenizer), ["logits"], dest / "model.onnx")
    _copy_tokenizer(source, dest)
    shutil.copy2(source / "config.json", dest / "config.json")  # the labels: id2label

    _, held_out = training.emotion_data()
    texts = [text for text, _ in held_out]
    feed = _feed(tokenizer, texts)
    onnx = _softmax(session(dest / "model.onnx").run(None, feed)[0])
    with torch.inference_mode():
        torch_logits = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits
    reference = _softmax(torch_logits.numpy())
    labels = [model.config.id2label[int(i)] for i in onnx.argmax(axis=1)]
    accuracy = float(np.mean([p == gold for p, (_, gold) in zip(labels, held_out, strict=True)]))
    figures = {
        "max_abs_diff": float(np.abs(onnx - reference).max()),
        "labels_agree": float(np.mean(onnx.argmax(axis=1) == reference.argmax(axis=1))),
        "accuracy": accuracy,
        "held_out": len(texts),
    }
    _card(dest, CLASSIFIER, "text-classification", figures, "the emotion sample")
    return figures


def _export_embeddings(source: Path, dest: Path) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source).eval()

    class Pooled(torch.nn.Module):
        """Mean of the token vectors under the attention mask, L2-normalised."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    pooled = Pooled().eval()
    export(pooled, _example(tokenizer), ["embeddings"], dest / "model.onnx")
    _copy_tokenizer(source, dest)
    shutil.copy2(source / "config.json", dest / "config.json")

    _, held_out = training.emotion_data()
    texts = [text for text, _ in held_out]
    feed = _feed(tokenizer, texts)
    onnx = session(dest / "model.onnx").run(None, feed)[0]
    with torch.inference_mode():
        reference = pooled(**{k: torch.from_numpy(v) for k, v in feed.items()}).numpy()
    figures = {
        "max_abs_diff": float(np.abs(onnx - reference).max()),
        "min_cosine": float((onnx * reference).sum(axis=1).min()),
        "held_out": len(texts),
    }
    _card(dest, EMBEDDINGS, "sentence-similarity", figures, "all-MiniLM-L6-v2")
    with torch.inference_mode():
        one = pooled(
            **{k: torch.from_numpy(v) for k, v in _feed(tokenizer, [REFERENCE_SENTENCE]).items()}
        )
    # PyTorch's answer for a case: the handler (ONNX Runtime) must match it within tolerance.
    embedding = [round(x, 6) for x in one[0].tolist()]
    return {**figures, "reference": {"sentence": REFERENCE_SENTENCE, "embedding": embedding}}


def _copy_tokenizer(source: Path, dest: Path) -> None:
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)


def _softmax(logits: Any) -> Any:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _card(dest: Path, name: str, tag: str, figures: dict, source: str) -> None:
    rows = "\n".join(f"| {key} | {value:.3g} |" for key, value in figures.items())
    body = f"""\
{source} exported to ONNX by handler_kit with `torch.onnx.export(..., dynamo=True)` (opset
{RECIPE["opset"]}), served by ONNX Runtime. Measured against the PyTorch model on the
{figures["held_out"]} held-out sentences of handler_kit's emotion data:

| figure | value |
| --- | --- |
{rows}
"""
    readme = card(name, tag, ("onnx",), body, library="onnxruntime")
    (dest / "README.md").write_text(readme, encoding="utf-8")


def write_classifier_cases(repo: Path, model: Path | None) -> None:
    """Two sentences of the held-out data with their labels, and a batch with top_k."""
    folder = cases_folder(repo)
    guide = {"inputs": training.GUIDE_PAYLOAD}
    save_case(folder, "guide_payload", guide, expect={"expected_label": "joy"})
    _, held_out = training.emotion_data()
    text, label = next((t, lab) for t, lab in held_out if lab == "anger")
    save_case(folder, "held_out_anger", {"inputs": text}, expect={"expected_label": label})
    batch = {"inputs": [training.GUIDE_PAYLOAD, text], "parameters": {"top_k": 2}}
    save_case(folder, "batch_top_k", batch)


def write_embedding_cases(repo: Path, model: Path | None) -> None:
    """One sentence (expected: PyTorch's embedding, within the tolerance) and a batch."""
    folder = cases_folder(repo)
    expect = {}
    reference = builds.build_info(model).get("reference") if model is not None else None
    if reference:
        expect = {"expected": reference["embedding"], "tolerance": REFERENCE_TOLERANCE}
    save_case(folder, "one_sentence", {"inputs": REFERENCE_SENTENCE}, expect=expect)
    sentences = [REFERENCE_SENTENCE, "I adore this phone", "The train is late"]
    save_case(folder, "batch", {"inputs": sentences})
