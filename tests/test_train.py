"""End-to-end training (elmarc_tf.studies.train), trained weights (extract --weights) and the
random-vs-trained study, on tiny models and a few 2-second demo clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy import stats

from conftest import demo_config, demo_items
from elmarc_tf import Config, build_extractor
from elmarc_tf.cli import main
from elmarc_tf.errors import ConfigError, WeightsError
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.inputs_cache import load_inputs
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.studies.random_vs_trained import Bootstrap, correlations, run_random_vs_trained
from elmarc_tf.studies.report import compare, load_results
from elmarc_tf.studies.results import SUMMARY_KEYS
from elmarc_tf.extraction.store import load_store
from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.studies.train import (TrainingData, TrainingSplit, build_classifier, check_trainable, clip_probabilities,
                             extractor_name, patch_starts, train_experiment,
                             train_split, training_splits)
from elmarc_tf.models.trained_weights import apply_trained_weights, read_trained_weights

# Two spectrogram and two waveform front-ends, small enough to train in a second.
SPECTROGRAM = dict(architecture="7x96", num_filters=8, n_frames=80, train_patch_frames=20)
WAVEFORM = dict(architecture="sample_level", num_filters=4, n_samples=22000,
                train_patch_samples=4400)


@pytest.fixture(scope="module", name="demo_items")
def demo_items_fixture(tmp_path_factory):
    """16 demo clips (4 per class) of 2 s: ~94 log-mel frames, 24 000 samples at 12 kHz."""
    return demo_items(tmp_path_factory.mktemp("demo"), 4, 2.0)


def _inputs(cfg, items, tmp_path):
    x, errors = load_inputs(cfg, items, tmp_path / "inputs", RunOptions(progress=False))
    assert not any(errors)
    labels = sorted({it.label for it in items})
    return np.asarray(x), np.array([labels.index(it.label) for it in items]), labels


# ------------------------------------------------------------------------------ the model
# Log-mel inputs are in dB (tens), waveforms within +-1: the default learning rate (1e-4) suits
# the first, the second learns faster with 1e-3.
@pytest.mark.parametrize("fields, learning_rate", [(SPECTROGRAM, 1e-4), (WAVEFORM, 1e-3)],
                         ids=["spectrogram", "waveform"])
def test_training_starts_from_the_random_extractor_and_lowers_the_loss(demo_items, tmp_path, fields,
                                                                       learning_rate):
    # One step per epoch on all 16 clips, no dropout, whole inputs: the loss recorded for epoch k
    # is then exactly the training loss of the weights before step k.
    cfg = demo_config(demo_items, fields, train_patch_frames=None, train_patch_samples=None,
                  dropout=0.0, train_batch_size=16, epochs=12, patience=12,
                  learning_rate=learning_rate)
    x, y, labels = _inputs(cfg, demo_items, tmp_path)
    everything = np.arange(len(y))
    split = TrainingSplit("split", everything, everything, everything)

    # Epoch 0 is the random extractor of the same seed: same variables, same values.
    model = build_classifier(cfg, seed=3, n_classes=4)
    trained_part = original_variables(model.get_layer(extractor_name(cfg)))
    random = original_variables(build_extractor(cfg, seed=3))
    assert trained_part.keys() == random.keys()
    for name, value in random.items():
        np.testing.assert_array_equal(trained_part[name], value, err_msg=name)

    result = train_split(cfg, 3, TrainingData(x, y, labels), split, tmp_path / "run",
                         run=RunOptions(progress=False, log=lambda m: None))

    # The first recorded loss is the initial model's cross-entropy, computed here from its parts:
    # features z-scored with the training clips' statistics, dense layer, softmax.
    features = np.asarray(model.get_layer(extractor_name(cfg))(x), dtype=np.float64)
    z = (features - features.mean(0)) / np.maximum(features.std(0), 1e-7)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("head_dense").get_weights())
    logits = z @ kernel + bias
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    initial_loss = -log_probs[np.arange(len(y)), y].mean()
    losses = result["curves"]["loss"]
    assert losses[0] == pytest.approx(initial_loss, rel=1e-3)  # float32 forward pass
    assert losses[-1] < 0.7 * losses[0], losses

    # ... and the trained front-end's weights are no longer the random ones.
    trained = read_trained_weights(result["weights"])
    assert trained.meta["epoch"] == result["best_epoch"] > 0
    for name, value in random.items():
        assert not np.allclose(trained.variables[name], value), name


def test_mixed_precision_builds_float16_layers_and_a_float32_softmax(demo_items):
    cfg = demo_config(demo_items, WAVEFORM)
    before = keras.config.dtype_policy().name
    model = build_classifier(cfg, 0, 4, mixed_precision=True)
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    conv = model.get_layer(extractor_name(cfg)).get_layer("sample_level_taps").get_layer("conv1d")
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    assert model.get_layer("head_dense").compute_dtype == "float32"
    assert model.output.dtype == "float32"


# ------------------------------------------------------------------------------ patches
def test_patch_starts_cover_the_clip_without_overlap_except_the_last():
    assert patch_starts(10, 4) == [0, 4, 6]
    assert patch_starts(12, 4) == [0, 4, 8]
    assert patch_starts(4, 4) == [0]
    with pytest.raises(ValueError):
        patch_starts(3, 4)


def test_clip_probabilities_are_the_mean_of_the_patch_probabilities():
    cfg = Config(architecture="cnn_single", filter_shape=[3, 8], pool_shape=[1, 1], n_mels=8,
                 num_filters=5, n_frames=20, train_patch_frames=6)
    model = build_classifier(cfg, seed=1, n_classes=3)
    x = np.random.default_rng(0).uniform(-60, 0, (3, 20, 8)).astype(np.float32)
    predict = lambda batch: model(batch, training=False).numpy()
    got = clip_probabilities(predict, x, [2, 0], patch=6, batch_size=3)  # batches across clips
    for row, clip in zip(got, [2, 0]):
        by_hand = np.mean([predict(x[clip:clip + 1, s:s + 6])[0] for s in (0, 6, 12, 14)], axis=0)
        np.testing.assert_allclose(row, by_hand, rtol=1e-6, atol=1e-7)
    assert got.shape == (2, 3) and np.allclose(got.sum(1), 1.0, atol=1e-6)


# ------------------------------------------------------------------------------ protocols
def test_fold_splits_are_the_svm_folds_with_a_stratified_validation_part(demo_items):
    cfg = demo_config(demo_items, SPECTROGRAM, n_folds=2, val_fraction=0.5)
    y = np.repeat(np.arange(4), 4)  # the fixture's 16 clips, 4 per class, class by class
    assert [it.label for it in demo_items] == [it.label for it in demo_items[::4] for _ in range(4)]
    protocol, splits = training_splits(cfg, demo_items, y)
    assert protocol == "stratified_kfold" and [s.name for s in splits] == ["fold1", "fold2"]
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(16))  # every clip is tested once
    for s in splits:
        assert sorted([*s.train, *s.val, *s.test]) == list(range(16))
        assert np.bincount(y[s.val], minlength=4).tolist() == [1, 1, 1, 1]  # stratified
    split = [it.__class__(it.path, it.label, it.id, split=p)
             for it, p in zip(demo_items, ["train", "val", "test", "train"] * 4)]
    protocol, splits = training_splits(cfg, split, y)
    assert protocol == "predefined_split" and len(splits) == 1
    assert splits[0].val.tolist() == [1, 5, 9, 13] and splits[0].test.tolist() == [2, 6, 10, 14]


@pytest.mark.parametrize("changes, key", [
    (dict(epochs=0), "epochs"), (dict(learning_rate=-1.0), "learning_rate"),
    (dict(learning_rate="fast"), "learning_rate"), (dict(dropout=1.0), "dropout"),
    (dict(val_fraction=0.0), "val_fraction"), (dict(train_batch_size=1.5), "train_batch_size"),
    (dict(head_batch_norm="yes"), "head_batch_norm"), (dict(patience=0), "patience"),
    (dict(train_patch_frames=81), "train_patch_frames"), (dict(trained_weights="abc"), "trained_weights"),
])
def test_bad_training_keys_fail_naming_the_key(demo_items, changes, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        demo_config(demo_items, SPECTROGRAM, **changes)


def test_yaml_style_learning_rate_is_read_as_a_number(demo_items):
    assert demo_config(demo_items, SPECTROGRAM, learning_rate="1e-3").learning_rate == 1e-3


@pytest.mark.parametrize("fields, message", [
    (dict(architecture="vgg", num_filters=2, n_frames=1280, batch_norm=True), "'batch_norm'"),
    (dict(features_type="MFCC"), "'mfcc' cannot be trained: training takes a front-end with a "
                                 "fixed-size input"),
    (dict(architecture="leaf"), "'leaf' cannot be trained.* takes clip input"),
    (dict(architecture="vgg", num_filters=2, n_frames=1376, train_patch_frames=140),
     "'train_patch_frames'=140: 'n_frames'=140 is too short for cnn_small_filters"),
])
def test_untrainable_configs_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        check_trainable(Config(**fields))


# ------------------------------------------------------------------------------ resume
RESUME_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    from elmarc_tf import Config
    from elmarc_tf.extraction.options import RunOptions
    from elmarc_tf.studies.train import TrainingData, TrainingOptions, TrainingSplit, train_split
    data = np.load(sys.argv[1])
    cfg = Config.from_dict(__import__("json").loads(sys.argv[2]))
    def stop(epoch, state):
        if epoch == int(sys.argv[4]):
            os._exit(3)  # killed right after this epoch's checkpoint
    split = TrainingSplit("fold1", data["train"], data["val"], data["test"])
    train_split(cfg, 5, TrainingData(data["x"], data["y"], list("abcd")), split, sys.argv[3],
                TrainingOptions(on_epoch_end=stop), RunOptions(progress=False, log=lambda m: None))
""")


