"""Text generation with the usual parameters, deterministic for a given seed.

The handler's side of the guide's GPT-J template, on a tiny model: a text-generation
pipeline, the request's parameters checked and passed on, and ``seed`` to make sampling
repeatable (the same seed and payload give the same text).
Payload: {"inputs": "I feel", "parameters": {"max_new_tokens": 20, "do_sample": true,
"temperature": 0.8, "top_k": 20, "top_p": 0.95, "seed": 7}}.
Answer: [{"generated_text": "I feel ..."}] (one per returned sequence).
"""

from typing import Any

from transformers import pipeline, set_seed

PARAMETERS = {
    "max_new_tokens",
    "temperature",
    "top_k",
    "top_p",
    "do_sample",
    "repetition_penalty",
    "num_return_sequences",
    "return_full_text",
}
MAX_NEW_TOKENS = 64  # a bound on the work one request can ask for


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("text-generation", model=path)

    def __call__(self, data: dict[str, Any]) -> list[dict[str, str]]:
        inputs = data["inputs"]
        parameters = dict(data.get("parameters") or {})
        seed = parameters.pop("seed", None)
        unknown = sorted(set(parameters) - PARAMETERS)
        if unknown:
            raise ValueError(f"unknown parameters {unknown}; use {sorted(PARAMETERS | {'seed'})}")
        if int(parameters.get("max_new_tokens", 20)) > MAX_NEW_TOKENS:
            raise ValueError(f"max_new_tokens is at most {MAX_NEW_TOKENS}")
        if seed is not None:
            set_seed(int(seed))  # seeds Python, NumPy and PyTorch: sampling repeats exactly
        return self.pipeline(inputs, **parameters)
