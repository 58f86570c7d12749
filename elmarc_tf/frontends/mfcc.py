"""The MFCC baseline of the paper (Section 3.1) in the front-end interface.

Its features are computed with librosa outside the graph (:func:`mfcc_features`, run by the
pipeline on each decoded clip, as the authors' ``extract_mfcc_features``: 20 MFCCs with librosa's
defaults, their first and second *differences* along time — plain ``np.diff``, not
``librosa.feature.delta`` — and the mean and std over time of each); its "front-end" takes those ``6 * mfcc_number``
statistics ``(batch, 6 * n)`` and returns them as six taps ``(batch, n)`` — the mean and std over
time of the MFCCs, of their first and of their second differences — so that the extractor, the
feature layout, the store and the study treat it as every other front-end. No random weights: it
does not depend on the seed.
"""

from __future__ import annotations

import keras
import librosa
import numpy as np

from .common import frozen_model

HOP_LENGTH = 512  # librosa's default: a clip of n samples gives 1 + n // 512 MFCC frames
MIN_SAMPLES = 2 * HOP_LENGTH  # 3 frames: the fewest that have second differences


def mfcc_features(y: np.ndarray, sr: int = 12000, n_mfcc: int = 20) -> np.ndarray:
    """Waveform ``(n_samples,)`` -> float64 ``(6 * n_mfcc,)`` (120 for the paper's 20 MFCCs)."""
    mfcc = librosa.feature.mfcc(y=np.asarray(y, dtype=np.float32), sr=sr, n_mfcc=n_mfcc)
    d1 = np.diff(mfcc, axis=1)
    d2 = np.diff(d1, axis=1)
    stats = [f(m, axis=1) for m in (mfcc, d1, d2) for f in (np.mean, np.std)]
    return np.concatenate(stats).astype(np.float64)


STATISTICS = ("mean_mfcc", "std_mfcc", "mean_d_mfcc", "std_d_mfcc", "mean_dd_mfcc", "std_dd_mfcc")


@keras.saving.register_keras_serializable(package="elmarc_tf")
class Split(keras.layers.Layer):
    """``(batch, parts * width)`` -> ``parts`` tensors ``(batch, width)``, in order."""

    def __init__(self, parts: int, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, x):
        return keras.ops.split(x, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        width = None if input_shape[-1] is None else input_shape[-1] // self.parts
        return [(input_shape[0], width)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


def build_mfcc(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """``(batch, 6 * mfcc_number)`` statistics -> the six taps of :data:`STATISTICS`."""
    x = keras.Input((len(STATISTICS) * cfg.mfcc_number,), name="mfcc_statistics")
    return frozen_model(x, Split(len(STATISTICS), name="statistics")(x), "mfcc")
