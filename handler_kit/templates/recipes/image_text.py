"""Image and text embeddings in one space, trained from scratch on pictures the kit draws.

Each picture shows one to four shapes (circle, square, triangle, cross) of one colour, at
random sizes, places and angles on a light background; its caption says what is there, in
several phrasings ("two red circles", "a picture of 2 red circles", "circles, all red").
The model (the template's ``towers.py``) is an image tower and a text tower trained together
with CLIP's contrastive loss. The build measures text-to-image recall@1 on held-out pairs:
one new picture for each of the 96 canonical captions, so chance is 1 in 96.
"""

from __future__ import annotations

import base64
import math
import random
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds
from . import card, fit, recipe_table, steps, template_file, template_module, vision
from .vision import LABELS as SHAPES
from .vision import noisy, paint, png

NAME = "image-embeddings"
COUNTS = ("one", "two", "three", "four")
COLOURS = {
    "red": (215, 30, 30),
    "green": (30, 150, 50),
    "blue": (40, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 50, 170),
    "orange": (245, 130, 20),
}
SIZE = 64  # pixels of a drawn picture (towers.IMAGE_SIZE)
RECIPE = {
    "model": {"dim": 64, "channels": [16, 32, 64], "max_words": 12},
    "pictures": 3200,
    "epochs": 8,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "schedule": "one cycle",
    "loss": "CLIP's symmetric cross-entropy; pictures with the same caption are all positives",
    "seed": 13,
    "version": 1,
}
CASE_CAPTION = ("two", "red", "circle")
TOLERANCE = 1e-4  # per number of a vector: the same weights on another machine and torch


def combinations() -> list[tuple[str, str, str]]:
    """Every (count, colour, shape) a picture can show: 96."""
    return [(n, c, s) for n in COUNTS for c in COLOURS for s in SHAPES]


def plural(shape: str) -> str:
    """A shape's plural in a caption: "circles", "crosses"."""
    return f"{shape}es" if shape.endswith("s") else f"{shape}s"


def caption(what: tuple[str, str, str], rng: random.Random | None = None) -> str:
    """What a picture shows in words: canonical without ``rng``, else a random phrasing."""
    count, colour, shape = what
    noun = shape if count == "one" else plural(shape)
    if rng is None:
        return f"{count} {colour} {noun}"
    said = rng.choice([count, str(COUNTS.index(count) + 1)] + (["a"] if count == "one" else []))
    return rng.choice(
        [
            f"{said} {colour} {noun}",
            f"a picture of {said} {colour} {noun}",
            f"{said} {noun}, all {colour}",
            f"{colour} {noun}: {said}",
        ]
    )


def draw(what: tuple[str, str, str], rng: random.Random) -> Any:
    """One picture of ``what``: its shapes apart from each other, in jittered colour."""
    from PIL import Image, ImageDraw

    count, colour, shape = what
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(200, 255) for _ in range(3)))
    placed: list[tuple[float, float, float]] = []
    while len(placed) < COUNTS.index(count) + 1:
        r = rng.uniform(5, 8)
        x, y = rng.uniform(r + 1, SIZE - r - 1), rng.uniform(r + 1, SIZE - r - 1)
        if all(math.hypot(x - px, y - py) > r + pr + 2 for px, py, pr in placed):
            placed.append((x, y, r))
    ink = tuple(max(0, min(255, v + rng.randint(-25, 25))) for v in COLOURS[colour])
    pen = ImageDraw.Draw(image)
    for x, y, r in placed:
        paint(pen, shape, (x, y), r, rng.uniform(0, 2 * math.pi), ink)
    return noisy(image, rng, level=6)


def pictures(count: int, seed: int) -> list[tuple[Any, tuple[str, str, str], str]]:
    """``count`` (picture, what it shows, a caption) triples, the combinations in turn."""
    rng = random.Random(seed)
    every = combinations()
    rows = []
    for i in range(count):
        what = every[i % len(every)]
        rows.append((draw(what, rng), what, caption(what, rng)))
    return rows


def vocabulary() -> list[str]:
    """The text tower's words: padding, unknown, then every word a caption can use."""
    towers = template_module(NAME, "towers")
    found = {str(n) for n in range(1, len(COUNTS) + 1)} | {"a", "picture", "of", "all"}
    for count, colour, shape in combinations():
        found |= {count, colour, shape, plural(shape)}
    assert all(towers.words(word) == [word] for word in found)
    return ["[PAD]", "[UNK]", *sorted(found)]


def build(progress: bool = True) -> Path:
    """The model's folder: model.safetensors and config.json for ``towers.TwoTower``."""
    # The shapes are painted by the image classifier's recipe: its code is part of the data.
    code = [Path(__file__), template_file(NAME, "towers.py"), Path(vision.__file__)]
    return builds.cached_build(NAME, RECIPE, _train, code, progress=progress)


