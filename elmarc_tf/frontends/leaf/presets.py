"""The LEAF family's skeleton and its presets, each a plain factory returning a ``keras.Model``
``(batch, samples) -> (batch, frames, n_filters)``.

One skeleton (:func:`frontend`, leaf-audio's: ``[preemp] -> filterbank -> [activation] ->
[pooling] -> [floor] -> [compression]``) takes its parts as layers; the presets fix the parts:

- :func:`leaf`: complex Gabor filters -> squared modulus -> Gaussian low-pass -> PCEN (EMA);
- :func:`sincnet` (Ravanelli & Bengio 2018): sinc filters -> leaky ReLU 0.2 -> max pooling ->
  layer normalisation;
- :func:`sincnet_plus`: sinc filters -> leaky ReLU 0.2 -> Gaussian low-pass -> PCEN (fixed
  smoother);
- :func:`tdfbanks` (Zeghidour et al. 2018): Gabor-initialised real conv -> squared modulus -> one
  shared squared-Hanning low-pass -> log;
- :func:`mel_tf`: STFT -> mel matrix -> log (leaf-audio's ``MelFilterbanks``); :func:`pcen_mel`:
  the same mel filterbank -> PCEN.

What the presets share travels in two small frozen dataclasses: :class:`FrontEndSpec` (number of
filters, sample rate, window, hop, framing) and :class:`MelBand` (where mel-placed filters go).
Their defaults are leaf-audio's (16 kHz, 40 filters, 25 ms + 1 sample window, 10 ms stride,
HTK mel between 60 and 7800 Hz read on a 512-point grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .convolution import FilterConv1D, GaborConv1D, PreEmphasis, SincConv1D, SquaredModulus
from .defaults import (INIT_N_FFT, LAYER_NORM_EPSILON, LEAKY_SLOPE, LOG_OFFSET, MAX_FREQ,
                       MIN_FREQ, N_FILTERS, POOLING_FLOOR, SAMPLE_RATE, check_choices,
                       stride_samples, window_samples)
from .initializers import GaborKernelInitializer
from .melfilters import MelFilterbank
from .pooling import GaussianLowpass, MaxPool, SharedLowpass
from .postprocessing import PCEN, Floor, LogCompression


@dataclass(frozen=True)
class FrontEndSpec:
    """The geometry every preset shares: ``(batch, samples) -> (batch, frames, n_filters)``.

    ``window_size``: taps of the filters and of the pooling windows (the STFT frame for the mel
    presets), ``None`` for leaf-audio's 25 ms + 1 sample (:func:`window_samples`); ``hop``: the
    pooling stride, ``None`` for 10 ms (:func:`stride_samples`). ``framing="leaf"`` gives
    leaf-audio's frames (``ceil(n / hop)``, or ``(n - window) // hop + 1`` for the time-domain
    filterbanks' 'valid' pooling), ``"centered"`` ``1 + n // hop`` frames, frame ``t`` centred on
    sample ``t * hop``.
    """

    n_filters: int = N_FILTERS
    sample_rate: int = SAMPLE_RATE
    window_size: int | None = None
    hop: int | None = None
    framing: str = "leaf"

    def __post_init__(self):
        check_choices(framing=self.framing)

    def windows(self) -> tuple[int, int]:
        """``(window_size, hop)`` in samples, leaf-audio's where not given."""
        return (window_samples(self.sample_rate) if self.window_size is None
                else int(self.window_size),
                stride_samples(self.sample_rate) if self.hop is None else int(self.hop))

    def pool_padding(self, leaf_padding: str) -> str:
        """The pooling's padding: leaf-audio's ``leaf_padding`` or ``centered``."""
        return leaf_padding if self.framing == "leaf" else "centered"


@dataclass(frozen=True)
class MelBand:
    """Where mel-placed filters go: ``min_freq`` to ``max_freq`` Hz on the ``mel_scale`` (``htk``,
    leaf-audio's, or ``slaney``, the paper's log-mel), the mel filters computed on an ``n_fft``
    grid (the grid the Gabor filters are read from, :func:`mel_gabor_params`; the STFT size of the
    mel presets)."""

    min_freq: float = MIN_FREQ
    max_freq: float = MAX_FREQ
    mel_scale: str = "htk"
    n_fft: int = INIT_N_FFT

    def __post_init__(self):
        check_choices(mel_scale=self.mel_scale)


LEAF_AUDIO = FrontEndSpec()  # leaf-audio's geometry
LEAF_AUDIO_BAND = MelBand()  # and its mel band


