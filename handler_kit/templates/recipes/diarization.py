"""Speaker diarisation: a speaker-embedding network trained on voices espeak-ng speaks.

Debian's espeak-ng reads sentences in its English voice with one of its many variants (men,
women, old, young: "m3", "f2", "grandma", ...) at a pitch and a speed drawn per speaker; each
(variant, pitch, speed) is a voice. The network (the template's ``speakers.py``) learns to
tell 106 training voices apart from one-second windows; what it learned is kept as an
embedding of length 1 per window. Conversations are made by turns of two or three voices
with pauses between them. The clustering threshold is tuned on conversations of other
variants, and the build measures the diarisation error rate (pyannote.metrics, no collar) on
held-out conversations of variants used nowhere else, against the rate of answering "one
speaker" for all the speech.
"""

from __future__ import annotations

import base64
import io
import random
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from ...errors import HandlerKitError
from .. import builds
from . import card, fit, recipe_table, template_file, template_module
from .audio import RATE, audio_file

NAME = "speaker-diarization"
SENTENCES = (
    "Good morning, how are you today?",
    "I think the meeting starts at nine.",
    "Could you send me the report before lunch?",
    "The train was late again this morning.",
    "We should order more paper for the printer.",
    "That sounds like a very good idea.",
    "I am not sure about the budget for next year.",
    "Let us talk about it after the break.",
    "My sister lives near the old harbour.",
    "The weather will be warm and sunny tomorrow.",
    "Please remember to lock the door tonight.",
    "Have you seen the new library downtown?",
    "I would rather take the bus than drive.",
    "The results look much better than last week.",
    "Can we move the call to Thursday afternoon?",
    "Thank you, that helps a lot.",
    "The coffee machine is broken again.",
    "We need three more chairs for the guests.",
    "I will finish the slides this evening.",
    "Where did you put the blue folder?",
    "It takes about twenty minutes to walk there.",
    "The children loved the museum trip.",
    "Let me check my calendar first.",
    "Honestly, I expected more people to come.",
    "The garden needs water after this heat.",
    "Do you know who won the game last night?",
    "We can share a taxi to the airport.",
    "The numbers in the second table are wrong.",
    "I agree, but we should ask the others.",
    "Right, see you on Monday then.",
)
# espeak-ng's variants, in three sets that share none: the network trains on the first, the
# threshold is tuned on the second, the error rate is measured on the third.
TRAINING_VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "antonio",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "Denis",
    "Diogo",
    "ed",
    "edward",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "klatt5",
    "klatt6",
    "Gene2",
    "iven2",
    "iven3",
    "iven4",
    "steph2",
    "steph3",
    "Jacky",
    "Storm",
    "Tweaky",
    "AnxiousAndy",
    "anika",
    "grandpa",
    "grandma",
    "croak",
    "RicishayMax",
    "RicishayMax2",
    "Mr",
]
TUNING_VARIANTS = ["edward2", "Gene", "gustave", "Henrique", "Hugo", "iven", "john", "kaukovalta"]
HELD_OUT_VARIANTS = [
    "Lee",
    "linda",
    "marcelo",
    "Marco",
    "Mario",
    "max",
    "Michael",
    "michel",
    "miguel",
    "Mike",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "sandro",
    "shelby",
    "steph",
    "travis",
    "victor",
    "zac",
]
RECIPE = {
    "model": {"bins": 40, "n_fft": 400, "channels": [64, 64, 64, 128], "dim": 64},
    "voices": "espeak-ng en+variant, pitch 20-80, 140-190 words a minute",
    "training_voices": "2 per training variant, 5 sentences each",
    "windows": 3000,
    "window_seconds": 1.0,
    "epochs": 8,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "schedule": "one cycle",
    "thresholds": [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7],
    "tuning_conversations": 16,
    "held_out_conversations": 24,
    "seed": 13,
    "version": 1,
}
PACKAGES = (*builds.DEFAULT_PACKAGES, "scipy", "soundfile", "pyannote.metrics")
Voice = tuple[str, int, int]  # (espeak-ng variant, pitch 0-99, words a minute)


def espeak() -> str:
    """The espeak-ng program's version line; a clear error when it is not installed."""
    if shutil.which("espeak-ng") is None:
        raise HandlerKitError(
            f"espeak-ng is not installed: the {NAME} template makes its voices with it",
            hint="apt-get install -y espeak-ng (make setup installs it where it can).",
        )
    found = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    return found.stdout.strip()


