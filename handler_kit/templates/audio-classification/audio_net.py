"""The sound classifier's model: log-mel features and a small CNN, in PyTorch.

The features are computed inside the model (an STFT and a mel filter bank), so a waveform at
16 kHz goes in and one score per label comes out, whatever the clip's length. The handler
imports this file to serve the model, and handler_kit imported it to train it.
"""

import numpy as np
import torch

SAMPLING_RATE = 16000


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


class AudioNet(torch.nn.Module):
    def __init__(self, labels=4, bins=40, n_fft=512, hop=160, channels=(8, 16, 32)):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("filters", torch.from_numpy(mel_filters(bins, n_fft)))
        self.register_buffer("window", torch.hann_window(n_fft))
        layers, before = [], 1
        for after in channels:
            layers += [
                torch.nn.Conv2d(before, after, 3, padding=1),
                torch.nn.BatchNorm2d(after),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(2),
            ]
            before = after
        self.cnn = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.out = torch.nn.Linear(before, labels)

    def features(self, waveforms):
        """(batch, samples) at 16 kHz -> (batch, 1, bins, frames) log-mel, normalised."""
        spectrum = (
            torch.stft(
                waveforms, self.n_fft, self.hop, window=self.window, return_complex=True
            ).abs()
            ** 2
        )
        mel = torch.log(torch.einsum("mf,bft->bmt", self.filters, spectrum) + 1e-6)
        # Loudness says nothing about the kind of sound: each clip is scaled to itself.
        mean = mel.mean(dim=(1, 2), keepdim=True)
        std = mel.std(dim=(1, 2), keepdim=True)
        return ((mel - mean) / (std + 1e-5)).unsqueeze(1)

    def forward(self, waveforms):
        """(batch, samples) at 16 kHz -> (batch, labels) logits."""
        return self.out(self.cnn(self.features(waveforms)))


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """A decoded clip (samples, or samples x channels) as mono float32 at 16 kHz."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != SAMPLING_RATE and audio.size:
        # Linear interpolation: enough for these sounds; use a proper resampler for speech.
        times = np.arange(round(audio.size * SAMPLING_RATE / rate)) * (rate / SAMPLING_RATE)
        audio = np.interp(times, np.arange(audio.size), audio).astype(np.float32)
    return audio
