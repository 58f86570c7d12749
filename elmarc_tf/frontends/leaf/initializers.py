"""Initial filter parameters of the LEAF family (NumPy) and the initialisers that use them.

leaf-audio's initialisation is deterministic: Gabor filters placed on the mel filters of an FFT
grid (:func:`mel_gabor_params`, LEAF Section 3.1), sinc bands equally spaced on the HTK mel scale
(:func:`sinc_params`, leaf-audio's ``SincInit``), and for the time-domain filterbanks a whole real
kernel (:class:`GaborKernelInitializer`). ``filterbank_init="random"`` draws seeded random filters
instead (:func:`random_gabor_params`, :func:`random_sinc_params`). Parameters are ``(n_filters,
2)`` float32 arrays.
"""

from __future__ import annotations

import keras
import librosa
import numpy as np
import tensorflow as tf

from .defaults import (HALF_MAX, INIT_N_FFT, MAX_FREQ, MIN_FREQ, SAMPLE_RATE, SINC_MIN_BAND_HZ,
                       SINC_MIN_LOW_HZ, check_choices)


def mel_triangles(sample_rate: int, n_fft: int, n_filters: int, min_freq: float, max_freq: float,
                  mel_scale: str = "htk") -> np.ndarray:
    """Unit-peak triangular mel filters on an FFT grid: ``(n_filters, n_fft // 2 + 1)``, float64.

    ``htk``: TensorFlow's ``tf.signal.linear_to_mel_weight_matrix`` (HTK mel, triangles linear in
    mel, bin 0 left out), leaf-audio's. ``slaney``: librosa's Slaney mel (linear below 1 kHz,
    triangles linear in Hz), the bands of the paper's log-mel, here without area normalisation.
    """
    check_choices(mel_scale=mel_scale)
    if mel_scale == "htk":
        matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=n_filters, num_spectrogram_bins=n_fft // 2 + 1, sample_rate=sample_rate,
            lower_edge_hertz=min_freq, upper_edge_hertz=max_freq)
        return np.asarray(matrix, np.float64).T
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_filters, fmin=min_freq,
                               fmax=max_freq, htk=False, norm=None).astype(np.float64)


def gabor_params_from_mel(triangles: np.ndarray, n_fft: int) -> np.ndarray:
    """Gabor parameters matching mel filters ``(n, n_fft // 2 + 1)``: ``(n, 2)`` float32.

    Column 0, the centre frequency in radians per sample: the FFT bin where the square root of
    the filter (its magnitude response) peaks. Column 1, the standard deviation in samples of the
    Gaussian envelope whose magnitude response has the same full width at half maximum (FWHM, in
    bins, counted on the grid): ``sqrt(2 ln 2) * n_fft / (pi * fwhm)``. LEAF Section 3.1.
    """
    magnitude = np.sqrt(triangles)
    peaks = magnitude.max(axis=1, keepdims=True)
    centres = magnitude.argmax(axis=1) * 2.0 * np.pi / n_fft
    fwhm = (magnitude >= peaks / 2.0).sum(axis=1)
    return np.stack([centres, HALF_MAX * n_fft / (np.pi * fwhm)], axis=1).astype(np.float32)


def mel_filter_areas(triangles: np.ndarray, n_fft: int) -> np.ndarray:
    """leaf-audio's area of each mel filter: ``peak * (support + 2) * pi / n_fft``, ``(n,)``."""
    support = (triangles > 0).sum(axis=1)
    return triangles.max(axis=1) * (support + 2) * np.pi / n_fft


def mel_gabor_params(n_filters: int, sample_rate: int, min_freq: float, max_freq: float,
                     mel_scale: str = "htk", n_fft: int = INIT_N_FFT) -> np.ndarray:
    """leaf-audio's Gabor initialisation: ``(n_filters, 2)`` [centre rad/sample, sigma samples].

    The centres are the mel-scale points between ``min_freq`` and ``max_freq`` rounded to the
    ``n_fft`` grid (``sample_rate / n_fft`` Hz); a finer ``n_fft`` places them closer.
    """
    triangles = mel_triangles(sample_rate, n_fft, n_filters, min_freq, max_freq, mel_scale)
    return gabor_params_from_mel(triangles, n_fft)


