"""The LEAF family in the study: as the input representation of the spectrogram front-ends, and
alone, as the features of a front-end of its own.

- :func:`representation`: how a whole 12 kHz clip ``(batch, n)`` becomes a time-frequency
  representation ``(batch, 1 + n // 256, n_mels)`` — the config's ``input_representation``:
  ``logmel`` (the authors' log-mel, :class:`~elmarc_tf.frontends.melspec.LogMelSpectrogram`) or a LEAF-family
  front-end in the same geometry (:func:`elmarc_tf.frontends.leaf.build_representation`: 96
  filters at 12 kHz, the authors' 512-sample window and 256-sample hop), with the config's
  ``filterbank_init`` (``random``: drawn from the run's seed) and ``trainable``.
- :func:`build_filterbank`: the front-ends ``leaf``, ``sincnet``, ``sincnet_plus``, ``tdfbanks``,
  ``mel_tf`` and ``pcen_mel`` alone: the representation of the whole clip, then the time-average
  and the standard deviation of each filter's output over all its frames — two taps, ``mean`` and
  ``std``, ``(batch, n_mels)`` each: ``2 * n_mels`` features without random weights (unless the
  filterbank is drawn at random), a learnable-free baseline beside the MFCCs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..errors import ConfigError
from .melspec import HOP_LENGTH, N_FFT, LogMelSpectrogram
from . import leaf
from .common import frozen_model

FAMILY = "filterbank"
STATISTICS = ("mean", "std")
LOGMEL = "logmel"  # the authors' representation, the default input_representation
# The paper-style legend name of each representation.
NAMES = {LOGMEL: "log-mel", "leaf": "LEAF", "sincnet": "SincNet", "sincnet_plus": "SincNet+",
         "tdfbanks": "TD-filterbanks", "mel_tf": "log-mel (leaf-audio)", "pcen_mel": "PCEN-mel"}


def _logmel(cfg, seed: int) -> keras.layers.Layer:
    return LogMelSpectrogram(sample_rate=cfg.sampling_rate, n_fft=N_FFT, hop_length=HOP_LENGTH,
                             n_mels=cfg.n_mels, pad_mode=cfg.pad_mode, name="logmel")


def _leaf_family(name: str):
    def build(cfg, seed: int) -> keras.Model:
        return leaf.build_representation(name, cfg.sampling_rate, cfg.n_mels, N_FFT, HOP_LENGTH,
                                         filterbank_init=cfg.filterbank_init, seed=seed,
                                         trainable=cfg.trainable)
    return build


# name -> (config, seed) -> a layer or model (batch, n) -> (batch, 1 + n // 256, n_mels)
REPRESENTATIONS = {LOGMEL: _logmel, **{name: _leaf_family(name) for name in leaf.FRONTENDS}}


def representation(cfg, seed: int = 0, name: str | None = None):
    """The representation ``name`` (default: ``cfg.input_representation``) for ``cfg``:
    ``(batch, n) -> (batch, 1 + n // 256, cfg.n_mels)``, named after it (``logmel``, ``leaf``,
    ...). A random filterbank is drawn from ``seed``; the model is frozen unless
    ``cfg.trainable``."""
    name = cfg.input_representation if name is None else name
    return REPRESENTATIONS[name](cfg, seed)


def representation_label(cfg, name: str | None = None) -> str:
    """``log-mel``, ``LEAF``, ``LEAF (random init)``, ``PCEN-mel``, ...: the legend name of the
    representation ``name`` (default: ``cfg.input_representation``) as ``cfg`` initialises it."""
    name = cfg.input_representation if name is None else name
    return NAMES[name] + (" (random init)" if cfg.filterbank_init == "random" else "")


def label(cfg) -> str:
    """The legend name of a filterbank front-end alone, e.g. ``LEAF`` or ``LEAF (random init)``."""
    return representation_label(cfg, cfg.architecture)


# ----------------------------------------------------------------------------- alone: features
@keras.saving.register_keras_serializable(package="elmarc_tf")
class TimeStatistic(keras.layers.Layer):
    """``(batch, frames, C) -> (batch, C)``: the mean (``statistic="mean"``) or the population
    standard deviation (``"std"``, ``sqrt(mean((x - mean)^2))``) of each channel over all frames."""

    def __init__(self, statistic: str = "mean", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if statistic not in STATISTICS:
            raise ConfigError(f"'statistic' must be one of {', '.join(STATISTICS)}; "
                              f"got {statistic!r}")
        self.statistic = statistic

    def call(self, x):
        mean = tf.reduce_mean(x, axis=1)
        if self.statistic == "mean":
            return mean
        return tf.sqrt(tf.reduce_mean(tf.square(x - mean[:, None]), axis=1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "statistic": self.statistic}


# Fixes of a representation's arithmetic made after stores were written (part of the store key, so
# such a store is recomputed, not reused): the sinc taps in leaf-audio's order of operations,
# 2f * (sin(a) / a), which made SincNet+'s features equal leaf-audio's (the old order moved them up
# to 2e-2 of their maximum, through PCEN, on near-silent bands; SincNet's by float32 rounding).
REPRESENTATION_REVISIONS = {name: {"sinc_taps": "leaf-audio's order"}
                            for name in ("sincnet", "sincnet_plus")}


def revisions(cfg) -> dict:
    """The :data:`REPRESENTATION_REVISIONS` of the filterbank ``cfg`` runs: its architecture's
    (the LEAF family alone) or its ``input_representation`` (a spectrogram CNN)."""
    return {**REPRESENTATION_REVISIONS.get(cfg.input_representation, {}),
            **REPRESENTATION_REVISIONS.get(cfg.architecture, {})}


def build_filterbank(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """The front-end ``cfg.architecture`` (one of :data:`elmarc_tf.frontends.leaf.FRONTENDS`) alone.

    ``(batch, n)`` whole 12 kHz clips -> taps ``mean`` and ``std`` ``(batch, n_mels)``: each
    filter's time-average and standard deviation over the ``1 + n // 256`` frames of
    :func:`representation`. Clips of any length; a batch holds clips of one length (extraction
    passes one clip per batch). Frozen unless ``cfg.trainable`` (then the representation's
    variables that leaf-audio learns are trainable). ``fast`` is not used.
    """
    waveform = keras.Input((None,), name="waveform")
    frames = representation(cfg, seed, name=cfg.architecture)(waveform)
    taps = [TimeStatistic(s, name=s)(frames) for s in STATISTICS]
    if cfg.trainable:  # each layer of the representation keeps its own trainable flag
        return keras.Model(waveform, taps, name=cfg.architecture)
    return frozen_model(waveform, taps, cfg.architecture)


def check_filterbank(cfg) -> None:
    """The input of a filterbank front-end is the whole clip, of its own length: one per batch."""
    if cfg.batch_size not in ("auto", 1):
        raise ConfigError(f"'batch_size' must be 1 or auto for '{cfg.architecture}': its input is "
                          f"the whole clip, of the clip's own length; got {cfg.batch_size!r}")


def store_name(cfg) -> str:
    """``leaf96``, ``leaf96-random``, ...: the store folder's name before its key."""
    return f"{cfg.architecture}{cfg.n_mels}" + ("-random" if cfg.filterbank_init == "random"
                                                else "")


