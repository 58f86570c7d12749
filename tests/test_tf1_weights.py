"""Weights in the authors' TF1 naming: parity with their outputs, round-trips, clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest

import numpy_reference
from conftest import random_input, small_config
from elmarc_tf import FRONTENDS, Config, WeightsError, build_extractor, load_original_weights, save_original_weights
from elmarc_tf.models.tf1_weights import original_variables

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


# The authors' graph, small enough to ship (tests/data/original/README.md): its weights and
# its features; the input is regenerated from its recipe.
SHIPPED = Path(__file__).resolve().parent / "data" / "original"


def shipped_input(meta: dict) -> np.ndarray:
    spec = meta["input"]
    assert spec["rng"] == "np.random.RandomState(0).uniform(low, high, size=shape).astype(float32)"
    return np.random.RandomState(0).uniform(spec["low"], spec["high"], size=spec["shape"]).astype(np.float32)


@pytest.mark.parametrize("case", ["sample_level_23", "cnn_audio_4"])
def test_shipped_weights_of_the_original_graph_give_its_features(case):
    """Without ../shared: the authors' variables, loaded by TF1 name, give the authors' features,
    so every name is on the right layer (sample_level has six same-shaped layers conv1d_1 ..
    conv1d_6; cnn_audio concatenates ten branches in its order); the NumPy reference too.

    Tolerance: rtol 1e-4 plus 1e-5 of the largest feature (float32 sums in different order)."""
    folder = SHIPPED / case
    meta = json.loads((folder / "config.json").read_text())
    cfg = Config.from_original(meta["config"])
    model = build_extractor(cfg, seed=123)
    assert load_original_weights(model, folder / "weights.npz") == []
    x, expected = shipped_input(meta), np.load(folder / "features.npy")
    got = model(x).numpy()
    assert got.shape == expected.shape == (2, meta["feature_length"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    with np.load(folder / "weights.npz") as npz:
        reference = numpy_reference.features(cfg.architecture, dict(npz), x, cfg.to_dict())
    np.testing.assert_allclose(reference, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def original_kernels(name: str, nf: int) -> list[tuple[str, tuple]]:
    """The kernels of the authors' graph in the order it creates them (which is their order in
    the graph), with their TF1 shapes, at ``nf`` filters: written from src/dl_models.py."""
    r = nf // 4
    same = lambda n, base: [f"{base}_{i}" if i else base for i in range(n)]  # noqa: E731
    if name == "sample_level":
        return [("conv1d", (3, 1, nf))] + [(f"conv1d_{i}", (3, nf, nf)) for i in range(1, 7)]
    backend = lambda c: [("1cnnOut", (7, c, 1, nf)), ("2cnnOut", (7, nf, 1, nf)),  # noqa: E731
                         ("3cnnOut", (7, nf, 1, nf))]
    if name == "frame_level":
        return [("conv1d", (512, 1, nf))] + backend(nf)
    if name == "frame_level_many":
        return [(n, (k, 1, nf)) for n, k in zip(same(5, "conv1d"), (512, 256, 128, 64, 32))] \
            + backend(5 * nf)
    if name == "cnn_small_filters":
        return [("1CNN", (3, 3, 1, nf))] + [(f"{i}CNN", (3, 3, nf, nf)) for i in range(2, 6)]
    if name.startswith("cnn_single"):
        return [("1CNN", (7, int(name[-2:]), 1, nf))]
    temporal = (165, 128, 64, 32) if name == "cnn_music" else (64, 32, 16, 8)
    timbral = [(7, 86, nf), (3, 86, 2 * nf), (1, 86, 4 * nf), (7, 38, nf), (3, 38, 2 * nf), (1, 38, 4 * nf)]
    return [(n, (kh, kw, 1, c)) for n, (kh, kw, c) in zip(same(6, "conv2d"), timbral)] \
        + [(n, (k, 1, m * nf - r)) for n, k, m in zip(same(4, "conv1d"), temporal, (1, 2, 4, 8))]


def test_names_follow_the_original_graphs_order_of_layers(small_name):
    """Each TF1 name sits on the layer at its place in the original graph: our weighted layers,
    in the order the input reaches them, carry the original's names and shapes in its order (a
    name on the wrong one of several same-shaped layers breaks the order)."""
    base = small_config(small_name)
    cfg = base.replace(selected_features_list=list(range(len(FRONTENDS[base.architecture].taps))))
    model = build_extractor(cfg)
    variables = original_variables(model)
    ours = [(name.split("/")[0], variables[name].shape) for name in variables if name.endswith("/kernel:0")]
    assert ours == original_kernels(small_name, cfg.num_filters)
    for name, kernel in ours:
        assert variables[f"{name}/bias:0"].shape == (kernel[-1],)


@pytest.mark.skipif(not CASES, reason="outputs of the authors' code not available")
@pytest.mark.parametrize("case", CASES)
def test_the_written_out_original_order_is_the_original_graphs(case):
    meta = json.loads((REFERENCE / case / "config.json").read_text())
    cnn = meta["config"]["CNN"]
    name = cnn["architecture"] + ("_7x%d" % cnn["filter_shape"][1] if "filter_shape" in cnn else "")
    kernels = [(v["name"].split("/")[0], tuple(v["shape"])) for v in meta["variables"]
               if v["name"].endswith("/kernel:0")]
    assert kernels == original_kernels(name, cnn["num_filters"])


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
