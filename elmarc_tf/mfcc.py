"""The MFCC baseline of the paper: 120 values per clip.

As the authors' ``extract_mfcc_features`` (after Choi et al.'s transfer-learning baseline): 20 MFCCs
of the clip with librosa's defaults, their first and second *differences* along time (plain
``np.diff``, not ``librosa.feature.delta``), and the mean and standard deviation over time of each:
``[mean(mfcc), std(mfcc), mean(d), std(d), mean(dd), std(dd)]`` -> ``(6 * n_mfcc,)``.
"""

from __future__ import annotations

import librosa
import numpy as np

HOP_LENGTH = 512  # librosa's default: a clip of n samples gives 1 + n // 512 MFCC frames
MIN_SAMPLES = 2 * HOP_LENGTH  # 3 frames: the fewest that have second differences


def mfcc_features(y: np.ndarray, sr: int = 12000, n_mfcc: int = 20) -> np.ndarray:
    """Waveform ``(n_samples,)`` -> float64 ``(6 * n_mfcc,)`` (120 for the paper's 20 MFCCs)."""
    mfcc = librosa.feature.mfcc(y=np.asarray(y, dtype=np.float32), sr=sr, n_mfcc=n_mfcc)
    d1 = np.diff(mfcc, axis=1)
    d2 = np.diff(d1, axis=1)
    stats = [f(m, axis=1) for m in (mfcc, d1, d2) for f in (np.mean, np.std)]
    return np.concatenate(stats).astype(np.float64)
