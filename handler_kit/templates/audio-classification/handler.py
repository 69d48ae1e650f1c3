"""Audio classification: tones, chirps, beeps or noise, from audio bytes or base64 JSON.

Production hands an audio body (Content-Type audio/wav, audio/flac, ...) to the handler as
its raw bytes; a JSON body carries the file as a base64 string. The bytes are decoded with
soundfile (wav, flac, ogg), mixed to mono and resampled to 16 kHz; the model (audio_net.py
next to this file) computes its own features.
Payload: {"inputs": <bytes> | "<base64>", "parameters": {"top_k": 2}}.
Answer: labels with scores, best first: [{"label": "chirp", "score": 0.97}, ...].
"""

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import soundfile
import torch
from audio_net import AudioNet, to_mono_16k
from safetensors.torch import load_file

MIN_SAMPLES = 1600  # 0.1 s: shorter clips are too short to tell these sounds apart


class EndpointHandler:
    def __init__(self, path=""):
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        self.labels = config["labels"]
        self.model = AudioNet(labels=len(self.labels), **config["model"])
        self.model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        self.model.eval()

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        audio = decode_audio(data["inputs"])
        if audio.size < MIN_SAMPLES:
            raise ValueError(f"the clip is {audio.size / 16000:.3f} s long; send at least 0.1 s")
        top_k = int(data.get("parameters", {}).get("top_k", len(self.labels)))
        with torch.inference_mode():
            scores = self.model(torch.from_numpy(audio)[None]).softmax(dim=-1)[0]
        best = scores.argsort(descending=True)[:top_k]
        return [{"label": self.labels[i], "score": scores[i].item()} for i in best.tolist()]


def decode_audio(value: Any):
    """Mono float32 samples at 16 kHz from audio file bytes or their base64 string."""
    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=True)
        except binascii.Error as error:
            raise ValueError(f"`inputs` is not base64-encoded audio: {error}") from None
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"`inputs` must be audio bytes or base64, not {type(value).__name__}")
    try:
        samples, rate = soundfile.read(io.BytesIO(value), dtype="float32")
    except soundfile.LibsndfileError as error:
        raise ValueError(f"cannot decode the audio (wav, flac or ogg): {error}") from None
    return to_mono_16k(samples, rate)
