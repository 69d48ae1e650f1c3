"""Speaker diarisation: who spoke when in a recording, as pyannote's template answers it.

Production hands an audio body (Content-Type audio/wav, audio/flac, ...) to the handler as
its raw bytes; a JSON body carries the file as a base64 string. The bytes are decoded with
soundfile (wav, flac, ogg), mixed to mono and resampled to 16 kHz; speakers.py next to this
file finds the speech, embeds each second of it and clusters the voices.
Payload: {"inputs": <bytes> | "<base64>", "parameters": {"num_speakers": 2}} (or
"min_speakers" and "max_speakers"; without them the number of speakers is found).
Answer: segments in time order: [{"speaker": "SPEAKER_00", "start": 0.52, "end": 2.31}, ...].
"""

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import soundfile
from safetensors.torch import load_file
from speakers import SpeakerNet, diarize, to_mono_16k

PARAMETERS = ("num_speakers", "min_speakers", "max_speakers")


class EndpointHandler:
    def __init__(self, path=""):
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        self.threshold = config["threshold"]
        self.model = SpeakerNet(**config["model"])
        self.model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        self.model.eval()

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        audio = decode_audio(data["inputs"])
        parameters = data.get("parameters") or {}
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"unknown parameters {unknown}; known: {list(PARAMETERS)}")
        counts = {name: _count(parameters, name) for name in PARAMETERS}
        return diarize(
            self.model,
            audio,
            self.threshold,
            speakers=counts["num_speakers"],
            fewest=counts["min_speakers"] or 1,
            most=counts["max_speakers"],
        )


def _count(parameters: dict, name: str) -> Any:
    value = parameters.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a whole number of speakers, 1 or more, not {value!r}")
    return value


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
