"""Analytic cost of one clip through an extractor, counted from the layer shapes.

A convolution producing ``out`` positions x ``filters`` maps from a kernel ``(*k, in, filters)``
costs ``2 * out * prod(k) * in * filters`` FLOPs (one multiply and one add per weight and output
position). Biases, activations, pooling and the tap means are linear in the activations and are
left out (well under 1 % for every paper configuration); so is the log-mel, which the pipeline
computes before the extractor.
"""

from __future__ import annotations

import math

import keras

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
