"""An image classifier trained from scratch on shapes the kit draws.

Images of a circle, square, triangle or cross, each in random colours on a random background,
at a random size, place and angle, with a little noise. The model is a tiny ResNet from
transformers (``ResNetForImageClassification``, about 80k weights) with a ViT image processor
(64x64 pixels), so the handler serves it with ``pipeline("image-classification")`` as a
Hub model would be served.
"""

from __future__ import annotations

import base64
import io
import math
import random
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds
from . import card, fit, recipe_table, steps

NAME = "image-classification"
LABELS = ("circle", "square", "triangle", "cross")
SIZE = 64  # pixels of a drawn image; the processor resizes to RECIPE["pixels"]
RECIPE = {
    "model": "ResNetForImageClassification, embedding 16, stages 16/32/64, one basic block each",
    "pixels": 64,
    "train_images": 3200,
    "held_out_images": 400,
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 1e-2,
    "schedule": "one cycle",
    "seed": 13,
    "version": 1,
}


def draw(label: str, rng: random.Random) -> Any:
    """One RGB image of the shape ``label``, drawn with the randomness of ``rng``."""
    from PIL import Image, ImageDraw

    background = _colour(rng)
    ink = _colour(rng)
    while sum(abs(a - b) for a, b in zip(background, ink, strict=True)) < 180:
        ink = _colour(rng)  # a shape the eye can see: enough contrast with the background
    image = Image.new("RGB", (SIZE, SIZE), background)
    radius = rng.uniform(0.18, 0.4) * SIZE
    cx, cy = (rng.uniform(radius, SIZE - radius) for _ in range(2))
    paint(ImageDraw.Draw(image), label, (cx, cy), radius, rng.uniform(0, 2 * math.pi), ink)
    return noisy(image, rng)


def paint(
    pen: Any, label: str, centre: tuple[float, float], radius: float, angle: float, ink: Any
) -> None:
    """Paint one shape (a label of LABELS) with ``pen``, turned by ``angle`` radians."""
    cx, cy = centre

    def corners(n: int) -> list[tuple[float, float]]:
        steps = (angle + 2 * math.pi * k / n for k in range(n))
        return [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in steps]

    if label == "circle":
        pen.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=ink)
    elif label == "square":
        pen.polygon(corners(4), fill=ink)
    elif label == "triangle":
        pen.polygon(corners(3), fill=ink)
    else:  # a cross: two bars at right angles
        half = radius * 0.35
        for a in (angle, angle + math.pi / 2):
            dx, dy, px, py = math.cos(a), math.sin(a), -math.sin(a) * half, math.cos(a) * half
            ends = [(cx - dx * radius, cy - dy * radius), (cx + dx * radius, cy + dy * radius)]
            (x0, y0), (x1, y1) = ends
            pen.polygon(
                [(x0 + px, y0 + py), (x1 + px, y1 + py), (x1 - px, y1 - py), (x0 - px, y0 - py)],
                fill=ink,
            )


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def noisy(image: Any, rng: random.Random, level: float = 8) -> Any:
    """The image with Gaussian noise of standard deviation ``level`` on each channel."""
    import numpy as np

    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, level, (*image.size[::-1], 3))
    pixels = np.asarray(image, dtype=np.float32) + noise
    from PIL import Image

    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def shapes(count: int, seed: int) -> list[tuple[Any, str]]:
    """``count`` images with their labels, the labels in turn; the same for the same seed."""
    rng = random.Random(seed)
    return [(draw(label, rng), label) for label in (LABELS[i % len(LABELS)] for i in range(count))]


def build(progress: bool = True) -> Path:
    """The classifier's folder (``pipeline("image-classification", model=folder)`` loads it)."""
    code = Path(__file__)
    return builds.cached_build(NAME, RECIPE, _train, [code], progress=progress)


def _processor() -> Any:
    from transformers import ViTImageProcessor
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # "no torchvision, the PIL backend": that is what is wanted
    try:
        size = RECIPE["pixels"]
        return ViTImageProcessor(
            size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
    finally:
        logging.set_verbosity(verbosity)


def _train(dest: Path, progress: bool) -> dict:
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(RECIPE["seed"])
    processor = _processor()
    train = shapes(RECIPE["train_images"], RECIPE["seed"])
    held_out = shapes(RECIPE["held_out_images"], RECIPE["seed"] + 1)

    def tensors(rows: list) -> tuple[Any, Any]:
        pixels = processor([image for image, _ in rows], return_tensors="pt")["pixel_values"]
        return pixels, torch.tensor([LABELS.index(label) for _, label in rows])

    x, y = tensors(train)
    config = ResNetConfig(
        num_channels=3,
        embedding_size=16,
        hidden_sizes=[16, 32, 64],
        depths=[1, 1, 1],
        layer_type="basic",
        downsample_in_first_stage=False,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = ResNetForImageClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"])
    total = steps(len(x), RECIPE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["learning_rate"], total)

    def loss_of(batch: Any) -> Any:
        return model(pixel_values=x[batch], labels=y[batch]).loss

    fit(model, len(x), RECIPE, loss_of, optimizer, schedule, f"training {NAME}", progress)
    hx, hy = tensors(held_out)
    with torch.inference_mode():
        predicted = model(pixel_values=hx).logits.argmax(dim=-1)
    accuracy = float((predicted == hy).float().mean())
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    (dest / "README.md").write_text(_card(accuracy, len(held_out)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out accuracy {accuracy:.3f} on {len(held_out)} images")
    return {"accuracy": accuracy, "held_out": len(held_out)}


def _card(accuracy: float, held_out: int) -> str:
    return card(
        "Shapes classifier",
        "image-classification",
        ("image-classification",),
        f"""\
A tiny ResNet trained from scratch by handler_kit on images it draws: {", ".join(LABELS)},
in random colours, sizes, places and angles.

- Held-out accuracy: **{accuracy:.3f}** on {held_out} images drawn with another seed.

## Recipe

{recipe_table(RECIPE)}
""",
    )


def png(image: Any) -> bytes:
    """An image's bytes as a PNG file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_cases(repo: Path, model: Path | None) -> None:
    """An image body of each shape (as a browser uploads it) and a base64 image in JSON."""
    folder = cases_folder(repo)
    rng = random.Random(2024)
    for label in LABELS:
        body = png(draw(label, rng))
        save_case(
            folder,
            label,
            body=body,
            content_type="image/png",
            suffix=".png",
            expect={"expected_label": label},
        )
    encoded = base64.b64encode(png(draw("triangle", rng))).decode("ascii")
    payload = {"inputs": encoded, "parameters": {"top_k": 2}}
    save_case(folder, "base64_json", payload, expect={"expected_label": "triangle"})
