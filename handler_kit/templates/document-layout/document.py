"""A document's words: Tesseract's OCR, reading order, and LayoutLM's labels for them.

LayoutLM reads words with their boxes: each word's tokens, and the word's box on the page
scaled to 0..1000, tell it what the word is (a header, a question of a form, its answer, or
other text). The words come from Tesseract (through pytesseract), are put in reading order
(lines top to bottom, words left to right), and get the label of their first token. The
handler imports this file to serve the model, and handler_kit imported it to train it.
"""

import os
import shutil

import pytesseract
import torch

LABELS = ("O", "B-HEADER", "I-HEADER", "B-QUESTION", "I-QUESTION", "B-ANSWER", "I-ANSWER")
MAX_TOKENS = 512  # LayoutLM's positions: longer documents are read in parts
CLS_BOX, SEP_BOX, PAD_BOX = [0, 0, 0, 0], [1000, 1000, 1000, 1000], [0, 0, 0, 0]


def tesseract_missing() -> str | None:
    """What to do when the tesseract program cannot be run; None when it can."""
    command = os.environ.get("TESSERACT_CMD", "tesseract")
    pytesseract.pytesseract.tesseract_cmd = command
    try:
        pytesseract.get_tesseract_version()
        return None
    except (pytesseract.TesseractNotFoundError, OSError):
        where = shutil.which(command) or command
        return (
            f"Tesseract OCR is not installed here ({where} cannot be run): this handler reads "
            "the words of a document with it. Install it (Debian and Ubuntu: apt-get install "
            "-y tesseract-ocr; macOS: brew install tesseract), or set TESSERACT_CMD to its path. "
            "Production's image has no tesseract either: deploy this repository with a custom "
            "container image that installs tesseract-ocr."
        )


def read_words(image) -> list[tuple[str, list[int]]]:
    """Tesseract's words in ``image``, each with its box [left, top, right, bottom] in pixels."""
    found = pytesseract.image_to_data(image, output_type=pytesseract.Output.DICT)
    words = []
    for i, text in enumerate(found["text"]):
        if text.strip():
            left, top = found["left"][i], found["top"][i]
            box = [left, top, left + found["width"][i], top + found["height"][i]]
            words.append((text.strip(), box))
    return words


def reading_order(words: list) -> list:
    """Words (text, box, ...) in reading order: lines top to bottom, words left to right.

    A word is on a line when its middle is within the line's first word's top and bottom.
    """
    lines: list[list] = []
    for word in sorted(words, key=lambda w: (w[1][1] + w[1][3]) / 2):
        middle = (word[1][1] + word[1][3]) / 2
        if lines and lines[-1][0][1][1] <= middle <= lines[-1][0][1][3]:
            lines[-1].append(word)
        else:
            lines.append([word])
    return [word for line in lines for word in sorted(line, key=lambda w: w[1][0])]


def scaled(box: list[int], width: int, height: int) -> list[int]:
    """A box in pixels as LayoutLM reads it: each coordinate scaled to 0..1000."""
    x0, y0, x1, y1 = box
    return [
        min(1000, max(0, round(1000 * value / size)))
        for value, size in ((x0, width), (y0, height), (x1, width), (y1, height))
    ]


def encode(tokenizer, texts: list[str], boxes: list[list[int]]) -> list[dict]:
    """The model's input for words and their scaled boxes, in parts of at most MAX_TOKENS.

    Each part is a dict of ``input_ids`` and ``bbox`` (lists) and ``first``: the position of
    each word's first token, where its label is read (and, in training, taught).
    """
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
    parts, current = [], None
    for index, (ids, box) in enumerate(zip(pieces, boxes, strict=True)):
        ids = ids[: MAX_TOKENS - 2] or [tokenizer.unk_token_id]
        if current is None or len(current["input_ids"]) + len(ids) > MAX_TOKENS - 1:
            current = {"input_ids": [tokenizer.cls_token_id], "bbox": [CLS_BOX], "first": []}
            current["words"] = []
            parts.append(current)
        current["first"].append(len(current["input_ids"]))
        current["words"].append(index)
        current["input_ids"] += ids
        current["bbox"] += [box] * len(ids)
    for part in parts:
        part["input_ids"].append(tokenizer.sep_token_id)
        part["bbox"].append(SEP_BOX)
    return parts


def batch(parts: list[dict], pad_id: int) -> dict:
    """Parts padded into tensors: input_ids, bbox and attention_mask."""
    longest = max(len(part["input_ids"]) for part in parts)
    ids = torch.full((len(parts), longest), pad_id, dtype=torch.long)
    boxes = torch.zeros((len(parts), longest, 4), dtype=torch.long)
    mask = torch.zeros((len(parts), longest), dtype=torch.long)
    for row, part in enumerate(parts):
        size = len(part["input_ids"])
        ids[row, :size] = torch.tensor(part["input_ids"])
        boxes[row, :size] = torch.tensor(part["bbox"])
        mask[row, :size] = 1
    return {"input_ids": ids, "bbox": boxes, "attention_mask": mask}


def label_words(model, tokenizer, words: list, size: tuple[int, int]) -> list[dict]:
    """Each word with its box (pixels), label and score: [{"word", "box", "label", "score"}]."""
    if not words:
        return []
    boxes = [scaled(box, *size) for _, box in words]
    parts = encode(tokenizer, [text for text, _ in words], boxes)
    with torch.inference_mode():
        scores = model(**batch(parts, tokenizer.pad_token_id)).logits.softmax(dim=-1)
    labelled = []
    for row, part in enumerate(parts):
        for index, position in zip(part["words"], part["first"], strict=True):
            best = int(scores[row, position].argmax())
            text, box = words[index]
            labelled.append(
                {
                    "word": text,
                    "box": box,
                    "label": model.config.id2label[best],
                    "score": round(float(scores[row, position, best]), 4),
                }
            )
    return labelled


def entities(labelled: list[dict]) -> list[dict]:
    """Labelled words grouped into entities: [{"label": "QUESTION", "text", "box"}].

    A B- label starts an entity and the I- labels of its kind right after it continue it
    (an I- after anything else starts one too); O words belong to none.
    """
    found, current = [], None
    for word in labelled:
        tag, _, kind = word["label"].partition("-")
        if tag == "O":
            current = None
        elif tag == "I" and current is not None and current["label"] == kind:
            current["text"] += " " + word["word"]
            box = current["box"]
            current["box"] = [
                min(box[0], word["box"][0]),
                min(box[1], word["box"][1]),
                max(box[2], word["box"][2]),
                max(box[3], word["box"][3]),
            ]
        else:
            current = {"label": kind, "text": word["word"], "box": list(word["box"])}
            found.append(current)
    return found
