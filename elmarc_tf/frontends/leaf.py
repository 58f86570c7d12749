"""The LEAF family of learnable front-ends as Keras 3 layers and model factories.

LEAF (Zeghidour et al., *LEAF: A learnable frontend for audio classification*, ICLR 2021) turns a
waveform into a time-frequency representation in three learnable steps, each a drop-in for a step
of the log-mel: filtering by complex Gabor filters (Section 3.1), low-pass pooling by per-channel
Gaussian windows (Section 3.2) and compression by PCEN with a learnable smoothing coefficient
(Section 3.3). The paper's baselines are variants of the same skeleton:

- ``leaf``: complex Gabor filters -> squared modulus -> Gaussian low-pass -> PCEN (EMA smoother);
- ``sincnet`` (Ravanelli & Bengio 2018): sinc filters -> leaky ReLU 0.2 -> max pooling -> layer
  normalisation;
- ``sincnet_plus``: sinc filters -> leaky ReLU 0.2 -> Gaussian low-pass -> PCEN (fixed smoother);
- ``tdfbanks`` (time-domain filterbanks, Zeghidour et al. 2018): Gabor-initialised real conv ->
  squared modulus -> one shared squared-Hanning low-pass -> log;
- ``mel_tf``: STFT -> mel matrix -> log (leaf-audio's ``MelFilterbanks``); ``pcen_mel``: the same
  mel filterbank -> PCEN.

Every number matches the public ``google-research/leaf-audio`` code at its defaults (16 kHz,
40 filters, 25 ms + 1 sample window, 10 ms stride, filters on the mel scale between 60 and
7800 Hz): the initialisation is deterministic (no random draw), and
:func:`load_leaf_audio_weights` maps leaf-audio's variable names onto ours. ``filterbank_init=
"random"`` draws seeded random filters instead (:func:`random_gabor_params`,
:func:`random_sinc_params`). Everything is frozen unless ``trainable=True``.

The module is layered: NumPy functions that compute initial filter parameters, pure TensorFlow
functions that build filters and run the recursions (:func:`gabor_kernel`, :func:`sinc_kernel`,
:func:`gaussian_windows`, :func:`ema`, :func:`pcen`, ...), thin serialisable Keras layers around
them, and plain factories returning ``keras.Model``s ``(batch, samples) -> (batch, frames,
filters)``. :func:`build_representation` gives the same front-ends in the geometry of the paper's
log-mel (12 kHz, 96 bands, 512-sample window, 256-sample hop, ``1 + n // 256`` frames).

Where leaf-audio has a quirk, it is kept for parity and named in the docstring of the function
that reproduces it (the pre-emphasis advances the signal by one sample; the time-domain
filterbanks' Hanning window is shifted by one sample; the sinc filters' Hamming window is not
symmetric).
"""

from __future__ import annotations

import math

import keras
import librosa
import numpy as np
import tensorflow as tf

from ..errors import ConfigError, WeightsError
from ..io.fileio import read_weights
from .melspec import mel_basis
from ..vocabulary import FILTERBANK_INITS

# leaf-audio's defaults.
SAMPLE_RATE = 16000
N_FILTERS = 40
WINDOW_MS = 25.0
STRIDE_MS = 10.0
MIN_FREQ = 60.0
MAX_FREQ = 7800.0
INIT_N_FFT = 512  # the FFT grid on which the mel filters are read to place the Gabor filters
LOG_OFFSET = 1e-5
POOLING_FLOOR = 1e-5
GAUSSIAN_WIDTH = 0.4
PREEMPHASIS = 0.97
SINC_MIN_LOW_HZ = 50.0
SINC_MIN_BAND_HZ = 50.0
LEAKY_SLOPE = 0.2
LAYER_NORM_EPSILON = 1e-3

MEL_SCALES = ("htk", "slaney")
FRAMINGS = ("leaf", "centered")
POOL_PADDINGS = ("same", "valid", "centered")
SMOOTHERS = ("ema", "rnn")
CONVOLUTIONS = ("direct", "fft")  # how a filterbank convolution is computed (same numbers)

# sqrt(2 ln 2): a Gaussian of standard deviation s has its half maximum at +-s*sqrt(2 ln 2).
_HALF_MAX = math.sqrt(2.0 * math.log(2.0))


def _check(name: str, value, valid) -> None:
    if value not in valid:
        raise ConfigError(f"'{name}' must be one of {', '.join(map(str, valid))}; got {value!r}")