def assert_a_killed_training_resumes_to_an_uninterrupted_one(cfg, x, y, tmp_path) -> None:
    """Train ``cfg`` on ``x`` / ``y`` (12 clips, 4 classes) in a process killed after epoch 2,
    resume it here, and train it uninterrupted: the same losses, best weights, last weights and
    optimiser state."""
    data = dict(x=x, y=y, train=np.arange(8), val=np.arange(8, 10), test=np.arange(10, 12))
    np.savez(tmp_path / "data.npz", **data)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "data.npz"),
                           json.dumps(cfg.to_dict()), str(killed), "2"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr[-2000:]
    with np.load(killed / "checkpoint.npz") as z:
        assert json.loads(str(z["state"]))["epoch"] == 2
    assert not (killed / "result.json").exists()

    split = TrainingSplit("fold1", data["train"], data["val"], data["test"])
    quiet = RunOptions(progress=False, log=lambda m: None)
    resumed = train_split(cfg, 5, TrainingData(x, y, list("abcd")), split, killed, run=quiet)
    whole = train_split(cfg, 5, TrainingData(x, y, list("abcd")), split, tmp_path / "whole",
                        run=quiet)

    assert resumed["curves"]["loss"] == whole["curves"]["loss"]
    assert resumed["weights_digest"] == whole["weights_digest"]  # the best epoch's weights
    with np.load(killed / "checkpoint.npz") as a, np.load(tmp_path / "whole" / "checkpoint.npz") as b:
        arrays = [n for n in b.files if n != "state"]  # the last epoch's weights and Adam state
        assert sorted(a.files) == sorted(b.files) and len(arrays) > 10
        for name in arrays:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    # Random patch offsets, two patches per clip, dropout: every source of randomness is on.
    cfg = Config(architecture="frame_level", num_filters=4, n_samples=3000, train_patch_samples=1500,
                 train_patches_per_clip=2, dropout=0.5, train_batch_size=3, epochs=3, patience=3,
                 learning_rate=1e-3)
    rng = np.random.default_rng(0)
    y = np.arange(12) % 4
    x = (rng.standard_normal((12, 3000, 1)) * (1 + y[:, None, None])).astype(np.float32)
    assert_a_killed_training_resumes_to_an_uninterrupted_one(cfg, x, y, tmp_path)


