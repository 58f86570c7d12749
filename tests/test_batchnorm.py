"""Batch normalisation with the current batch's statistics: features depend on the batch."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from elmarc_tf import Config, ConfigError, build_extractor
from elmarc_tf.frontends.common import BatchStatsNormalization


def vgg(**changes):
    return Config(architecture="vgg", num_filters=4, n_frames=1280, **changes)


@pytest.fixture(scope="module")
def clips():
    """Five log-mel-like clips with different levels and textures, (5, 1280, 96)."""
    rng = np.random.RandomState(0)
    base = rng.uniform(-80, 0, (5, 1280, 96)).astype(np.float32)
    return base + np.arange(5, dtype=np.float32)[:, None, None] * 5


def test_layer_uses_batch_statistics_even_when_frozen_and_in_predict():
    x = np.random.RandomState(1).normal(3.0, 2.0, (4, 10, 6, 5)).astype(np.float32)
    inp = keras.Input((10, 6, 5))
    model = keras.Model(inp, BatchStatsNormalization()(inp))
    model.trainable = False
    for y in (model(x).numpy(), model.predict(x, verbose=0)):
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)  # eps = 1e-3
    # Keras's own BatchNormalization, frozen, falls back to its moving statistics (~identity):
    frozen = keras.Model(inp, keras.layers.BatchNormalization(trainable=False)(inp))
    np.testing.assert_allclose(frozen.predict(x, verbose=0), x, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("position", ["before_elu", "after_elu"])
def test_features_of_a_clip_depend_on_its_batch_with_bn_only(clips, position):
    with_bn = build_extractor(vgg(batch_norm=True, batch_norm_position=position), seed=0)
    without = build_extractor(vgg(), seed=0)
    for model, should_change in ((with_bn, True), (without, False)):
        a = model(clips[[0, 1, 2]]).numpy()[0]
        b = model(clips[[0, 3, 4]]).numpy()[0]
        difference = np.abs(a - b).max()
        if should_change:
            assert difference > 1e-2 * np.abs(a).max()
        else:
            assert difference <= 1e-6 * np.abs(a).max()


def test_batch_of_one_is_normalised_by_its_own_statistics(clips):
    """With BN before the ELU and a batch of one clip, each conv map is standardised by the
    clip's own statistics: any gain on the input cancels (features(a x) == features(x))."""
    with_bn = build_extractor(vgg(batch_norm=True), seed=1)
    without = build_extractor(vgg(), seed=1)
    x = clips[:1]
    np.testing.assert_allclose(with_bn(3.0 * x).numpy(), with_bn(x).numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(without(3.0 * x).numpy(), without(x).numpy(), rtol=1e-2)
    # the first normalised map has zero mean and unit variance per channel, for that clip alone
    frontend_bn = with_bn.get_layer("cnn_small_filters_taps").get_layer("bn1")
    inner = keras.Model(with_bn.get_layer("cnn_small_filters_taps").input, frontend_bn.output)
    y = inner(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_batch_norm_is_a_vgg_option_and_changes_the_store_key():
    with pytest.raises(ConfigError, match="'batch_norm' is only available for cnn_small_filters"):
        Config(architecture="sample_level", n_samples=48000, batch_norm=True)
    from elmarc_tf.datasets import Item
    from elmarc_tf.store import store_key

    items = [Item("a.wav", "x", "a.wav")]
    assert store_key(vgg(batch_size=1), items) == store_key(vgg(batch_size=10), items)
    assert store_key(vgg(batch_norm=True, batch_size=1), items) != \
        store_key(vgg(batch_norm=True, batch_size=10), items)


def test_ablation_script_demo_end_to_end(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "batchnorm_ablation.py"
    out = tmp_path / "abl"
    cmd = [sys.executable, str(script), "--demo", "--runs", "2", "--batch-sizes", "1", "10",
           "--folds", "5", "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "max |feature difference| with BN" in done.stdout
    assert "one-way ANOVA across batch sizes" in done.stdout and "F=" in done.stdout
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["check"]["BN"] > 0 and summary["check"]["no BN"] == 0
    assert set(summary["accuracies"]) == {"BN, sorted", "BN, shuffled", "no BN, sorted", "no BN, shuffled"}
    # without BN the accuracy cannot depend on the batch size: same weights, same features
    no_bn = summary["accuracies"]["no BN, sorted"]
    assert no_bn["1"] == no_bn["10"]
    assert summary["anova"]["no BN, sorted"]["F"] == 0
    assert (out / "figure5.png").stat().st_size > 10000
    # resumable: a second run reuses every result
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("accuracy") >= 16