def random_gabor_params(n_filters: int, sample_rate: int, kernel_size: int, min_freq: float,
                        max_freq: float, seed: int, mel_scale: str = "htk") -> np.ndarray:
    """Seeded random Gabor parameters ``(n_filters, 2)``, sorted by centre frequency.

    Centre frequencies are drawn uniformly on the mel scale between ``min_freq`` and ``max_freq``
    (a random mel filterbank: as many filters per mel as the mel initialisation, at random
    places). Bandwidths (FWHM of the magnitude response, Hz) are drawn log-uniformly over the
    whole range the Gabor layer can represent (:func:`gabor_constraint`): from
    ``sample_rate / kernel_size`` (an envelope as long as the kernel allows) to
    ``sample_rate / 4``. The same seed gives the same filters.
    """
    rng = np.random.default_rng(seed)
    htk = mel_scale == "htk"
    low, high = librosa.hz_to_mel([min_freq, max_freq], htk=htk)
    centres_hz = np.sort(librosa.mel_to_hz(rng.uniform(low, high, n_filters), htk=htk))
    fwhm_hz = np.exp(rng.uniform(np.log(sample_rate / kernel_size), np.log(sample_rate / 4.0),
                                 n_filters))
    mu = 2.0 * np.pi * centres_hz / sample_rate
    sigma = HALF_MAX * sample_rate / (np.pi * fwhm_hz)
    return np.stack([mu, sigma], axis=1).astype(np.float32)


def gabor_params(init: str, n_filters: int, sample_rate: int, kernel_size: int, min_freq: float,
                 max_freq: float, mel_scale: str = "htk", n_fft: int = INIT_N_FFT,
                 seed: int = 0) -> np.ndarray:
    """Initial Gabor parameters ``(n_filters, 2)`` by ``init``: ``mel`` or ``random``."""
    check_choices(filterbank_init=init)
    if init == "mel":
        return mel_gabor_params(n_filters, sample_rate, min_freq, max_freq, mel_scale, n_fft)
    return random_gabor_params(n_filters, sample_rate, kernel_size, min_freq, max_freq, seed,
                               mel_scale)


def sinc_params(init: str, n_filters: int, sample_rate: int,
                min_low_hz: float = SINC_MIN_LOW_HZ, min_band_hz: float = SINC_MIN_BAND_HZ,
                seed: int = 0) -> np.ndarray:
    """Initial sinc parameters ``(n_filters, 2)`` by ``init`` (see :class:`SincConv1D`).

    ``mel`` (leaf-audio's ``SincInit``): ``n_filters + 1`` points equally spaced on the HTK mel
    scale from ``min_low_hz`` to ``sample_rate / 2 - min_low_hz - min_band_hz``; column 0 is each
    band's lower point, column 1 the distance to the next point. ``random``: see
    :func:`random_sinc_params`.
    """
    check_choices(filterbank_init=init)
    if init == "random":
        return random_sinc_params(n_filters, sample_rate, min_low_hz, min_band_hz, seed)
    high_hz = sample_rate / 2.0 - (min_low_hz + min_band_hz)
    edges = librosa.mel_to_hz(np.linspace(*librosa.hz_to_mel([min_low_hz, high_hz], htk=True),
                                          n_filters + 1), htk=True)
    return np.stack([edges[:-1], np.diff(edges)], axis=1).astype(np.float32)


