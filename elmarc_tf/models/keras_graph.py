"""Reading the structure of a Keras 3 functional model: the one place that uses Keras internals.

Keras has no public API for "which layer made this symbolic tensor, from which inputs" or "the
nodes of a model in execution order", and elmarc_tf needs both: the extractor averages a tap that
concatenates branches part by part (:func:`concatenated_parts`), and the profiler replays a model
layer by layer (:func:`nodes_in_order`, :func:`pack_outputs`). Those read private attributes
(``_keras_history``, ``_inbound_nodes``, ``_nodes_by_depth``, ``_outputs_struct``) that a Keras
release may rename; keeping them here, behind small functions, means one file to fix when that
happens. Tested through the fast-path and profile tests.
"""

from __future__ import annotations

import keras


def weighted_layers(model: keras.Layer):
    """Every layer with weights, nested models included, in build order."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from weighted_layers(layer)
        elif layer.weights:
            yield layer


def concatenated_parts(tensor) -> list | None:
    """The inputs of ``tensor`` if a Keras ``Concatenate`` along the last axis made it, else None.

    ``tensor``: a symbolic ``KerasTensor`` of a functional graph.
    """
    history = tensor._keras_history
    layer = history.operation
    if isinstance(layer, keras.layers.Concatenate) and layer.axis in (-1, len(tensor.shape) - 1):
        return list(layer._inbound_nodes[history.node_index].input_tensors)
    return None


def nodes_in_order(model: keras.Model):
    """The nodes of a functional ``model``, inputs first (the order Keras itself runs them in)."""
    for depth in sorted(model._nodes_by_depth, reverse=True):
        yield from model._nodes_by_depth[depth]


def pack_outputs(model: keras.Model, flat_outputs: list):
    """``flat_outputs`` (one value per ``model.outputs``) structured as ``model(...)`` returns them."""
    return keras.tree.pack_sequence_as(model._outputs_struct, flat_outputs)
