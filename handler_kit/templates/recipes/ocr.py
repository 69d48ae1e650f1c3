"""A text reader trained from scratch on lines of text the kit renders.

Lines such as ``total 42.50``, ``date 2024-03-07``, ``qty 12`` or ``ref 480213`` are rendered
in the fonts found on this machine (DejaVu and Liberation where installed, and the one Pillow
ships) at several sizes, grey levels and margins. The model (the template's ``crnn.py``) is a
small CRNN trained with CTC; the build measures its character accuracy on lines rendered
with another seed.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds
from . import card, fit, recipe_table, template_file, template_module

NAME = "image-to-text"
FIELDS = ("date", "total", "qty", "ref")
# Fonts to render with, where this machine has them; Pillow's own font always.
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
)
RECIPE = {
    "model": {"channels": [8, 16, 32, 32], "hidden": 64},
    "lines": 4000,
    "held_out_lines": 300,
    "font_sizes": [14, 28],
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "seed": 13,
    "version": 1,
}


def fonts() -> list[str | None]:
    """The font files found here (None: Pillow's own font)."""
    return [file for file in FONT_FILES if Path(file).is_file()] + [None]


def line_text(rng: random.Random) -> str:
    """A line of a receipt: a field name and its value."""
    name = rng.choice(FIELDS)
    if name == "date":
        value = f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif name == "total":
        value = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
    elif name == "qty":
        value = str(rng.randint(1, 999))
    else:
        value = str(rng.randint(1000, 999999))
    return f"{name} {value}"


_FONTS: dict[tuple[str | None, int], Any] = {}


def font(file: str | None, size: int) -> Any:
    from PIL import ImageFont

    if (file, size) not in _FONTS:
        _FONTS[file, size] = (
            ImageFont.truetype(file, size) if file else ImageFont.load_default(size)
        )
    return _FONTS[file, size]


def render(text: str, rng: random.Random) -> Any:
    """``text`` as a greyscale image: a random font, size, margin and grey levels."""
    from PIL import Image, ImageDraw

    low, high = RECIPE["font_sizes"]
    face = font(rng.choice(fonts()), rng.randint(low, high))
    left, top, right, bottom = face.getbbox(text)
    mx, my = rng.randint(1, 12), rng.randint(1, 8)
    image = Image.new("L", (right - left + 2 * mx, bottom - top + 2 * my), rng.randint(190, 255))
    ImageDraw.Draw(image).text((mx - left, my - top), text, fill=rng.randint(0, 80), font=face)
    return image


def receipt(texts: list[str], size: int = 24) -> Any:
    """Lines of text one under the other on white, in the first font: a small receipt."""
    from PIL import Image, ImageDraw

    face = font(fonts()[0], size)
    boxes = [face.getbbox(text) for text in texts]
    width = max(right - left for left, _, right, _ in boxes) + 24
    step = size + size // 2
    image = Image.new("RGB", (width, step * len(texts) + 16), "white")
    pen = ImageDraw.Draw(image)
    for i, text in enumerate(texts):
        pen.text((12, 8 + i * step), text, fill="black", font=face)
    return image


def build(progress: bool = True) -> Path:
    """The text reader's folder: model.safetensors and config.json for ``crnn.CRNN``."""
    code = [Path(__file__), template_file(NAME, "crnn.py")]
    found = "\n".join(f"{file}:{Path(file).stat().st_size}" for file in fonts() if file)
    return builds.cached_build(
        NAME, RECIPE, _train, [*code, found, "pillow-font"], progress=progress
    )


def _train(dest: Path, progress: bool) -> dict:
    import json

    import numpy as np
    import torch
    from safetensors.torch import save_file

    crnn = template_module(NAME, "crnn")
    torch.manual_seed(RECIPE["seed"])

    def data(count: int, seed: int) -> tuple[Any, list[str]]:
        rng = random.Random(seed)
        texts = [line_text(rng) for _ in range(count)]
        pixels = np.stack([crnn.preprocess(render(text, rng)) for text in texts])
        return torch.from_numpy(pixels), texts

    x, texts = data(RECIPE["lines"], RECIPE["seed"])
    held_x, held_texts = data(RECIPE["held_out_lines"], RECIPE["seed"] + 1)
    model = crnn.CRNN(**RECIPE["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"])
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)

    def loss_of(batch: Any) -> Any:
        chunk = [texts[i] for i in batch]
        log_probs = model(x[batch]).log_softmax(-1).transpose(0, 1)  # (steps, batch, classes)
        targets = torch.tensor([crnn.CHARS.index(c) + 1 for t in chunk for c in t])
        lengths = torch.tensor([len(t) for t in chunk])
        widths = torch.full((len(chunk),), log_probs.shape[0], dtype=torch.long)
        return ctc(log_probs, targets, widths, lengths)

    fit(model, len(x), RECIPE, loss_of, optimizer, desc=f"training {NAME}", progress=progress)
    with torch.inference_mode():
        read = crnn.decode(model(held_x))
    errors = sum(edit_distance(a, b) for a, b in zip(read, held_texts, strict=True))
    accuracy = 1 - errors / sum(len(t) for t in held_texts)
    exact = sum(a == b for a, b in zip(read, held_texts, strict=True)) / len(held_texts)
    save_file(model.state_dict(), str(dest / "model.safetensors"))
    config = {"model": RECIPE["model"], "chars": crnn.CHARS, "fields": list(FIELDS)}
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "README.md").write_text(_card(accuracy, exact, len(held_texts)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out character accuracy {accuracy:.4f}, lines exact {exact:.3f}")
    return {"char_accuracy": accuracy, "line_accuracy": exact, "held_out": len(held_texts)}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions that turn a into b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[:], i
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
    return row[-1]


def _card(accuracy: float, exact: float, held_out: int) -> str:
    names = ", ".join(Path(f).stem if f else "Pillow's default" for f in fonts())
    return card(
        "Receipt line reader",
        "image-to-text",
        ("ocr",),
        f"""\
A CRNN (crnn.py) trained from scratch with CTC by handler_kit on lines it renders: a field
name ({", ".join(FIELDS)}) and a value, in these fonts: {names}.

- Held-out character accuracy: **{accuracy:.4f}**; lines read exactly: {exact:.3f}
  ({held_out} lines rendered with another seed).

## Recipe

{recipe_table(RECIPE)}
""",
    )


RECEIPT = ["date 2024-03-07", "qty 12", "total 42.50"]


def write_cases(repo: Path, model: Path | None) -> None:
    """A receipt as an image body (its text), and as base64 JSON asking for its fields."""
    from .vision import png

    folder = cases_folder(repo)
    body = png(receipt(RECEIPT))
    save_case(
        folder,
        "receipt",
        body=body,
        content_type="image/png",
        suffix=".png",
        expect={"expected": [{"generated_text": "\n".join(RECEIPT)}]},
    )
    payload = {"inputs": base64.b64encode(body).decode("ascii"), "parameters": {"fields": True}}
    fields = dict(line.split(" ", 1) for line in RECEIPT)
    save_case(folder, "receipt_fields", payload, expect={"expected": fields})
