"""Batch normalisation with the current batch's statistics: features depend on the batch."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import numpy_reference
from elmarc_tf import Config, ConfigError, build_extractor, compile_extractor
from elmarc_tf.studies.ablation import batch_order, features_in_batches
from elmarc_tf.frontends.common import BatchStatsNormalization
from elmarc_tf.models.tf1_weights import original_variables


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
def test_each_placement_equals_a_numpy_computation_with_batch_statistics(clips, position):
    """conv -> BN -> ELU -> pool (before_elu) and conv -> ELU -> BN -> pool (after_elu), BN with the
    statistics of the batch, against the NumPy reference; clip 0 in two batches gets different
    features, each equal to the reference for its own batch.

    Tolerance: TensorFlow's float32 batch moments over 3 x 1280 x 96 values are off by up to
    ~2.5e-3 of the variance (measured against float64), so features agree to ~1e-3 of the largest
    (after_elu: ELU outputs with means ~60 and a channel saturated at -1); rtol 5e-3 plus 5e-3 of
    the largest value. The two placements differ by far more (checked below).
    """
    cfg = vgg(batch_norm=True, batch_norm_position=position)
    model = build_extractor(cfg, seed=0)
    weights = original_variables(model)
    other = "after_elu" if position == "before_elu" else "before_elu"
    firsts = []
    for batch in ([0, 1, 2], [0, 3, 4]):
        ours = model(clips[batch]).numpy()
        ref = numpy_reference.features(cfg.architecture, weights, clips[batch], cfg.to_dict())
        np.testing.assert_allclose(ours, ref, rtol=5e-3, atol=5e-3 * np.abs(ref).max())
        # the other placement is a different computation: this comparison tells them apart
        wrong = numpy_reference.features(cfg.architecture, weights, clips[batch],
                                         cfg.replace(batch_norm_position=other).to_dict())
        assert np.abs(wrong - ref).max() > 20 * 5e-3 * np.abs(ref).max()
        firsts.append(ours[0])
    assert np.abs(firsts[0] - firsts[1]).max() > 1e-2 * np.abs(firsts[0]).max()


def test_without_bn_a_clip_has_the_same_features_in_any_batch(clips):
    cfg = vgg()
    model = build_extractor(cfg, seed=0)
    ref = numpy_reference.features(cfg.architecture, original_variables(model), clips[[0]],
                                   cfg.to_dict())[0]
    for batch in ([0, 1, 2], [0, 3, 4], [0]):
        np.testing.assert_allclose(model(clips[batch]).numpy()[0], ref, rtol=1e-4,
                                   atol=1e-4 * np.abs(ref).max())


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
    from elmarc_tf.extraction.store import store_key

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
    # resumable: a second run reuses every store and every result, writing none of them again
    written = file_times(out / "stores")
    for name in ("manifest.json", "features.npy", "accuracy.json"):  # conditions x sizes x runs
        assert sum(Path(p).name == name for p in written) == 4 * 2 * 2
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert file_times(out / "stores") == written
    assert json.loads((out / "ablation.json").read_text())["accuracies"] == summary["accuracies"]


def file_times(folder: Path) -> dict:
    """Every file under ``folder``: its modification time (ns) and size."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_features_in_batches_computes_each_batch_in_order_and_returns_original_rows():
    """A function of the whole batch (each row: its own value, and the sum of its batch): the
    result must be in the original row order, each row computed with its own batch companions."""
    labels = np.array(["b", "a", "b", "a", "c"])
    inputs = np.arange(5, dtype=np.float64)[:, None]

    def fn(batch):
        return np.stack([batch[:, 0], np.full(len(batch), batch[:, 0].sum())], axis=1)

    order = batch_order(labels, "sorted", run=0)
    np.testing.assert_array_equal(order, [1, 3, 0, 2, 4])  # grouped by class, stable
    got = features_in_batches(fn, inputs, order, batch_size=2)  # batches {1, 3}, {0, 2}, {4}
    np.testing.assert_array_equal(got, [[0, 2], [1, 4], [2, 2], [3, 4], [4, 4]])
    shuffled = batch_order(labels, "shuffled", run=1)
    assert sorted(shuffled) == list(range(5))
    np.testing.assert_array_equal(shuffled, batch_order(labels, "shuffled", run=1))
    got = features_in_batches(fn, inputs, shuffled, batch_size=3)
    first, rest = shuffled[:3], shuffled[3:]
    expected = [[i, inputs[first].sum() if i in first else inputs[rest].sum()] for i in range(5)]
    np.testing.assert_array_equal(got, expected)


def test_without_bn_sorted_and_shuffled_batches_give_identical_features(clips):
    """The ablation's no-BN conditions: any order, any batch size, the same per-clip features;
    with BN they differ (so this comparison can tell)."""
    labels = np.array(["x", "y", "x", "y", "x"])
    plain = compile_extractor(vgg(), 0)
    sorted_rows = features_in_batches(plain, clips, batch_order(labels, "sorted", 0), 2)
    one_by_one = features_in_batches(plain, clips, np.arange(5), 1)
    for run in (0, 1):
        shuffled = features_in_batches(plain, clips, batch_order(labels, "shuffled", run), 3)
        np.testing.assert_allclose(shuffled, sorted_rows, rtol=1e-6, atol=1e-6 * np.abs(sorted_rows).max())
    np.testing.assert_allclose(one_by_one, sorted_rows, rtol=1e-6, atol=1e-6 * np.abs(sorted_rows).max())
    bn = compile_extractor(vgg(batch_norm=True), 0)
    a = features_in_batches(bn, clips, batch_order(labels, "sorted", 0), 2)
    b = features_in_batches(bn, clips, batch_order(labels, "shuffled", 0), 3)
    assert np.abs(a - b).max() > 1e-2 * np.abs(a).max()