# ------------------------------------------------------------------------------ --weights
def test_extract_with_trained_weights_gives_the_trained_models_feature_vector(demo_items, tmp_path,
                                                                            capsys):
    fields = {**WAVEFORM, "train_patch_samples": None, "n_folds": 2, "val_fraction": 0.5,
              "epochs": 2, "learning_rate": 1e-3}
    cfg = demo_config(demo_items, fields)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps(cfg.to_dict()))
    assert main(["train", str(config_file), "--seed", "1", "--out", str(tmp_path / "results"),
                 "--checkpoints", str(tmp_path / "training"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "results" / "tiny_end-to-end" / "results.json").read_text())
    weights = summary["per_seed"][0]["splits"][0]["weights"]

    assert main(["extract", str(config_file), "--weights", weights, "--out",
                 str(tmp_path / "features"), "--quiet"]) == 0
    assert main(["extract", str(config_file), "--seed", "1", "--out", str(tmp_path / "features"),
                 "--quiet"]) == 0
    stores = sorted((tmp_path / "features" / "demo").glob("*/seed1"))
    assert len(stores) == 2  # trained and random features: two stores
    by_weights = {load_store(s).manifest["config"]["trained_weights"]: load_store(s) for s in stores}
    trained = read_trained_weights(weights)
    assert set(by_weights) == {None, trained.digest}
    X, _, ids, manifest = by_weights[trained.digest]
    assert manifest["weights"]["digest"] == trained.digest and manifest["seed"] == 1
    for store in stores:
        capsys.readouterr()
        assert main(["info", str(store)]) == 0
        digest = load_store(store).manifest["config"]["trained_weights"]
        line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("weights:"))
        assert line == ("weights:  random (seed 1)" if digest is None else
                        f"weights:  trained {digest[:12]} ({weights}; seed 1, fold1, epoch "
                        f"{trained.meta['epoch']})")

    # The trained classifier's own feature vector on the same inputs (whole clips).
    model = build_classifier(cfg, 1, 4)
    apply_trained_weights(model, trained)
    x, _ = load_inputs(cfg, demo_items, tmp_path / "training" / "inputs",
                       RunOptions(progress=False))
    order = [[it.id for it in demo_items].index(i) for i in ids]
    expected = model.get_layer(extractor_name(cfg))(np.asarray(x)[order]).numpy()
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(X, by_weights[None].X, rtol=1e-3)


