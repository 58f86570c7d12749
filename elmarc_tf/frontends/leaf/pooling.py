"""Strided low-pass pooling of the LEAF family: ``(batch, time, C) -> (batch, frames, C)``.

:class:`GaussianLowpass` (a learnable Gaussian window per channel, LEAF Section 3.2),
:class:`SharedLowpass` (one learnable window for every channel, the time-domain filterbanks') and
:class:`MaxPool` (SincNet's), with leaf-audio's ``same``/``valid`` paddings or ``centered``
frames (:func:`n_frames`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .defaults import GAUSSIAN_WIDTH, check_choices, values_per_clip
from .impulse_responses import gaussian_windows, leaf_audio_hanning
from .initializers import constant


def n_frames(n_samples: int, window_size: int, hop: int, padding: str) -> int:
    """Frames of a pooling of ``window_size`` taps, stride ``hop``, over ``n_samples`` samples.

    ``same`` (TensorFlow's): ``ceil(n / hop)``; ``valid``: ``(n - window) // hop + 1`` (needs
    ``n >= window``);
    ``centered``: ``1 + n // hop``, frame ``t`` centred on sample ``t * hop`` as in a centred STFT.
    """
    check_choices(padding=padding)
    if padding == "same":
        return -(-n_samples // hop)
    if padding == "valid":
        return max((n_samples - window_size) // hop + 1, 0)
    return 1 + n_samples // hop


def _pad_centered(x, size: int, value: float = 0.0):
    """Pad the time axis of ``(batch, time, C)`` by ``size // 2`` before and ``size - size // 2``
    after: a 'valid' window of ``size`` taps and stride ``hop`` then gives ``1 + n // hop`` frames,
    frame ``t`` centred on sample ``t * hop``."""
    return tf.pad(x, [[0, 0], [size // 2, size - size // 2], [0, 0]], constant_values=value)


def depthwise_pool(x, kernels, stride: int, padding: str = "same"):
    """Per-channel low-pass and decimation: ``(batch, time, C)`` and ``(size, C)`` ->
    ``(batch, frames, C)`` (frames: :func:`n_frames`); ``same``/``valid`` are TensorFlow's."""
    check_choices(padding=padding)
    size = kernels.shape[0]
    if padding == "centered":
        x, padding = _pad_centered(x, size), "valid"
    y = tf.nn.depthwise_conv2d(x[:, None], kernels[None, :, :, None], (1, stride, stride, 1),
                               padding.upper())
    return y[:, 0]


class _Pooling(keras.layers.Layer):
    """Shared part of the strided poolings: ``(batch, time, C) -> (batch, frames, C)`` with
    ``kernel_size`` taps, stride ``strides`` and ``padding`` (:func:`n_frames`)."""

    def __init__(self, kernel_size: int = 401, strides: int = 160, padding: str = "same",
                 **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        check_choices(padding=padding)
        self.kernel_size, self.strides, self.padding = int(kernel_size), int(strides), padding

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        frames = None if n is None else n_frames(n, self.kernel_size, self.strides, self.padding)
        return (input_shape[0], frames, input_shape[2])

    def flops(self, input_shape) -> int:
        """``2 * frames * kernel_size * C`` (a multiply and an add per tap and output)."""
        return 2 * self.kernel_size * values_per_clip(self.compute_output_shape(input_shape))

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
                                      initializer=constant(leaf_audio_hanning(self.kernel_size)))

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
        return self.kernel_size * values_per_clip(self.compute_output_shape(input_shape))
