"""Trained weights files: what ``elmarc train`` keeps of a model, and how an extractor takes it.

A trained weights file is an ``.npz`` of the trained model's variables keyed by their TF1 names
(:mod:`elmarc_tf.models.tf1_weights`: ``conv1d_3/kernel:0``, ``1CNN/bias:0``, ``head_dense/kernel:0``),
so that it loads into the frozen extractor of the same front-end exactly as the authors' weights
do, plus one entry :data:`META_KEY` holding JSON: what made it (architecture, seed, split,
epoch, the training config) and its **digest**, the SHA-256 of the variables (names, dtypes,
shapes and bytes). The digest is the weights' identity: a feature store extracted with them
carries it in its config (``trained_weights``), so trained features get a store key of their own
and are never mistaken for random ones.

Where the input representation learned with the CNN (a LEAF-family representation with
``trainable: true``), the file holds its variables too and its meta names it
(:data:`TRAINED_REPRESENTATION`); extraction computes the CNN's inputs with them
(:func:`apply_trained_representation`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import keras
import numpy as np

from ..errors import DamagedWeightsError, WeightsError
from ..io.fileio import atomic_save, read_npz
from .tf1_weights import load_original_weights, original_variables

META_KEY = "__elmarc_trained__"
# The meta key naming the input representation whose variables the file holds (absent: none).
TRAINED_REPRESENTATION = "trained_representation"
# Variables of a model that are not weights (the state of a dropout layer's random generator).
_NOT_WEIGHTS = ("seed_generator",)


@dataclass(frozen=True)
class TrainedWeights:
    """A read trained weights file: ``variables`` by TF1 name, ``meta`` (what made them) and
    ``digest`` (64 hex digits, the identity of ``variables``)."""

    path: str
    variables: dict
    meta: dict
    digest: str


def weights_digest(variables: dict) -> str:
    """SHA-256 (hex) of ``{name: array}``: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(variables):
        value = np.ascontiguousarray(variables[name])
        h.update(json.dumps([name, value.dtype.str, list(value.shape)]).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def model_weights(model: keras.Model) -> dict:
    """The weights of ``model`` by TF1 name (nested models included; no random-generator state)."""
    return {name: value for name, value in original_variables(model).items()
            if not any(part in name for part in _NOT_WEIGHTS)}


def save_trained_weights(path, model: keras.Model, meta: dict) -> str:
    """Write ``model``'s weights and ``meta`` (JSON-serialisable) to ``path`` atomically;
    returns the digest."""
    variables = model_weights(model)
    digest = weights_digest(variables)
    blob = np.array(json.dumps({**meta, "digest": digest}))
    atomic_save(path, np.savez, **variables, **{META_KEY: blob})
    return digest


def read_trained_weights(path) -> TrainedWeights:
    """Read a file written by :func:`save_trained_weights`; :class:`WeightsError` if it cannot be
    opened, is not one, or its variables do not match the digest it records
    (:class:`~elmarc_tf.errors.DamagedWeightsError` if it is damaged: empty, truncated, ...)."""
    path = os.fspath(path)
    try:
        stored = read_npz(path, "trained weights", DamagedWeightsError)
    except OSError as e:
        raise WeightsError(f"{path}: cannot read trained weights ({e.strerror or e})") from None
    if META_KEY not in stored:
        raise WeightsError(f"{path}: not a trained weights file of 'elmarc train' (no {META_KEY})")
    meta = json.loads(str(stored.pop(META_KEY)))
    digest = weights_digest(stored)
    if meta.get("digest") != digest:
        raise WeightsError(f"{path}: its variables do not match the digest it records "
                           f"(changed after it was written)")
    return TrainedWeights(path, stored, meta, digest)


def apply_trained_weights(model: keras.Model, trained: TrainedWeights) -> list[str]:
    """Assign ``trained``'s variables to ``model`` (an extractor or a trained classifier) by TF1
    name; every variable of ``model`` must be there with its shape. Returns the names left over
    (the classification head, layers of taps the model does not compute)."""
    try:
        return load_original_weights(model, trained.variables)
    except WeightsError as e:
        raise WeightsError(f"{trained.path}: {str(e).removeprefix('weights: ')}") from None


def apply_trained_representation(representation: keras.Layer, trained: TrainedWeights) -> bool:
    """Assign ``trained``'s variables of the input representation to ``representation`` (the
    layer or model :func:`elmarc_tf.models.extractor.input_layers` starts with) if the file holds
    them (its meta names :data:`TRAINED_REPRESENTATION`); returns whether it did.
    :class:`WeightsError` if the file's representation is another one, or a variable is missing."""
    name = trained.meta.get(TRAINED_REPRESENTATION)
    if name is None:
        return False
    if name != representation.name:
        raise WeightsError(f"{trained.path}: trained with input representation '{name}', "
                           f"not '{representation.name}'")
    apply_trained_weights(representation, trained)
    return True
