"""Decoding and resampling to 12 kHz mono: the start of the original ``compute_input`` (the
length is fixed next, by :mod:`elmarc_tf.io.fix_length`).

``librosa.load(path, sr=12000)`` is what the authors ran; they had librosa <= 0.5, whose
resampler was resampy's ``kaiser_best``. librosa >= 0.10 defaults to ``soxr_hq``, which is about
10-20x faster than resampy and is our default; ``res_type='kaiser_best'`` reproduces the
authors' (resampy's filter, computed as a polyphase matrix product: :mod:`elmarc_tf.io.resample`).
The choice changes low-energy bands by up to ~20 dB (README.md).
"""

from __future__ import annotations

import os
import warnings

import librosa
import numpy as np
import soundfile as sf

from ..errors import AudioError
from .resample import FILTERS as KAISER_FILTERS, resample_kaiser


def load_audio(path, sr: int = 12000, res_type: str = "soxr_hq") -> np.ndarray:
    """Decode any format libsndfile/audioread reads, average channels, resample to ``sr``.

    The same samples as ``librosa.load(path, sr=sr, mono=True, res_type=res_type)``, faster:
    libsndfile decodes, the channels are summed column by column (NumPy's mean over the
    channels of an interleaved buffer costs more than decoding a 30 s WAV), then
    ``librosa.resample`` as in ``librosa.load``, except for resampy's ``kaiser_best`` /
    ``kaiser_fast``, computed by :func:`elmarc_tf.io.resample.resample_kaiser` (~30x faster, equal up
    to float32 rounding). Formats libsndfile cannot read are decoded by ``librosa.load`` at their
    own rate (audioread), then resampled the same way.

    Returns a float32 array ``(n_samples,)``. Raises :class:`AudioError` naming the file for a
    missing, unreadable or empty file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():  # librosa warns when it falls back to audioread
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                frames, sr_native = sf.read(path, dtype="float32", always_2d=True)
                y = downmix(frames)
            except sf.SoundFileRuntimeError:
                y, sr_native = librosa.load(path, sr=None, mono=True)
            if y.size == 0:
                raise AudioError(f"{path}: no audio samples after decoding")
            if not np.all(np.isfinite(y)):
                raise AudioError(f"{path}: decoded audio contains NaN or infinite samples")
            if res_type in KAISER_FILTERS:
                y = resample_kaiser(y, sr_native, sr, res_type)
            else:
                y = librosa.resample(y, orig_sr=sr_native, target_sr=sr, res_type=res_type)
    except AudioError:
        raise
    except Exception as e:  # soundfile, audioread and resampler errors have many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AudioError(f"{path}: cannot decode audio ({reason})") from None
    return y.astype(np.float32, copy=False)


def downmix(frames: np.ndarray) -> np.ndarray:
    """``(n, channels)`` -> ``(n,)``: the channels' mean, summed in channel order as NumPy's mean
    over the channel axis (``librosa.to_mono``)."""
    y = frames[:, 0].copy()
    for c in range(1, frames.shape[1]):
        y += frames[:, c]
    if frames.shape[1] > 1:
        y /= np.float32(frames.shape[1])
    return y