def speak(text: str, voice: Voice) -> Any:
    """``text`` read by ``voice``: float32 samples at 16 kHz, silence trimmed at both ends."""
    import numpy as np
    import soundfile
    from scipy.signal import resample_poly

    variant, pitch, speed = voice
    command = ["espeak-ng", "-v", f"en+{variant}", "-p", str(pitch), "-s", str(speed)]
    wav = subprocess.run([*command, "--stdout", text], capture_output=True, check=True).stdout
    samples_, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    audio = resample_poly(samples_, RATE, rate).astype(np.float32)  # espeak-ng: 22050 Hz
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def voices(variants: list[str], rng: random.Random, each: int = 1) -> list[Voice]:
    """``each`` voices per variant, at a pitch and speed drawn from ``rng``."""
    return [(v, rng.randint(20, 80), rng.randint(140, 190)) for v in variants for _ in range(each)]


def conversation(cast: list[Voice], rng: random.Random, turns: int, speakers: int = 0):
    """Turns of two or three voices of ``cast`` with pauses: ``(audio, reference)``.

    The reference lists ``(start, end, speaker)`` in seconds, speakers numbered in the order
    they first speak (as the handler names them: SPEAKER_00 first).
    """
    import numpy as np

    chosen = rng.sample(cast, speakers or rng.choice([2, 3]))
    pieces = [np.zeros(int(rng.uniform(0.2, 0.6) * RATE), dtype=np.float32)]
    at, reference, last = pieces[0].size / RATE, [], -1
    for turn in range(turns):
        who = 0 if turn == 0 else rng.choice([i for i in range(len(chosen)) if i != last])
        last = who
        speech = speak(rng.choice(SENTENCES), chosen[who]) * rng.uniform(0.4, 1.0)
        reference.append((round(at, 3), round(at + speech.size / RATE, 3), who))
        pause = np.zeros(int(rng.uniform(0.15, 0.7) * RATE), dtype=np.float32)
        pieces += [speech, pause]
        at += (speech.size + pause.size) / RATE
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(rng.randrange(2**32)).normal(0, 0.002, audio.size)
    order = {}  # renumber by first turn: speaker 0 speaks first
    reference = [(s, e, order.setdefault(who, len(order))) for s, e, who in reference]
    return audio.clip(-1, 1).astype(np.float32), reference


def build(progress: bool = True) -> Path:
    """The model's folder: model.safetensors and config.json (with the tuned threshold)."""
    code = [Path(__file__), template_file(NAME, "speakers.py"), espeak()]
    return builds.cached_build(NAME, RECIPE, _train, code, PACKAGES, progress)