def _train(dest: Path, progress: bool) -> dict:
    import json

    import torch
    from safetensors.torch import save_file

    towers = template_module(NAME, "towers")
    torch.manual_seed(RECIPE["seed"])
    words = vocabulary()
    every = combinations()
    train = pictures(RECIPE["pictures"], RECIPE["seed"])
    x = towers.pixels([picture for picture, _, _ in train])
    ids = towers.word_ids([text for _, _, text in train], words, RECIPE["model"]["max_words"])
    what = torch.tensor([every.index(shown) for _, shown, _ in train])
    model = towers.TwoTower(words=len(words), **RECIPE["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"])
    total = steps(len(x), RECIPE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["learning_rate"], total)

    def loss_of(batch: Any) -> Any:
        images, texts = model.image(x[batch]), model.text(ids[batch])
        logits = model.logit_scale.exp().clamp(max=100) * images @ texts.T
        # Two pictures of "two red circles" in one batch: each caption fits both.
        same = (what[batch][:, None] == what[batch][None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        cross = torch.nn.functional.cross_entropy
        return (cross(logits, targets) + cross(logits.T, targets)) / 2

    fit(model, len(x), RECIPE, loss_of, optimizer, schedule, f"training {NAME}", progress)
    figures = recall(model, towers, words)
    with torch.inference_mode():
        image = model.image(towers.pixels([case_picture()]))[0]
        text = model.text(towers.word_ids([caption(CASE_CAPTION)], words, model.max_words))[0]
    # The cases' answers: what the handler answers for the picture and its caption.
    figures["reference"] = {
        "image": {"feature_vector": [round(v, 6) for v in image.tolist()]},
        "text": {"feature_vector": [round(v, 6) for v in text.tolist()]},
    }
    save_file(model.state_dict(), str(dest / "model.safetensors"))
    config = {"model": RECIPE["model"], "vocabulary": words, "image_size": towers.IMAGE_SIZE}
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "README.md").write_text(_card(figures), encoding="utf-8")
    if progress:
        print(
            f"{NAME}: held-out text-to-image recall@1 {figures['recall_at_1']:.3f} "
            f"(chance {figures['chance']:.3f})"
        )
    return figures


def recall(model: Any, towers: Any, words: list[str]) -> dict:
    """Recall@1 both ways on held-out pairs: one new picture per canonical caption."""
    import torch

    every = combinations()
    held_out = pictures(len(every), RECIPE["seed"] + 1)
    with torch.inference_mode():
        images = model.image(towers.pixels([picture for picture, _, _ in held_out]))
        ids = towers.word_ids([caption(shown) for _, shown, _ in held_out], words, model.max_words)
        similarity = model.text(ids) @ images.T  # (captions, pictures)
    truth = torch.arange(len(held_out))
    return {
        "recall_at_1": float((similarity.argmax(dim=1) == truth).float().mean()),
        "image_to_text_recall_at_1": float((similarity.argmax(dim=0) == truth).float().mean()),
        "chance": 1 / len(held_out),
        "held_out": len(held_out),
    }


def _card(figures: dict) -> str:
    return card(
        "Image and text embeddings",
        "feature-extraction",
        ("image-text", "embeddings"),
        f"""\
Two towers (towers.py) trained from scratch together by handler_kit, as CLIP and BLIP are:
a small CNN for pictures and a GRU over words for captions, each ending in a normalised
vector of {RECIPE["model"]["dim"]} numbers in one shared space. The pictures show one to four
shapes ({", ".join(SHAPES)}) in one of {len(COLOURS)} colours ({", ".join(COLOURS)}); the
captions say so in several phrasings.

- Held-out text-to-image recall@1: **{figures["recall_at_1"]:.3f}** against chance
  {figures["chance"]:.4f} ({figures["held_out"]} new pictures, one per canonical caption such
  as "{caption(CASE_CAPTION)}"); image-to-text: {figures["image_to_text_recall_at_1"]:.3f}.

## Recipe

{recipe_table(RECIPE)}
""",
    )


def case_picture() -> Any:
    """The cases' picture: two red circles."""
    return draw(CASE_CAPTION, random.Random(2024))


def write_cases(repo: Path, model: Path | None) -> None:
    """A picture as an image body and as base64 JSON (the same vector), and captions."""
    folder = cases_folder(repo)
    body = png(case_picture())
    expect_image, expect_text = {}, {}
    if model is not None:
        reference = builds.build_info(model).get("reference", {})
        expect_image = {"expected": reference.get("image"), "tolerance": TOLERANCE}
        expect_text = {"expected": reference.get("text"), "tolerance": TOLERANCE}
    save_case(
        folder, "picture", body=body, content_type="image/png", suffix=".png", expect=expect_image
    )
    encoded = base64.b64encode(body).decode("ascii")
    save_case(folder, "picture_base64", {"inputs": {"image": encoded}}, expect=expect_image)
    save_case(folder, "caption", {"inputs": {"text": caption(CASE_CAPTION)}}, expect=expect_text)
    texts = [caption(CASE_CAPTION), "a picture of 3 blue squares", "yellow triangles: 4"]
    save_case(folder, "captions", {"inputs": {"text": texts}})
