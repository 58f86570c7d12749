"""The optimised extractor (fused conv + max over frequency) against Keras' plain layers.

``build_extractor(..., fast=False)`` builds every convolution as a plain Keras Conv2D/Conv1D
followed by its pooling layer, i.e. the unoptimised graph; the default fast graph must hold the
same weights and give the same features. Tolerance: 1e-5 relative to the largest feature — the
fused layer sums each filter's products in a different order (Conv1D over the bands instead of
Conv2D), which moves float32 results by a few ulps (~1e-7 relative) and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL, random_input, small_config

from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.models.extractor import build_extractor
from elmarc_tf.models.flops import model_flops
from elmarc_tf.frontends.common import FrequencyMaxConv2D

CASES = {
    **{name: {} for name in SMALL},
    # the paper's selections: only the pooled tap, so the fused layer is all that is computed
    "cnn_single_7x86_pool_tap": dict(SMALL["cnn_single_7x86"], selected_features_list=[1]),
    "cnn_single_7x96_pool_tap": dict(SMALL["cnn_single_7x96"], selected_features_list=[1]),
    # a pool that does not span the frequency axis: the plain MaxPooling2D path
    "cnn_single_partial_pool": dict(SMALL["cnn_single_7x86"], pool_shape=(2, 5)),
    "cnn_music_temporal_tap": dict(SMALL["cnn_music"], selected_features_list=[1]),
}


def _config(name):
    from elmarc_tf import Config

    return small_config(name) if name in SMALL else Config.from_dict(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_extractor_matches_plain_layers(name):
    cfg = _config(name)
    fast, plain = build_extractor(cfg, seed=5, fast=True), build_extractor(cfg, seed=5, fast=False)
    fast_vars, plain_vars = original_variables(fast), original_variables(plain)
    assert sorted(fast_vars) == sorted(plain_vars)
    for key, value in plain_vars.items():
        np.testing.assert_array_equal(fast_vars[key], value, err_msg=key)
    assert model_flops(fast) == model_flops(plain)

    x = random_input(cfg, batch=3, seed=1)
    want = np.asarray(plain(x))
    got = np.asarray(fast(x))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def _graph_shapes(model, cfg):
    import tensorflow as tf

    spec = tf.TensorSpec((2, cfg.n_frames, cfg.n_mels), tf.float32)
    graph = tf.function(lambda x: model(x)).get_concrete_function(spec).graph
    return {tuple(o.shape.as_list()) for op in graph.get_operations() for o in op.outputs
            if o.shape.rank is not None}


def test_fused_layer_never_builds_the_full_map():
    """7x86 with its 1x11 pool (the paper's pool tap alone): the (b, T', 11, nf) map of the
    convolution exists in the plain graph and nowhere in the fast one."""
    cfg = _config("cnn_single_7x86_pool_tap")
    full_map = (2, cfg.n_frames - 6, cfg.n_mels - 86 + 1, cfg.num_filters)
    assert full_map in _graph_shapes(build_extractor(cfg, seed=0, fast=False), cfg)
    fast = build_extractor(cfg, seed=0)
    assert full_map not in _graph_shapes(fast, cfg)
    assert sum(isinstance(layer, FrequencyMaxConv2D) for layer in fast.layers[1].layers) == 1


def test_concatenated_taps_are_averaged_part_by_part():
    """cnn_music's timbral and temporal taps concatenate branches along channels: the fast graph
    averages each branch and never writes the concatenated (b, T, 14 nf) map; the plain one does."""
    cfg = _config("cnn_music")
    concatenated = (2, cfg.n_frames, 14 * cfg.num_filters)
    assert concatenated in _graph_shapes(build_extractor(cfg, seed=0, fast=False), cfg)
    fast = build_extractor(cfg, seed=0)
    assert concatenated not in _graph_shapes(fast, cfg)
    assert fast.get_layer("features").tap_parts == [6, 4]  # six timbral branches, four temporal