def _train(dest: Path, progress: bool) -> dict:
    import json

    import torch
    from safetensors.torch import save_file

    speakers = template_module(NAME, "speakers")
    torch.manual_seed(RECIPE["seed"])
    rng = random.Random(RECIPE["seed"])
    cast = voices(TRAINING_VARIANTS, rng, each=2)
    # One recording of five sentences per voice: the windows are cut from it.
    recordings = [speak(" ".join(rng.sample(SENTENCES, 5)), voice) for voice in cast]
    x, y = _windows(recordings, RECIPE["windows"], rng)
    model = speakers.SpeakerNet(**RECIPE["model"])
    with torch.no_grad():
        features = model.features(x)
    head = torch.nn.Linear(RECIPE["model"]["dim"], len(cast))  # for training only
    weights = [*model.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(weights, lr=RECIPE["learning_rate"])
    total = RECIPE["epochs"] * -(-len(x) // RECIPE["batch_size"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["learning_rate"], total)

    def loss_of(batch: Any) -> Any:
        return torch.nn.functional.cross_entropy(head(model(features[batch])), y[batch])

    fit(model, len(x), RECIPE, loss_of, optimizer, schedule, f"training {NAME}", progress)
    tuning = _conversations(TUNING_VARIANTS, RECIPE["tuning_conversations"], RECIPE["seed"] + 1)
    rates = {t: error_rate(model, tuning, t) for t in RECIPE["thresholds"]}
    threshold = min(rates, key=lambda t: (rates[t], t))
    held_out = _conversations(
        HELD_OUT_VARIANTS, RECIPE["held_out_conversations"], RECIPE["seed"] + 2
    )
    figures = {
        "der": error_rate(model, held_out, threshold),
        "der_known_speakers": error_rate(model, held_out, threshold, known=True),
        "der_one_speaker": error_rate(None, held_out, threshold),
        "threshold": threshold,
        "held_out": len(held_out),
    }
    save_file(model.state_dict(), str(dest / "model.safetensors"))
    config = {"model": RECIPE["model"], "threshold": threshold, "sampling_rate": RATE}
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "README.md").write_text(_card(figures), encoding="utf-8")
    if progress:
        print(
            f"{NAME}: held-out diarisation error rate {figures['der']:.3f} "
            f"(one speaker for all: {figures['der_one_speaker']:.3f})"
        )
    return figures


def _windows(recordings: list, count: int, rng: random.Random) -> tuple[Any, Any]:
    """``count`` one-second windows cut at random from the recordings, at random loudness."""
    import numpy as np
    import torch

    size = int(RECIPE["window_seconds"] * RATE)
    x = np.zeros((count, size), dtype=np.float32)
    y = np.zeros(count, dtype=np.int64)
    noise = np.random.default_rng(rng.randrange(2**32))
    for row in range(count):
        y[row] = rng.randrange(len(recordings))
        audio = recordings[y[row]]
        start = rng.randrange(max(1, audio.size - size))
        piece = audio[start : start + size]
        x[row, : piece.size] = piece * rng.uniform(0.3, 1.5)
    x += noise.normal(0, 0.003, x.shape).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def _conversations(variants: list[str], count: int, seed: int) -> list:
    rng = random.Random(seed)
    cast = voices(variants, rng)
    return [conversation(cast, rng, rng.randint(5, 9)) for _ in range(count)]


def error_rate(model: Any, conversations: list, threshold: float, known: bool = False) -> float:
    """The diarisation error rate over ``conversations`` (pyannote.metrics, no collar).

    Missed speech, false alarms and confused speakers, over the total speech of the
    references. Without a model, every speech turn is answered as one speaker: the rate of
    a diariser that cannot tell voices apart. ``known``: the number of speakers is given.
    """
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    speakers = template_module(NAME, "speakers")
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    for audio, reference in conversations:
        truth, answer = Annotation(), Annotation()
        for start, end, who in reference:
            truth[Segment(start, end)] = who
        if model is None:
            found = [{"start": s, "end": e, "speaker": "one"} for s, e, _ in reference]
        else:
            count = len({who for *_, who in reference}) if known else None
            found = speakers.diarize(model, audio, threshold, speakers=count)
        for segment in found:
            answer[Segment(segment["start"], segment["end"])] = segment["speaker"]
        whole = Timeline([Segment(0, audio.size / RATE)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyannote's notes on annotations without URIs
            metric(truth, answer, uem=whole)
    return float(abs(metric))


def _card(figures: dict) -> str:
    return card(
        "Speaker diarisation",
        "automatic-speech-recognition",
        ("speaker-diarization",),
        f"""\
A speaker-embedding network (speakers.py: log-mel features, dilated 1-D convolutions, mean
and spread over time) trained from scratch by handler_kit to tell apart {2 * len(TRAINING_VARIANTS)}
voices that espeak-ng speaks, then used as pyannote's pipeline uses its own: speech found by
its energy, one embedding per second of it, clustered (average linkage on cosine distance,
cut at {figures["threshold"]}, tuned on conversations of other voices).

- Held-out diarisation error rate: **{figures["der"]:.3f}** (pyannote.metrics, no collar) on
  {figures["held_out"]} conversations of two or three voices of variants never trained or
  tuned on; answering one speaker for all the speech scores {figures["der_one_speaker"]:.3f}.
  With the number of speakers given: {figures["der_known_speakers"]:.3f}.

## Recipe

{recipe_table(RECIPE)}
""",
    )


def case_conversation(seed: int = 2024, speakers: int = 2) -> tuple[Any, list]:
    """A short conversation of held-out voices for the cases: ``(audio, reference)``."""
    rng = random.Random(seed)
    return conversation(voices(HELD_OUT_VARIANTS, rng), rng, 4, speakers)


def reference_segments(reference: list) -> list[dict]:
    """A reference as the handler answers segments."""
    return [{"speaker": f"SPEAKER_{w:02d}", "start": s, "end": e} for s, e, w in reference]


CASE_TOLERANCE = 0.25  # seconds: a segment's ends may be off by this much


def write_cases(repo: Path, model: Path | None) -> None:
    """Two conversations (wav and flac bodies) and one as base64 JSON with num_speakers."""
    folder = cases_folder(repo)
    for kind, seed, count in (("WAV", 2024, 2), ("FLAC", 2025, 3)):
        audio, reference = case_conversation(seed, count)
        save_case(
            folder,
            f"conversation_{kind.lower()}",
            body=audio_file(audio, kind),
            content_type=f"audio/{kind.lower()}",
            suffix=f".{kind.lower()}",
            expect={"expected": reference_segments(reference), "tolerance": CASE_TOLERANCE},
        )
    audio, reference = case_conversation(2026, 3)
    payload = {
        "inputs": base64.b64encode(audio_file(audio)).decode("ascii"),
        "parameters": {"num_speakers": 3},
    }
    expect = {"expected": reference_segments(reference), "tolerance": CASE_TOLERANCE}
    save_case(folder, "three_speakers_base64_json", payload, expect=expect)
