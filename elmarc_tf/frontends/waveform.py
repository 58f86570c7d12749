"""Waveform front-ends (paper Section 2.2): sample-level, frame-level and multi-scale frame-level.

Every builder takes a 12 kHz waveform ``(batch, n_samples, 1)`` (``(batch, n_samples)`` is accepted
too) and returns a frozen ``keras.Model`` with one output per tap. Layer names are the variable
scopes of the authors' TF1 graph (``conv1d`` ... ``conv1d_6``, ``1cnnOut`` ... ``3cnnOut``).
"""

from __future__ import annotations

import math

import keras

from ..errors import ConfigError
from .common import ConvFactory, frozen_model

SAMPLE_LEVEL_BLOCKS = 6
FRAME_STRIDE = 32
FRAME_KERNELS = (512, 256, 128, 64, 32)  # frame_level_many; frame_level uses the first one
BACKEND_KERNEL = 7


def _waveform_input(cfg):
    return keras.Input((cfg.n_samples, 1), name="waveform")


# ----------------------------------------------------------------------------- sample level
def build_sample_level(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """SampleCNN (Lee et al. 2017): Conv1D k3 s3 'valid', then 6 x [Conv1D k3 'same' -> MaxPool 3].

    Taps: conv0 ``(b, n/3, nf)`` and the six pooled maps (each a third of the previous, floored):
    7*nf features (nf 23 -> 161, 512 -> 3584).
    """
    inputs = _waveform_input(cfg)
    convs = ConvFactory(seed, fast=fast)
    x = convs.conv1d(cfg.num_filters, 3, strides=3)(inputs)
    taps = [x]
    for i in range(1, SAMPLE_LEVEL_BLOCKS + 1):
        x = convs.conv1d(cfg.num_filters, 3, padding="same")(x)
        x = keras.layers.MaxPooling1D(3, name=f"pool{i}")(x)
        taps.append(x)
    return frozen_model(inputs, taps, "sample_level")


def check_sample_level(cfg) -> None:
    need = 3 ** (SAMPLE_LEVEL_BLOCKS + 1)
    if cfg.n_samples < need:
        raise ConfigError(f"'n_samples'={cfg.n_samples} is too short for sample_level: its "
                          f"pooling chain needs at least {need} samples")


# ----------------------------------------------------------------------------- back-end
def backend(x, cfg, convs: ConvFactory) -> list:
    """The frame-level models' back-end (paper Figure 3) on a front-end map ``(b, T, C)``.

    b1 = Conv1D k7 'valid' over all C channels (the original's Conv2D with a kernel as tall as the
    channel axis); b2 = Conv1D k7 'same' + b1; MaxPool 2 in time; b3 = Conv1D k7 'same' + pooled.
    Returns the taps ``[b1, b2, b3]``: ``(b, T-6, nf)``, ``(b, T-6, nf)``, ``(b, (T-6)//2, nf)``.

    With ``cfg.backend_taps == 'original'`` each tap is reshaped to ``(b, T', nf, 1)`` exactly like
    the original's transposed tensors, so its "feature maps" axis has size 1 and each tap
    contributes ONE value (the mean of the whole map) to the feature vector. ``'per_channel'``
    keeps ``(b, T', nf)``: one mean per filter.
    """
    nf = cfg.num_filters
    b1 = convs.conv1d(nf, BACKEND_KERNEL, name="1cnnOut")(x)
    b2 = convs.conv1d(nf, BACKEND_KERNEL, padding="same", name="2cnnOut")(b1)
    b2 = keras.layers.Add(name="b2")([b2, b1])
    pooled = keras.layers.MaxPooling1D(2, name="backend_pool")(b2)
    b3 = convs.conv1d(nf, BACKEND_KERNEL, padding="same", name="3cnnOut")(pooled)
    b3 = keras.layers.Add(name="b3")([b3, pooled])
    taps = [b1, b2, b3]
    if cfg.backend_taps == "original":
        taps = [keras.layers.Reshape((-1, nf, 1), name=f"{n}_as_original")(t)
                for n, t in zip(("b1", "b2", "b3"), taps)]
    return taps


def _backend_min_frames() -> int:
    return BACKEND_KERNEL - 1 + 2  # b1 'valid' eats 6 frames; the pool needs 2


# ----------------------------------------------------------------------------- frame level
def build_frame_level(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """Conv1D k512 s32 'valid' (nf) -> back-end. Taps ``[conv, b1, b2, b3]``: 4*nf features, of
    which 3*(nf-1) are structural zeros with the original back-end taps (nf 40 -> 160, 896 -> 3584).
    """
    inputs = _waveform_input(cfg)
    convs = ConvFactory(seed, fast=fast)
    frames = convs.conv1d(cfg.num_filters, FRAME_KERNELS[0], strides=FRAME_STRIDE)(inputs)
    return frozen_model(inputs, [frames, *backend(frames, cfg, convs)], "frame_level")


def check_frame_level(cfg) -> None:
    need = FRAME_KERNELS[0] + FRAME_STRIDE * (_backend_min_frames() - 1)
    if cfg.n_samples < need:
        raise ConfigError(f"'n_samples'={cfg.n_samples} is too short for frame_level: it needs "
                          f"at least {need} samples")


# ----------------------------------------------------------------------------- frame level, many
def build_frame_level_many(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """Five Conv1D k512/256/128/64/32, stride 32, 'same' (nf each), concatenated -> back-end.

    Taps ``[c512, c256, c128, c64, c32, b1, b2, b3]``, each conv ``(b, ceil(n/32), nf)``; the
    back-end's first conv spans all 5*nf channels. 8*nf features (nf 20 -> 160, 448 -> 3584).
    """
    inputs = _waveform_input(cfg)
    convs = ConvFactory(seed, fast=fast)
    maps = [convs.conv1d(cfg.num_filters, k, strides=FRAME_STRIDE, padding="same")(inputs)
            for k in FRAME_KERNELS]
    many = keras.layers.Concatenate(name="many")(maps)  # (b, T, 5 nf)
    return frozen_model(inputs, [*maps, *backend(many, cfg, convs)], "frame_level_many")


def check_frame_level_many(cfg) -> None:
    if math.ceil(cfg.n_samples / FRAME_STRIDE) < _backend_min_frames():
        need = FRAME_STRIDE * (_backend_min_frames() - 1) + 1
        raise ConfigError(f"'n_samples'={cfg.n_samples} is too short for frame_level_many: it "
                          f"needs at least {need} samples")