def frontend(filterbank, activation=None, pooling=None, compression=None, *, preemp=None,
             floor: float | None = POOLING_FLOOR, name: str = "leaf") -> keras.Model:
    """leaf-audio's skeleton: waveform ``(batch, samples)`` -> ``(batch, frames, filters)``.

    ``[preemp] -> filterbank -> [activation] -> [pooling] -> [max(., floor)] -> [compression]``,
    each part a layer (or ``None`` to skip). The layers keep their names, which
    :func:`load_leaf_audio_weights` relies on (``preemp``, ``filterbank``, ``pooling``, ``pcen``,
    ``layer_norm``).
    """
    waveform = keras.Input((None,), name="waveform")
    x = keras.layers.Reshape((-1, 1), name="channel")(waveform)
    parts = (preemp, filterbank, activation, pooling,
             None if floor is None else Floor(floor, name="floor"), compression)
    for part in parts:
        if part is not None:
            x = part(x)
    return keras.Model(waveform, x, name=name)


def _preemp(preemp: bool, trainable: bool):
    return PreEmphasis(name="preemp", trainable=trainable) if preemp else None


def _leaf_pcen(floor: float, smoother: str, trainable: bool) -> PCEN:
    """LEAF's PCEN (alpha 0.96, smoothing 0.04, delta 2, root 2) with ``floor`` and ``smoother``."""
    return PCEN(alpha=0.96, smooth_coef=0.04, delta=2.0, root=2.0, floor=floor, smoother=smoother,
                name="pcen", trainable=trainable)


def leaf(spec: FrontEndSpec = LEAF_AUDIO, band: MelBand = LEAF_AUDIO_BAND, *,
         filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
         preemp: bool = False, conv: str = "direct", name: str = "leaf") -> keras.Model:
    """LEAF (Zeghidour et al. 2021, Section 3): ``(batch, samples) -> (batch, frames, n_filters)``.

    [pre-emphasis] -> Gabor filters (``window_size`` taps, default 25 ms + 1 sample, placed on
    ``band``) -> squared modulus -> Gaussian low-pass (width 0.4, stride ``hop``, default 10 ms)
    -> floor 1e-5 -> PCEN (alpha 0.96, per-channel EMA smoothing 0.04, delta 2, root 2 i.e.
    r = 1/2, floor 1e-12). ``filterbank_init``: ``mel`` (leaf-audio's) or ``random`` drawn from
    ``seed``. With ``trainable=True`` every parameter leaf-audio learns is trainable; otherwise
    all are frozen. ``conv``: how the filterbank convolution is computed, ``direct``
    (leaf-audio's) or ``fft`` (:func:`fft_conv1d`, the same numbers to float32 rounding).
    """
    window_size, hop = spec.windows()
    return frontend(
        GaborConv1D(spec.n_filters, window_size, spec.sample_rate, band.min_freq, band.max_freq,
                    band.mel_scale, band.n_fft, filterbank_init, seed, conv, name="filterbank",
                    trainable=trainable),
        SquaredModulus(name="squared_modulus"),
        GaussianLowpass(window_size, hop, spec.pool_padding("same"), name="pooling",
                        trainable=trainable),
        _leaf_pcen(1e-12, "ema", trainable),
        preemp=_preemp(preemp, trainable), name=name)


def _sinc_filterbank(spec: FrontEndSpec, filterbank_init: str, seed: int, trainable: bool,
                     conv: str) -> SincConv1D:
    return SincConv1D(spec.n_filters, spec.windows()[0], spec.sample_rate,
                      filterbank_init=filterbank_init, seed=seed, conv=conv, name="filterbank",
                      trainable=trainable)


def sincnet(spec: FrontEndSpec = LEAF_AUDIO, *, filterbank_init: str = "mel", seed: int = 0,
            trainable: bool = False, preemp: bool = False, conv: str = "direct",
            name: str = "sincnet") -> keras.Model:
    """SincNet as in leaf-audio: sinc filters -> leaky ReLU (0.2) -> max pooling -> floor 1e-5 ->
    layer normalisation over the filters (epsilon 1e-3). ``(batch, samples) -> (batch, frames,
    n_filters)``; arguments as :func:`leaf` (sinc bands are not mel-placed: no ``band``)."""
    window_size, hop = spec.windows()
    return frontend(
        _sinc_filterbank(spec, filterbank_init, seed, trainable, conv),
        keras.layers.LeakyReLU(LEAKY_SLOPE, name="activation"),
        MaxPool(window_size, hop, spec.pool_padding("same"), name="pooling"),
        keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="layer_norm",
                                        trainable=trainable),
        preemp=_preemp(preemp, trainable), name=name)