def window_samples(sample_rate: int, window_ms: float = WINDOW_MS) -> int:
    """leaf-audio's window in samples: ``sample_rate * ms // 1000 + 1`` (25 ms at 16 kHz: 401)."""
    return int(sample_rate * window_ms // 1000 + 1)


def stride_samples(sample_rate: int, stride_ms: float = STRIDE_MS) -> int:
    """leaf-audio's stride in samples: ``sample_rate * ms // 1000`` (10 ms at 16 kHz: 160)."""
    return int(sample_rate * stride_ms // 1000)


def n_frames(n_samples: int, window_size: int, hop: int, padding: str) -> int:
    """Frames of a pooling of ``window_size`` taps, stride ``hop``, over ``n_samples`` samples.

    ``same`` (TensorFlow's): ``ceil(n / hop)``; ``valid``: ``(n - window) // hop + 1`` (needs
    ``n >= window``);
    ``centered``: ``1 + n // hop``, frame ``t`` centred on sample ``t * hop`` as in a centred STFT.
    """
    _check("padding", padding, POOL_PADDINGS)
    if padding == "same":
        return -(-n_samples // hop)
    if padding == "valid":
        return max((n_samples - window_size) // hop + 1, 0)
    return 1 + n_samples // hop


# ============================================================================ initial parameters
def mel_triangles(sample_rate: int, n_fft: int, n_filters: int, min_freq: float, max_freq: float,
                  mel_scale: str = "htk") -> np.ndarray:
    """Unit-peak triangular mel filters on an FFT grid: ``(n_filters, n_fft // 2 + 1)``, float64.

    ``htk``: TensorFlow's ``tf.signal.linear_to_mel_weight_matrix`` (HTK mel, triangles linear in
    mel, bin 0 left out), leaf-audio's. ``slaney``: librosa's Slaney mel (linear below 1 kHz,
    triangles linear in Hz), the bands of the paper's log-mel, here without area normalisation.
    """
    _check("mel_scale", mel_scale, MEL_SCALES)
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
    return np.stack([centres, _HALF_MAX * n_fft / (np.pi * fwhm)], axis=1).astype(np.float32)


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
    sigma = _HALF_MAX * sample_rate / (np.pi * fwhm_hz)
    return np.stack([mu, sigma], axis=1).astype(np.float32)


def gabor_params(init: str, n_filters: int, sample_rate: int, kernel_size: int, min_freq: float,
                 max_freq: float, mel_scale: str = "htk", n_fft: int = INIT_N_FFT,
                 seed: int = 0) -> np.ndarray:
    """Initial Gabor parameters ``(n_filters, 2)`` by ``init``: ``mel`` or ``random``."""
    _check("filterbank_init", init, FILTERBANK_INITS)
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
    _check("filterbank_init", init, FILTERBANK_INITS)
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


# ============================================================================ filters (TF)
def gabor_constraint(params, kernel_size: int):
    """Clip Gabor parameters ``(n, 2)`` to the range leaf-audio allows.

    Centre in ``[0, pi]`` rad/sample; sigma such that the FWHM of the magnitude response lies in
    ``[sample_rate / kernel_size, sample_rate / 4]``: ``sigma`` in ``[4, kernel_size] *
    sqrt(2 ln 2) / pi`` samples (Zeghidour et al. 2018, Section 2.2).
    """
    mu = tf.clip_by_value(params[:, 0], 0.0, math.pi)
    sigma = tf.clip_by_value(params[:, 1], 4.0 * _HALF_MAX / math.pi,
                             kernel_size * _HALF_MAX / math.pi)
    return tf.stack([mu, sigma], axis=1)


def gabor_impulse_responses(params, size: int):
    """Complex Gabor filters ``exp(i mu t) exp(-t^2 / 2 sigma^2) / (sqrt(2 pi) sigma)``.

    ``params`` ``(n, 2)`` [mu rad/sample, sigma samples] -> ``(real, imag)``, each ``(n, size)``,
    on ``t = -(size // 2) ... (size - 1) // 2`` (LEAF Section 3.1).
    """
    params = tf.cast(params, tf.float32)
    t = tf.range(-(size // 2), (size + 1) // 2, dtype=tf.float32)
    mu, sigma = params[:, :1], params[:, 1:]
    envelope = tf.exp(-(t ** 2) / (2.0 * sigma ** 2)) / (math.sqrt(2.0 * math.pi) * sigma)
    phase = mu * t
    return envelope * tf.cos(phase), envelope * tf.sin(phase)


def interleave(real, imag):
    """``(n, size)`` real and imaginary parts -> conv kernel ``(size, 1, 2n)``.

    Channel ``2k`` is filter ``k``'s real part, ``2k + 1`` its imaginary part (leaf-audio's order).
    """
    stacked = tf.stack([real, imag], axis=1)  # (n, 2, size)
    return tf.transpose(tf.reshape(stacked, (-1, tf.shape(real)[1])))[:, None, :]


def gabor_kernel(params, size: int):
    """Gabor parameters ``(n, 2)`` -> conv kernel ``(size, 1, 2n)``, constraint applied."""
    return interleave(*gabor_impulse_responses(gabor_constraint(params, size), size))


def hamming_window(size: int) -> np.ndarray:
    """leaf-audio's Hamming window ``0.54 - 0.46 cos(2 pi n / size)``, n = 0..size-1 (periodic:
    not symmetric about the kernel's centre, kept for parity), ``(size,)``."""
    n = np.arange(size)
    return 0.54 - 0.46 * np.cos(2.0 * np.pi * n / size)


def sinc_kernel(params, size: int, sample_rate: int, min_low_hz: float = SINC_MIN_LOW_HZ,
                min_band_hz: float = SINC_MIN_BAND_HZ):
    """Band-pass sinc filters (SincNet, Ravanelli & Bengio 2018, Section 2), ``(size, 1, n)``.

    ``params`` ``(n, 2)``: the band is ``[f1, f2] = [min_low_hz + |p0|, clip(f1 + min_band_hz +
    |p1|, min_low_hz, sample_rate / 2)]`` Hz; the filter ``2 f2 sinc(2 pi f2 t) - 2 f1 sinc(2 pi
    f1 t)`` on ``t = k / sample_rate``, ``k = -(size // 2) ... size // 2``, scaled to a peak of 1,
    times
    :func:`hamming_window`. ``size`` must be odd.
    """
    params = tf.cast(params, tf.float32)
    low = min_low_hz + tf.abs(params[:, 0])
    high = tf.clip_by_value(low + min_band_hz + tf.abs(params[:, 1]), min_low_hz,
                            sample_rate / 2.0)

    def lowpass(cutoff):  # (n,) -> (size, n): 2 f sinc(2 pi f t), its limit 2 f at t = 0
        half = tf.range(1, size // 2 + 1, dtype=tf.float32)[:, None] / float(sample_rate)
        arg = 2.0 * math.pi * cutoff * half
        side = 2.0 * cutoff * tf.sin(arg) / arg
        return tf.concat([tf.reverse(side, [0]), (2.0 * cutoff)[None], side], axis=0)

    band = lowpass(high) - lowpass(low)
    band = band / tf.reduce_max(band, axis=0, keepdims=True)
    return (band * hamming_window(band.shape[0]).astype(np.float32)[:, None])[:, None, :]


def gaussian_windows(widths, size: int):
    """Gaussian low-pass windows (LEAF Section 3.2): ``(C,)`` widths -> ``(size, C)``.

    ``exp(-((n - (size-1)/2) / (w (size-1)/2))^2 / 2)``, n = 0..size-1: ``w`` is the standard
    deviation as a fraction of the half window, clipped to ``[2 / size, 0.5]``; 0.4 approximates
    a Hanning window.
    """
    widths = tf.clip_by_value(tf.cast(widths, tf.float32), 2.0 / size, 0.5)
    half = 0.5 * (size - 1)
    t = tf.range(size, dtype=tf.float32)[:, None] - half
    return tf.exp(-0.5 * (t / (widths * half)) ** 2)


def leaf_audio_hanning(size: int) -> np.ndarray:
    """The time-domain filterbanks' low-pass: ``(0.5 - 0.5 cos(2 pi (n - 1) / (size - 1)))^2``,
    n = 0..size-1, ``(size,)``. leaf-audio's ``n - 1`` shifts the squared Hanning window one sample
    to the right (its zero falls on n = 1); kept for parity."""
    n = np.arange(size)
    return (0.5 * (1.0 - np.cos(2.0 * np.pi * (n - 1) / (size - 1)))) ** 2


def squared_modulus(x):
    """``(batch, time, 2C)`` interleaved real/imaginary -> ``(batch, time, C)``: ``re^2 + im^2``.

    The pairs are read through a ``(..., C, 2)`` view (strided slices of the channel axis cost
    several times more on CPU for the same numbers)."""
    pairs = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [x.shape[-1] // 2, 2]], axis=0))
    return pairs[..., 0] ** 2 + pairs[..., 1] ** 2


def _pad_centered(x, size: int, value: float = 0.0):
    """Pad the time axis of ``(batch, time, C)`` by ``size // 2`` before and ``size - size // 2``
    after: a 'valid' window of ``size`` taps and stride ``hop`` then gives ``1 + n // hop`` frames,
    frame ``t`` centred on sample ``t * hop``."""
    return tf.pad(x, [[0, 0], [size // 2, size - size // 2], [0, 0]], constant_values=value)


def direct_conv1d(x, kernel):
    """``(batch, time, 1)`` and a kernel ``(size, 1, C)`` -> ``(batch, time, C)``: TensorFlow's
    ``conv1d``, stride 1, 'same' padding (``(size - 1) // 2`` zeros before, ``size // 2`` after).
    Cost: ``2 * time * size * C`` FLOPs."""
    return tf.nn.conv1d(x, kernel, 1, "SAME")


def fft_size(kernel_size: int) -> int:
    """The block length of :func:`fft_conv1d`: the power of two at least ``8 * (kernel_size - 1)``
    (at least 64), so that 7/8 of each block's outputs are kept (4096 for 401 and 513 taps)."""
    return max(64, 1 << math.ceil(math.log2(max(8 * (kernel_size - 1), 1))))


def fft_conv1d(x, kernel, block: int | None = None):
    """:func:`direct_conv1d` computed by overlap-save FFT convolution: the same
    ``(batch, time, 1)`` x ``(size, 1, C)`` -> ``(batch, time, C)`` up to float32 rounding.

    The zero-padded signal is cut into blocks of ``block`` samples (default :func:`fft_size`)
    overlapping by ``size - 1``; each block's real FFT is multiplied by the FFT of every reversed
    filter (``conv1d`` is a cross-correlation) and transformed back, and the ``block - size + 1``
    outputs that did not wrap around are kept. Cost per clip: about ``blocks * (2.5 N log2 N
    (C + 1) + 6 (N / 2 + 1) C)`` FLOPs with ``N = block``, ``blocks = ceil(time / (N - size +
    1))``: at 12 kHz, 96 complex Gabor filters of 513 taps over 30 s, 2.6 GFLOP instead of
    71 GFLOP.
    """
    size, channels = int(kernel.shape[0]), int(kernel.shape[-1])
    block = fft_size(size) if block is None else int(block)
    if block < size:
        raise ConfigError(f"FFT block of {block} samples is shorter than the {size}-tap kernel")
    hop = block - size + 1
    signal = x[..., 0]  # (batch, time)
    n = tf.shape(signal)[1]
    n_blocks = (n + hop - 1) // hop
    before = (size - 1) // 2  # TensorFlow's 'same' padding
    after = (n_blocks - 1) * hop + block - n - before
    blocks = tf.signal.frame(tf.pad(signal, [[0, 0], [before, after]]), block, hop)  # (b, k, N)
    spectra = tf.signal.rfft(blocks)[:, :, None, :]  # (b, k, 1, N/2+1)
    filters = tf.transpose(tf.reverse(tf.cast(kernel[:, 0, :], tf.float32), [0]))  # (C, size)
    responses = tf.signal.rfft(tf.pad(filters, [[0, 0], [0, block - size]]))  # (C, N/2+1)
    y = tf.signal.irfft(spectra * responses, [block])[..., size - 1:]  # (b, k, C, hop)
    y = tf.reshape(tf.transpose(y, (0, 1, 3, 2)), (tf.shape(signal)[0], -1, channels))
    return y[:, :n]


def fft_conv1d_flops(n: int, size: int, channels: int, block: int | None = None) -> int:
    """FLOPs of :func:`fft_conv1d` over ``n`` samples (real FFTs counted as ``2.5 N log2 N``)."""
    block = fft_size(size) if block is None else int(block)
    fft = 2.5 * block * math.log2(block)
    blocks = -(-n // (block - size + 1))
    return int(blocks * (fft * (channels + 1) + 6 * (block // 2 + 1) * channels) + fft * channels)


def direct_conv1d_flops(n: int, size: int, channels: int) -> int:
    """FLOPs of :func:`direct_conv1d` over ``n`` samples: ``2 * n * size * channels``."""
    return 2 * n * size * channels


# conv -> (function (x, kernel) -> y, FLOPs (n, size, channels) -> int)
_CONVOLUTION = {"direct": (direct_conv1d, direct_conv1d_flops),
                "fft": (fft_conv1d, fft_conv1d_flops)}


def depthwise_pool(x, kernels, stride: int, padding: str = "same"):
    """Per-channel low-pass and decimation: ``(batch, time, C)`` and ``(size, C)`` ->
    ``(batch, frames, C)`` (frames: :func:`n_frames`); ``same``/``valid`` are TensorFlow's."""
    _check("padding", padding, POOL_PADDINGS)
    size = kernels.shape[0]
    if padding == "centered":
        x, padding = _pad_centered(x, size), "valid"
    y = tf.nn.depthwise_conv2d(x[:, None], kernels[None, :, :, None], (1, stride, stride, 1),
                               padding.upper())
    return y[:, 0]


# ============================================================================ PCEN (TF)
def ema(x, coef):
    """Exponential moving average along time: ``(batch, T, C)`` -> same shape (LEAF Section 3.3).

    ``s_t = w x_t + (1 - w) s_{t-1}`` with ``s_{-1} = x_0`` (so ``s_0 = x_0``) and ``w = clip(coef,
    0, 1)``, ``coef`` a scalar or ``(C,)``.
    """
    w = tf.clip_by_value(tf.cast(coef, x.dtype), 0.0, 1.0)
    states = tf.scan(lambda s, xt: w * xt + (1.0 - w) * s, tf.transpose(x, (1, 0, 2)),
                     initializer=x[:, 0])
    return tf.transpose(states, (1, 0, 2))


def linear_recurrence(x, kernel, recurrent_kernel):
    """``s_t = x_t K + s_{t-1} R`` along time with ``s_{-1} = x_0``: ``(batch, T, C)`` -> same.

    A linear SimpleRNN without bias (leaf-audio's fixed PCEN smoother, ``K = s I``, ``R = (1 - s)
    I``, is :func:`ema` written as matrices; a loaded ``K``, ``R`` may be any ``(C, C)``).
    """
    states = tf.scan(lambda s, xt: tf.matmul(xt, kernel) + tf.matmul(s, recurrent_kernel),
                     tf.transpose(x, (1, 0, 2)), initializer=x[:, 0])
    return tf.transpose(states, (1, 0, 2))


def pcen(x, smoother, alpha, delta, root, floor: float):
    """Per-channel energy normalisation (Wang et al. 2017; LEAF Section 3.3).

    ``(x / (floor + M)^a + delta)^(1/r) - delta^(1/r)`` with ``a = min(alpha, 1)``, ``r = max(root,
    1)``; ``x``, ``smoother`` (``M``) ``(batch, T, C)``, ``alpha``/``delta``/``root`` ``(C,)``.
    """
    alpha = tf.minimum(alpha, 1.0)
    inv_root = 1.0 / tf.maximum(root, 1.0)
    return (x / (floor + smoother) ** alpha + delta) ** inv_root - delta ** inv_root


# ============================================================================ layers
def _constant(value):
    """An initializer returning ``value`` (computed once, at build)."""
    return lambda shape, dtype=None: tf.cast(tf.reshape(value, shape), dtype or "float32")


class _FilterbankConv(keras.layers.Layer):
    """Shared part of the parametric filterbank convolutions: ``(batch, time, 1) -> (batch, time,
    channels)``, stride 1, TensorFlow 'same' padding; ``kernel`` ``(n_filters, 2)``.
    ``conv``: ``direct`` (:func:`direct_conv1d`, leaf-audio's) or ``fft`` (:func:`fft_conv1d`:
    the same numbers to float32 rounding, ~20x fewer FLOPs for 513 taps)."""

    def __init__(self, n_filters: int = N_FILTERS, kernel_size: int = 401,
                 sample_rate: int = SAMPLE_RATE, filterbank_init: str = "mel", seed: int = 0,
                 conv: str = "direct", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check("filterbank_init", filterbank_init, FILTERBANK_INITS)
        _check("conv", conv, CONVOLUTIONS)
        self.n_filters, self.kernel_size = int(n_filters), int(kernel_size)
        self.sample_rate, self.seed = int(sample_rate), int(seed)
        self.filterbank_init, self.conv = filterbank_init, conv

    def initial_params(self) -> np.ndarray:
        raise NotImplementedError

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.n_filters, 2),
                                      initializer=_constant(self.initial_params()))

    def filters(self):
        """The convolution kernel ``(kernel_size, 1, channels)`` from the current parameters."""
        raise NotImplementedError

    def call(self, x):
        return _CONVOLUTION[self.conv][0](x, self.filters())

    def flops(self, input_shape) -> int:
        """FLOPs of one clip ``(batch, time, 1)``: see :func:`direct_conv1d` / :func:`fft_conv1d`."""
        channels = self.compute_output_shape(input_shape)[-1]
        return _CONVOLUTION[self.conv][1](int(input_shape[1]), self.kernel_size, channels)

    def get_config(self):
        return {**super().get_config(), "n_filters": self.n_filters,
                "kernel_size": self.kernel_size, "sample_rate": self.sample_rate,
                "filterbank_init": self.filterbank_init, "seed": self.seed, "conv": self.conv}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class GaborConv1D(_FilterbankConv):
    """Complex Gabor filterbank (LEAF Section 3.1): ``(batch, time, 1) -> (batch, time, 2 n)``.

    ``kernel`` ``(n_filters, 2)``: centre frequency (rad/sample) and envelope sigma (samples) of
    each filter, clipped by :func:`gabor_constraint` when used. Output channel ``2k`` is filter
    ``k``'s real response, ``2k + 1`` its imaginary one (:class:`SquaredModulus` pairs them).
    ``filterbank_init``: ``mel`` (leaf-audio's: :func:`mel_gabor_params` with ``mel_scale`` and
    ``init_n_fft``, between ``min_freq`` and ``max_freq``) or ``random``
    (:func:`random_gabor_params`, ``seed``). Cost: ``2 * time * kernel_size * 2n`` FLOPs per clip
    (``conv="direct"``; see :func:`fft_conv1d` for ``"fft"``).
    """

    def __init__(self, n_filters: int = N_FILTERS, kernel_size: int = 401,
                 sample_rate: int = SAMPLE_RATE, min_freq: float = MIN_FREQ,
                 max_freq: float = MAX_FREQ, mel_scale: str = "htk", init_n_fft: int = INIT_N_FFT,
                 filterbank_init: str = "mel", seed: int = 0, conv: str = "direct", **kwargs):
        super().__init__(n_filters, kernel_size, sample_rate, filterbank_init, seed, conv,
                         **kwargs)
        _check("mel_scale", mel_scale, MEL_SCALES)
        self.min_freq, self.max_freq = float(min_freq), float(max_freq)
        self.mel_scale, self.init_n_fft = mel_scale, int(init_n_fft)

    def initial_params(self):
        return gabor_params(self.filterbank_init, self.n_filters, self.sample_rate,
                            self.kernel_size, self.min_freq, self.max_freq, self.mel_scale,
                            self.init_n_fft, self.seed)

    def filters(self):
        return gabor_kernel(self.kernel, self.kernel_size)

    def centre_frequencies(self) -> np.ndarray:
        """Each filter's centre frequency in Hz, ``(n_filters,)`` (after the constraint)."""
        params = gabor_constraint(self.kernel, self.kernel_size)
        return np.asarray(params[:, 0]) * self.sample_rate / (2.0 * np.pi)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.n_filters)

    def get_config(self):
        return {**super().get_config(), "min_freq": self.min_freq, "max_freq": self.max_freq,
                "mel_scale": self.mel_scale, "init_n_fft": self.init_n_fft}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class SincConv1D(_FilterbankConv):
    """SincNet's band-pass filterbank: ``(batch, time, 1) -> (batch, time, n)`` (real outputs).

    ``kernel`` ``(n_filters, 2)``: lower cut-off offset and band-width offset in Hz (see
    :func:`sinc_kernel`). ``filterbank_init``: ``mel`` (leaf-audio's ``SincInit``) or ``random``
    (:func:`random_sinc_params`). leaf-audio fixes the sample rate of the sinc time axis at
    16 kHz; here it is ``sample_rate`` (the same at 16 kHz). Cost: ``2 * time * kernel_size * n``
    (``conv="direct"``).
    """

    def __init__(self, n_filters: int = N_FILTERS, kernel_size: int = 401,
                 sample_rate: int = SAMPLE_RATE, min_low_hz: float = SINC_MIN_LOW_HZ,
                 min_band_hz: float = SINC_MIN_BAND_HZ, filterbank_init: str = "mel",
                 seed: int = 0, conv: str = "direct", **kwargs):
        super().__init__(n_filters, kernel_size, sample_rate, filterbank_init, seed, conv,
                         **kwargs)
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"sinc filters need an odd 'kernel_size'; got {kernel_size}")
        self.min_low_hz, self.min_band_hz = float(min_low_hz), float(min_band_hz)

    def initial_params(self):
        return sinc_params(self.filterbank_init, self.n_filters, self.sample_rate,
                           self.min_low_hz, self.min_band_hz, self.seed)

    def filters(self):
        return sinc_kernel(self.kernel, self.kernel_size, self.sample_rate, self.min_low_hz,
                           self.min_band_hz)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.n_filters)

    def get_config(self):
        return {**super().get_config(), "min_low_hz": self.min_low_hz,
                "min_band_hz": self.min_band_hz}


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
        _check("filterbank_init", filterbank_init, FILTERBANK_INITS)
        _check("mel_scale", mel_scale, MEL_SCALES)
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
            areas = (2.0 / 3.0) * 2.0 * _HALF_MAX / params[:, 1]  # FWHM (rad) = 2 sqrt(2ln2)/sigma
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


@keras.saving.register_keras_serializable(package="elmarc_tf")
class FilterConv1D(keras.layers.Layer):
    """A real filterbank with a free kernel: ``(batch, time, 1) -> (batch, time, filters)``.

    ``kernel`` ``(kernel_size, 1, filters)``, stride 1, TensorFlow 'same' padding, no bias: the
    arithmetic of ``keras.layers.Conv1D(filters, kernel_size, padding="same", use_bias=False)``
    (the time-domain filterbanks' convolution, whose variable is also ``<name>/kernel``), computed
    by ``conv``: ``direct`` or ``fft`` (see :class:`GaborConv1D`).
    """

    def __init__(self, filters: int, kernel_size: int, kernel_initializer="glorot_uniform",
                 conv: str = "direct", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check("conv", conv, CONVOLUTIONS)
        self.filters, self.kernel_size, self.conv = int(filters), int(kernel_size), conv
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, 1, self.filters),
                                      initializer=self.kernel_initializer)

    def call(self, x):
        return _CONVOLUTION[self.conv][0](x, self.kernel)

    def flops(self, input_shape) -> int:
        return _CONVOLUTION[self.conv][1](int(input_shape[1]), self.kernel_size, self.filters)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "conv": self.conv}


def _elements(shape) -> int:
    """Values per clip of a ``(batch, ...)`` shape."""
    return math.prod(int(d) for d in shape[1:])


@keras.saving.register_keras_serializable(package="elmarc_tf")
class PreEmphasis(keras.layers.Layer):
    """leaf-audio's first-order pre-emphasis conv: ``(batch, time, 1) -> (batch, time, 1)``.

    A two-tap Conv1D (``kernel`` ``(2, 1, 1)``, initialised ``[-coef, 1]``) with TensorFlow 'same'
    padding, i.e. ``y[n] = x[n + 1] - coef * x[n]`` (``x[time] = 0``): leaf-audio's pre-emphasis
    advances the signal by one sample; kept for parity. Cost: ``4 * time`` FLOPs.
    """

    def __init__(self, coef: float = PREEMPHASIS, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.coef = float(coef)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(2, 1, 1),
                                      initializer=_constant(np.array([-self.coef, 1.0])))

    def call(self, x):
        return tf.nn.conv1d(x, self.kernel, 1, "SAME")

    def flops(self, input_shape) -> int:
        return 4 * int(input_shape[1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "coef": self.coef}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class SquaredModulus(keras.layers.Layer):
    """``(batch, time, 2C)`` interleaved real/imaginary -> ``(batch, time, C)`` power
    (:func:`squared_modulus`). Cost: ``3 * time * C`` FLOPs."""

    def call(self, x):
        return squared_modulus(x)

    def flops(self, input_shape) -> int:
        return 3 * _elements(input_shape) // 2

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)


class _Pooling(keras.layers.Layer):
    """Shared part of the strided poolings: ``(batch, time, C) -> (batch, frames, C)`` with
    ``kernel_size`` taps, stride ``strides`` and ``padding`` (:func:`n_frames`)."""

    def __init__(self, kernel_size: int = 401, strides: int = 160, padding: str = "same",
                 **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check("padding", padding, POOL_PADDINGS)
        self.kernel_size, self.strides, self.padding = int(kernel_size), int(strides), padding

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        frames = None if n is None else n_frames(n, self.kernel_size, self.strides, self.padding)
        return (input_shape[0], frames, input_shape[2])

    def flops(self, input_shape) -> int:
        """``2 * frames * kernel_size * C`` (a multiply and an add per tap and output)."""
        return 2 * self.kernel_size * _elements(self.compute_output_shape(input_shape))

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class GaussianLowpass(_Pooling):
    """Gaussian low-pass pooling (LEAF Section 3.2): ``(batch, time, C) -> (batch, frames, C)``.

    Each channel has its own Gaussian window (:func:`gaussian_windows`) of width ``width`` ``(C,)``,
    initialised to ``init_width`` (0.4); depthwise convolution with stride ``strides``.
    Cost: ``2 * frames * kernel_size * C`` FLOPs.
    """

    def __init__(self, kernel_size: int = 401, strides: int = 160, padding: str = "same",
                 init_width: float = GAUSSIAN_WIDTH, **kwargs):
        super().__init__(kernel_size, strides, padding, **kwargs)
        self.init_width = float(init_width)

    def build(self, input_shape):
        self.width = self.add_weight(name="width", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(self.init_width))

    def call(self, x):
        return depthwise_pool(x, gaussian_windows(self.width, self.kernel_size), self.strides,
                              self.padding)

    def get_config(self):
        return {**super().get_config(), "init_width": self.init_width}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class SharedLowpass(_Pooling):
    """The time-domain filterbanks' low-pass pooling: one learnable window ``kernel``
    ``(kernel_size,)`` applied to every channel, initialised to :func:`leaf_audio_hanning`;
    ``(batch, time, C) -> (batch, frames, C)``. Cost: ``2 * frames * kernel_size * C`` FLOPs."""

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size,),
                                      initializer=_constant(leaf_audio_hanning(self.kernel_size)))

    def call(self, x):
        kernels = tf.tile(self.kernel[:, None], (1, x.shape[-1]))
        return depthwise_pool(x, kernels, self.strides, self.padding)


@keras.saving.register_keras_serializable(package="elmarc_tf")
class MaxPool(_Pooling):
    """SincNet's max pooling: ``(batch, time, C) -> (batch, frames, C)``; ``same``/``valid`` are
    TensorFlow's (padding never wins the max), ``centered`` pads with ``-inf``."""

    def call(self, x):
        padding = self.padding
        if padding == "centered":
            x, padding = _pad_centered(x, self.kernel_size, -np.inf), "valid"
        return tf.nn.max_pool1d(x, self.kernel_size, self.strides, padding.upper())

    def flops(self, input_shape) -> int:
        """``frames * kernel_size * C`` comparisons."""
        return self.kernel_size * _elements(self.compute_output_shape(input_shape))


@keras.saving.register_keras_serializable(package="elmarc_tf")
class Floor(keras.layers.Layer):
    """``max(x, value)``: leaf-audio's floor between pooling and compression (1e-5)."""

    def __init__(self, value: float = POOLING_FLOOR, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, x):
        return tf.maximum(x, self.value)

    def flops(self, input_shape) -> int:
        return _elements(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class LogCompression(keras.layers.Layer):
    """``log(x + offset)``, leaf-audio's log compression (offset 1e-5)."""

    def __init__(self, offset: float = LOG_OFFSET, **kwargs):
        super().__init__(**kwargs)
        self.offset = float(offset)

    def call(self, x):
        return tf.math.log(x + self.offset)

    def flops(self, input_shape) -> int:
        return 2 * _elements(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class PCEN(keras.layers.Layer):
    """Per-channel energy normalisation (:func:`pcen`): ``(batch, T, C) -> (batch, T, C)``.

    Variables ``alpha``, ``delta``, ``root`` ``(C,)`` and the smoother's: ``smoother="ema"`` (LEAF's
    sPCEN, Section 3.3) learns ``smooth`` ``(C,)`` (``per_channel``) or ``(1,)``, the coefficient of
    :func:`ema`; ``smoother="rnn"`` (leaf-audio's fixed PCEN, used by SincNet+) holds ``kernel`` and
    ``recurrent_kernel`` ``(C, C)``, initialised ``smooth_coef * I`` and ``(1 - smooth_coef) * I``
    (:func:`linear_recurrence`). Cost per clip: about ``10 * T * C`` FLOPs for ``ema`` (powers
    counted as one), plus ``4 * T * C^2`` for ``rnn``.
    """

    def __init__(self, alpha: float = 0.96, smooth_coef: float = 0.04, delta: float = 2.0,
                 root: float = 2.0, floor: float = 1e-6, smoother: str = "ema",
                 per_channel: bool = True, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check("smoother", smoother, SMOOTHERS)
        self.alpha_init, self.delta_init, self.root_init = float(alpha), float(delta), float(root)
        self.smooth_coef, self.floor = float(smooth_coef), float(floor)
        self.smoother, self.per_channel = smoother, bool(per_channel)

    def build(self, input_shape):
        c = input_shape[-1]
        const = keras.initializers.Constant
        self.alpha = self.add_weight(name="alpha", shape=(c,), initializer=const(self.alpha_init))
        self.delta = self.add_weight(name="delta", shape=(c,), initializer=const(self.delta_init))
        self.root = self.add_weight(name="root", shape=(c,), initializer=const(self.root_init))
        if self.smoother == "ema":
            self.smooth = self.add_weight(name="smooth", shape=(c,) if self.per_channel else (1,),
                                          initializer=const(self.smooth_coef))
        else:
            eye = np.eye(c)
            self.kernel = self.add_weight(name="kernel", shape=(c, c),
                                          initializer=_constant(self.smooth_coef * eye))
            self.recurrent_kernel = self.add_weight(
                name="recurrent_kernel", shape=(c, c),
                initializer=_constant((1.0 - self.smooth_coef) * eye))

    def smoothed(self, x):
        """The smoother ``M`` ``(batch, T, C)`` of ``x``."""
        if self.smoother == "ema":
            return ema(x, self.smooth)
        return linear_recurrence(x, self.kernel, self.recurrent_kernel)

    def call(self, x):
        return pcen(x, self.smoothed(x), self.alpha, self.delta, self.root, self.floor)

    def flops(self, input_shape) -> int:
        """``10 T C`` (EMA: 3 per value; PCEN: 7, powers counted as one) ``+ 4 T C^2`` (rnn)."""
        c = int(input_shape[-1])
        return _elements(input_shape) * (10 + (4 * c if self.smoother == "rnn" else 0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha_init, "smooth_coef": self.smooth_coef,
                "delta": self.delta_init, "root": self.root_init, "floor": self.floor,
                "smoother": self.smoother, "per_channel": self.per_channel}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class MelFilterbank(keras.layers.Layer):
    """Mel power spectrogram by ``tf.signal``: ``(batch, samples) -> (batch, frames, n_filters)``.

    ``(batch, samples, 1)`` is accepted too. STFT with a periodic Hann window of ``window_size``
    samples, hop ``hop``, ``n_fft`` points; power; times a mel matrix. ``mel_scale="htk"``:
    ``tf.signal.linear_to_mel_weight_matrix`` (leaf-audio's ``MelFilterbanks``); ``"slaney"``:
    librosa's area-normalised Slaney matrix, the paper's log-mel basis
    (:func:`elmarc_tf.frontends.melspec.mel_basis`). ``framing="leaf"``: frames from the start, the end
    zero-padded (``ceil(n / hop)`` frames, leaf-audio's); ``"centered"``: zero padding of
    ``window_size // 2`` before and ``window_size - window_size // 2`` after, ``1 + n // hop``
    frames centred on ``t * hop`` (a centred STFT with constant padding).
    Cost: about ``frames * (window_size + 2.5 n_fft log2 n_fft + 1.5 n_fft + n_fft n_filters)``.
    """

    def __init__(self, n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
                 window_size: int = 401, hop: int = 160, n_fft: int = 512,
                 min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ, mel_scale: str = "htk",
                 framing: str = "leaf", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check("mel_scale", mel_scale, MEL_SCALES)
        _check("framing", framing, FRAMINGS)
        self.n_filters, self.sample_rate = int(n_filters), int(sample_rate)
        self.window_size, self.hop, self.n_fft = int(window_size), int(hop), int(n_fft)
        self.min_freq, self.max_freq = float(min_freq), float(max_freq)
        self.mel_scale, self.framing = mel_scale, framing
        if mel_scale == "htk":
            matrix = tf.signal.linear_to_mel_weight_matrix(
                self.n_filters, self.n_fft // 2 + 1, self.sample_rate, self.min_freq,
                self.max_freq)
        else:
            matrix = mel_basis(self.sample_rate, self.n_fft, self.n_filters, self.min_freq,
                               self.max_freq)
        self._mel = np.asarray(matrix, np.float32)  # (n_fft // 2 + 1, n_filters)

    def call(self, waveform):
        if waveform.shape.rank == 3:
            waveform = waveform[..., 0]
        if self.framing == "centered":
            w = self.window_size
            waveform = tf.pad(waveform, [[0, 0], [w // 2, w - w // 2]])
        stft = tf.signal.stft(waveform, self.window_size, self.hop, self.n_fft,
                              pad_end=self.framing == "leaf")
        power = tf.math.real(stft) ** 2 + tf.math.imag(stft) ** 2
        return tf.matmul(power, self._mel)

    def flops(self, input_shape) -> int:
        """``frames * (window + 2.5 n_fft log2 n_fft + 1.5 n_fft + n_fft n_filters)``: window,
        real FFT, power, mel matrix."""
        frames = self.compute_output_shape(input_shape)[1]
        n = self.n_fft
        return int(frames * (self.window_size + 2.5 * n * math.log2(n) + 1.5 * n
                             + n * self.n_filters))

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        frames = None if n is None else (-(-n // self.hop) if self.framing == "leaf"
                                         else 1 + n // self.hop)
        return (input_shape[0], frames, self.n_filters)

    def get_config(self):
        return {**super().get_config(), "n_filters": self.n_filters,
                "sample_rate": self.sample_rate, "window_size": self.window_size,
                "hop": self.hop, "n_fft": self.n_fft, "min_freq": self.min_freq,
                "max_freq": self.max_freq, "mel_scale": self.mel_scale, "framing": self.framing}


# ============================================================================ factories
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


def _windows(sample_rate, window_size, hop):
    return (window_samples(sample_rate) if window_size is None else int(window_size),
            stride_samples(sample_rate) if hop is None else int(hop))


def _pool_padding(framing: str, leaf_padding: str) -> str:
    _check("framing", framing, FRAMINGS)
    return leaf_padding if framing == "leaf" else "centered"


def _preemp(preemp: bool, trainable: bool):
    return PreEmphasis(name="preemp", trainable=trainable) if preemp else None


def leaf(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE, window_size: int | None = None,
         hop: int | None = None, *, min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ,
         preemp: bool = False, filterbank_init: str = "mel", seed: int = 0,
         trainable: bool = False, mel_scale: str = "htk", init_n_fft: int = INIT_N_FFT,
         framing: str = "leaf", conv: str = "direct", name: str = "leaf") -> keras.Model:
    """LEAF (Zeghidour et al. 2021, Section 3): ``(batch, samples) -> (batch, frames, n_filters)``.

    [pre-emphasis] -> Gabor filters (``window_size`` taps, default 25 ms + 1 sample) -> squared
    modulus -> Gaussian low-pass (width 0.4, stride ``hop``, default 10 ms) -> floor 1e-5 -> PCEN
    (alpha 0.96, per-channel EMA smoothing 0.04, delta 2, root 2 i.e. r = 1/2, floor 1e-12).
    ``framing="leaf"`` gives ``ceil(n / hop)`` frames (leaf-audio's), ``"centered"``
    ``1 + n // hop``. With
    ``trainable=True`` every parameter leaf-audio learns is trainable; otherwise all are frozen.
    ``conv``: how the filterbank convolution is computed, ``direct`` (leaf-audio's) or ``fft``
    (:func:`fft_conv1d`, the same numbers to float32 rounding).
    """
    window_size, hop = _windows(sample_rate, window_size, hop)
    return frontend(
        GaborConv1D(n_filters, window_size, sample_rate, min_freq, max_freq, mel_scale,
                    init_n_fft, filterbank_init, seed, conv, name="filterbank",
                    trainable=trainable),
        SquaredModulus(name="squared_modulus"),
        GaussianLowpass(window_size, hop, _pool_padding(framing, "same"), name="pooling",
                        trainable=trainable),
        PCEN(alpha=0.96, smooth_coef=0.04, delta=2.0, root=2.0, floor=1e-12, smoother="ema",
             name="pcen", trainable=trainable),
        preemp=_preemp(preemp, trainable), name=name)


def _sinc_filterbank(n_filters, window_size, sample_rate, filterbank_init, seed, trainable, conv):
    return SincConv1D(n_filters, window_size, sample_rate, filterbank_init=filterbank_init,
                      seed=seed, conv=conv, name="filterbank", trainable=trainable)


def sincnet(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
            window_size: int | None = None, hop: int | None = None, *, preemp: bool = False,
            filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
            framing: str = "leaf", conv: str = "direct", name: str = "sincnet") -> keras.Model:
    """SincNet as in leaf-audio: sinc filters -> leaky ReLU (0.2) -> max pooling -> floor 1e-5 ->
    layer normalisation over the filters (epsilon 1e-3). ``(batch, samples) -> (batch, frames,
    n_filters)``; arguments as :func:`leaf`."""
    window_size, hop = _windows(sample_rate, window_size, hop)
    return frontend(
        _sinc_filterbank(n_filters, window_size, sample_rate, filterbank_init, seed, trainable,
                         conv),
        keras.layers.LeakyReLU(LEAKY_SLOPE, name="activation"),
        MaxPool(window_size, hop, _pool_padding(framing, "same"), name="pooling"),
        keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="layer_norm",
                                        trainable=trainable),
        preemp=_preemp(preemp, trainable), name=name)


def sincnet_plus(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
                 window_size: int | None = None, hop: int | None = None, *, preemp: bool = False,
                 filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
                 framing: str = "leaf", conv: str = "direct",
                 name: str = "sincnet_plus") -> keras.Model:
    """SincNet+ (the LEAF paper's improved SincNet): sinc filters -> leaky ReLU (0.2) -> Gaussian
    low-pass (0.4) -> floor 1e-5 -> PCEN with leaf-audio's fixed smoother (a linear recurrence
    with kernels 0.04 I and 0.96 I, floor 1e-6; frozen even with ``trainable=True``, as in
    leaf-audio). Arguments as :func:`sincnet`."""
    window_size, hop = _windows(sample_rate, window_size, hop)
    return frontend(
        _sinc_filterbank(n_filters, window_size, sample_rate, filterbank_init, seed, trainable,
                         conv),
        keras.layers.LeakyReLU(LEAKY_SLOPE, name="activation"),
        GaussianLowpass(window_size, hop, _pool_padding(framing, "same"), name="pooling",
                        trainable=trainable),
        PCEN(alpha=0.96, smooth_coef=0.04, delta=2.0, root=2.0, floor=1e-6, smoother="rnn",
             name="pcen", trainable=False),
        preemp=_preemp(preemp, trainable), name=name)


def tdfbanks(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
             window_size: int | None = None, hop: int | None = None, *,
             min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ, preemp: bool = False,
             filterbank_init: str = "mel", seed: int = 0, trainable: bool = False,
             mel_scale: str = "htk", init_n_fft: int = INIT_N_FFT, framing: str = "leaf",
             conv: str = "direct", name: str = "tfbanks") -> keras.Model:
    """Time-domain filterbanks (Zeghidour et al. 2018, Section 2): a real convolution of
    ``2 n_filters`` channels (:class:`FilterConv1D`, leaf-audio's Conv1D) initialised with Gabor
    filters (:class:`GaborKernelInitializer`) -> squared modulus -> one shared squared-Hanning
    low-pass (:class:`SharedLowpass`; leaf-audio pools 'valid': ``(n - window) // hop + 1``
    frames) -> floor 1e-5 -> log(. + 1e-5). ``conv`` as in :func:`leaf`."""
    window_size, hop = _windows(sample_rate, window_size, hop)
    init = GaborKernelInitializer(sample_rate, min_freq, max_freq, mel_scale, init_n_fft,
                                  filterbank_init, seed)
    return frontend(
        FilterConv1D(2 * n_filters, window_size, kernel_initializer=init, conv=conv,
                     name="filterbank", trainable=trainable),
        SquaredModulus(name="squared_modulus"),
        SharedLowpass(window_size, hop, _pool_padding(framing, "valid"), name="pooling",
                      trainable=trainable),
        LogCompression(LOG_OFFSET, name="log"),
        preemp=_preemp(preemp, trainable), name=name)


def mel_tf(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
           window_size: int | None = None, hop: int | None = None, *, n_fft: int = 512,
           min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ, mel_scale: str = "htk",
           framing: str = "leaf", name: str = "mel") -> keras.Model:
    """leaf-audio's ``MelFilterbanks``: :class:`MelFilterbank` -> log(. + 1e-5), no variables.
    ``(batch, samples) -> (batch, frames, n_filters)``."""
    window_size, hop = _windows(sample_rate, window_size, hop)
    return frontend(
        MelFilterbank(n_filters, sample_rate, window_size, hop, n_fft, min_freq, max_freq,
                      mel_scale, framing, name="filterbank"),
        compression=LogCompression(LOG_OFFSET, name="log"), floor=None, name=name)


def pcen_mel(n_filters: int = N_FILTERS, sample_rate: int = SAMPLE_RATE,
             window_size: int | None = None, hop: int | None = None, *, n_fft: int = 512,
             min_freq: float = MIN_FREQ, max_freq: float = MAX_FREQ, mel_scale: str = "htk",
             framing: str = "leaf", trainable: bool = False, name: str = "pcen_mel") -> keras.Model:
    """Mel filterbank + LEAF's PCEN (the PCEN of the paper's Table/Section 4 baselines):
    :class:`MelFilterbank` -> floor 1e-5 -> PCEN as in :func:`leaf` (per-channel EMA 0.04, alpha
    0.96, delta 2, root 2, floor 1e-12). ``(batch, samples) -> (batch, frames, n_filters)``."""
    window_size, hop = _windows(sample_rate, window_size, hop)
    return frontend(
        MelFilterbank(n_filters, sample_rate, window_size, hop, n_fft, min_freq, max_freq,
                      mel_scale, framing, name="filterbank"),
        compression=PCEN(alpha=0.96, smooth_coef=0.04, delta=2.0, root=2.0, floor=1e-12,
                         smoother="ema", name="pcen", trainable=trainable),
        name=name)


FRONTENDS = {"leaf": leaf, "sincnet": sincnet, "sincnet_plus": sincnet_plus,
             "tdfbanks": tdfbanks, "mel_tf": mel_tf, "pcen_mel": pcen_mel}


# ============================================================================ as the paper's input
# The paper's log-mel: 12 kHz, 96 bands from 0 to 6000 Hz (Slaney), n_fft 512, hop 256, centred.
REPRESENTATION_SAMPLE_RATE = 12000
REPRESENTATION_FILTERS = 96
REPRESENTATION_WINDOW = 512
REPRESENTATION_HOP = 256
REPRESENTATION_MIN_FREQ = 0.0
REPRESENTATION_MAX_FREQ = 6000.0


def build_representation(name: str, sample_rate: int = REPRESENTATION_SAMPLE_RATE,
                         n_filters: int = REPRESENTATION_FILTERS,
                         window: int = REPRESENTATION_WINDOW, hop: int = REPRESENTATION_HOP, *,
                         min_freq: float = REPRESENTATION_MIN_FREQ,
                         max_freq: float = REPRESENTATION_MAX_FREQ, filterbank_init: str = "mel",
                         seed: int = 0, trainable: bool = False,
                         conv: str = "fft") -> keras.Model:
    """A LEAF-family front-end in the geometry of the paper's log-mel, to feed its CNNs.

    ``(batch, n) -> (batch, 1 + n // hop, n_filters)``: the frame count and layout of the
    authors' centred STFT (:class:`elmarc_tf.frontends.melspec.LogMelSpectrogram`), frame ``t`` centred on
    sample ``t * hop``, for any ``n`` (short clips included). The authors' ``window`` (their
    ``n_fft``, 512) becomes, in each layer's terms: ``window + 1`` taps for the convolutions and
    poolings (LEAF's "25 ms + 1 sample": odd, centred on its sample), and the STFT frame and FFT
    size of ``mel_tf``/``pcen_mel``. The filters are placed on the *Slaney* mel scale between
    ``min_freq`` and ``max_freq`` (0-6000 Hz), the bands of the authors' log-mel, read on the
    authors' 512-point FFT grid (with 96 bands at 12 kHz HTK-mel filters narrower than a bin would
    collide). Sinc filters keep leaf-audio's band (50 Hz to Nyquist). ``name``: one of
    :data:`FRONTENDS`. ``filterbank_init`` and ``seed`` apply to :data:`PARAMETRIC_FILTERBANKS`,
    ``trainable`` to :data:`WITH_VARIABLES`. ``conv``: the filterbank convolutions by FFT (default:
    a 513-tap filterbank over 30 s costs 2.6 instead of 71 GFLOP, same numbers to float32
    rounding) or ``direct`` (leaf-audio's arithmetic).
    """
    if name not in FRONTENDS:
        raise ConfigError(f"'input_representation' must be one of {', '.join(FRONTENDS)}; "
                          f"got {name!r}")
    mel = dict(min_freq=min_freq, max_freq=max_freq, mel_scale="slaney")
    init = dict(filterbank_init=filterbank_init, seed=seed, trainable=trainable, conv=conv)
    kwargs = _REPRESENTATION_ARGS[name](int(window), mel, init)
    return FRONTENDS[name](n_filters, sample_rate, hop=hop, framing="centered", name=name,
                           **kwargs)


# How the authors' window (their n_fft) and band translate into each factory's arguments.
def _gabor_args(window: int, mel: dict, init: dict) -> dict:
    return dict(window_size=window + 1, init_n_fft=window, **mel, **init)


def _sinc_args(window: int, mel: dict, init: dict) -> dict:
    return dict(window_size=window + 1, **init)


def _stft_args(window: int, mel: dict, init: dict) -> dict:
    return dict(window_size=window, n_fft=window, **mel)  # no filter parameters, no convolution


def _pcen_stft_args(window: int, mel: dict, init: dict) -> dict:
    return dict(_stft_args(window, mel, init), trainable=init["trainable"])


_REPRESENTATION_ARGS = {"leaf": _gabor_args, "tdfbanks": _gabor_args, "sincnet": _sinc_args,
                        "sincnet_plus": _sinc_args, "mel_tf": _stft_args,
                        "pcen_mel": _pcen_stft_args}

# The front-ends whose filters are parameters (centre frequencies and bandwidths, or a free
# kernel drawn from them): filterbank_init 'random' applies to them. Those with any variable:
# trainable applies (pcen_mel's PCEN; mel_tf has none).
PARAMETRIC_FILTERBANKS = ("leaf", "sincnet", "sincnet_plus", "tdfbanks")
WITH_VARIABLES = PARAMETRIC_FILTERBANKS + ("pcen_mel",)


# ============================================================================ leaf-audio weights
# leaf-audio's variable names (without the model's scope and ':0') -> ours ('layer/variable').
LEAF_AUDIO_NAMES = {
    "kernel": "filterbank/kernel",  # GaborConv1D / SincConv1D: created outside any scope
    "tfbanks_complex_conv/kernel": "filterbank/kernel",  # the time-domain filterbanks' Conv1D
    "tfbanks_preemp/kernel": "preemp/kernel",
    "learnable_pooling/kernel": "pooling/width",  # GaussianLowpass, (1, 1, C, 1)
    "learnable_pooling/conv2d/kernel": "pooling/kernel",  # LearnablePooling1D, (1, K, 1, 1)
    "PCEN/alpha": "pcen/alpha",
    "PCEN/delta": "pcen/delta",
    "PCEN/root": "pcen/root",
    "PCEN/EMA/smooth": "pcen/smooth",
    "PCEN/simple_rnn/simple_rnn_cell/kernel": "pcen/kernel",
    "PCEN/simple_rnn/simple_rnn_cell/recurrent_kernel": "pcen/recurrent_kernel",
    "layer_normalization/gamma": "layer_norm/gamma",
    "layer_normalization/beta": "layer_norm/beta",
}


def our_variable_path(leaf_name: str) -> str | None:
    """Our variable path for a leaf-audio name such as ``leaf/PCEN/alpha:0``, or None."""
    name = leaf_name.split(":")[0]
    return LEAF_AUDIO_NAMES.get(name) or LEAF_AUDIO_NAMES.get(name.partition("/")[2])


def load_leaf_audio_weights(model: keras.Model, path_or_dict) -> list[str]:
    """Assign variables saved from a leaf-audio front-end (``weights.npz`` keyed by their tf.keras
    names, e.g. ``leaf/PCEN/EMA/smooth:0``) to a model built by this module's factories.

    Every variable of ``model`` must be given once, with its number of values (leaf-audio's extra
    unit axes, e.g. the pooling's ``(1, 1, C, 1)``, are dropped). Returns the names not used.
    """
    source, stored = read_weights(path_or_dict)
    by_ours: dict[str, str] = {}
    for leaf_name in stored:
        ours = our_variable_path(leaf_name)
        if ours is not None:
            if ours in by_ours:
                raise WeightsError(f"{source}: '{by_ours[ours]}' and '{leaf_name}' both map "
                                   f"to variable '{ours}'")
            by_ours[ours] = leaf_name
    used = []
    for v in model.weights:
        leaf_name = by_ours.get(v.path)
        if leaf_name is None:
            raise WeightsError(f"{source}: no leaf-audio variable for '{v.path}' "
                               f"(has {sorted(stored)})")
        value = np.asarray(stored[leaf_name])
        if tuple(d for d in value.shape if d != 1) != tuple(d for d in v.shape if d != 1):
            raise WeightsError(f"{source}: variable '{leaf_name}' has shape {value.shape}, "
                               f"expected {tuple(v.shape)} for '{v.path}'")
        v.assign(value.reshape(v.shape).astype(v.dtype))
        used.append(leaf_name)
    return sorted(set(stored) - set(used))
