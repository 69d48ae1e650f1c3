"""Document layout: a tiny LayoutLM trained from scratch on forms the kit draws.

A form has a title (a header), sometimes section titles (headers too), questions with their
answers ("Date of birth:" "1990-03-07") laid out beside, after or below each other or two to a
row, and other text (notes, page numbers), in the fonts found on this machine at several
sizes and weights. The model learns FUNSD's labels from the drawn words and their boxes; the
build measures entity F1 (seqeval) on held-out forms, whose titles, sections, questions and
notes are worded otherwise, read as the handler reads them: by Tesseract. Random labels with
the training frequencies score the F1 of chance.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from ...errors import HandlerKitError
from .. import builds, training
from . import card, fit, forms, ner, recipe_table, steps, template_file, template_module
from .forms import Page, Word, families
from .ocr import font
from .vision import png

NAME = "document-layout"
RECIPE = {
    "model": {
        "hidden_size": 96,
        "num_hidden_layers": 3,
        "num_attention_heads": 3,
        "intermediate_size": 192,
    },
    "tokenizer": "all-MiniLM-L6-v2's (BERT uncased WordPiece)",
    "box_embeddings": "sinusoidal, frozen",
    "forms": 600,
    "held_out_forms": 30,
    "unknown_word_rate": 0.3,
    "epochs": 14,
    "batch_size": 16,
    "learning_rate": 3e-3,
    "warmup_fraction": 0.1,
    "seed": 13,
    "version": 1,
}
PACKAGES = (*builds.DEFAULT_PACKAGES, "seqeval", "pytesseract")


def drawn(count: int, seed: int, split: str = "train") -> list[tuple[Any, list[Word]]]:
    """``count`` forms drawn from ``seed``, their words in reading order (as the handler's)."""
    document = template_module(NAME, "document")
    rng = random.Random(seed)
    pages = [forms.form(rng, split) for _ in range(count)]
    return [(image, document.reading_order(words)) for image, words in pages]


def build(progress: bool = True) -> Path:
    """The model's folder: LayoutLMForTokenClassification and its tokenizer."""
    code = [Path(__file__), Path(forms.__file__), Path(ner.__file__)]
    code.append(template_file(NAME, "document.py"))
    found = [f"{regular}:{Path(regular).stat().st_size}" for regular, _ in families() if regular]
    inputs = [*code, "\n".join(found), tesseract()]
    return builds.cached_build(NAME, RECIPE, _train, inputs, PACKAGES, progress)


def tesseract() -> str:
    """Tesseract's version: the build measures what it reads; a clear error without it."""
    document = template_module(NAME, "document")
    missing = document.tesseract_missing()
    if missing:
        raise HandlerKitError(
            missing, hint="make setup installs tesseract-ocr where it can (root and apt-get)."
        )
    import pytesseract

    return f"tesseract {pytesseract.get_tesseract_version()}"


def sinusoids(positions: int, dim: int) -> Any:
    """(positions, dim) sine and cosine waves: nearby coordinates get nearby vectors."""
    import torch

    rates = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    angles = torch.arange(positions).unsqueeze(1) * rates
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _model(tokenizer: Any) -> Any:
    """A LayoutLM for FUNSD's labels, from scratch; its box tables fixed sinusoids."""
    import torch
    from transformers import LayoutLMConfig, LayoutLMForTokenClassification

    labels = template_module(NAME, "document").LABELS
    config = LayoutLMConfig(
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **RECIPE["model"],
    )
    model = LayoutLMForTokenClassification(config)
    embeddings = model.layoutlm.embeddings
    # Trained from scratch, a table row per coordinate would only learn the coordinates seen
    # in training; fixed waves give every coordinate a place between its neighbours.
    waves = sinusoids(config.max_2d_position_embeddings, config.hidden_size)
    for table in ("x", "y", "h", "w"):
        weight = getattr(embeddings, f"{table}_position_embeddings").weight
        with torch.no_grad():
            weight.copy_(waves)
        weight.requires_grad = False
    return model


def _examples(tokenizer: Any, rows: list) -> list[dict]:
    """Training parts: input ids and boxes with a label at each word's first token."""
    document = template_module(NAME, "document")
    examples = []
    for image, words in rows:
        boxes = [document.scaled(box, *image.size) for _, box, _, _ in words]
        for part in document.encode(tokenizer, [text for text, *_ in words], boxes):
            labels = [-100] * len(part["input_ids"])
            for index, position in zip(part["words"], part["first"], strict=True):
                labels[position] = document.LABELS.index(words[index][2])
            examples.append({**part, "labels": labels})
    return examples


def _train(dest: Path, progress: bool) -> dict:
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    document = template_module(NAME, "document")
    torch.manual_seed(RECIPE["seed"])
    tokenizer = AutoTokenizer.from_pretrained(training.minilm_dir())
    model = _model(tokenizer)
    examples = _examples(tokenizer, drawn(RECIPE["forms"], RECIPE["seed"]))
    trained = [weight for weight in model.parameters() if weight.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=RECIPE["learning_rate"])
    total = steps(len(examples), RECIPE)
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(total * RECIPE["warmup_fraction"]), total
    )
    special = torch.tensor(tokenizer.all_special_ids)
    hide = torch.Generator().manual_seed(RECIPE["seed"])

    def loss_of(batch: Any) -> Any:
        chosen = [examples[i] for i in batch]
        inputs = document.batch(chosen, tokenizer.pad_token_id)
        labels = torch.full(inputs["input_ids"].shape, -100, dtype=torch.long)
        for row, example in enumerate(chosen):
            labels[row, : len(example["labels"])] = torch.tensor(example["labels"])
        # Some words read as unknown: what the model must do for words it never saw.
        ids = inputs["input_ids"]
        unknown = torch.rand(ids.shape, generator=hide) < RECIPE["unknown_word_rate"]
        ids[unknown & ~torch.isin(ids, special)] = tokenizer.unk_token_id
        return model(**inputs, labels=labels).loss

    fit(model, len(examples), RECIPE, loss_of, optimizer, schedule, f"training {NAME}", progress)
    seen = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    for example in examples:
        seen[example["input_ids"]] = True
    with torch.no_grad():  # a word never trained on reads as unknown, not as noise
        table = model.layoutlm.embeddings.word_embeddings.weight
        table[~seen] = table[tokenizer.unk_token_id].clone()
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    held_out = drawn(RECIPE["held_out_forms"], RECIPE["seed"] + 1, "held_out")
    figures = measure(model, tokenizer, held_out, examples)
    (dest / "README.md").write_text(_card(figures), encoding="utf-8")
    if progress:
        print(
            f"{NAME}: held-out entity F1 {figures['f1']:.3f} on Tesseract's words "
            f"({figures['f1_drawn_words']:.3f} on the drawn words, "
            f"chance {figures['f1_chance']:.3f})"
        )
    return figures


