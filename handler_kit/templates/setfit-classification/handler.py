"""A few-shot text classifier trained with SetFit, served without the setfit package.

A SetFit model is a sentence-transformers body and a logistic-regression head: the body
embeds the text, the head turns the embedding into label scores. This handler runs the body
with sentence-transformers (in production's image) and the head from model_head.json (its
weights as numbers), which is what ``SetFitModel.predict_proba`` computes. Installing the
setfit package in production is what to avoid: its dependencies upgrade transformers past the
version the inference toolkit runs on, and the endpoint no longer starts.
Payload: {"inputs": "a sentence" | ["several", ...]}.
Answer: every label with its score, best first ([[...], [...]] for a list of sentences).
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer


class EndpointHandler:
    def __init__(self, path=""):
        folder = Path(path)
        self.body = SentenceTransformer(str(folder), device="cpu")
        setfit = json.loads((folder / "config_setfit.json").read_text(encoding="utf-8"))
        head = json.loads((folder / "model_head.json").read_text(encoding="utf-8"))
        self.labels = setfit["labels"]
        self.normalize = setfit["normalize_embeddings"]
        self.weights = np.array(head["coef"], dtype=np.float64)  # (labels, embedding size)
        self.bias = np.array(head["intercept"], dtype=np.float64)

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        embeddings = self.body.encode(texts, normalize_embeddings=self.normalize)
        logits = embeddings.astype(np.float64) @ self.weights.T + self.bias
        scores = np.exp(logits - logits.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)  # the head is multinomial: a softmax
        answers = [
            [{"label": self.labels[i], "score": float(row[i])} for i in row.argsort()[::-1]]
            for row in scores
        ]
        return answers[0] if isinstance(inputs, str) else answers