def random_sinc_params(n_filters: int, sample_rate: int, min_low_hz: float = SINC_MIN_LOW_HZ,
                       min_band_hz: float = SINC_MIN_BAND_HZ, seed: int = 0) -> np.ndarray:
    """Seeded random sinc parameters ``(n_filters, 2)``, sorted by lower cut-off.

    The band actually used by :class:`SincConv1D` is ``[min_low_hz + |p0|, that + min_band_hz +
    |p1|]`` (upper edge clipped at Nyquist). Lower cut-offs are drawn uniformly on the HTK mel scale
    in ``[min_low_hz, sample_rate / 2 - min_band_hz]``, band widths log-uniformly in
    ``[min_band_hz, sample_rate / 4]``; the returned parameters give exactly those bands.
    """
    rng = np.random.default_rng(seed)
    low, high = librosa.hz_to_mel([min_low_hz, sample_rate / 2.0 - min_band_hz], htk=True)
    lower = np.sort(librosa.mel_to_hz(rng.uniform(low, high, n_filters), htk=True))
    width = np.exp(rng.uniform(np.log(min_band_hz), np.log(sample_rate / 4.0), n_filters))
    return np.stack([lower - min_low_hz, width - min_band_hz], axis=1).astype(np.float32)


def constant(value):
    """An initializer returning ``value`` (computed once, at build)."""
    return lambda shape, dtype=None: tf.cast(tf.reshape(value, shape), dtype or "float32")


@keras.saving.register_keras_serializable(package="elmarc_tf")
class GaborKernelInitializer(keras.initializers.Initializer):
    """Initial kernel ``(size, 1, 2n)`` of a *real* Conv1D: the time-domain filterbanks' Gabor
    filters (Zeghidour et al. 2018, Section 2.2), interleaved real/imaginary.

    Each complex Gabor filter (:func:`gabor_params`) is scaled by ``sqrt(2 sqrt(pi) sigma A)``,
    ``A`` the area of the mel filter it approximates (:func:`mel_filter_areas`), so that its
    energy follows the mel filter's. For ``random`` filters ``A`` is the area of a unit-peak mel
    triangle whose square root has the drawn FWHM: ``(2 / 3) * FWHM`` in rad/sample.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, min_freq: float = MIN_FREQ,
                 max_freq: float = MAX_FREQ, mel_scale: str = "htk", init_n_fft: int = INIT_N_FFT,
                 filterbank_init: str = "mel", seed: int = 0):
        check_choices(filterbank_init=filterbank_init, mel_scale=mel_scale)
        self.sample_rate = int(sample_rate)
        self.min_freq, self.max_freq = float(min_freq), float(max_freq)
        self.mel_scale, self.init_n_fft = mel_scale, int(init_n_fft)
        self.filterbank_init, self.seed = filterbank_init, int(seed)

    def values(self, size: int, n_filters: int) -> np.ndarray:
        """The kernel ``(size, 1, 2 n_filters)`` as float64."""
        params = gabor_params(self.filterbank_init, n_filters, self.sample_rate, size,
                              self.min_freq, self.max_freq, self.mel_scale, self.init_n_fft,
                              self.seed).astype(np.float64)
        if self.filterbank_init == "mel":
            areas = mel_filter_areas(mel_triangles(self.sample_rate, self.init_n_fft, n_filters,
                                                   self.min_freq, self.max_freq, self.mel_scale),
                                     self.init_n_fft)
        else:
            areas = (2.0 / 3.0) * 2.0 * HALF_MAX / params[:, 1]  # FWHM (rad) = 2 sqrt(2ln2)/sigma
        t = np.arange(-(size // 2), (size + 1) // 2)
        mu, sigma = params[:, :1], params[:, 1:]
        envelope = np.exp(-t ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
        envelope = envelope * np.sqrt(areas[:, None] * 2 * np.sqrt(np.pi) * sigma)
        kernel = np.empty((size, 1, 2 * n_filters))
        kernel[:, 0, 0::2] = (envelope * np.cos(mu * t)).T
        kernel[:, 0, 1::2] = (envelope * np.sin(mu * t)).T
        return kernel

    def __call__(self, shape, dtype=None):
        size, _, channels = shape
        return tf.constant(self.values(size, channels // 2), dtype=dtype or "float32")

    def get_config(self):
        return {"sample_rate": self.sample_rate, "min_freq": self.min_freq,
                "max_freq": self.max_freq, "mel_scale": self.mel_scale,
                "init_n_fft": self.init_n_fft, "filterbank_init": self.filterbank_init,
                "seed": self.seed}
