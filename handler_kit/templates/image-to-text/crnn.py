"""The text reader's model and its image handling: a small CRNN read out with CTC.

A convolutional network turns a line of text (32 pixels high) into a sequence of column
features, a bidirectional GRU reads them, and each step says which character it sees (or
none); repeated characters and the "none" steps are dropped (greedy CTC decoding). The
handler imports this file to serve the model, and handler_kit imported it to train it.
"""

import numpy as np
import torch
from PIL import Image

CHARS = " -.0123456789adefloqrty"  # index 0 is CTC's blank, so character i is CHARS[i - 1]
CLASSES = len(CHARS) + 1
HEIGHT, WIDTH = 32, 160  # a line of text is scaled to this height and padded to this width


class CRNN(torch.nn.Module):
    def __init__(self, channels=(8, 16, 32, 32), hidden=64, classes=CLASSES):
        super().__init__()
        layers, before = [], 1
        for i, after in enumerate(channels):
            pool = 2 if i < 2 else (2, 1)  # the width keeps 1/4: 40 steps for 15 characters
            layers += [
                torch.nn.Conv2d(before, after, 3, padding=1),
                torch.nn.BatchNorm2d(after),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(pool),
            ]
            before = after
        self.cnn = torch.nn.Sequential(*layers)
        self.rnn = torch.nn.GRU(before * HEIGHT // 16, hidden, bidirectional=True, batch_first=True)
        self.out = torch.nn.Linear(2 * hidden, classes)

    def forward(self, pixels):
        """(batch, 1, HEIGHT, WIDTH) in 0..1 -> (batch, WIDTH // 4, classes) logits."""
        features = self.cnn(pixels)
        batch, channels, height, width = features.shape
        columns = features.permute(0, 3, 1, 2).reshape(batch, width, channels * height)
        return self.out(self.rnn(columns)[0])


def ink(image: Image.Image) -> np.ndarray:
    """Grey levels as distance from the background (0: paper, 1: ink), dark or light text."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    return np.abs(grey - np.median(grey)) / 255.0


def lines(image: Image.Image, threshold: float = 0.25) -> list[Image.Image]:
    """The lines of text in an image, top to bottom, each cropped to its ink."""
    mask = ink(image) > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    # Rows with ink, split where a blank row separates them.
    groups = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    found = []
    for group in groups:
        top, bottom = group[0], group[-1] + 1
        columns = np.flatnonzero(mask[top:bottom].any(axis=0))
        if bottom - top < 4:  # a speck, not a line
            continue
        margin = 2
        box = (
            max(0, columns[0] - margin),
            max(0, top - margin),
            min(image.width, columns[-1] + 1 + margin),
            min(image.height, bottom + margin),
        )
        found.append(image.crop(box))
    return found


def preprocess(line: Image.Image) -> np.ndarray:
    """One line of text as the model's input: (1, HEIGHT, WIDTH) ink values."""
    width = max(1, min(WIDTH, round(line.width * HEIGHT / line.height)))
    scaled = ink(line.convert("L").resize((width, HEIGHT), Image.Resampling.BILINEAR))
    pixels = np.zeros((1, HEIGHT, WIDTH), dtype=np.float32)
    pixels[0, :, :width] = scaled
    return pixels


def decode(logits: torch.Tensor) -> list[str]:
    """Greedy CTC: the best class per step, repeats merged, blanks dropped."""
    texts = []
    for best in logits.argmax(dim=-1).tolist():
        kept = [k for i, k in enumerate(best) if k != 0 and (i == 0 or k != best[i - 1])]
        texts.append("".join(CHARS[k - 1] for k in kept))
    return texts
