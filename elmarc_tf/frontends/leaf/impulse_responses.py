"""The filters and windows of the LEAF family as functions of their parameters: complex Gabor
filters (LEAF Section 3.1), SincNet's band-pass filters, the Gaussian low-pass windows (LEAF
Section 3.2) and the time-domain filterbanks' squared Hanning window.

Pure TensorFlow / NumPy, no layer: the layers of :mod:`.convolution` and :mod:`.pooling` call them
with their current variables, so gradients flow to the parameters.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .defaults import HALF_MAX, SINC_MIN_BAND_HZ, SINC_MIN_LOW_HZ


def gabor_constraint(params, kernel_size: int):
    """Clip Gabor parameters ``(n, 2)`` to the range leaf-audio allows.

    Centre in ``[0, pi]`` rad/sample; sigma such that the FWHM of the magnitude response lies in
    ``[sample_rate / kernel_size, sample_rate / 4]``: ``sigma`` in ``[4, kernel_size] *
    sqrt(2 ln 2) / pi`` samples (Zeghidour et al. 2018, Section 2.2).
    """
    mu = tf.clip_by_value(params[:, 0], 0.0, math.pi)
    sigma = tf.clip_by_value(params[:, 1], 4.0 * HALF_MAX / math.pi,
                             kernel_size * HALF_MAX / math.pi)
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
    times :func:`hamming_window`. ``size`` must be odd.

    Each low-pass is computed in leaf-audio's order, ``2 f * (sin(a) / a)``: float32 rounds
    ``(2 f sin(a)) / a`` differently by an ulp, which the band-pass difference (``f2 / (f2 - f1)``)
    and PCEN's per-channel normalisation amplify to 1e-5..1e-4 of SincNet+'s output.
    """
    params = tf.cast(params, tf.float32)
    low = min_low_hz + tf.abs(params[:, 0])
    high = tf.clip_by_value(low + min_band_hz + tf.abs(params[:, 1]), min_low_hz,
                            sample_rate / 2.0)

    def lowpass(cutoff):  # (n,) -> (size, n): 2 f sinc(2 pi f t), its limit 2 f at t = 0
        half = tf.range(1, size // 2 + 1, dtype=tf.float32)[:, None] / float(sample_rate)
        arg = 2.0 * math.pi * cutoff * half
        side = 2.0 * cutoff * (tf.sin(arg) / arg)
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
