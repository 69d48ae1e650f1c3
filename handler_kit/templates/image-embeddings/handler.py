"""Image and text embeddings in one space: the shape of the guide's BLIP embeddings template.

An image (an image body, which production hands over as a PIL image, or a base64 string in
JSON) or a text becomes a vector of length 1; an image and a caption of it point the same
way, so the dot product ranks images for a text search. The model (towers.py next to this
file) has an image tower and a text tower trained together.
Payload: {"inputs": <image> | "<base64>"}, {"inputs": {"image": "<base64>"}} or
{"inputs": {"text": "two red circles"}}; "text" or "image" may hold a list.
Answer: {"feature_vector": [0.12, ...]}, or a list of them for a list.
"""

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors.torch import load_file
from towers import TwoTower, pixels, word_ids


class EndpointHandler:
    def __init__(self, path=""):
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        self.vocabulary = config["vocabulary"]
        self.model = TwoTower(words=len(self.vocabulary), **config["model"])
        self.model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        self.model.eval()

    def __call__(self, data: dict[str, Any]) -> Any:
        inputs = data["inputs"]
        if isinstance(inputs, dict) and "text" in inputs:
            many, texts = _listed(inputs["text"], str, "text")
            with torch.inference_mode():
                ids = word_ids(texts, self.vocabulary, self.model.max_words)
                vectors = self.model.text(ids)
        else:
            if isinstance(inputs, dict):
                if "image" not in inputs:
                    raise ValueError("`inputs` as an object holds `text` or `image`")
                inputs = inputs["image"]
            many, images = _listed(inputs, (str, Image.Image), "image")
            with torch.inference_mode():
                vectors = self.model.image(pixels([to_image(image) for image in images]))
        answers = [{"feature_vector": vector} for vector in vectors.tolist()]
        return answers if many else answers[0]


def _listed(value: Any, kind: Any, name: str) -> tuple[bool, list]:
    """(whether a list was sent, the items): one item or a list of them."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, kind) for item in items):
        raise ValueError(f"`{name}` must be one {name} or a non-empty list of them")
    return isinstance(value, list), items


def to_image(value: Any) -> Image.Image:
    """A PIL image from what a request carries: an image, or a base64 string of its file."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    encoded = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))).convert("RGB")
    except (binascii.Error, OSError) as error:
        raise ValueError(
            f"`inputs` is not a base64-encoded image ({error}); "
            'to embed a text, send {"inputs": {"text": "..."}}'
        ) from None
