"""Training the front-ends that take waveforms in windows or through a learnable representation
(elmarc_tf.studies.train: kinds ``windows`` and ``representation``): SampleCNN trained on its
windows, and a 7x96 CNN on the LEAF representation whose filterbank learns with it."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import demo_config, demo_items
from elmarc_tf import Config, build_extractor
from elmarc_tf.errors import ConfigError
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.store import load_store
from elmarc_tf.frontends.filterbank import representation
from elmarc_tf.io.audio import load_audio
from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.models.trained_weights import apply_trained_weights, read_trained_weights
from elmarc_tf.studies.train import (TrainingData, TrainingSplit, build_classifier,
                                     check_trainable, extra_architectures, extractor_name,
                                     load_clips, train_split, training_kind)

from test_train import assert_a_killed_training_resumes_to_an_uninterrupted_one

# A 4-layer SampleCNN (81-sample windows at 12 kHz, every 27 samples at evaluation) and a 7x96
# CNN with 4 filters on the LEAF representation (96 Gabor filters), trainable.
SAMPLECNN = dict(architecture="samplecnn", sizes="3-3-3-3", num_filters=4, sampling_rate=12000,
                 window_hop=27, levels=2, train_patches_per_clip=8)
LEAF_CNN = dict(architecture="7x96", num_filters=4, n_frames=40, train_patch_frames=10,
                input_representation="leaf", trainable=True)
FAMILIES = {"samplecnn": SAMPLECNN, "leaf_cnn": LEAF_CNN}
QUIET = RunOptions(progress=False, log=lambda m: None)


@pytest.fixture(scope="module", name="demo_items")
def demo_items_fixture(tmp_path_factory):
    """8 demo clips (2 per class) of 1 s: 12 000 samples at 12 kHz."""
    return demo_items(tmp_path_factory.mktemp("demo"), 2, 1.0)


def _data(cfg, items, tmp_path):
    x, errors = load_clips(cfg, items, tmp_path / "inputs", QUIET)
    assert not any(errors)
    labels = sorted({it.label for it in items})
    return TrainingData(np.asarray(x), np.array([labels.index(it.label) for it in items]), labels,
                        [it.id for it in items])


def _random_variables(cfg, seed):
    """The random extractor's variables, and for a learnable representation its own (built as
    extraction builds it)."""
    out = original_variables(build_extractor(cfg, seed))
    if training_kind(cfg) == "representation":
        out.update(original_variables(representation(cfg, seed)))
    return out


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_training_starts_from_the_random_extractor_and_lowers_the_loss(demo_items, tmp_path,
                                                                       family):
    cfg = demo_config(demo_items, FAMILIES[family], dropout=0.0, train_batch_size=8, epochs=6,
                  patience=6, learning_rate=3e-3)
    data = _data(cfg, demo_items, tmp_path)
    everything = np.arange(len(data.y))

    # Epoch 0 is the random extractor of the same seed: same variables, same values.
    model = build_classifier(cfg, seed=2, n_classes=4)
    trained_part = original_variables(model.get_layer(extractor_name(cfg)))
    random = _random_variables(cfg, 2)
    assert trained_part.keys() == random.keys()
    for name, value in random.items():
        np.testing.assert_array_equal(trained_part[name], value, err_msg=name)

    result = train_split(cfg, 2, data, TrainingSplit("split", everything, everything, everything),
                         tmp_path / "run", run=QUIET)
    losses = result["curves"]["loss"]
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses

    # Every variable of the front-end learned, the representation's with ``trainable: true``.
    trained = read_trained_weights(result["weights"])
    moved = [n for n, v in random.items() if not np.allclose(trained.variables[n], v)]
    assert sorted(moved) == sorted(random), sorted(set(random) - set(moved))


def test_a_fixed_representation_keeps_its_filterbank(demo_items, tmp_path):
    cfg = demo_config(demo_items, LEAF_CNN, trainable=False)
    assert training_kind(cfg) == "logmel"  # the frames of the whole clip's representation
    model = build_classifier(cfg, seed=0, n_classes=4)
    assert [v.path for v in model.trainable_variables] == [
        "1CNN/kernel", "1CNN/bias", "head_dense/kernel", "head_dense/bias"]
    learned = build_classifier(demo_config(demo_items, LEAF_CNN), seed=0, n_classes=4)
    assert {"filterbank/kernel", "pooling/width", "pcen/alpha"} <= {
        v.path for v in learned.trainable_variables}


# ------------------------------------------------------------------------------ resume
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, family):
    # Random windows / waveform patches, dropout: every source of randomness is on.
    cfg = Config.from_dict({**FAMILIES[family], "dropout": 0.5, "train_batch_size": 4,
                            "train_patches_per_clip": 2, "epochs": 3, "patience": 3,
                            "learning_rate": 1e-3})
    length = 40 * 256 if family == "leaf_cnn" else 81 + 27 * 20
    rng = np.random.default_rng(0)
    y = np.arange(12) % 4
    x = (rng.standard_normal((12, length, 1)) * 0.1 * (1 + y[:, None, None])).astype(np.float32)
    assert_a_killed_training_resumes_to_an_uninterrupted_one(cfg, x, y, tmp_path)


# ------------------------------------------------------------------------------ --weights
def _trained_model_features(cfg, model, trained, clip) -> np.ndarray:
    """The trained model's feature vector of one whole clip ``(n,)``, from its parts: SampleCNN's
    per-window vectors of its windows every 27 samples, their mean and max; the LEAF
    representation of the whole clip by the trained model's own layer, its first ``n_frames``
    frames through the CNN with the trained weights."""
    extractor = model.get_layer(extractor_name(cfg))
    if training_kind(cfg) == "windows":
        starts = range(0, len(clip) - 81 + 1, 27)
        per_window = extractor(np.stack([clip[s:s + 81, None] for s in starts])).numpy()
        return np.concatenate([per_window.mean(0), per_window.max(0)])
    frames = extractor.get_layer("leaf")(clip[None])[:, :cfg.n_frames]
    cnn = build_extractor(cfg, 1)  # log-mel-shaped input of n_frames frames
    apply_trained_weights(cnn, trained)
    return cnn(frames).numpy()[0]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_extraction_with_trained_weights_gives_the_trained_models_features(demo_items, tmp_path,
                                                                           family):
    cfg = demo_config(demo_items, FAMILIES[family], epochs=2, train_batch_size=8, learning_rate=3e-3)
    data = _data(cfg, demo_items, tmp_path)
    everything = np.arange(len(data.y))
    result = train_split(cfg, 1, data, TrainingSplit("split", everything, everything, everything),
                         tmp_path / "run", run=QUIET)
    trained = read_trained_weights(result["weights"])

    out = extract(cfg, demo_items[:2], seed=1, out=tmp_path / "features", weights=trained,
                  run=RunOptions(progress=False))
    X, _, ids, _ = load_store(out.folder)
    random = load_store(extract(cfg, demo_items[:2], seed=1, out=tmp_path / "features",
                                run=RunOptions(progress=False)).folder).X

    model = build_classifier(cfg, 1, 4)
    apply_trained_weights(model, trained)
    item = next(it for it in demo_items if it.id == ids[0])
    expected = _trained_model_features(cfg, model, trained, load_audio(item.path, 12000))
    np.testing.assert_allclose(X[0], expected, rtol=2e-4, atol=2e-5)
    assert not np.allclose(X[0], random[0], rtol=1e-3)


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("fields, message", [
    (dict(features_type="MFCC"), "'mfcc' cannot be trained: training takes a front-end with a "
                                 "fixed-size input"),
    (dict(architecture="leaf"), "'leaf' cannot be trained.* takes clip input"),
    (dict(SAMPLECNN, sizes=None, scales=["3-3-3", "3-3-3-3"]),
     "'scales': training takes one window model"),
    (dict(SAMPLECNN, train_patch_samples=81), "'train_patch_samples' does not apply to "
                                              "architecture 'samplecnn': one window of "
                                              r"prod\(sizes\) samples is its training patch"),
])
def test_untrainable_configs_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        check_trainable(Config(**fields))


def test_extra_architectures_are_trainable_configs():
    # Each carries its input: the paper's 1376 frames (clips in windows take no input length).
    configs = {name: Config(**fields) for name, fields in extra_architectures().items()}
    assert len(configs) >= 5
    assert sorted({training_kind(c) for c in configs.values()}) == [
        "logmel", "representation", "windows"]
    for name, cfg in configs.items():
        check_trainable(cfg)
        assert build_extractor(cfg, 0).output.shape[-1] in (120, 160), name


@pytest.mark.parametrize("dataset", ["gtzan", "extended_ballroom", "urbansound8k"])
def test_the_studys_default_architectures_span_the_families_and_all_train(dataset, tmp_path):
    """At ~120 features: the paper's seeded front-ends, SampleCNN at two depths and 7x96 / VGG on
    a LEAF filterbank that learns with the CNN; each a valid, trainable config with the study's
    shared keys (VGG on patches its pooling chain takes)."""
    from elmarc_tf.config import shared_fields
    from elmarc_tf.studies.random_vs_trained import paper_architectures

    base, architectures = paper_architectures(dataset, tmp_path, size="small")
    assert len(architectures) >= 12
    configs = {name: Config.from_dict(shared_fields(base, f)) for name, f in architectures.items()}
    kinds = {training_kind(cfg) for cfg in configs.values()}
    assert {"logmel", "waveform", "windows", "representation"} <= kinds
    assert sum(cfg.trainable and cfg.input_representation == "leaf"
               for cfg in configs.values()) == 2
    for name, cfg in configs.items():
        check_trainable(cfg)
