"""Image classification with a transformers pipeline, from an image body or base64 JSON.

Production hands an image body (Content-Type image/png, image/jpeg, ...) to the handler as a
PIL image in RGB; a JSON body carries the image as a base64 string (a data URL works too).
Payload: {"inputs": <image> | "<base64>" | [several], "parameters": {"top_k": 2}}.
Answer: labels with scores, best first (one list per image for a list of images).
"""

import base64
import binascii
import io
from typing import Any

from PIL import Image
from transformers import pipeline


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("image-classification", model=path)

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        top_k = int(data.get("parameters", {}).get("top_k", 5))
        if isinstance(inputs, list):
            return self.pipeline([to_image(item) for item in inputs], top_k=top_k)
        return self.pipeline(to_image(inputs), top_k=top_k)


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
