"""Decoding excerpts of source files and writing clips.

Sources are files or in-memory files (a member of a zip archive, a slice of a sound catalogue);
clips are written as 16-bit mono WAV at the task's rate, so two builds with the same seed are
byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from ...errors import AudioError
from ...io.audio import downmix


def duration(source) -> float:
    """Length of ``source`` (a path or a seekable binary file) in seconds."""
    try:
        info = sf.info(_rewound(source))
    except Exception as e:  # libsndfile raises several types for unreadable input
        raise AudioError(f"{_name(source)}: cannot read audio ({_reason(e)})") from None
    return info.frames / info.samplerate


def excerpt(source, sample_rate: int, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """``(n,)`` float32 mono at ``sample_rate`` of ``seconds`` from ``start`` (all, if None)."""
    try:
        with sf.SoundFile(_rewound(source)) as f:
            first = int(round(start * f.samplerate))
            count = -1 if seconds is None else int(round(seconds * f.samplerate))
            f.seek(first)
            frames = f.read(count, dtype="float32", always_2d=True)
            native = f.samplerate
    except Exception as e:
        raise AudioError(f"{_name(source)}: cannot read audio ({_reason(e)})") from None
    return resample(downmix(frames), native, sample_rate)


def resample(y: np.ndarray, native: int, sample_rate: int) -> np.ndarray:
    """``(n,)`` at ``native`` Hz -> ``(m,)`` float32 at ``sample_rate`` (soxr, high quality)."""
    if native != sample_rate:
        y = librosa.resample(y, orig_sr=native, target_sr=sample_rate, res_type="soxr_hq")
    return np.asarray(y, dtype=np.float32)


def rms(y: np.ndarray) -> float:
    """Root mean square of ``(n,)``."""
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


def write_clip(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write ``(n,)`` as 16-bit PCM mono WAV (clipped to [-1, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")


def _rewound(source):
    if hasattr(source, "seek"):
        source.seek(0)
    return source


def _name(source) -> str:
    return str(getattr(source, "name", source))


def _reason(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
