"""The image/text model: two small towers that map images and captions into one space.

An image tower (a small CNN) and a text tower (word vectors read by a GRU) each end in a
vector of the same size, normalised to length 1; they were trained together (contrastively,
as CLIP and BLIP are) so that an image and a caption of it point the same way: the dot
product of two vectors is their cosine, and text-to-image search ranks images by it. The
handler imports this file to serve the model, and handler_kit imported it to train it.
"""

import re

import numpy as np
import torch
from PIL import Image

IMAGE_SIZE = 64  # pixels: every image is resized to this square
WORD = re.compile(r"[a-z0-9]+")
PAD, UNKNOWN = 0, 1  # the first two words of the vocabulary: "[PAD]" and "[UNK]"


class ImageTower(torch.nn.Module):
    def __init__(self, dim=64, channels=(16, 32, 64)):
        super().__init__()
        layers, before = [], 3
        for i, after in enumerate(channels):
            layers += [
                # The first layer halves the image at once: the shapes are large enough.
                torch.nn.Conv2d(before, after, 3, padding=1, stride=2 if i == 0 else 1),
                torch.nn.BatchNorm2d(after),
                torch.nn.ReLU(),
            ]
            if i < len(channels) - 1:
                layers.append(torch.nn.MaxPool2d(2))
            before = after
        self.cnn = torch.nn.Sequential(*layers)
        self.out = torch.nn.Sequential(
            torch.nn.Linear(2 * before, 2 * dim), torch.nn.ReLU(), torch.nn.Linear(2 * dim, dim)
        )

    def forward(self, pixels):
        """(batch, 3, IMAGE_SIZE, IMAGE_SIZE) in -1..1 -> (batch, dim), normalised."""
        features = self.cnn(pixels)
        # The mean counts how much of a thing there is, the maximum whether it is there at all.
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return torch.nn.functional.normalize(self.out(pooled), dim=-1)


class TextTower(torch.nn.Module):
    def __init__(self, words, dim=64):
        super().__init__()
        self.embed = torch.nn.Embedding(words, dim, padding_idx=PAD)
        self.gru = torch.nn.GRU(dim, dim, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(2 * dim, dim)

    def forward(self, ids):
        """(batch, length) word ids -> (batch, dim), normalised; padding is not read."""
        lengths = (ids != PAD).sum(dim=1).clamp(min=1)
        # Packed: the backward direction starts at each caption's last word, not at padding,
        # so a caption gets the same vector alone or in a batch.
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            self.embed(ids), lengths, batch_first=True, enforce_sorted=False
        )
        states = torch.nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0], batch_first=True)[0]
        mean = states.sum(dim=1) / lengths.unsqueeze(-1)
        return torch.nn.functional.normalize(self.out(mean), dim=-1)


class TwoTower(torch.nn.Module):
    def __init__(self, words, dim=64, channels=(16, 32, 64), max_words=12):
        super().__init__()
        self.max_words = max_words
        self.image = ImageTower(dim, channels)
        self.text = TextTower(words, dim)
        # CLIP's learned temperature: how sharply the training loss tells pairs apart.
        self.logit_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))


def words(text: str) -> list[str]:
    """A caption's words, lower-cased: letters and digits, punctuation dropped."""
    return WORD.findall(text.lower())


def word_ids(texts: list[str], vocabulary: list[str], max_words: int) -> torch.Tensor:
    """(batch, length) ids of the texts' words; an unknown word is "[UNK]", padding 0."""
    index = {word: i for i, word in enumerate(vocabulary)}
    rows = [[index.get(w, UNKNOWN) for w in words(text)][:max_words] or [UNKNOWN] for text in texts]
    ids = torch.full((len(rows), max(len(row) for row in rows)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    return ids


def pixels(images: list[Image.Image]) -> torch.Tensor:
    """Images as the image tower's input: RGB, IMAGE_SIZE square, values in -1..1."""
    arrays = [
        np.asarray(
            image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
        for image in images
    ]
    return torch.from_numpy(np.stack(arrays) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()
