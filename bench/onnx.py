"""Benchmark the ONNX templates against the PyTorch models they were exported from.

For ``onnx-text-classification`` (the emotion model) and ``sentence-embeddings`` (MiniLM), it
times the template's handler (ONNX Runtime) and the same model answered by PyTorch
(``pipeline("text-classification")`` on the emotion model; MiniLM with the same pooling), one
sentence and a batch of 8, on this machine's cores, and prints the medians and the ratio
PyTorch / ONNX measured in the same run (above 1: ONNX Runtime is faster). It also prints how
far the answers are apart. Every loop is bounded by --calls.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, pipeline

import handler_kit
from handler_kit import templates
from handler_kit.templates import samples

SENTENCE = "I am quite excited how this will turn out"
BATCH = [text for text, _ in samples.emotion_data()[1][:8]]


def timed(call: Callable[[], object], count: int) -> float:
    """The median milliseconds of ``count`` calls, after a few to warm up."""
    for _ in range(min(5, count)):
        call()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return statistics.median(out)


def classifier(tmp: Path, calls: int) -> None:
    onnx = handler_kit.load(templates.new("onnx-text-classification", tmp / "onnx", progress=False))
    torch_pipeline = pipeline("text-classification", model=str(samples.emotion_repo()), top_k=None)
    for name, inputs in (("1 sentence", SENTENCE), ("8 sentences", BATCH)):
        ours = timed(
            lambda inputs=inputs: onnx({"inputs": inputs, "parameters": {"top_k": 6}}), calls
        )
        theirs = timed(lambda inputs=inputs: torch_pipeline(inputs), calls)
        report("onnx-text-classification", name, theirs, ours)
    a = {d["label"]: d["score"] for d in onnx({"inputs": SENTENCE, "parameters": {"top_k": 6}})}
    answer = torch_pipeline(SENTENCE)
    answer = answer[0] if isinstance(answer[0], list) else answer  # one list per input
    b = {d["label"]: d["score"] for d in answer}
    print(f"  largest score difference: {max(abs(a[k] - b[k]) for k in a):.2e}")


def embeddings(tmp: Path, calls: int) -> None:
    onnx = handler_kit.load(templates.new("sentence-embeddings", tmp / "emb", progress=False))
    base = samples.minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base).eval()

    def pytorch(sentences: list[str]) -> np.ndarray:
        encoded = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            tokens = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()

    for name, inputs in (("1 sentence", [SENTENCE]), ("8 sentences", BATCH)):
        ours = timed(lambda inputs=inputs: onnx({"inputs": inputs}), calls)
        theirs = timed(lambda inputs=inputs: pytorch(inputs), calls)
        report("sentence-embeddings", name, theirs, ours)
    difference = np.abs(np.array(onnx({"inputs": BATCH})) - pytorch(BATCH)).max()
    print(f"  largest value difference: {difference:.2e}")


def report(template: str, what: str, pytorch_ms: float, onnx_ms: float) -> None:
    print(
        f"{template:25} {what:12} PyTorch {pytorch_ms:7.2f} ms | ONNX Runtime {onnx_ms:7.2f} ms"
        f" | PyTorch / ONNX = {pytorch_ms / onnx_ms:.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per measurement")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        classifier(Path(tmp), args.calls)
        embeddings(Path(tmp), args.calls)


if __name__ == "__main__":
    main()