def test_trained_weights_are_checked(demo_items, tmp_path):
    cfg = demo_config(demo_items, WAVEFORM)
    with pytest.raises(ConfigError, match="'trained_weights'.*--weights"):
        extract(cfg.replace(trained_weights="0" * 64), demo_items, out=tmp_path,
                run=RunOptions(progress=False))
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(WeightsError, match="not a trained weights file"):
        read_trained_weights(tmp_path / "plain.npz")


# ------------------------------------------------------------------------------ the study
def test_correlations_are_scipys_and_the_bootstrap_resamples_seeds():
    random = {"a": [0.5, 0.6, 0.55], "b": [0.7, 0.72, 0.69], "c": [0.8, 0.85, 0.9], "d": [0.6, 0.5, 0.7]}
    trained = {"a": [0.6, 0.62, 0.7], "b": [0.75, 0.7, 0.8], "c": [0.9, 0.88, 0.93], "d": [0.66, 0.6, 0.7]}
    c = correlations(random, trained, n_boot=500, seed=1)
    mx = [np.mean(v) for v in random.values()]
    my = [np.mean(v) for v in trained.values()]
    assert c["spearman"]["r"] == pytest.approx(stats.spearmanr(mx, my).statistic)
    assert c["spearman"]["p"] == pytest.approx(stats.spearmanr(mx, my).pvalue)
    assert c["pearson"]["r"] == pytest.approx(stats.pearsonr(mx, my).statistic)
    assert c["pearson"]["p"] == pytest.approx(stats.pearsonr(mx, my).pvalue)
    for m in ("spearman", "pearson"):
        assert c[m]["ci_low"] <= c[m]["r"] <= c[m]["ci_high"] and c[m]["ci_low"] < c[m]["ci_high"]
    # Without spread over seeds every resample is the point estimate.
    flat = correlations({k: [np.mean(v)] * 3 for k, v in random.items()},
                        {k: [np.mean(v)] * 3 for k, v in trained.items()}, n_boot=50)
    assert flat["pearson"]["ci_low"] == pytest.approx(flat["pearson"]["r"])
    assert flat["pearson"]["ci_high"] == pytest.approx(flat["pearson"]["r"])
    with pytest.raises(Exception, match="at least 3"):
        correlations({"a": [1.0], "b": [0.5]}, {"a": [1.0], "b": [0.2]})


