"""Building blocks shared by every front-end: the TF1 initializer, per-layer seeds, TF1 names.

The authors built every convolution with ``tf.contrib.layers.variance_scaling_initializer()``
(factor 2.0, fan-in, normal): a 2-sigma truncated normal whose *parameter* sigma is
``sqrt(1.3 * 2 / fan_in)``. Keras 3's ``VarianceScaling(distribution="truncated_normal")`` divides
its sigma by 0.879625661034 (the std of a 2-sigma truncated unit normal), so the same
distribution is ``scale = 2.0 * 1.3 * 0.879625661034**2``. Biases start at zero.
"""

from __future__ import annotations

import hashlib

import keras
import tensorflow as tf

TRUNCATED_NORMAL_STD = 0.87962566103423978
TF1_VARIANCE_SCALE = 2.0 * 1.3 * TRUNCATED_NORMAL_STD**2  # ~2.01173


def frozen_model(inputs, outputs, name: str) -> keras.Model:
    """``keras.Model(inputs, outputs)`` with every weight frozen (``trainable=False``)."""
    model = keras.Model(inputs, outputs, name=name)
    model.trainable = False
    return model


def layer_seed(model_seed: int, layer_name: str) -> int:
    """Seed of one layer, derived from the model seed and the layer's (TF1) name.

    Deriving it from the name, not the build order, gives a layer the same weights whether or not
    other branches are built, so a model pruned to the selected taps keeps the full model's weights.
    """
    digest = hashlib.sha256(f"{int(model_seed)}/{layer_name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def tf1_variance_scaling(seed: int) -> keras.initializers.Initializer:
    """The authors' kernel initializer (see module docstring) with a fixed integer seed."""
    return keras.initializers.VarianceScaling(
        scale=TF1_VARIANCE_SCALE, mode="fan_in", distribution="truncated_normal", seed=seed
    )


class LayerNamer:
    """Hands out TF1-style default layer names: ``conv1d``, ``conv1d_1``, ``conv2d``, ...

    ``tf.layers`` names unnamed layers by type with a per-graph counter; one namer per model build
    reproduces the variable names of the original graph (``conv1d_3/kernel:0``).
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"


class ConvFactory:
    """Creates frozen, seeded Conv1D/Conv2D layers named as in the original TF1 graph.

    With ``fast`` (the default), 'valid' Conv2Ds are :class:`FrequencyMaxConv2D`, so that a
    max over all frequency positions fuses with them (:func:`max_over_frequency`; same weights,
    faster); ``fast=False`` keeps Keras' own layers, the reference the fast path is tested
    against.
    """

    def __init__(self, seed: int, activation: str = "relu", fast: bool = True) -> None:
        self.seed = seed
        self.activation = activation
        self.fast = fast
        self.namer = LayerNamer()

    def _kwargs(self, name: str) -> dict:
        return dict(
            activation=self.activation,
            kernel_initializer=tf1_variance_scaling(layer_seed(self.seed, name)),
            bias_initializer="zeros",
            trainable=False,
            name=name,
        )

    def conv1d(self, filters, kernel_size, strides=1, padding="valid", name=None):
        """``(batch, time, channels) -> (batch, time', filters)``."""
        name = name or self.namer("conv1d")
        return keras.layers.Conv1D(filters, kernel_size, strides=strides, padding=padding,
                                   **self._kwargs(name))

    def conv2d(self, filters, kernel_size, padding="valid", name=None):
        """``(batch, time, freq, channels) -> (batch, time', freq', filters)``."""
        name = name or self.namer("conv2d")
        cls = FrequencyMaxConv2D if self.fast and padding == "valid" else keras.layers.Conv2D
        return cls(filters, tuple(kernel_size), padding=padding, **self._kwargs(name))


def max_over_frequency(conv: keras.layers.Conv2D, x, name: str):
    """``conv(x)`` max-pooled over all its frequency positions: ``(batch, T', 1, filters)``.

    One fused :class:`FrequencyMaxConv2D` call when ``conv`` is one (``fast``), else Keras'
    Conv2D followed by ``MaxPooling2D`` named ``name``."""
    if isinstance(conv, FrequencyMaxConv2D):
        return conv(x, max_over_frequency=True)
    y = conv(x)
    return keras.layers.MaxPooling2D((1, y.shape[2]), name=name)(y)


@keras.saving.register_keras_serializable(package="elmarc_tf")
class FrequencyMaxConv2D(keras.layers.Conv2D):
    """A 'valid' Conv2D that can fuse a max over all its frequency positions.

    ``layer(x)``: exactly :class:`keras.layers.Conv2D` ``(batch, T, F, C) -> (batch, T', F', filters)``
    (same kernel ``(kt, kf, C, filters)``, weights and names). ``layer(x, max_over_frequency=True)``
    on a one-channel image ``(batch, T, F, 1)``: the same numbers as that map followed by
    ``MaxPooling2D((1, F'))``, i.e. ``(batch, T', 1, filters)``, without materialising the
    ``(batch, T', F', filters)`` map (up to 216 MB per clip for the paper's 7x86 filter, which
    makes the pair memory-bound): each frequency position is a Conv1D over time whose ``kf``
    input channels are the bands it covers, folded into a running maximum; the bias and the
    (monotonic) activation are applied once after the maximum, which gives identical results.
    The paper's timbral branches and its 7x86 filter with a 1x11 pool are this pattern.
    """

    def call(self, inputs, max_over_frequency: bool = False):
        if not max_over_frequency:
            return super().call(inputs)
        kt, kf, _, filters = self.kernel.shape
        image = inputs[..., 0]  # (b, T, F)
        kernel = tf.reshape(self.kernel, (kt, kf, filters))
        out = None
        for j in range(image.shape[2] - kf + 1):
            y = tf.nn.conv1d(image[:, :, j:j + kf], kernel, 1, "VALID")  # (b, T', filters)
            out = y if out is None else tf.maximum(out, y)
        out = out[:, :, None, :]
        if self.use_bias:
            out = out + self.bias
        return self.activation(out) if self.activation is not None else out

    def compute_output_spec(self, inputs, max_over_frequency: bool = False):
        shape = list(self.compute_output_shape(inputs.shape))
        if max_over_frequency:
            if inputs.shape[-1] != 1 or self.padding != "valid" or self.strides != (1, 1) \
                    or self.dilation_rate != (1, 1) or self.data_format != "channels_last":
                raise ValueError(f"{self.name}: max_over_frequency needs a 'valid', unstrided "
                                 f"channels-last convolution of a one-channel image")
            shape[2] = 1
        return keras.KerasTensor(tuple(shape), dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="elmarc_tf")
class BatchStatsNormalization(keras.layers.Layer):
    """Normalise with the statistics of the **current batch**, always (paper Section 3.4).

    ``(batch, ..., channels) -> same shape``: per channel, subtract the mean and divide by the
    standard deviation taken over the batch and every spatial axis, as Keras 1's
    ``BatchNormalization(mode=2)`` did at train and test time alike (gamma 1, beta 0: untrained).

    Keras 3's ``BatchNormalization`` cannot be used for this: it uses batch statistics only when
    called with ``training=True`` *and* ``trainable=True``; a frozen model, ``predict()`` and a
    SavedModel all fall back to its moving statistics (0 and 1 when untrained, i.e. nearly the
    identity), which would hide the effect the ablation measures. This layer has no state and no
    training flag, so a clip's output depends on the other clips in its batch; with a batch of one
    clip, each of its maps is standardised by its own statistics.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        axes = list(range(len(x.shape) - 1))
        mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
