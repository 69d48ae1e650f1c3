"""Document layout: the words of a scanned form, each labelled header, question or answer.

The shape of the guide's LayoutLM template: Tesseract reads the words and their boxes
(through pytesseract), and a LayoutLMForTokenClassification labels each word from its text
and its place on the page, in FUNSD's labels (B-/I- HEADER, QUESTION, ANSWER, or O for other
text). document.py next to this file does the reading and the labelling. Tesseract is a
program, not a Python package: the handler says so at start-up when it is missing.
Payload: {"inputs": <image> | "<base64>", "parameters": {"entities": true}}.
Answer: [{"word": "Name:", "box": [40, 104, 106, 119], "label": "B-QUESTION", "score": 0.98},
...] (boxes in pixels of the image), or with entities the words grouped:
[{"label": "QUESTION", "text": "Date of birth:", "box": [...]}, ...].
"""

import base64
import binascii
import io
from typing import Any

from document import entities, label_words, read_words, reading_order, tesseract_missing
from PIL import Image
from transformers import AutoTokenizer, LayoutLMForTokenClassification


class EndpointHandler:
    def __init__(self, path=""):
        missing = tesseract_missing()
        if missing:
            raise RuntimeError(missing)
        self.model = LayoutLMForTokenClassification.from_pretrained(path).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path)

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        image = to_image(data["inputs"])
        parameters = data.get("parameters") or {}
        words = reading_order(read_words(image))
        labelled = label_words(self.model, self.tokenizer, words, image.size)
        return entities(labelled) if parameters.get("entities") else labelled


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
