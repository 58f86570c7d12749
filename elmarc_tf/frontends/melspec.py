"""The authors' log-mel pre-processing as TensorFlow ops wrapped in Keras layers.

The original ``compute_input`` runs, on a 12 kHz mono clip,
``librosa.feature.melspectrogram(n_fft=512, hop_length=256, n_mels=96, power=2, fmin=0,
fmax=6000)`` then ``librosa.logamplitude`` (= ``power_to_db(S, ref=1, amin=1e-10, top_db=80)``),
transposes to ``(frames, 96)`` and only then fixes the length to ``n_frames``. So the top-dB
floor is relative to the maximum of the **whole clip**, before cropping; :class:`LogMelSpectrogram`
computes it per clip over everything it is given, and :class:`FixLength` crops / pads afterwards.

The authors ran librosa <= 0.5, whose STFT padded with ``pad_mode='reflect'`` (librosa >= 0.10
pads with zeros by default); both are offered.
"""

from __future__ import annotations

import math

import keras
import librosa
import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from ..io.fix_length import check_fix_length_by, fix_length_tf
from ..vocabulary import PAD_MODES

SAMPLE_RATE = 12000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
FMIN = 0.0
FMAX = 6000.0
TOP_DB = 80.0
AMIN = 1e-10
MAX_LOG2_MAGNITUDE = 56.0  # |X|**2 <= 2**112: a mel band's weighted sum of 257 stays finite
DB_PER_OCTAVE = 20.0 * math.log10(2.0)  # the dB of a magnitude scaled by 2


def mel_basis(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX) -> np.ndarray:
    """librosa's Slaney mel filterbank, transposed for a right-multiply: ``(n_fft//2+1, n_mels)``."""
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T


def n_frames_for(n_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Frames of a centred STFT of ``n_samples`` samples: ``1 + n_samples // hop_length``."""
    return 1 + n_samples // hop_length


def power_to_db(power, amin=AMIN, top_db=TOP_DB):
    """``10 log10(max(amin, S))`` floored at ``max - top_db``, the max taken per clip.

    ``power``: ``(batch, frames, bands)`` -> same shape, in dB (``ref=1``).
    """
    db = 10.0 * tf.math.log(tf.maximum(power, amin)) / tf.math.log(tf.constant(10.0, power.dtype))
    if top_db is not None:
        peak = tf.reduce_max(db, axis=[1, 2], keepdims=True)
        db = tf.maximum(db, peak - top_db)
    return db


@keras.saving.register_keras_serializable(package="elmarc_tf")
class LogMelSpectrogram(keras.layers.Layer):
    """Waveform ``(batch, n_samples)`` -> log-mel ``(batch, 1 + n_samples // hop, n_mels)``, dB.

    Centred STFT (the signal is padded by ``n_fft // 2`` on both sides with ``pad_mode``), periodic
    Hann window, power 2, librosa's Slaney mel matrix, ``power_to_db(ref=1, amin, top_db)`` with the
    floor relative to each clip's maximum over all its frames. ``(batch, n_samples, 1)`` is accepted.
    """

    def __init__(self, sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS,
                 fmin=FMIN, fmax=FMAX, pad_mode="reflect", top_db=TOP_DB, amin=AMIN, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if pad_mode not in PAD_MODES:
            raise ConfigError(f"'pad_mode' must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}")
        self.sample_rate, self.n_fft, self.hop_length = int(sample_rate), int(n_fft), int(hop_length)
        self.n_mels, self.fmin, self.fmax = int(n_mels), float(fmin), float(fmax)
        self.pad_mode, self.top_db, self.amin = pad_mode, top_db, float(amin)
        self._mel = mel_basis(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax)
        self._window = librosa.filters.get_window("hann", self.n_fft, fftbins=True).astype(np.float32)

    def call(self, waveform):
        if waveform.shape.rank == 3:
            waveform = tf.squeeze(waveform, -1)
        waveform = tf.cast(waveform, tf.float32)
        pad = self.n_fft // 2
        mode = "REFLECT" if self.pad_mode == "reflect" else "CONSTANT"
        padded = tf.pad(waveform, [[0, 0], [pad, pad]], mode=mode)
        frames = tf.signal.frame(padded, self.n_fft, self.hop_length)  # (b, T, n_fft)
        spectrum = tf.signal.rfft(frames * self._window)  # (b, T, n_fft//2+1)
        real, imag = tf.math.real(spectrum), tf.math.imag(spectrum)
        # A clip whose spectrum squared would overflow float32 (magnitudes >= 2**56: samples in
        # the ~1e14 range and beyond) is scaled by a power of two first and its dB shifted back:
        # exact, and a scale of 1 — the very same numbers — for any ordinary audio.
        peak = tf.reduce_max(tf.maximum(tf.abs(real), tf.abs(imag)), axis=[1, 2], keepdims=True)
        shift = tf.maximum(tf.math.ceil(tf.math.log(peak) / math.log(2.0)) - MAX_LOG2_MAGNITUDE,
                           0.0)
        scale = tf.pow(2.0, -shift)
        power = (real * scale) ** 2 + (imag * scale) ** 2
        mel = tf.tensordot(power, tf.constant(self._mel), axes=1)  # (b, T, n_mels)
        return power_to_db(mel, self.amin * scale**2, self.top_db) + shift * DB_PER_OCTAVE

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n_frames_for(n, self.hop_length), self.n_mels)

    def flops(self, input_shape) -> int:
        """FLOPs of one clip ``(batch, n)``: per frame, the window (``n_fft``), a real FFT (``2.5
        n_fft log2 n_fft``), the power (``1.5 n_fft``), the mel matrix (``n_fft n_mels``) and the
        dB conversion (``3 n_mels``)."""
        frames, n = n_frames_for(int(input_shape[1]), self.hop_length), self.n_fft
        return int(frames * (n + 2.5 * n * np.log2(n) + 1.5 * n + n * self.n_mels
                             + 3 * self.n_mels))

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "n_fft": self.n_fft,
                "hop_length": self.hop_length, "n_mels": self.n_mels, "fmin": self.fmin,
                "fmax": self.fmax, "pad_mode": self.pad_mode, "top_db": self.top_db,
                "amin": self.amin}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class FixLength(keras.layers.Layer):
    """``(batch, time, ...)`` -> ``(batch, length, ...)`` by
    :func:`elmarc_tf.io.fix_length.fix_length_tf` (crop / zero-pad / repeat-pad)."""

    def __init__(self, length: int, mode: str = "crop", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.length, self.mode = int(length), check_fix_length_by(mode)

    def call(self, x):
        return fix_length_tf(x, self.length, self.mode)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "length": self.length, "mode": self.mode}
