"""The LEAF family in the geometry of the paper's log-mel, to feed its spectrogram CNNs.

The paper's log-mel: 12 kHz, 96 bands from 0 to 6000 Hz (Slaney mel), a 512-point FFT, hop 256,
centred frames: ``(batch, n) -> (batch, 1 + n // 256, 96)``. :func:`build_representation`
translates that geometry into each preset's :class:`FrontEndSpec` and :class:`MelBand`.
"""

from __future__ import annotations

from dataclasses import replace

import keras

from ...errors import ConfigError
from .presets import FRONTENDS, FrontEndSpec, MelBand

REPRESENTATION_SAMPLE_RATE = 12000
REPRESENTATION_FILTERS = 96
REPRESENTATION_WINDOW = 512
REPRESENTATION_HOP = 256
REPRESENTATION_MIN_FREQ = 0.0
REPRESENTATION_MAX_FREQ = 6000.0
# The bands of the authors' log-mel; n_fft is set to the representation's window.
REPRESENTATION_BAND = MelBand(REPRESENTATION_MIN_FREQ, REPRESENTATION_MAX_FREQ, "slaney",
                              REPRESENTATION_WINDOW)


def build_representation(name: str, sample_rate: int = REPRESENTATION_SAMPLE_RATE,
                         n_filters: int = REPRESENTATION_FILTERS,
                         window: int = REPRESENTATION_WINDOW, hop: int = REPRESENTATION_HOP, *,
                         filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
                         conv: str = "fft") -> keras.Model:
    """A LEAF-family front-end in the geometry of the paper's log-mel, to feed its CNNs.

    ``(batch, n) -> (batch, 1 + n // hop, n_filters)``: the frame count and layout of the
    authors' centred STFT (:class:`elmarc_tf.frontends.melspec.LogMelSpectrogram`), frame ``t``
    centred on sample ``t * hop``, for any ``n`` (short clips included). The authors' ``window``
    (their ``n_fft``, 512) becomes, in each layer's terms: ``window + 1`` taps for the
    convolutions and poolings (LEAF's "25 ms + 1 sample": odd, centred on its sample), and the
    STFT frame and FFT size of ``mel_tf``/``pcen_mel``. The filters are placed on the *Slaney* mel
    scale between 0 and 6000 Hz (:data:`REPRESENTATION_BAND`), the bands of the authors' log-mel,
    read on the authors' ``window``-point FFT grid (with 96 bands at 12 kHz HTK-mel filters
    narrower than a bin would collide). Sinc filters keep leaf-audio's band (50 Hz to Nyquist).
    ``name``: one of :data:`FRONTENDS`. ``filterbank_init`` and ``seed`` apply to
    :data:`PARAMETRIC_FILTERBANKS`, ``trainable`` to :data:`WITH_VARIABLES`. ``conv``: the
    filterbank convolutions by FFT (default: a 513-tap filterbank over 30 s costs 2.6 instead of
    71 GFLOP, same numbers to float32 rounding) or ``direct`` (leaf-audio's arithmetic). Another
    band: call the preset of :data:`FRONTENDS` with a :class:`FrontEndSpec` and a
    :class:`MelBand`.
    """
    if name not in FRONTENDS:
        raise ConfigError(f"'input_representation' must be one of {', '.join(FRONTENDS)}; "
                          f"got {name!r}")
    spec = FrontEndSpec(n_filters, sample_rate, int(window), hop, framing="centered")
    band = replace(REPRESENTATION_BAND, n_fft=int(window))
    init = dict(filterbank_init=filterbank_init, seed=seed, trainable=trainable, conv=conv)
    return FRONTENDS[name](**_REPRESENTATION_ARGS[name](spec, band, init), name=name)


# How the authors' window (their n_fft) and band translate into each preset's arguments.
def _taps(spec: FrontEndSpec) -> FrontEndSpec:
    """Filters and poolings of ``window + 1`` taps: odd, centred on their sample."""
    return replace(spec, window_size=spec.window_size + 1)


def _gabor_args(spec: FrontEndSpec, band: MelBand, init: dict) -> dict:
    return dict(spec=_taps(spec), band=band, **init)


def _sinc_args(spec: FrontEndSpec, band: MelBand, init: dict) -> dict:
    return dict(spec=_taps(spec), **init)  # sinc bands are not mel-placed


def _stft_args(spec: FrontEndSpec, band: MelBand, init: dict) -> dict:
    return dict(spec=spec, band=band)  # no filter parameters, no convolution


def _pcen_stft_args(spec: FrontEndSpec, band: MelBand, init: dict) -> dict:
    return dict(_stft_args(spec, band, init), trainable=init["trainable"])


_REPRESENTATION_ARGS = {"leaf": _gabor_args, "tdfbanks": _gabor_args, "sincnet": _sinc_args,
                        "sincnet_plus": _sinc_args, "mel_tf": _stft_args,
                        "pcen_mel": _pcen_stft_args}