def describe(cfg) -> str:
    return (f"{label(cfg)} alone ({cfg.n_mels} filters): time mean and std of each filter over "
            f"the whole clip, taps={list(cfg.selected_features_list)}")


def check_representation(cfg, takes_spectrogram: bool) -> None:
    """The keys ``input_representation``, ``filterbank_init`` and ``trainable`` of a validated
    config whose front-end takes a spectrogram (``takes_spectrogram``), is a filterbank front-end
    alone, or neither (waveform CNNs, the MFCC baseline). Raises :class:`ConfigError` naming the
    key."""
    alone = cfg.features_type == "CNN" and cfg.architecture in leaf.FRONTENDS
    if cfg.input_representation != LOGMEL and not takes_spectrogram:
        what = (f"'{cfg.architecture}' is a representation itself" if alone
                else f"'{cfg.frontend}' takes no spectrogram")
        raise ConfigError(f"'input_representation' applies to spectrogram front-ends; {what}")
    filterbank = (cfg.architecture if alone
                  else cfg.input_representation if takes_spectrogram else cfg.frontend)
    if cfg.filterbank_init != "mel" and filterbank not in leaf.PARAMETRIC_FILTERBANKS:
        raise ConfigError(f"'filterbank_init' {cfg.filterbank_init!r} needs a filterbank with "
                          f"parameters ({', '.join(leaf.PARAMETRIC_FILTERBANKS)}); "
                          f"'{filterbank}' has none")
    if cfg.trainable and filterbank not in leaf.WITH_VARIABLES:
        raise ConfigError(f"'trainable' needs a representation with variables "
                          f"({', '.join(leaf.WITH_VARIABLES)}); '{filterbank}' has none")
