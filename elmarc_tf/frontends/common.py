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
    """Creates frozen, seeded Conv1D/Conv2D layers named as in the original TF1 graph."""

    def __init__(self, seed: int, activation: str = "relu") -> None:
        self.seed = seed
        self.activation = activation
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
        return keras.layers.Conv2D(filters, tuple(kernel_size), padding=padding,
                                   **self._kwargs(name))


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
