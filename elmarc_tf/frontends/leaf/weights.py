"""leaf-audio's saved variables onto the LEAF family's models: its tf.keras variable names mapped
to ours (``layer/variable``), and a loader that checks every variable is given once."""

from __future__ import annotations

import keras
import numpy as np

from ...errors import WeightsError
from ...io.fileio import read_weights


# leaf-audio's variable names (without the model's scope and ':0') -> ours ('layer/variable').
LEAF_AUDIO_NAMES = {
    "kernel": "filterbank/kernel",  # GaborConv1D / SincConv1D: created outside any scope
    "tfbanks_complex_conv/kernel": "filterbank/kernel",  # the time-domain filterbanks' Conv1D
    "tfbanks_preemp/kernel": "preemp/kernel",
    "learnable_pooling/kernel": "pooling/width",  # GaussianLowpass, (1, 1, C, 1)
    "learnable_pooling/conv2d/kernel": "pooling/kernel",  # LearnablePooling1D, (1, K, 1, 1)
    "PCEN/alpha": "pcen/alpha",
    "PCEN/delta": "pcen/delta",
    "PCEN/root": "pcen/root",
    "PCEN/EMA/smooth": "pcen/smooth",
    "PCEN/simple_rnn/simple_rnn_cell/kernel": "pcen/kernel",
    "PCEN/simple_rnn/simple_rnn_cell/recurrent_kernel": "pcen/recurrent_kernel",
    "layer_normalization/gamma": "layer_norm/gamma",
    "layer_normalization/beta": "layer_norm/beta",
}


def our_variable_path(leaf_name: str) -> str | None:
    """Our variable path for a leaf-audio name such as ``leaf/PCEN/alpha:0``, or None."""
    name = leaf_name.split(":")[0]
    return LEAF_AUDIO_NAMES.get(name) or LEAF_AUDIO_NAMES.get(name.partition("/")[2])


def load_leaf_audio_weights(model: keras.Model, path_or_dict) -> list[str]:
    """Assign variables saved from a leaf-audio front-end (``weights.npz`` keyed by their tf.keras
    names, e.g. ``leaf/PCEN/EMA/smooth:0``) to a model built by this module's factories.

    Every variable of ``model`` must be given once, with its number of values (leaf-audio's extra
    unit axes, e.g. the pooling's ``(1, 1, C, 1)``, are dropped). Returns the names not used.
    """
    source, stored = read_weights(path_or_dict)
    by_ours: dict[str, str] = {}
    for leaf_name in stored:
        ours = our_variable_path(leaf_name)
        if ours is not None:
            if ours in by_ours:
                raise WeightsError(f"{source}: '{by_ours[ours]}' and '{leaf_name}' both map "
                                   f"to variable '{ours}'")
            by_ours[ours] = leaf_name
    used = []
    for v in model.weights:
        leaf_name = by_ours.get(v.path)
        if leaf_name is None:
            raise WeightsError(f"{source}: no leaf-audio variable for '{v.path}' "
                               f"(has {sorted(stored)})")
        value = np.asarray(stored[leaf_name])
        if tuple(d for d in value.shape if d != 1) != tuple(d for d in v.shape if d != 1):
            raise WeightsError(f"{source}: variable '{leaf_name}' has shape {value.shape}, "
                               f"expected {tuple(v.shape)} for '{v.path}'")
        v.assign(value.reshape(v.shape).astype(v.dtype))
        used.append(leaf_name)
    return sorted(set(stored) - set(used))
