"""Registry of front-ends: name -> :class:`FrontEndSpec` -> ``builder(config, seed, fast) -> keras.Model``.

Every builder returns a frozen (``trainable=False``) functional model whose outputs are *all* the
architecture's taps, in the original's order. :func:`elmarc_tf.extractor.build_extractor` keeps the
selected ones and averages them.

Original names (``cnn_small_filters``, ``cnn_single``, ``cnn_music``, ``cnn_audio``,
``sample_level``, ``frame_level``, ``frame_level_many``) are accepted, plus readable aliases; an
alias may also fix some config fields (``7x96`` is ``cnn_single`` with a 7x96 filter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError
from . import spectrogram, waveform


@dataclass(frozen=True)
class FrontEndSpec:
    """What the rest of the package needs to know about one architecture."""

    name: str
    signal: str  # 'spectrogram' (input (batch, n_frames, n_mels)) or 'waveform' ((batch, n_samples, 1))
    build: Callable  # (config, seed, fast=True) -> keras.Model with one output per tap
    taps: tuple  # tap names, in the original's order
    check: Callable  # (config) -> None; raises ConfigError
    default_selection: tuple = ()
    aliases: dict = field(default_factory=dict)  # alias -> preset of config fields


def _spec(name, signal, module, taps, default=None, aliases=None):
    return FrontEndSpec(
        name=name,
        signal=signal,
        build=getattr(module, f"build_{name}"),
        taps=taps,
        check=getattr(module, f"check_{name}"),
        default_selection=tuple(default if default is not None else range(len(taps))),
        aliases=aliases or {},
    )


FRONTENDS: dict[str, FrontEndSpec] = {
    s.name: s
    for s in (
        _spec("cnn_small_filters", "spectrogram", spectrogram,
              ("pool1", "pool2", "pool3", "pool4", "pool5"), aliases={"vgg": {}}),
        _spec("cnn_single", "spectrogram", spectrogram, ("conv", "pool"), default=(1,),
              aliases={"7x96": {"filter_shape": (7, 96), "pool_shape": (1, 1)},
                       "7x86": {"filter_shape": (7, 86), "pool_shape": (1, 11)},
                       "single": {}}),
        _spec("cnn_music", "spectrogram", spectrogram, ("timbral", "temporal"),
              aliases={"timbral_temporal": {}, "musically_motivated": {}}),
        _spec("cnn_audio", "spectrogram", spectrogram, ("timbral", "time"),
              aliases={"timbral_time": {}}),
        _spec("sample_level", "waveform", waveform,
              ("conv0", "pool1", "pool2", "pool3", "pool4", "pool5", "pool6"),
              aliases={"samplecnn": {}}),
        _spec("frame_level", "waveform", waveform, ("conv", "b1", "b2", "b3")),
        _spec("frame_level_many", "waveform", waveform,
              ("conv512", "conv256", "conv128", "conv64", "conv32", "b1", "b2", "b3"),
              aliases={"frame_level_multi": {}}),
    )
}

ALIASES: dict[str, tuple[str, dict]] = {
    alias: (spec.name, preset) for spec in FRONTENDS.values() for alias, preset in spec.aliases.items()
}


def resolve(name: str) -> tuple[FrontEndSpec, dict]:
    """Look up an architecture by original name or alias: ``(spec, preset config fields)``."""
    if name in FRONTENDS:
        return FRONTENDS[name], {}
    if name in ALIASES:
        canonical, preset = ALIASES[name]
        return FRONTENDS[canonical], preset
    valid = ", ".join(sorted(FRONTENDS) + sorted(ALIASES))
    raise ConfigError(f"unknown architecture {name!r}; valid names: {valid}")


def build_frontend(config, seed: int = 0, fast: bool = True):
    """The front-end of ``config.architecture`` with all its taps as outputs (a ``keras.Model``).

    ``fast=False``: Keras' plain layers instead of the faster equivalent ones (same weights)."""
    return FRONTENDS[config.architecture].build(config, seed, fast=fast)


__all__ = ["FRONTENDS", "ALIASES", "FrontEndSpec", "resolve", "build_frontend"]
