"""What follows the pooling in the LEAF family: leaf-audio's floor, log compression and PCEN
(per-channel energy normalisation, LEAF Section 3.3), as pure TensorFlow recursions
(:func:`ema`, :func:`linear_recurrence`, :func:`pcen`) and serialisable layers around them.
``(batch, T, C) -> (batch, T, C)`` throughout.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .defaults import LOG_OFFSET, POOLING_FLOOR, check_choices, values_per_clip
from .initializers import constant


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


class _Pointwise(keras.layers.Layer):
    """A pointwise map with one constant, ``(batch, T, C) -> (batch, T, C)``; a subclass names the
    constant (:attr:`CONSTANT`, its ``get_config`` key), its FLOPs per value and :meth:`call`."""

    CONSTANT = "value"
    FLOPS_PER_VALUE = 1

    def __init__(self, constant: float, **kwargs):
        super().__init__(**kwargs)
        setattr(self, self.CONSTANT, float(constant))

    def flops(self, input_shape) -> int:
        return self.FLOPS_PER_VALUE * values_per_clip(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), self.CONSTANT: getattr(self, self.CONSTANT)}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class Floor(_Pointwise):
    """``max(x, value)``: leaf-audio's floor between pooling and compression (1e-5)."""

    def __init__(self, value: float = POOLING_FLOOR, **kwargs):
        super().__init__(value, **kwargs)

    def call(self, x):
        return tf.maximum(x, self.value)


@keras.saving.register_keras_serializable(package="elmarc_tf")
class LogCompression(_Pointwise):
    """``log(x + offset)``, leaf-audio's log compression (offset 1e-5)."""

    CONSTANT = "offset"
    FLOPS_PER_VALUE = 2

    def __init__(self, offset: float = LOG_OFFSET, **kwargs):
        super().__init__(offset, **kwargs)

    def call(self, x):
        return tf.math.log(x + self.offset)


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
        check_choices(smoother=smoother)
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
                                          initializer=constant(self.smooth_coef * eye))
            self.recurrent_kernel = self.add_weight(
                name="recurrent_kernel", shape=(c, c),
                initializer=constant((1.0 - self.smooth_coef) * eye))

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
        return values_per_clip(input_shape) * (10 + (4 * c if self.smoother == "rnn" else 0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha_init, "smooth_coef": self.smooth_coef,
                "delta": self.delta_init, "root": self.root_init, "floor": self.floor,
                "smoother": self.smoother, "per_channel": self.per_channel}
