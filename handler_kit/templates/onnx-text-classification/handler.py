"""Text classification served by ONNX Runtime: no PyTorch at request time.

The shape of the guide's "Optimum and ONNX Runtime" template: a transformers classifier
exported to ONNX (model.onnx), its tokenizer (tokenizer.json) and its labels (config.json).
Payload: {"inputs": "a sentence" | ["several", ...], "parameters": {"top_k": 2}}.
Answer: the top_k labels with scores, per input ([{"label": "joy", "score": 0.98}] for one).
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

MAX_LENGTH = 128


class EndpointHandler:
    def __init__(self, path=""):
        folder = Path(path)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_LENGTH)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.labels = {int(i): label for i, label in config["id2label"].items()}
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        top_k = int(data.get("parameters", {}).get("top_k", 1))
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (logits,) = self.session.run(None, {name: feed[name] for name in self.input_names})
        scores = np.exp(logits - logits.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        answers = [
            [{"label": self.labels[int(i)], "score": float(row[i])} for i in row.argsort()[::-1]]
            for row in scores
        ]
        answers = [answer[:top_k] for answer in answers]
        return answers[0] if isinstance(inputs, str) else answers
