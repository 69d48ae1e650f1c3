"""Forms the kit draws: titles, sections, questions with their answers, and notes.

Each word is placed on the page with its ink box, its label in FUNSD's scheme (B-/I- HEADER,
QUESTION, ANSWER, or O) and the entity it belongs to, so that a model can learn from the
words and boxes and be measured against them. The questions, titles, sections and notes come
in two sets that share no wording: "train" and "held_out".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import ner
from .ocr import font

FAMILIES = (  # (regular, bold) font files, where this machine has them
    ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    ("dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    ("liberation/LiberationSans-Regular.ttf", "liberation/LiberationSans-Bold.ttf"),
    ("liberation/LiberationSerif-Regular.ttf", "liberation/LiberationSerif-Bold.ttf"),
    ("liberation/LiberationMono-Regular.ttf", "liberation/LiberationMono-Bold.ttf"),
    ("liberation/LiberationSansNarrow-Regular.ttf", "liberation/LiberationSansNarrow-Bold.ttf"),
)
FONTS = Path("/usr/share/fonts/truetype")
LAYOUTS = ("beside", "after", "below", "grid")


def _person(rng: random.Random) -> str:
    return f"{rng.choice(ner.FIRST)} {rng.choice(ner.LAST)}"


def _date(rng: random.Random) -> str:
    year, month, day = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [f"{year}-{month:02d}-{day:02d}", f"{day:02d}/{month:02d}/{year}", f"{day}.{month}.{year}"]
    )


def _address(rng: random.Random) -> str:
    street = rng.choice(["Lake", "Mill", "Church", "Station", "Oak", "High", "Harbour", "Park"])
    kind = rng.choice(["Road", "Street", "Lane", "Avenue", "Way"])
    return f"{rng.randint(1, 250)} {street} {kind}"


def _phone(rng: random.Random) -> str:
    digits = "".join(str(rng.randint(0, 9)) for _ in range(7))
    return rng.choice(
        [f"+{rng.randint(1, 49)} {digits[:3]} {digits[3:]}", f"{digits[:3]}-{digits[3:]}"]
    )


def _email(rng: random.Random) -> str:
    return f"{rng.choice(ner.FIRST)}.{rng.choice(ner.LAST)}@example.com".lower()


def _money(rng: random.Random) -> str:
    return f"{rng.choice(['$', '€', '£'])}{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"


def _code(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHKLMNPRSTXZ") for _ in range(rng.randint(1, 3)))
    return f"{letters}-{rng.randint(100, 99999)}"


def _number(rng: random.Random) -> str:
    return str(rng.randint(1, 99999999) if rng.random() < 0.5 else rng.randint(1, 99))


def _place(rng: random.Random) -> str:
    return rng.choice(ner.PLACES)


def _organisation(rng: random.Random) -> str:
    return rng.choice(ner.ORGS)


def _job(rng: random.Random) -> str:
    return rng.choice(["Engineer", "Nurse", "Teacher", "Accountant", "Driver", "Designer", "Chef"])


Answer = Callable[[random.Random], str]
# What a form may ask, and how its answer is made. The held-out forms ask in other words.
QUESTIONS: dict[str, list[tuple[str, Answer]]] = {
    "train": [
        ("Name", _person),
        ("Full name", _person),
        ("Name of applicant", _person),
        ("Next of kin", _person),
        ("Signed by", _person),
        ("Date of birth", _date),
        ("Start date", _date),
        ("Expiry date", _date),
        ("Due date", _date),
        ("Date of arrival", _date),
        ("Address", _address),
        ("Street address", _address),
        ("Billing address", _address),
        ("City", _place),
        ("Place of birth", _place),
        ("Country of residence", _place),
        ("Phone", _phone),
        ("Mobile phone", _phone),
        ("Emergency phone", _phone),
        ("Email", _email),
        ("Email address", _email),
        ("Employer", _organisation),
        ("Name of bank", _organisation),
        ("Job title", _job),
        ("Occupation", _job),
        ("Amount", _money),
        ("Amount due", _money),
        ("Unit price", _money),
        ("Reference", _code),
        ("Invoice number", _code),
        ("Member ID", _code),
        ("Product code", _code),
        ("Quantity", _number),
        ("Account number", _number),
        ("Number of guests", _number),
    ],
    "held_out": [
        ("Applicant", _person),
        ("Home address", _address),
        ("Telephone", _phone),
        ("Date", _date),
        ("Total", _money),
        ("Order number", _code),
        ("Contact email", _email),
        ("Company", _organisation),
        ("Town", _place),
        ("Position", _job),
    ],
}
TITLES = {
    "train": [
        "Patient Registration",
        "Application Form",
        "Order Form",
        "Membership Application",
        "Employee Details",
        "Expense Claim",
        "Rental Agreement",
        "Visitor Registration",
        "Hotel Booking",
        "Purchase Request",
        "Loan Application",
        "Travel Request",
        "Incident Report",
        "Invoice",
        "Student Record",
        "Volunteer Sign-up Sheet",
    ],
    "held_out": ["Insurance Claim", "Delivery Note", "Course Enrolment", "Change of Address"],
}
SECTIONS = {
    "train": [
        "Personal details",
        "Contact",
        "Payment",
        "Employment",
        "Emergency contact",
        "Travel",
        "Health",
        "Vehicle",
        "Bank details",
        "Declaration",
        "Stay",
        "Items",
    ],
    "held_out": ["Applicant details", "Billing", "Work"],
}
NOTES = {
    "train": [
        "Please write in capitals.",
        "Page 1 of 2",
        "For office use only",
        "Thank you for your application.",
        "Keep a copy for your records.",
        "See the notes overleaf.",
        "Version 3, March 2024",
        "Incomplete forms cannot be processed.",
    ],
    "held_out": ["All fields are required.", "Page 2 of 3", "Return this form by post."],
}


def families() -> list[tuple[str | None, str | None]]:
    """The (regular, bold) font files found here; Pillow's own font when there are none."""
    found = [
        (str(FONTS / regular), str(FONTS / bold))
        for regular, bold in FAMILIES
        if (FONTS / regular).is_file() and (FONTS / bold).is_file()
    ]
    return found or [(None, None)]


