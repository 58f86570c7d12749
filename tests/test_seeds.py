"""Seeded random weights with the authors' initializer."""

import numpy as np

from conftest import random_input, small_config
from elmarc_tf import Config, build_extractor
from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.frontends.common import TRUNCATED_NORMAL_STD


def test_same_seed_same_features_different_seed_different_weights(small_name):
    cfg = small_config(small_name)
    x = random_input(cfg)
    a, b, c = (build_extractor(cfg, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    va, vb, vc = (original_variables(m) for m in (a, b, c))
    for name in va:
        np.testing.assert_array_equal(va[name], vb[name])
        if name.endswith("kernel:0"):
            assert not np.array_equal(va[name], vc[name]), name


def test_layers_of_the_same_shape_get_different_kernels():
    v = original_variables(build_extractor(small_config("sample_level"), seed=0))
    assert not np.array_equal(v["conv1d_2/kernel:0"], v["conv1d_3/kernel:0"])


def test_kernel_distribution_is_tf1_variance_scaling():
    """TF1 variance_scaling_initializer(): 2-sigma truncated normal, sigma = sqrt(1.3 * 2 / fan_in).

    VGG-717's 3x3x717 kernels have 4.6 M values: the empirical std is within 0.1 % of
    sigma * 0.8796 (the std of a 2-sigma truncated unit normal); no value exceeds 2 sigma.
    """
    model = build_extractor(Config(architecture="vgg", num_filters=717, n_frames=1376))
    kernel = original_variables(model)["3CNN/kernel:0"]
    fan_in = 3 * 3 * 717
    sigma = np.sqrt(1.3 * 2.0 / fan_in)
    assert abs(kernel.std() / (sigma * TRUNCATED_NORMAL_STD) - 1) < 1e-3
    assert abs(kernel.mean()) < 1e-3 * sigma * 10
    assert np.abs(kernel).max() <= 2 * sigma * (1 + 1e-6)
    assert np.abs(kernel).max() > 1.99 * sigma
    assert np.all(original_variables(model)["3CNN/bias:0"] == 0)