@pytest.mark.slow
def test_the_study_writes_table_correlations_and_chart(demo_items, tmp_path):
    base = {"dataset": "demo", "audio_path": str(Path(demo_items[0].path).parents[1]),
            "n_frames": 80, "n_samples": 22000, "train_patch_frames": 20,
            "train_patch_samples": 4400, "epochs": 1, "train_batch_size": 8}
    # A train/val/test split (one model per seed): the fold path is tested above.
    items = [it.__class__(it.path, it.label, it.id, split=p)
             for it, p in zip(demo_items, ["train", "train", "val", "test"] * 4)]
    architectures = {"7x96-8": dict(architecture="7x96", num_filters=8),
                     "sample_level-4": dict(architecture="sample_level", num_filters=4),
                     "frame_level-4": dict(architecture="frame_level", num_filters=4)}
    study = run_random_vs_trained(base, architectures, seeds=(0, 1), out=tmp_path,
                                  items=items, bootstrap=Bootstrap(n_boot=200),
                                  run=RunOptions(progress=False, log=lambda m: None))

    # The correlations are scipy's on the accuracies of the results files on disk.
    results = {r["name"]: r for r in load_results([tmp_path / "results"])}
    mean = lambda name: np.mean(results[name]["accuracies"])
    mx = [mean(f"{a}_random_SVM") for a in architectures]
    # With train/val/test lists the paper's protocol is this one: the two columns agree.
    assert mx == [mean(f"{a}_SVM") for a in architectures]
    for column, suffix in (("trained", "end-to-end"), ("transfer", "trained_SVM")):
        my = [mean(f"{a}_{suffix}") for a in architectures]
        c = study["correlations"][column]
        with warnings.catch_warnings():  # tiny data: a column may be constant (no correlation)
            warnings.simplefilter("ignore")
            expected = {"pearson": stats.pearsonr(mx, my), "spearman": stats.spearmanr(mx, my),
                        "kendall": stats.kendalltau(mx, my)}
        for m, e in expected.items():
            assert c[m]["r"] == pytest.approx(e.statistic, nan_ok=True)
            assert c[m]["p"] == pytest.approx(e.pvalue, nan_ok=True)
            if np.isfinite(c[m]["r"]):
                assert c[m]["ci_low"] - 1e-12 <= c[m]["r"] <= c[m]["ci_high"] + 1e-12
    assert {r["classifier"] for r in results.values()} == {"SVM", "end-to-end"}
    assert all(len(r["accuracies"]) == 2 for r in results.values())
    # run (random + SVM), train (end-to-end) and the trained-features experiments: one schema,
    # the keys elmarc compare reads, and beyond them only each verb's own
    schema = {"name", "model", "classifier", "dataset", "feature_length", "protocol", "standardize",
              "nested_cv", "seeds", "accuracies", "mean", "std", "config", "per_seed"}
    own = {"SVM": {"svm_max_iter", "n_capped_fits", "n_fits"}, "end-to-end": {"mixed_precision"},
           "trained_SVM": set(), "random_SVM": set()}
    for name, r in results.items():
        verb = next(v for v in ("trained_SVM", "random_SVM", "SVM", "end-to-end")
                    if name.endswith(v))
        assert set(r) - {"results_file"} == schema | own[verb], name
        assert all({"seed", "accuracy", "protocol", "best_params", "feature_length"} <= set(e)
                   for e in r["per_seed"]), name
    assert set(SUMMARY_KEYS) == schema

    # Table (text + Markdown), JSON and a PNG, where the study says they are.
    table = Path(study["table_md"]).read_text()
    assert all(a in table for a in architectures) and "Spearman" in table
    assert Path(study["chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(Path(study["json"]).read_text())["correlations"] == study["correlations"]
    # elmarc compare reads random, end-to-end and trained-feature results side by side.
    compared = compare(list(results.values()))
    assert {m["family"] for m in compared["models"]} == {"spectrogram", "waveform"}


def test_train_experiment_reports_the_mean_over_folds_in_the_results_format(demo_items, tmp_path):
    cfg = demo_config(demo_items, SPECTROGRAM, n_folds=2, val_fraction=0.5, epochs=1)
    summary = train_experiment(cfg, seeds=(0,), out=tmp_path / "results", name="t",
                               checkpoints_out=tmp_path / "training", items=demo_items,
                               run=RunOptions(progress=False, log=lambda m: None))
    entry = summary["per_seed"][0]
    assert entry["accuracy"] == pytest.approx(np.mean([s["accuracy"] for s in entry["splits"]]))
    assert entry["fold_accuracies"] == [s["accuracy"] for s in entry["splits"]]
    assert entry["best_epoch"] == [1, 1] and len(entry["splits"][0]["curves"]["loss"]) == 1
    assert sum(s["n_test"] for s in entry["splits"]) == len(demo_items)
    (loaded,) = load_results([tmp_path / "results" / "t"])
    assert loaded["accuracies"] == summary["accuracies"] and loaded["classifier"] == "end-to-end"
    # A rerun reuses the finished trainings (no epoch runs again).
    lines = []
    train_experiment(cfg, seeds=(0,), out=tmp_path / "results", name="t",
                     checkpoints_out=tmp_path / "training", items=demo_items,
                     run=RunOptions(progress=False, log=lines.append))
    assert not any("epoch 1/1" in line for line in lines)


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    bn = tmp_path / "bn.yaml"
    bn.write_text("architecture: vgg\nnum_filters: 2\nn_frames: 1280\nbatch_norm: true\n"
                  "audio_path: nowhere\n")
    overrides = tmp_path / "train.yaml"
    overrides.write_text("epochs: 3\nlearning_rte: 0.001\n")
    for argv, message in (
            (["train", str(bn)], "'batch_norm': true normalises with the current batch"),
            (["random-vs-trained", "--dataset", "gtzan"], "--audio-root is required"),
            (["random-vs-trained", "--demo", "--train-config", str(overrides)],
             "unknown config key 'learning_rte' (did you mean 'learning_rate'?)")):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("elmarc: error: ") and message in err and "\n" not in err


@pytest.mark.parametrize("source", [["--demo"], ["--dataset", "gtzan", "--audio-root", "nowhere"]])
def test_a_train_config_key_that_every_architecture_sets_is_refused_before_any_work(
        tmp_path, capsys, source):
    # Each architecture of the study sets its own num_filters: an override would do nothing.
    overrides = tmp_path / "train.yaml"
    overrides.write_text("epochs: 3\nnum_filters: 64\n")
    out = tmp_path / "study"
    assert main(["random-vs-trained", *source, "--train-config", str(overrides),
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elmarc: error: --train-config: 'num_filters' does nothing for ")
    assert "\n" not in err and not out.exists()