def measure(model: Any, tokenizer: Any, held_out: list, examples: list) -> dict:
    """Entity F1 on the held-out forms: read by Tesseract, on the drawn words, by chance."""
    from seqeval.metrics import f1_score

    document = template_module(NAME, "document")
    found: dict[str, tuple[list, list]] = {"drawn": ([], []), "read": ([], [])}
    with one_ocr_thread():
        for image, drawn in held_out:
            for way, words in (
                ("drawn", [(text, box) for text, box, _, _ in drawn]),
                ("read", document.reading_order(document.read_words(image))),
            ):
                labelled = document.label_words(model, tokenizer, words, image.size)
                found[way][0].append(truth_tags(words, drawn))
                found[way][1].append([word["label"] for word in labelled])
    # Chance: each word's label drawn at random with the frequencies of the training labels.
    counts = [0] * len(document.LABELS)
    for example in examples:
        for label in example["labels"]:
            if label >= 0:
                counts[label] += 1
    rng = random.Random(RECIPE["seed"])
    truth = found["read"][0]
    guessed = [rng.choices(document.LABELS, weights=counts, k=len(tags)) for tags in truth]
    return {
        "f1": float(f1_score(*found["read"])),
        "f1_drawn_words": float(f1_score(*found["drawn"])),
        "f1_chance": float(f1_score(truth, guessed)),
        "held_out": len(held_out),
    }


def truth_tags(words: list, drawn: list[Word]) -> list[str]:
    """The true BIO tag of each word read: that of the drawn word it overlaps most.

    A word read that overlaps no drawn word (a speck read as a letter) is O; two words read
    from one drawn word (a word split) are B- then I- of its entity.
    """
    tags, previous = [], None
    for _, box in words:
        best, overlap = None, 0.3  # at least this much intersection over union
        for word in drawn:
            score = _iou(box, word[1])
            if score > overlap:
                best, overlap = word, score
        if best is None or best[2] == "O":
            tags.append("O")
            previous = None
            continue
        kind, entity = best[2].split("-", 1)[1], best[3]
        tags.append(("I-" if entity == previous else "B-") + kind)
        previous = entity
    return tags


