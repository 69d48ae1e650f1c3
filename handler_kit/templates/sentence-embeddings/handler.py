"""Sentence embeddings served by ONNX Runtime, pooled and normalised inside the model.

The shape of the guide's "optimised sentence-transformers with Optimum" template:
all-MiniLM-L6-v2 exported to ONNX with its mean pooling and L2 normalisation (model.onnx),
and its tokenizer (tokenizer.json). The dot product of two embeddings is their cosine.
Payload: {"inputs": "a sentence" | ["several", ...]}.
Answer: one vector of 384 numbers for a sentence, a list of vectors for a list.
"""

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
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        sentences = [inputs] if isinstance(inputs, str) else list(inputs)
        encodings = self.tokenizer.encode_batch(sentences)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (embeddings,) = self.session.run(None, {name: feed[name] for name in self.input_names})
        return embeddings[0].tolist() if isinstance(inputs, str) else embeddings.tolist()
