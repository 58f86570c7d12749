"""The Keras extractor against the feature lengths of README.md's front-end table ("Python API") and an
independent NumPy reference."""

import numpy as np
import pytest

import numpy_reference
from conftest import random_input, small_config
from elmarc_tf import Config, build_extractor, feature_layout
from elmarc_tf.models.tf1_weights import original_variables

# (config, feature length) at the paper's small (~120) and large (~3500) sizes, full input length.
PAPER_SIZES = [
    (dict(architecture="sample_level", num_filters=23, n_samples=350000), 161),
    (dict(architecture="sample_level", num_filters=512, n_samples=350000), 3584),
    (dict(architecture="frame_level", num_filters=40, n_samples=350000), 160),
    (dict(architecture="frame_level", num_filters=896, n_samples=350000), 3584),
    (dict(architecture="frame_level_many", num_filters=20, n_samples=350000), 160),
    (dict(architecture="frame_level_many", num_filters=448, n_samples=350000), 3584),
    (dict(architecture="7x96", num_filters=160, n_frames=1376), 160),
    (dict(architecture="7x96", num_filters=3585, n_frames=1376), 3585),
    (dict(architecture="7x86", num_filters=160, n_frames=1376), 160),
    (dict(architecture="7x86", num_filters=3585, n_frames=1376), 3585),
    (dict(architecture="cnn_music", num_filters=4, n_frames=1376), 112),
    (dict(architecture="cnn_music", num_filters=8, n_frames=1376, selected_features_list=[1]), 112),
    (dict(architecture="cnn_music", num_filters=128, n_frames=1376), 3584),
    (dict(architecture="cnn_music", num_filters=256, n_frames=1376, selected_features_list=[0]), 3584),
    (dict(architecture="cnn_audio", num_filters=256, n_frames=1376, selected_features_list=[1]), 3584),
    (dict(architecture="vgg", num_filters=32, n_frames=1376), 160),
    (dict(architecture="vgg", num_filters=717, n_frames=1376), 3585),
]


@pytest.mark.parametrize("fields,length", PAPER_SIZES,
                         ids=[f"{f['architecture']}-{f['num_filters']}" for f, _ in PAPER_SIZES])
def test_paper_configurations_have_the_paper_feature_length(fields, length):
    model = build_extractor(Config(**fields))
    assert model.output.shape == (None, length)
    layout = feature_layout(model)
    assert layout[-1]["offset"] + layout[-1]["span"] == length
    assert not model.trainable and not model.trainable_weights


def test_frame_level_structural_zeros_at_paper_size():
    """frame_level at nf=896: 3584 values of which 3*895 = 2685 are structural zeros (README.md, `backend_taps`)."""
    layout = feature_layout(build_extractor(Config(architecture="frame_level", num_filters=896,
                                                   n_samples=350000)))
    assert [e["padding"] for e in layout] == [0, 895, 895, 895]
    assert sum(e["padding"] for e in layout) == 2685


def test_matches_independent_numpy_reference(small_name):
    """Same weights, same input -> same features as a hand-written NumPy implementation.

    Tolerance: float32 convolutions over up to ~600 terms, compared with float64 NumPy; errors are
    ~1e-6 of the largest feature, so rtol 1e-4 plus an absolute 1e-4 of the largest value.
    """
    cfg = small_config(small_name)
    model = build_extractor(cfg, seed=3)
    x = random_input(cfg, seed=1)
    ours = model(x).numpy()
    ref = numpy_reference.features(cfg.architecture, original_variables(model), x, cfg.to_dict())
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert np.abs(ref).max() > 0  # a dead network would make the comparison vacuous


@pytest.mark.parametrize("name", ["frame_level", "frame_level_many"])
def test_per_channel_backend_option_averages_each_filter(name):
    cfg = small_config(name, backend_taps="per_channel")
    model = build_extractor(cfg, seed=0)
    x = random_input(cfg)
    ours = model(x).numpy()
    ref_taps = numpy_reference.taps(cfg.architecture, original_variables(model), x, cfg.to_dict())
    per_channel = np.concatenate([t.reshape(t.shape[0], -1, t.shape[-2] if t.ndim == 4 else t.shape[-1])
                                  .mean(axis=1) for t in ref_taps], axis=1)
    np.testing.assert_allclose(ours, per_channel, rtol=1e-4, atol=1e-4 * np.abs(per_channel).max())
    assert ours.shape[1] == len(ref_taps) * cfg.num_filters


def test_only_selected_taps_are_built():
    full = build_extractor(small_config("cnn_music", selected_features_list=[0, 1]))
    temporal = build_extractor(small_config("cnn_music", selected_features_list=[1]))
    n_full = len(original_variables(full))
    n_temporal = len(original_variables(temporal))
    assert (n_full, n_temporal) == (20, 8)  # 6 timbral + 4 temporal convs vs the 4 temporal ones
    x = random_input(small_config("cnn_music"))
    # the pruned model keeps the full model's temporal weights (per-layer seeds), hence features
    np.testing.assert_allclose(temporal(x).numpy(), full(x).numpy()[:, 56:], rtol=1e-6)


def test_layout_names_offsets_and_padding():
    model = build_extractor(small_config("frame_level_many", selected_features_list=[0, 6, 7]))
    layout = feature_layout(model)
    assert [(e["name"], e["index"], e["offset"], e["width"], e["padding"]) for e in layout] == [
        ("conv512", 0, 0, 4, 0), ("b2", 6, 4, 1, 3), ("b3", 7, 8, 1, 3)]
    f = model(random_input(small_config("frame_level_many"))).numpy()
    assert np.all(f[:, [5, 6, 7, 9, 10, 11]] == 0)


def test_waveform_models_accept_2d_and_3d_batches():
    cfg = small_config("sample_level")
    model = build_extractor(cfg)
    x = random_input(cfg)
    np.testing.assert_array_equal(model(x).numpy(), model(x[..., 0]).numpy())
