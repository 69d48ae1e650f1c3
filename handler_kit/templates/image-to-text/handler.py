"""Image to text: read the lines of text in an image; with fields, answer them as JSON.

The shape of the guide's TrOCR template (an image in, its text out) and of its Donut
template (with ``parameters: {"fields": true}``, a JSON of the fields it read). The model
(crnn.py next to this file) reads one line at a time; the image is cut into lines first.
Payload: {"inputs": <image> | "<base64>", "parameters": {"fields": true}}.
Answer: [{"generated_text": "date 2024-03-07\ntotal 42.50"}], or with fields
{"date": "2024-03-07", "total": "42.50"}.
"""

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from crnn import CRNN, decode, lines, preprocess
from PIL import Image
from safetensors.torch import load_file


class EndpointHandler:
    def __init__(self, path=""):
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        self.model = CRNN(**config["model"])
        self.model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        self.model.eval()

    def __call__(self, data: dict[str, Any]) -> Any:
        image = to_image(data["inputs"])
        parameters = data.get("parameters", {})
        found = lines(image)
        texts = []
        if found:
            pixels = torch.from_numpy(np.stack([preprocess(line) for line in found]))
            with torch.inference_mode():
                texts = decode(self.model(pixels))
        if parameters.get("fields"):
            return fields(texts)
        return [{"generated_text": "\n".join(texts)}]


def fields(texts: list[str]) -> dict[str, str]:
    """Lines such as "total 42.50" as {"total": "42.50"}; a line of one word as {"text": ...}."""
    found = {}
    for text in texts:
        name, _, value = text.strip().partition(" ")
        if value:
            found[name] = value
        elif name:
            found.setdefault("text", name)
    return found


def to_image(value: Any) -> Image.Image:
    """A PIL image from what a request carries: an image, or a base64 string of its file."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, str):
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            return Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))).convert("RGB")
        except (binascii.Error, OSError) as error:
            raise ValueError(f"`inputs` is not a base64-encoded image: {error}") from None
    raise ValueError(f"`inputs` must be an image or a base64 string, not {type(value).__name__}")
