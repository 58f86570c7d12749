"""leaf-audio's mel filterbank baseline: an STFT power spectrogram times a mel matrix, no
variables (the filterbank of ``mel_tf`` and ``pcen_mel``)."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from ..melspec import mel_basis
from .defaults import MAX_FREQ, MIN_FREQ, N_FILTERS, SAMPLE_RATE, check_choices


@keras.saving.register_keras_serializable(package="elmarc_tf")
class MelFilterbank(keras.layers.Layer):
    """Mel power spectrogram by ``tf.signal``: ``(batch, samples) -> (batch, frames, n_filters)``.

    ``(batch, samples, 1)`` is accepted too. STFT with a periodic Hann window of ``window_size``
    samples, hop ``hop``, ``n_fft`` points; power; times a mel matrix. ``mel_scale="htk"``:
    ``tf.signal.linear_to_mel_weight_matrix`` (leaf-audio's ``MelFilterbanks``); ``"slaney"``:
    librosa's area-normalised Slaney matrix, the paper's log-mel basis
    (:func:`elmarc_tf.frontends.melspec.mel_basis`). ``framing="leaf"``: frames from the start,
    the end zero-padded (``ceil(n / hop)`` frames, leaf-audio's); ``"centered"``: zero padding of
    ``window_size // 2`` before and ``window_size - window_size // 2`` after, ``1 + n // hop``
    frames centred on ``t * hop`` (a centred STFT with constant padding).
    Cost: about ``frames * (window_size + 2.5 n_fft log2 n_fft + 1.5 n_fft + n_fft n_filters)``.
    """

    def __init__(self, n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
                 window_size: int = 401, hop: int = 160, n_fft: int = 512,
                 min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ, mel_scale: str = "htk",
                 framing: str = "leaf", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        check_choices(mel_scale=mel_scale, framing=framing)
        self.n_filters, self.sample_rate = int(n_filters), int(sample_rate)
        self.window_size, self.hop, self.n_fft = int(window_size), int(hop), int(n_fft)
        self.min_freq, self.max_freq = float(min_freq), float(max_freq)
        self.mel_scale, self.framing = mel_scale, framing
        if mel_scale == "htk":
            matrix = tf.signal.linear_to_mel_weight_matrix(
                self.n_filters, self.n_fft // 2 + 1, self.sample_rate, self.min_freq,
                self.max_freq)
        else:
            matrix = mel_basis(self.sample_rate, self.n_fft, self.n_filters, self.min_freq,
                               self.max_freq)
        self._mel = np.asarray(matrix, np.float32)  # (n_fft // 2 + 1, n_filters)

    def call(self, waveform):
        if waveform.shape.rank == 3:
            waveform = waveform[..., 0]
        if self.framing == "centered":
            w = self.window_size
            waveform = tf.pad(waveform, [[0, 0], [w // 2, w - w // 2]])
        stft = tf.signal.stft(waveform, self.window_size, self.hop, self.n_fft,
                              pad_end=self.framing == "leaf")
        power = tf.math.real(stft) ** 2 + tf.math.imag(stft) ** 2
        return tf.matmul(power, self._mel)

    def flops(self, input_shape) -> int:
        """``frames * (window + 2.5 n_fft log2 n_fft + 1.5 n_fft + n_fft n_filters)``: window,
        real FFT, power, mel matrix."""
        frames = self.compute_output_shape(input_shape)[1]
        n = self.n_fft
        return int(frames * (self.window_size + 2.5 * n * math.log2(n) + 1.5 * n
                             + n * self.n_filters))

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        frames = None if n is None else (-(-n // self.hop) if self.framing == "leaf"
                                         else 1 + n // self.hop)
        return (input_shape[0], frames, self.n_filters)

    def get_config(self):
        return {**super().get_config(), "n_filters": self.n_filters,
                "sample_rate": self.sample_rate, "window_size": self.window_size,
                "hop": self.hop, "n_fft": self.n_fft, "min_freq": self.min_freq,
                "max_freq": self.max_freq, "mel_scale": self.mel_scale, "framing": self.framing}
