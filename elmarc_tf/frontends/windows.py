"""Windowed front-ends: a whole clip cut into windows, every window through a window model in one
batch, the windows' features pooled per clip (SampleCNN, Lee et al. 2018, Section 4.1).

A windowed front-end (:attr:`elmarc_tf.frontends.FrontEndSpec.scales`) describes one or more
:class:`WindowScale` — a window model, its window and hop, its taps and the selected ones.
:func:`elmarc_tf.models.extractor.build_extractor` composes, per scale::

    clips (batch, n) -> SlidingWindows -> windows (batch * count, window, 1)
        -> window model (selected taps) -> TapPooling: per-window means (batch * count, d)
        -> WindowPooling: per clip, mean and max over its windows (batch, d * P)

and :class:`WindowedFeatures` concatenates the scales' vectors and describes every slice.

Clips of one batch have one length (the windows of a batch are one tensor); the length may change
from batch to batch. The extraction pipeline gives a windowed front-end one clip per call (its
windows are the batch; :mod:`elmarc_tf.extraction.batching`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import tensorflow as tf

from ..errors import AudioError, ConfigError
from ..io.fix_length import check_fix_length_by, fix_length_tf

WINDOW_POOLINGS = {"mean": tf.reduce_mean, "max": tf.reduce_max}
DEFAULT_WINDOW_POOLING = ("mean", "max")


@dataclass(frozen=True)
class WindowScale:
    """One window model of a windowed front-end.

    ``build(seed, fast)`` -> a frozen ``keras.Model`` ``(batch, window, 1)`` -> one output per tap
    (``taps`` names them, in order); ``selected``: the tap indices whose means are features;
    ``hop``: samples between window starts; ``name``: how layouts and labels name the scale
    (e.g. ``3^9``).
    """

    name: str
    window: int
    hop: int
    build: Callable
    taps: tuple
    selected: tuple


# ----------------------------------------------------------------------------- counting windows
def window_count(n: int, window: int, hop: int, fix_length_by: str = "crop") -> int:
    """Windows of a clip of ``n`` samples; they start at ``0, hop, 2 hop, ...``.

    ``crop``: the full windows only, ``1 + (n - window) // hop``; samples after the last one are
    dropped; a clip shorter than one window is an :class:`AudioError`. ``zero-pad`` /
    ``repeat-pad``: ``1 + ceil(max(n - window, 0) / hop)``, i.e. one more window when samples are
    left after the last full one, and one window for a clip shorter than a window. The clip is
    extended to ``(count - 1) * hop + window`` samples: with zeros, or with the clip repeated
    from its start (sample i is ``clip[i % n]``).
    """
    check_fix_length_by(fix_length_by)
    if n < 1:
        raise AudioError("empty clip: no samples to cut into windows")
    if fix_length_by == "crop":
        if n < window:
            raise AudioError(f"clip of {n} samples is shorter than the {window}-sample window "
                             f"with fix_length_by 'crop'; use 'zero-pad' or 'repeat-pad'")
        return 1 + (n - window) // hop
    return 1 + -(-max(n - window, 0) // hop)


def check_hop(hop, window: int) -> int:
    if not isinstance(hop, int) or isinstance(hop, bool) or not 1 <= hop <= window:
        raise ConfigError(f"'window_hop'={hop!r} must be an int between 1 and the window ({window})")
    return hop


def check_pooling(pooling) -> tuple[str, ...]:
    """``window_pooling`` as a tuple of distinct names of :data:`WINDOW_POOLINGS` (a single
    name is accepted)."""
    if isinstance(pooling, str):
        pooling = [pooling]
    if (not isinstance(pooling, (list, tuple)) or not pooling
            or any(p not in WINDOW_POOLINGS for p in pooling) or len(set(pooling)) != len(pooling)):
        raise ConfigError(f"'window_pooling' must be a non-empty list of distinct names from "
                          f"{', '.join(WINDOW_POOLINGS)}, got {pooling!r}")
    return tuple(pooling)


# ----------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="elmarc_tf")
class SlidingWindows(keras.layers.Layer):
    """Clips ``(batch, n)`` (or ``(batch, n, 1)``) -> windows ``(batch * count, window, 1)``.

    ``count`` = :func:`window_count` ``(n, window, hop, fix_length_by)``, the same for every clip
    of a batch (clips of one batch have one length; ``n`` may change from batch to batch). Row
    ``b * count + j`` is window j (samples ``j * hop`` .. ``j * hop + window - 1``) of clip b.
    A clip shorter than a window with ``crop`` fails: :class:`AudioError` when its length is
    known when the layer runs, else TensorFlow's ``InvalidArgumentError`` naming fix_length_by.
    """

    def __init__(self, window: int, hop: int | None = None, fix_length_by: str = "crop", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.window = int(window)
        self.hop = check_hop(self.window if hop is None else hop, self.window)
        self.fix_length_by = check_fix_length_by(fix_length_by)

    def call(self, clips):
        if len(clips.shape) == 3:
            clips = clips[..., 0]
        clips = tf.cast(clips, self.compute_dtype)
        w, h = self.window, self.hop
        if clips.shape[1] is not None:  # known now: the same error as window_count
            window_count(int(clips.shape[1]), w, h, self.fix_length_by)
        n = tf.shape(clips)[1]
        if self.fix_length_by == "crop":
            tf.debugging.assert_greater_equal(
                n, w, message=f"clip shorter than the {w}-sample window with fix_length_by crop")
            count = 1 + (n - w) // h
        else:
            tf.debugging.assert_positive(n, message="empty clip: no samples to cut into windows")
            count = 1 + -(-tf.maximum(n - w, 0) // h)
        clips = fix_length_tf(clips, (count - 1) * h + w, self.fix_length_by)
        windows = tf.signal.frame(clips, w, h, axis=1)  # (batch, count, window)
        return tf.reshape(windows, (-1, w, 1))

    def compute_output_shape(self, input_shape):
        return (None, self.window, 1)

    def get_config(self):
        return {**super().get_config(), "window": self.window, "hop": self.hop,
                "fix_length_by": self.fix_length_by}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class WindowPooling(keras.layers.Layer):
    """``[per_window (batch * count, d), clips (batch, ...)]`` -> ``(batch, d * len(pooling))``.

    The rows of each clip (consecutive, as :class:`SlidingWindows` makes them) are summarised by
    every statistic in ``pooling`` (``mean``, ``max``) and the results concatenated in that
    order: ``[mean(d), max(d)]``. ``clips`` only gives the batch size.
    """

    def __init__(self, pooling=DEFAULT_WINDOW_POOLING, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.pooling = list(check_pooling(pooling))

    def call(self, inputs):
        per_window, clips = inputs
        d = per_window.shape[-1]
        grouped = tf.reshape(per_window, (tf.shape(clips)[0], -1, d))  # (batch, count, d)
        return tf.concat([WINDOW_POOLINGS[p](grouped, axis=1) for p in self.pooling], axis=-1)

    def compute_output_shape(self, input_shapes):
        per_window, clips = input_shapes
        return (clips[0], per_window[-1] * len(self.pooling))

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class WindowedFeatures(keras.layers.Layer):
    """The scales' vectors ``[(batch, d_s * P), ...]`` -> their concatenation ``(batch, D)``.

    ``scales``: one dict per input, in order — ``name``, ``model`` (the window model's layer name
    in the extractor), ``window``, ``hop``, ``pooling`` (the statistics, in vector order) and
    ``taps`` (the per-window layout of its tap means: :meth:`TapPooling.layout`). The layer only
    concatenates; :meth:`layout` names every slice.
    """

    def __init__(self, scales, fix_length_by: str = "crop", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.scales = [dict(s) for s in scales]
        self.fix_length_by = check_fix_length_by(fix_length_by)

    def call(self, vectors):
        vectors = list(vectors) if isinstance(vectors, (list, tuple)) else [vectors]
        return vectors[0] if len(vectors) == 1 else tf.concat(vectors, axis=-1)

    def compute_output_shape(self, input_shapes):
        shapes = input_shapes if isinstance(input_shapes[0], (list, tuple)) else [input_shapes]
        return (shapes[0][0], sum(int(s[-1]) for s in shapes))

    def layout(self) -> list[dict]:
        """Every slice, in vector order (scale by scale, statistic by statistic, tap by tap):
        ``name`` (tap), ``index`` (tap index in the scale's model), ``offset``, ``width``,
        ``span`` (= width), ``padding`` (0), ``scale``, ``scale_index``, ``window``, ``hop``,
        ``pooling``."""
        out, offset = [], 0
        for s, scale in enumerate(self.scales):
            for statistic in scale["pooling"]:
                for tap in scale["taps"]:
                    out.append({"name": tap["name"], "index": tap["index"], "offset": offset,
                                "width": tap["width"], "span": tap["width"], "padding": 0,
                                "scale": scale["name"], "scale_index": s, "window": scale["window"],
                                "hop": scale["hop"], "pooling": statistic})
                    offset += tap["width"]
        return out

    def get_config(self):
        return {**super().get_config(), "scales": self.scales, "fix_length_by": self.fix_length_by}


__all__ = ["WINDOW_POOLINGS", "DEFAULT_WINDOW_POOLING", "WindowScale", "window_count",
           "check_hop", "check_pooling", "SlidingWindows", "WindowPooling", "WindowedFeatures"]
