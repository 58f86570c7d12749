"""Weights in the authors' TF1 naming: parity with their outputs, round-trips, clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import random_input, small_config
from elmarc_tf import FRONTENDS, Config, WeightsError, build_extractor, load_original_weights, save_original_weights
from elmarc_tf.tf1_weights import original_variables

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "original"
CASES = sorted(p.name for p in REFERENCE.glob("*/")) if REFERENCE.is_dir() else []


@pytest.mark.skipif(not CASES, reason="outputs of the authors' code not available")
@pytest.mark.parametrize("case", CASES)
def test_same_weights_as_the_original_graph_give_its_features(case):
    """The authors' TF1 graph and ours, same weights and input: float32 agreement.

    Tolerance: rtol 1e-4 plus 1e-5 of the largest feature (float32 sums in different order).
    """
    folder = REFERENCE / case
    meta = json.loads((folder / "config.json").read_text())
    cfg = Config.from_original(meta["config"])
    model = build_extractor(cfg, seed=123)
    load_original_weights(model, folder / "weights.npz")
    expected = np.load(folder / "features.npy")
    got = model(np.load(folder / "input.npy")).numpy()
    assert got.shape == expected.shape == (2, meta["feature_length"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


EXPECTED_NAMES = {
    "sample_level": [f"conv1d{s}" for s in ["", "_1", "_2", "_3", "_4", "_5", "_6"]],
    "frame_level": ["conv1d", "1cnnOut", "2cnnOut", "3cnnOut"],
    "frame_level_many": ["conv1d", "conv1d_1", "conv1d_2", "conv1d_3", "conv1d_4",
                         "1cnnOut", "2cnnOut", "3cnnOut"],
    "cnn_small_filters": ["1CNN", "2CNN", "3CNN", "4CNN", "5CNN"],
    "cnn_single_7x96": ["1CNN"],
    "cnn_single_7x86": ["1CNN"],
    "cnn_music": [f"conv2d{s}" for s in ["", "_1", "_2", "_3", "_4", "_5"]]
                 + ["conv1d", "conv1d_1", "conv1d_2", "conv1d_3"],
}
EXPECTED_NAMES["cnn_audio"] = EXPECTED_NAMES["cnn_music"]


def test_variable_names_and_original_shapes(small_name):
    base = small_config(small_name)
    all_taps = list(range(len(FRONTENDS[base.architecture].taps)))
    cfg = base.replace(selected_features_list=all_taps)
    variables = original_variables(build_extractor(cfg))
    scopes = list(dict.fromkeys(name.split("/")[0] for name in variables))
    assert sorted(scopes) == sorted(EXPECTED_NAMES[small_name])
    assert all(name.endswith(("/kernel:0", "/bias:0")) for name in variables)
    if cfg.architecture.startswith("frame_level"):
        nf = cfg.num_filters
        channels = nf if cfg.architecture == "frame_level" else 5 * nf
        assert variables["1cnnOut/kernel:0"].shape == (7, channels, 1, nf)
        assert variables["2cnnOut/kernel:0"].shape == (7, nf, 1, nf)


def test_save_then_load_round_trips_every_architecture(small_name, tmp_path):
    cfg = small_config(small_name)
    source, target = build_extractor(cfg, seed=1), build_extractor(cfg, seed=2)
    x = random_input(cfg)
    assert not np.allclose(source(x).numpy(), target(x).numpy())
    names = save_original_weights(source, tmp_path / "w.npz")
    assert load_original_weights(target, tmp_path / "w.npz") == []
    with np.load(tmp_path / "w.npz") as npz:
        assert sorted(npz.files) == sorted(names)
    for (k, a), b in zip(original_variables(source).items(), original_variables(target).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())


def test_missing_or_misshaped_variable_fails_naming_it(tmp_path):
    cfg = small_config("frame_level")
    model = build_extractor(cfg)
    variables = original_variables(model)
    missing = {k: v for k, v in variables.items() if k != "2cnnOut/bias:0"}
    with pytest.raises(WeightsError, match=r"variable '2cnnOut/bias:0' is missing"):
        load_original_weights(model, missing)
    wrong = dict(variables, **{"1cnnOut/kernel:0": np.zeros((5, 6, 1, 6), np.float32)})
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(WeightsError, match=r"wrong.npz: variable '1cnnOut/kernel:0' has shape "
                                           r"\(5, 6, 1, 6\), expected \(7, 6, 1, 6\)"):
        load_original_weights(model, tmp_path / "wrong.npz")
    with pytest.raises(WeightsError, match=r"nothing.npz: cannot read weights"):
        load_original_weights(model, tmp_path / "nothing.npz")


def test_pruned_model_reports_unused_variables():
    full = build_extractor(small_config("cnn_audio"))
    temporal = build_extractor(small_config("cnn_audio", selected_features_list=[1]))
    unused = load_original_weights(temporal, original_variables(full))
    assert unused == sorted(f"conv2d{s}/{v}:0" for s in ["", "_1", "_2", "_3", "_4", "_5"]
                            for v in ("bias", "kernel"))
