"""Weights in the authors' TF1 naming: load them into our models, and write ours out.

The original graph's variables are ``<scope>/kernel:0`` and ``<scope>/bias:0`` with the scope
names TF1 gave its layers (``conv1d``, ``conv1d_1``, ``1CNN``, ``1cnnOut``, ``conv2d_3``, ...);
our layers carry exactly those names. The one layout difference: the frame-level back-end
(``1cnnOut``..``3cnnOut``) was a Conv2D whose kernel ``(7, C, 1, nf)`` spans the whole channel
axis; ours is the equivalent Conv1D with kernel ``(7, C, nf)``.

A weights file is an ``.npz`` keyed by those names, e.g. made in a TF1 session with
``np.savez(path, **{v.name: sess.run(v) for v in tf.trainable_variables()})``.
"""

from __future__ import annotations

import re

import keras
import numpy as np

from ..errors import WeightsError
from ..io.fileio import atomic_save, read_weights
from .keras_graph import weighted_layers

# Our Conv1D layers that are Conv2D with a full-height kernel in the original graph.
_CONV2D_IN_ORIGINAL = re.compile(r"^\dcnnOut$")


def _original_shape(layer_name: str, shape: tuple) -> tuple:
    if _CONV2D_IN_ORIGINAL.match(layer_name) and len(shape) == 3:
        return (shape[0], shape[1], 1, shape[2])
    return tuple(shape)


def _tf1_name(layer_name: str, variable) -> str:
    return f"{layer_name}/{variable.name.split('/')[-1]}:0"


def original_variables(model: keras.Model) -> dict[str, np.ndarray]:
    """Our model's variables keyed by TF1 name, in the original's shapes."""
    out = {}
    for layer in weighted_layers(model):
        for v in layer.weights:
            value = np.asarray(v.numpy())
            out[_tf1_name(layer.name, v)] = value.reshape(_original_shape(layer.name, value.shape))
    return out


def save_original_weights(model: keras.Model, path) -> list[str]:
    """Write the model's variables to ``path`` (``.npz``) by TF1 name; returns the names written.

    An extractor pruned to some taps holds only the layers those taps need; build it with all taps
    selected to export every variable of the original graph.
    """
    variables = original_variables(model)
    atomic_save(path, np.savez, **variables)
    return list(variables)


def load_original_weights(model: keras.Model, path_or_dict) -> list[str]:
    """Assign variables saved from the original TF1 graph (or by :func:`save_original_weights`).

    ``path_or_dict``: an ``.npz`` path or a dict ``{tf1_name: array}``. Every variable of the model
    must be present with the right number of values; names the model does not use (layers pruned
    because their taps are not selected) are skipped and returned.
    """
    source, stored = read_weights(path_or_dict)
    used = set()
    for layer in weighted_layers(model):
        for v in layer.weights:
            name = _tf1_name(layer.name, v)
            if name not in stored:
                raise WeightsError(f"{source}: variable '{name}' is missing "
                                   f"(has {len(stored)} variables, e.g. {sorted(stored)[:3]})")
            value = np.asarray(stored[name])
            expected = _original_shape(layer.name, tuple(v.shape))
            if value.shape != expected and value.shape != tuple(v.shape):
                raise WeightsError(f"{source}: variable '{name}' has shape {value.shape}, "
                                   f"expected {expected}")
            v.assign(value.reshape(v.shape).astype(v.dtype))
            used.add(name)
    return sorted(set(stored) - used)
