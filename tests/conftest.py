"""Shared fixtures: small configurations of every front-end and generated audio."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from elmarc_tf import Config

# Small configurations of every registered front-end: quick to build and to check by hand.
SMALL = {
    "cnn_small_filters": dict(architecture="cnn_small_filters", num_filters=4, n_frames=1280),
    "cnn_single_7x96": dict(architecture="7x96", num_filters=6, n_frames=30, selected_features_list=[0, 1]),
    "cnn_single_7x86": dict(architecture="7x86", num_filters=6, n_frames=30, selected_features_list=[0, 1]),
    "cnn_music": dict(architecture="cnn_music", num_filters=4, n_frames=40, selected_features_list=[0, 1]),
    "cnn_audio": dict(architecture="cnn_audio", num_filters=8, n_frames=25, selected_features_list=[0, 1]),
    "sample_level": dict(architecture="sample_level", num_filters=5, n_samples=4400),
    "frame_level": dict(architecture="frame_level", num_filters=6, n_samples=3000),
    "frame_level_many": dict(architecture="frame_level_many", num_filters=4, n_samples=2000),
}


def small_config(name: str, **changes) -> Config:
    return Config.from_dict({**SMALL[name], **changes})


def demo_items(folder, clips_per_class: int, seconds: float) -> list:
    """The items of a demo dataset (4 classes, ``clips_per_class`` clips of ``seconds``) made in
    ``folder``."""
    from elmarc_tf.datasets import folder_per_class
    from elmarc_tf.studies.demo import make_demo_dataset

    return folder_per_class(make_demo_dataset(folder / "audio", clips_per_class=clips_per_class,
                                              seconds=seconds))


def demo_config(items, fields: dict, **changes) -> Config:
    """``fields`` and ``changes`` on the demo dataset that ``items`` come from."""
    root = str(Path(items[0].path).parents[1])
    return Config.from_dict({"dataset": "demo", "audio_path": root, **fields, **changes})


def random_input(cfg: Config, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Log-mel-like dB values in [-80, 0] or waveforms in [-1, 1], float32."""
    rng = np.random.RandomState(seed)
    if cfg.signal == "spectrogram":
        return rng.uniform(-80, 0, (batch, cfg.n_frames, cfg.n_mels)).astype(np.float32)
    return rng.uniform(-1, 1, (batch, cfg.n_samples, 1)).astype(np.float32)


@pytest.fixture(params=sorted(SMALL))
def small_name(request) -> str:
    return request.param


def music_like(seconds: float, sr: int = 12000, seed: int = 0) -> np.ndarray:
    """A real-like test signal: a chirp, a few harmonic notes, percussive noise bursts, a silent gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.2 * np.sin(2 * np.pi * (100 + 300 * t / max(seconds, 1e-9)) * t)
    for k, f0 in enumerate((220.0, 330.0, 440.0)):
        y += 0.1 / (k + 1) * np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    beats = (np.floor(t * 2) != np.floor((t - 1 / sr) * 2)).astype(float)
    y += np.convolve(beats, rng.standard_normal(600) * np.exp(-np.arange(600) / 100), "same") * 0.3
    gap = slice(int(0.4 * t.size), int(0.5 * t.size))
    y[gap] = 0.0
    return y.astype(np.float32)