def _iou(a: list[int], b: list[int]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


@contextlib.contextmanager
def one_ocr_thread() -> Iterator[None]:
    """Tesseract on one thread while a build reads its forms (as PyTorch in ``one_thread``).

    On two cores shared with other work its OpenMP threads wait on each other: a form took
    1.5 s to read with them and 0.6 s without.
    """
    before = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["OMP_THREAD_LIMIT"]
        else:
            os.environ["OMP_THREAD_LIMIT"] = before


def _card(figures: dict) -> str:
    return card(
        "Form understanding with LayoutLM",
        "token-classification",
        ("layoutlm", "document-ai"),
        f"""\
A tiny LayoutLMForTokenClassification trained from scratch by handler_kit on {RECIPE["forms"]}
forms it draws (titles, sections, questions and answers, notes; several layouts, fonts and
sizes), with FUNSD's labels: B-/I- HEADER, QUESTION, ANSWER, and O. Its word vectors use
all-MiniLM-L6-v2's WordPiece vocabulary; those of words never trained on read as [UNK].

- Held-out entity F1 (seqeval): **{figures["f1"]:.3f}** on {figures["held_out"]} forms whose
  titles, sections, questions and notes are worded otherwise, as Tesseract reads them;
  {figures["f1_drawn_words"]:.3f} on their drawn words; labels drawn at random with the
  training frequencies score {figures["f1_chance"]:.3f}.

## Recipe

{recipe_table(RECIPE)}
""",
    )


CASE_TITLE = "Patient Registration"
CASE_FIELDS = [
    ("Name:", "Grace Novak"),
    ("Date of birth:", "1987-05-14"),
    ("Address:", "27 Harbour Road"),
    ("Phone:", "+47 555 0192"),
    ("Email:", "grace.novak@example.com"),
]
CASE_NOTE = "Please write in capitals."
CASE_TOLERANCE = 4  # pixels: Tesseract's box of a word and the drawn one differ by a few


def case_form() -> tuple[Any, list[Word]]:
    """The cases' form: a patient registration in the first font found, questions beside
    their answers; its image and its words."""
    regular, bold = families()[0]
    body, margin = font(regular, 18), 40
    page = Page()
    page.put(margin, margin, CASE_TITLE, font(bold, 28), "HEADER")
    y = margin + 70
    for question, answer in CASE_FIELDS:
        page.put(margin, y, question, body, "QUESTION")
        page.put(margin + 200, y, answer, body, "ANSWER")
        y += 44
    page.put(margin, y + 20, CASE_NOTE, font(regular, 13), "O")
    image = page.render(640, round(y + 20 + 13 + margin), random.Random(0))
    return image, template_module(NAME, "document").reading_order(page.words)


def case_entities(words: list[Word]) -> list[dict]:
    """The true entities of drawn words, as the handler answers them with entities."""
    found: dict[int, dict] = {}
    for text, box, label, entity in words:
        if label == "O":
            continue
        if entity not in found:
            found[entity] = {"label": label[2:], "text": text, "box": list(box)}
            continue
        known = found[entity]
        known["text"] += " " + text
        known["box"] = [
            min(known["box"][0], box[0]),
            min(known["box"][1], box[1]),
            max(known["box"][2], box[2]),
            max(known["box"][3], box[3]),
        ]
    return list(found.values())


def write_cases(repo: Path, model: Path | None) -> None:
    """A form as an image body (each word labelled) and as base64 JSON (its entities)."""
    image, words = case_form()
    body = png(image)
    folder = cases_folder(repo)
    expect = {}
    if model is not None:
        expect = {"expected": _answer(model, image), "tolerance": 0.05}
    save_case(folder, "form", body=body, content_type="image/png", suffix=".png", expect=expect)
    payload = {"inputs": base64.b64encode(body).decode("ascii"), "parameters": {"entities": True}}
    expect = {"expected": case_entities(words), "tolerance": CASE_TOLERANCE}
    save_case(folder, "form_entities", payload, expect=expect)


def _answer(model: Path, image: Any) -> list[dict]:
    """What the handler answers for ``image`` with the model in ``model``: words labelled."""
    from transformers import AutoTokenizer, LayoutLMForTokenClassification

    document = template_module(NAME, "document")
    net = LayoutLMForTokenClassification.from_pretrained(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    words = document.reading_order(document.read_words(image))
    return document.label_words(net, tokenizer, words, image.size)
