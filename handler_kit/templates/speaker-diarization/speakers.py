"""Who spoke when: speech found by its energy, a speaker embedding per window, clustering.

The pipeline of pyannote's speaker diarisation, small: (1) speech regions are the stretches
of audio louder than the quiet parts by a margin, short pauses bridged; (2) each region is
cut into overlapping one-second windows and a small network (SpeakerNet, x-vector style:
log-mel features, dilated 1-D convolutions, mean and spread over time) turns each window into
a vector of length 1 that is alike for one voice and apart for two; (3) the windows are
clustered (average linkage on cosine distance, cut at a threshold tuned when the model was
built, or at a number of speakers given); (4) each 10 ms of speech takes the speaker of the
nearest window, and runs of one speaker become segments. The handler imports this file to
serve the model, and handler_kit imported it to train it.
"""

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.signal import resample_poly

SAMPLING_RATE = 16000
FRAME = 0.01  # seconds: the step at which speech is found and speakers are assigned
JOIN = 0.3  # seconds: a pause shorter than this inside one speaker's turn is part of it


def mel_filters(bins: int, n_fft: int, rate: int = SAMPLING_RATE) -> np.ndarray:
    """Triangular filters spaced evenly on the mel scale: (bins, n_fft // 2 + 1)."""
    mel = np.linspace(0, 2595 * np.log10(1 + (rate / 2) / 700), bins + 2)
    hertz = 700 * (10 ** (mel / 2595) - 1)
    frequencies = np.linspace(0, rate / 2, n_fft // 2 + 1)
    filters = np.zeros((bins, frequencies.size), dtype=np.float32)
    for i in range(bins):
        low, centre, high = hertz[i : i + 3]
        rising = (frequencies - low) / (centre - low)
        falling = (high - frequencies) / (high - centre)
        filters[i] = np.clip(np.minimum(rising, falling), 0, None)
    return filters


class SpeakerNet(torch.nn.Module):
    def __init__(self, bins=40, n_fft=400, channels=(64, 64, 64, 128), dim=64):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("filters", torch.from_numpy(mel_filters(bins, n_fft)))
        self.register_buffer("window", torch.hann_window(n_fft))
        layers, before = [], bins
        # Wider and wider context: 5 frames, then dilated by 2 and 3, then one frame.
        for after, (size, dilation) in zip(channels, ((5, 1), (3, 2), (3, 3), (1, 1)), strict=True):
            layers += [
                torch.nn.Conv1d(before, after, size, dilation=dilation, padding="same"),
                torch.nn.BatchNorm1d(after),
                torch.nn.ReLU(),
            ]
            before = after
        self.tdnn = torch.nn.Sequential(*layers)
        self.out = torch.nn.Linear(2 * before, dim)

    def features(self, waveforms):
        """(batch, samples) at 16 kHz -> (batch, bins, frames) log-mel, 10 ms a frame."""
        hop = int(FRAME * SAMPLING_RATE)
        spectrum = torch.stft(
            waveforms, self.n_fft, hop, window=self.window, return_complex=True
        ).abs()
        mel = torch.log(torch.einsum("mf,bft->bmt", self.filters, spectrum**2) + 1e-6)
        # Loudness is not who speaks: each window is shifted to a mean of zero.
        return (mel - mel.mean(dim=(1, 2), keepdim=True)) / 4

    def forward(self, features):
        """(batch, bins, frames) -> (batch, dim) speaker embeddings of length 1."""
        states = self.tdnn(features)
        pooled = torch.cat([states.mean(dim=-1), states.std(dim=-1)], dim=1)
        return torch.nn.functional.normalize(self.out(pooled), dim=-1)

    def embed(self, waveforms):
        """(batch, samples) at 16 kHz -> (batch, dim) speaker embeddings."""
        return self(self.features(waveforms))


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """A decoded clip (samples, or samples x channels) as mono float32 at 16 kHz."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != SAMPLING_RATE and audio.size:
        divisor = np.gcd(SAMPLING_RATE, rate)
        audio = resample_poly(audio, SAMPLING_RATE // divisor, rate // divisor)
    return audio.astype(np.float32)


def speech_regions(audio: np.ndarray, margin_db=35.0, bridge=0.1, shortest=0.1) -> list:
    """(start, end) frame indices of speech: frames within ``margin_db`` of the loud ones.

    Pauses shorter than ``bridge`` seconds are bridged; regions shorter than ``shortest``
    seconds are dropped.
    """
    hop, width = int(FRAME * SAMPLING_RATE), int(0.025 * SAMPLING_RATE)
    count = max(0, 1 + (audio.size - width) // hop)
    if count == 0:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(audio, width)[::hop][:count]
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    speech = np.flatnonzero(level > max(np.percentile(level, 95) - margin_db, -70.0))
    if speech.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(speech) > bridge / FRAME)
    starts = np.concatenate([[speech[0]], speech[breaks + 1]])
    ends = np.concatenate([speech[breaks], [speech[-1]]]) + 1
    return [(s, e) for s, e in zip(starts, ends, strict=True) if e - s >= shortest / FRAME]


def windows(regions: list, size=1.0, step=0.25) -> list:
    """(start, end, region) frame indices of windows of ``size`` seconds every ``step``."""
    span, stride = round(size / FRAME), round(step / FRAME)
    found = []
    for index, (start, end) in enumerate(regions):
        if end - start <= span:
            found.append((start, end, index))
            continue
        for first in range(start, end - span + stride, stride):
            first = min(first, end - span)
            found.append((first, first + span, index))
            if first + span >= end:
                break
    return found


def cluster(embeddings: np.ndarray, threshold: float, speakers=None, fewest=1, most=None):
    """A speaker number per embedding: cut at ``threshold`` or at ``speakers`` clusters."""
    if len(embeddings) == 1:
        return np.zeros(1, dtype=int)
    tree = linkage(embeddings, method="average", metric="cosine")
    if speakers is None:
        labels = fcluster(tree, threshold, criterion="distance")
        found = labels.max()
        if found < fewest or (most is not None and found > most):
            speakers = min(max(found, fewest), most or found)
    if speakers is not None:
        labels = fcluster(tree, speakers, criterion="maxclust")
    return labels - 1


def embed_windows(model, audio: np.ndarray, cuts: list) -> np.ndarray:
    """One embedding per window; windows shorter than the others are embedded alone."""
    hop = int(FRAME * SAMPLING_RATE)
    pieces = [audio[start * hop : end * hop] for start, end, _ in cuts]
    size = max(piece.size for piece in pieces)
    found = np.zeros((len(cuts), model.out.out_features), dtype=np.float64)
    full = [i for i, piece in enumerate(pieces) if piece.size == size]
    with torch.inference_mode():
        found[full] = model.embed(torch.from_numpy(np.stack([pieces[i] for i in full]))).numpy()
        for i in set(range(len(cuts))) - set(full):  # a short region: no padding read as sound
            found[i] = model.embed(torch.from_numpy(pieces[i])[None]).numpy()[0]
    return found


def diarize(model, audio, threshold, speakers=None, fewest=1, most=None, size=1.0, step=0.25):
    """Segments [{"speaker": "SPEAKER_00", "start": 0.5, "end": 2.1}, ...] of 16 kHz audio.

    A speaker's segments less than ``JOIN`` seconds apart are one segment.
    """
    regions = speech_regions(audio)
    cuts = windows(regions, size, step)
    if not cuts:
        return []
    labels = cluster(embed_windows(model, audio, cuts), threshold, speakers, fewest, most)
    centres = np.array([(start + end) / 2 for start, end, _ in cuts])
    owner = np.array([region for _, _, region in cuts])
    runs = []  # [speaker, first frame, end frame]
    for index, (start, end) in enumerate(regions):
        mine = np.flatnonzero(owner == index)
        frames = np.arange(start, end) + 0.5
        nearest = mine[np.abs(centres[mine][None, :] - frames[:, None]).argmin(axis=1)]
        speaker_of = labels[nearest]
        changes = np.flatnonzero(np.diff(speaker_of)) + 1
        for first, last in zip(np.r_[0, changes], np.r_[changes, frames.size], strict=True):
            who = speaker_of[first]
            if runs and runs[-1][0] == who and start + first - runs[-1][2] < JOIN / FRAME:
                runs[-1][2] = start + last
            else:
                runs.append([who, start + first, start + last])
    names = {}  # speakers are named in the order they first speak: SPEAKER_00 first
    return [
        {
            "speaker": names.setdefault(who, f"SPEAKER_{len(names):02d}"),
            "start": round(float(first * FRAME), 2),
            "end": round(float(end * FRAME), 2),
        }
        for who, first, end in runs
    ]