Word = tuple[str, list[int], str, int]  # text, ink box in pixels, BIO label, entity number


class Page:
    """Text placed on a page word by word, each word with its box, label and entity."""

    def __init__(self) -> None:
        self.words: list[Word] = []
        self.strokes: list[tuple[float, float, str, Any]] = []
        self.entities = 0

    def put(self, x: float, y: float, text: str, face: Any, kind: str) -> float:
        """Write ``text`` from (x, y) as one entity of ``kind`` ("O": other); returns its end."""
        cursor = x
        for i, word in enumerate(text.split()):
            left, top, right, bottom = face.getbbox(word)
            box = [round(cursor + left), round(y + top), round(cursor + right), round(y + bottom)]
            label = "O" if kind == "O" else ("B-" if i == 0 else "I-") + kind
            self.words.append((word, box, label, self.entities))
            self.strokes.append((cursor, y, word, face))
            end = cursor + right
            cursor += face.getlength(word + " ")
        self.entities += 1
        return end

    def render(self, width: int, height: int, rng: random.Random) -> Any:
        """The page as an RGB image: dark ink on light paper, both a little off."""
        from PIL import Image, ImageDraw

        paper = rng.randint(235, 255)
        image = Image.new("RGB", (width, height), (paper, paper, rng.randint(225, paper)))
        pen = ImageDraw.Draw(image)
        ink = rng.randint(0, 60)
        for x, y, word, face in self.strokes:
            pen.text((x, y), word, fill=(ink, ink, ink), font=face)
        return image


def form(rng: random.Random, split: str = "train") -> tuple[Any, list[Word]]:
    """One form drawn with ``rng``: its image and its words in the order written."""
    regular, bold = rng.choice(families())
    size = rng.randint(14, 20)
    body, strong = font(regular, size), font(bold, size)
    answers = font(rng.choice(families())[0], size + rng.randint(-2, 2))  # typed in, maybe
    asks = strong if rng.random() < 0.3 else body
    width, margin = rng.randint(640, 880), rng.randint(24, 56)
    page = Page()
    title, title_face = rng.choice(TITLES[split]), font(bold, rng.randint(24, 34))
    centred = rng.random() < 0.4
    page.put(
        (width - title_face.getlength(title)) / 2 if centred else margin,
        margin,
        title,
        title_face,
        "HEADER",
    )
    y = margin + title_face.size * 1.8
    if rng.random() < 0.3:
        y = _note(page, rng, split, margin, y, regular)
    layout = rng.choice(LAYOUTS)
    questions = rng.sample(QUESTIONS[split], rng.randint(4, 8))
    colon = ":" if rng.random() < 0.85 else ""
    column = margin + max(asks.getlength(q + colon) for q, _ in questions) + rng.randint(16, 60)
    step = size * rng.uniform(1.9, 2.6)
    cut = rng.randint(2, len(questions) - 2) if rng.random() < 0.5 else len(questions)
    for chunk in (questions[:cut], questions[cut:]):
        if chunk and rng.random() < 0.5:
            page.put(margin, y, rng.choice(SECTIONS[split]), font(bold, size + 3), "HEADER")
            y += step
        reach = 0.0  # where the line's last answer ends: a grid's second pair goes after it
        for i, (question, answer) in enumerate(chunk):
            second = layout == "grid" and i % 2 == 1
            x = max(width / 2, reach + 30) if second else margin
            end = page.put(x, y, question + colon, asks, "QUESTION")
            if layout == "below":
                y += size * 1.5
                page.put(margin + rng.randint(0, 24), y, answer(rng), answers, "ANSWER")
            else:
                at = column if layout == "beside" else end + rng.randint(10, 30)
                reach = page.put(at, y, answer(rng), answers, "ANSWER")
            if layout != "grid" or second or i == len(chunk) - 1:
                y += step
    y = _note(page, rng, split, margin, y + step * rng.uniform(0, 1), regular)
    right = max(box[2] for _, box, _, _ in page.words)
    image = page.render(max(width, right + margin), math.ceil(y + margin), rng)
    return image, page.words


def _note(page: Page, rng: random.Random, split: str, x: float, y: float, face: Any) -> float:
    """Write a note in small type at (x, y); returns where the next line goes."""
    size = rng.randint(11, 13)
    page.put(x, y, rng.choice(NOTES[split]), font(face, size), "O")
    return y + size * 2.2
