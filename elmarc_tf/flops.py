"""Analytic cost of one clip through an extractor, counted from the layer shapes.

A convolution producing ``out`` positions x ``filters`` maps from a kernel ``(*k, in, filters)``
costs ``2 * out * prod(k) * in * filters`` FLOPs (one multiply and one add per weight and output
position). Biases, activations, pooling and the tap means are linear in the activations and are
left out (well under 1 % for every paper configuration); so is the log-mel, which the pipeline
computes before the extractor.

A windowed extractor (``samplecnn``) runs its window models once per window: one clip of ``n``
samples costs, per scale, its window count (:func:`~elmarc_tf.frontends.windows.window_count`)
times one window's FLOPs (:func:`clip_flops`).
"""

from __future__ import annotations

import math

import keras

from .frontends.windows import WindowedFeatures, window_count
from .keras_graph import weighted_layers


def conv_output_shape(layer: keras.layers.Layer) -> tuple:
    """Output shape of a built Conv1D/Conv2D layer of a functional model: the convolution's own
    map, also where a pooling is fused into the layer (``FrequencyMaxConv2D``)."""
    base = keras.layers.Conv2D if layer.rank == 2 else keras.layers.Conv1D
    return tuple(base.compute_output_shape(layer, layer.input.shape))


def conv_flops(layer: keras.layers.Layer) -> int:
    """FLOPs of one clip through a built Conv1D/Conv2D layer of a functional model."""
    out_positions = math.prod(int(d) for d in conv_output_shape(layer)[1:-1])
    return 2 * out_positions * math.prod(tuple(layer.kernel.shape))


def model_flops(model: keras.Model) -> int:
    """FLOPs of one clip through every convolution of ``model`` (nested models included)."""
    return sum(conv_flops(layer) for layer in weighted_layers(model)
               if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D))


def clip_flops(model: keras.Model, n_samples: int | None = None) -> int:
    """FLOPs of one clip through the extractor ``model``: :func:`model_flops` for a model with a
    fixed input; for a windowed one, a clip of ``n_samples`` samples: per scale, its windows
    times the FLOPs of one window through that scale's model (``n_samples`` is then required)."""
    windowed = [layer for layer in model.layers if isinstance(layer, WindowedFeatures)]
    if not windowed:
        return model_flops(model)
    if n_samples is None:
        raise ValueError(f"{model.name} takes whole clips: its FLOPs per clip need n_samples")
    [features] = windowed
    return sum(window_count(int(n_samples), s["window"], s["hop"], features.fix_length_by)
               * model_flops(model.get_layer(s["model"])) for s in features.scales)
