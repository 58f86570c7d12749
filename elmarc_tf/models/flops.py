"""Analytic cost of one clip through an extractor, counted from the layer shapes.

A convolution producing ``out`` positions x ``filters`` maps from a kernel ``(*k, in, filters)``
costs ``2 * out * prod(k) * in * filters`` FLOPs (one multiply and one add per weight and output
position). Biases, activations, pooling and the tap means are linear in the activations and are
left out (well under 1 % for every paper configuration); so is the log-mel, which the pipeline
computes before the extractor.

A windowed extractor (``samplecnn``) runs its window models once per window: one clip of ``n``
samples costs, per scale, its window count (:func:`~elmarc_tf.frontends.windows.window_count`)
times one window's FLOPs (:func:`clip_flops`).

The input representation of a spectrogram front-end (the log-mel or a LEAF-family one,
:func:`elmarc_tf.frontends.filterbank.representation`) is counted on its own by
:func:`representation_flops`, layer by layer: each of our layers states its cost (its
``flops(input_shape)`` method: convolutions as computed, directly or by FFT; poolings, PCEN, the
STFT), Keras' elementwise layers by :data:`ELEMENTWISE_FLOPS`.
"""

from __future__ import annotations

import math

import keras

from ..frontends.windows import WindowedFeatures, window_count
from .keras_graph import weighted_layers

# FLOPs per value of Keras' own layers that LEAF-family representations use.
ELEMENTWISE_FLOPS = {keras.layers.InputLayer: 0, keras.layers.Reshape: 0,
                     keras.layers.LeakyReLU: 2, keras.layers.LayerNormalization: 8}


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

def layer_flops(layer: keras.layers.Layer, input_shape) -> int:
    """FLOPs of one clip through ``layer`` given its concrete input shape ``(batch, ...)``: the
    layer's own ``flops(input_shape)``, else :data:`ELEMENTWISE_FLOPS` per input value."""
    if hasattr(layer, "flops"):
        return int(layer.flops(tuple(input_shape)))
    for kind, per_value in ELEMENTWISE_FLOPS.items():
        if isinstance(layer, kind):
            return per_value * math.prod(int(d) for d in input_shape[1:])
    raise TypeError(f"no FLOP count for layer '{layer.name}' ({type(layer).__name__})")


def representation_flops(representation, n_samples: int) -> dict[str, int]:
    """FLOPs of one clip of ``n_samples`` through a representation, layer by layer (in order).

    ``representation``: one layer (:class:`~elmarc_tf.frontends.melspec.LogMelSpectrogram`) or a chain
    model of :mod:`elmarc_tf.frontends.leaf` (``build_representation``), ``(batch, n) -> (batch,
    frames, filters)``; each layer's input shape is propagated from ``(1, n_samples)``.
    """
    layers = representation.layers if isinstance(representation, keras.Model) else [representation]
    shape, out = (1, int(n_samples)), {}
    for layer in layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out[layer.name] = layer_flops(layer, shape)
        shape = tuple(layer.compute_output_shape(shape))
    return out
