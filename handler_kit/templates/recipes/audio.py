"""A sound classifier trained from scratch on clips the kit synthesises.

Four kinds of sound, each at random pitches, lengths, loudness and background noise: a
steady ``tone`` (with a few harmonics), a ``chirp`` (a sweep up or down), ``beeps`` (a tone
switched on and off) and ``noise`` (white or pink). The model (the template's
``audio_net.py``) computes log-mel features itself and classifies them with a small CNN.
"""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds
from . import card, fit, recipe_table, template_file, template_module

NAME = "audio-classification"
LABELS = ("tone", "chirp", "beeps", "noise")
RATE = 16000
RECIPE = {
    "model": {"bins": 40, "n_fft": 512, "hop": 160, "channels": [8, 16, 32]},
    "clips": 1600,
    "held_out_clips": 400,
    "seconds": 1.0,
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "seed": 13,
    "version": 1,
}


def synthesise(label: str, rng: random.Random, seconds: float = 1.0) -> Any:
    """One clip of the sound ``label`` at 16 kHz, as float32 samples in -1..1."""
    import numpy as np

    noise_rng = np.random.default_rng(rng.randrange(2**32))
    t = np.arange(int(seconds * RATE)) / RATE
    if label == "noise":
        white = noise_rng.normal(0, 1, t.size)
        if rng.random() < 0.5:  # pink: louder low frequencies (a 1/f spectrum)
            spectrum = np.fft.rfft(white)
            spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
            white = np.fft.irfft(spectrum, t.size)
        wave = white / np.abs(white).max()
    else:
        start = rng.uniform(150, 2000)
        if label == "chirp":
            end = start * rng.choice([rng.uniform(2, 4), 1 / rng.uniform(2, 4)])
            phase = 2 * np.pi * (start * t + (end - start) * t**2 / (2 * seconds))
        else:
            phase = 2 * np.pi * start * t
        wave = sum(rng.uniform(0.2, 1) / k * np.sin(k * phase) for k in (1, 2, 3))
        if label == "beeps":
            rate = rng.uniform(3, 8)  # beeps per second
            wave = wave * (np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3)) > 0)
        wave = wave / max(np.abs(wave).max(), 1e-6)
    background = noise_rng.normal(0, rng.uniform(0.0, 0.05), t.size)
    return (rng.uniform(0.2, 0.9) * wave + background).clip(-1, 1).astype(np.float32)


def clips(count: int, seed: int) -> tuple[Any, list[str]]:
    """``count`` one-second clips with their labels, the labels in turn."""
    import numpy as np

    rng = random.Random(seed)
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    return np.stack([synthesise(label, rng) for label in labels]), labels


def audio_file(samples: Any, kind: str = "WAV") -> bytes:
    """Samples at 16 kHz as the bytes of a file (WAV, FLAC or OGG), 16-bit where it applies."""
    import soundfile

    buffer = io.BytesIO()
    subtype = "VORBIS" if kind == "OGG" else "PCM_16"
    soundfile.write(buffer, samples, RATE, format=kind, subtype=subtype)
    return buffer.getvalue()


def build(progress: bool = True) -> Path:
    """The classifier's folder: model.safetensors and config.json for ``audio_net.AudioNet``."""
    code = [Path(__file__), template_file(NAME, "audio_net.py")]
    return builds.cached_build(NAME, RECIPE, _train, code, progress=progress)


def _train(dest: Path, progress: bool) -> dict:
    import json

    import torch
    from safetensors.torch import save_file

    net = template_module(NAME, "audio_net")
    torch.manual_seed(RECIPE["seed"])
    waves, labels = clips(RECIPE["clips"], RECIPE["seed"])
    held_waves, held_labels = clips(RECIPE["held_out_clips"], RECIPE["seed"] + 1)
    x, y = torch.from_numpy(waves), torch.tensor([LABELS.index(label) for label in labels])
    model = net.AudioNet(labels=len(LABELS), **RECIPE["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"])

    def loss_of(batch: Any) -> Any:
        return torch.nn.functional.cross_entropy(model(x[batch]), y[batch])

    fit(model, len(x), RECIPE, loss_of, optimizer, desc=f"training {NAME}", progress=progress)
    with torch.inference_mode():
        predicted = model(torch.from_numpy(held_waves)).argmax(dim=-1).tolist()
    correct = sum(LABELS[p] == label for p, label in zip(predicted, held_labels, strict=True))
    accuracy = correct / len(held_labels)
    save_file(model.state_dict(), str(dest / "model.safetensors"))
    config = {"labels": list(LABELS), "model": RECIPE["model"], "sampling_rate": RATE}
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "README.md").write_text(_card(accuracy, len(held_labels)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out accuracy {accuracy:.3f} on {len(held_labels)} clips")
    return {"accuracy": accuracy, "held_out": len(held_labels)}


def _card(accuracy: float, held_out: int) -> str:
    return card(
        "Sound classifier",
        "audio-classification",
        ("audio-classification",),
        f"""\
A small CNN on log-mel features (audio_net.py), trained from scratch by handler_kit on clips it
synthesises: {", ".join(LABELS)}, at random pitches, loudness and background noise.

- Held-out accuracy: **{accuracy:.3f}** on {held_out} clips synthesised with another seed.

## Recipe

{recipe_table(RECIPE)}
""",
    )


def write_cases(repo: Path, model: Path | None) -> None:
    """Audio bodies as a browser sends them (wav, flac, ogg), and base64 wav in JSON."""
    folder = cases_folder(repo)
    rng = random.Random(2024)
    for label, kind in zip(("chirp", "tone", "beeps"), ("WAV", "FLAC", "OGG"), strict=True):
        save_case(
            folder,
            f"{label}_{kind.lower()}",
            body=audio_file(synthesise(label, rng), kind),
            content_type=f"audio/{kind.lower()}",
            suffix=f".{kind.lower()}",
            expect={"expected_label": label},
        )
    encoded = base64.b64encode(audio_file(synthesise("noise", rng))).decode("ascii")
    payload = {"inputs": encoded, "parameters": {"top_k": 2}}
    save_case(folder, "noise_base64_json", payload, expect={"expected_label": "noise"})