def sincnet_plus(spec: FrontEndSpec = LEAF_AUDIO, *, filterbank_init: str = "mel", seed: int = 0,
                 trainable: bool = False, preemp: bool = False, conv: str = "direct",
                 name: str = "sincnet_plus") -> keras.Model:
    """SincNet+ (the LEAF paper's improved SincNet): sinc filters -> leaky ReLU (0.2) -> Gaussian
    low-pass (0.4) -> floor 1e-5 -> PCEN with leaf-audio's fixed smoother (a linear recurrence
    with kernels 0.04 I and 0.96 I, floor 1e-6; frozen even with ``trainable=True``, as in
    leaf-audio). Arguments as :func:`sincnet`."""
    window_size, hop = spec.windows()
    return frontend(
        _sinc_filterbank(spec, filterbank_init, seed, trainable, conv),
        keras.layers.LeakyReLU(LEAKY_SLOPE, name="activation"),
        GaussianLowpass(window_size, hop, spec.pool_padding("same"), name="pooling",
                        trainable=trainable),
        _leaf_pcen(1e-6, "rnn", False),
        preemp=_preemp(preemp, trainable), name=name)


def tdfbanks(spec: FrontEndSpec = LEAF_AUDIO, band: MelBand = LEAF_AUDIO_BAND, *,
             filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
             preemp: bool = False, conv: str = "direct", name: str = "tfbanks") -> keras.Model:
    """Time-domain filterbanks (Zeghidour et al. 2018, Section 2): a real convolution of
    ``2 n_filters`` channels (:class:`FilterConv1D`, leaf-audio's Conv1D) initialised with Gabor
    filters placed on ``band`` (:class:`GaborKernelInitializer`) -> squared modulus -> one shared
    squared-Hanning low-pass (:class:`SharedLowpass`; leaf-audio pools 'valid': ``(n - window) //
    hop + 1`` frames) -> floor 1e-5 -> log(. + 1e-5). Arguments as :func:`leaf`."""
    window_size, hop = spec.windows()
    init = GaborKernelInitializer(spec.sample_rate, band.min_freq, band.max_freq, band.mel_scale,
                                  band.n_fft, filterbank_init, seed)
    return frontend(
        FilterConv1D(2 * spec.n_filters, window_size, kernel_initializer=init, conv=conv,
                     name="filterbank", trainable=trainable),
        SquaredModulus(name="squared_modulus"),
        SharedLowpass(window_size, hop, spec.pool_padding("valid"), name="pooling",
                      trainable=trainable),
        LogCompression(LOG_OFFSET, name="log"),
        preemp=_preemp(preemp, trainable), name=name)


def _mel_filterbank(spec: FrontEndSpec, band: MelBand) -> MelFilterbank:
    window_size, hop = spec.windows()
    return MelFilterbank(spec.n_filters, spec.sample_rate, window_size, hop, band.n_fft,
                         band.min_freq, band.max_freq, band.mel_scale, spec.framing,
                         name="filterbank")


def mel_tf(spec: FrontEndSpec = LEAF_AUDIO, band: MelBand = LEAF_AUDIO_BAND, *,
           name: str = "mel") -> keras.Model:
    """leaf-audio's ``MelFilterbanks``: :class:`MelFilterbank` (an STFT of ``band.n_fft`` points)
    -> log(. + 1e-5), no variables. ``(batch, samples) -> (batch, frames, n_filters)``."""
    return frontend(_mel_filterbank(spec, band), compression=LogCompression(LOG_OFFSET, name="log"),
                    floor=None, name=name)


def pcen_mel(spec: FrontEndSpec = LEAF_AUDIO, band: MelBand = LEAF_AUDIO_BAND, *,
             trainable: bool = False, name: str = "pcen_mel") -> keras.Model:
    """Mel filterbank + LEAF's PCEN (the PCEN of the paper's Table/Section 4 baselines):
    :class:`MelFilterbank` -> floor 1e-5 -> PCEN as in :func:`leaf` (per-channel EMA 0.04, alpha
    0.96, delta 2, root 2, floor 1e-12). ``(batch, samples) -> (batch, frames, n_filters)``."""
    return frontend(_mel_filterbank(spec, band), compression=_leaf_pcen(1e-12, "ema", trainable),
                    name=name)


FRONTENDS = {"leaf": leaf, "sincnet": sincnet, "sincnet_plus": sincnet_plus,
             "tdfbanks": tdfbanks, "mel_tf": mel_tf, "pcen_mel": pcen_mel}

# The front-ends whose filters are parameters (centre frequencies and bandwidths, or a free
# kernel drawn from them): filterbank_init 'random' applies to them. Those with any variable:
# trainable applies (pcen_mel's PCEN; mel_tf has none).
PARAMETRIC_FILTERBANKS = ("leaf", "sincnet", "sincnet_plus", "tdfbanks")
WITH_VARIABLES = PARAMETRIC_FILTERBANKS + ("pcen_mel",)
