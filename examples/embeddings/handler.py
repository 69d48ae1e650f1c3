"""Sentence embeddings: the kind of handler the guide lists among its templates.

Mean-pooled, L2-normalised embeddings from any transformers encoder in the repository
(here the packaged all-MiniLM-L6-v2). Payload: {"inputs": "a sentence" | ["several", ...]}.
"""

from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer


class EndpointHandler:
    def __init__(self, path=""):
        # Loaded once at start-up: the slow part that a hot reload keeps.
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, data: dict[str, Any]) -> list[list[float]]:
        inputs = data["inputs"]
        sentences = [inputs] if isinstance(inputs, str) else list(inputs)
        encoded = self.tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            tokens = self.model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        embeddings = (tokens * mask).sum(dim=1) / mask.sum(dim=1)
        return torch.nn.functional.normalize(embeddings, dim=1).tolist()
