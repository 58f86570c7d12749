"""The filterbank convolutions of the LEAF family: ``(batch, time, 1) -> (batch, time, channels)``.

The arithmetic (:func:`direct_conv1d`, TensorFlow's 'same' ``conv1d``, or :func:`fft_conv1d`, the
same numbers by overlap-save FFT) and the serialisable layers around it: the parametric
filterbanks :class:`GaborConv1D` (LEAF Section 3.1) and :class:`SincConv1D` (SincNet), the free
real kernel :class:`FilterConv1D` (time-domain filterbanks), leaf-audio's :class:`PreEmphasis`,
and :class:`SquaredModulus`, which turns the complex filters' interleaved outputs into power.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from ...errors import ConfigError
from .defaults import (INIT_N_FFT, MAX_FREQ, MIN_FREQ, N_FILTERS, PREEMPHASIS, SAMPLE_RATE,
                       SINC_MIN_BAND_HZ, SINC_MIN_LOW_HZ, check_choices, values_per_clip)
from .impulse_responses import gabor_constraint, gabor_kernel, sinc_kernel
from .initializers import constant, gabor_params, sinc_params


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
        check_choices(filterbank_init=filterbank_init, conv=conv)
        self.n_filters, self.kernel_size = int(n_filters), int(kernel_size)
        self.sample_rate, self.seed = int(sample_rate), int(seed)
        self.filterbank_init, self.conv = filterbank_init, conv

    def initial_params(self) -> np.ndarray:
        raise NotImplementedError

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.n_filters, 2),
                                      initializer=constant(self.initial_params()))

    def filters(self):
        """The convolution kernel ``(kernel_size, 1, channels)`` from the current parameters."""
        raise NotImplementedError

    def call(self, x):
        return _CONVOLUTION[self.conv][0](x, self.filters())

    def flops(self, input_shape) -> int:
        """FLOPs of one clip ``(batch, time, 1)``: see :func:`direct_conv1d` /
        :func:`fft_conv1d`."""
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
        check_choices(mel_scale=mel_scale)
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
        check_choices(conv=conv)
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
                                      initializer=constant(np.array([-self.coef, 1.0])))

    def call(self, x):
        return tf.nn.conv1d(x, self.kernel, 1, "SAME")

    def flops(self, input_shape) -> int:
        return 4 * int(input_shape[1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "coef": self.coef}


def squared_modulus(x):
    """``(batch, time, 2C)`` interleaved real/imaginary -> ``(batch, time, C)``: ``re^2 + im^2``.

    The pairs are read through a ``(..., C, 2)`` view (strided slices of the channel axis cost
    several times more on CPU for the same numbers)."""
    pairs = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [x.shape[-1] // 2, 2]], axis=0))
    return pairs[..., 0] ** 2 + pairs[..., 1] ** 2


@keras.saving.register_keras_serializable(package="elmarc_tf")
class SquaredModulus(keras.layers.Layer):
    """``(batch, time, 2C)`` interleaved real/imaginary -> ``(batch, time, C)`` power
    (:func:`squared_modulus`). Cost: ``3 * time * C`` FLOPs."""

    def call(self, x):
        return squared_modulus(x)

    def flops(self, input_shape) -> int:
        return 3 * values_per_clip(input_shape) // 2

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)
