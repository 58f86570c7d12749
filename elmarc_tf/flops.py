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


def conv_flops(layer: keras.layers.Layer) -> int:
    """FLOPs of one clip through a built Conv1D/Conv2D layer of a functional model."""
    kernel = tuple(layer.kernel.shape)
    # the convolution's own output, also where a pooling is fused into the layer
    output_shape = keras.layers.Conv2D.compute_output_shape if layer.rank == 2 \
        else keras.layers.Conv1D.compute_output_shape
    out_positions = math.prod(int(d) for d in output_shape(layer, layer.input.shape)[1:-1])
    return 2 * out_positions * math.prod(kernel)


def model_flops(model: keras.Model) -> int:
    """FLOPs of one clip through every convolution of ``model`` (nested models included)."""
    from .compat import weighted_layers

    return sum(conv_flops(layer) for layer in weighted_layers(model)
               if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D))
