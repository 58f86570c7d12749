"""Exported front-ends: a SavedModel usable without elmarc_tf, the seeded weights, the .keras file.

Every small front-end of conftest.SMALL (and VGG with batch norm) is exported once (module fixture); ONE fresh Python
process, which cannot import elmarc_tf, loads all the SavedModels with plain
``tf.saved_model.load`` and computes features of the same waveforms as the in-process model.

Tolerance of that comparison: both run the same float32 TensorFlow ops on the same CPU, so they
agree to rounding; we allow ``1e-5 * max(1, max |feature|)`` (features reach ~300 for the
log-mel models, whose inputs are dB values).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import SMALL, music_like, small_config
from elmarc_tf import Config, ElmarcError, build_extractor, feature_layout
from elmarc_tf.errors import ConfigError
from elmarc_tf.models.export import describe_export, export_frontend, input_rules, load_keras

SEED = 7
# Every small front-end, plus VGG with the batch-statistics normalisation of the ablation.
EXPORTED = {**{name: (name, {}) for name in SMALL},
            "cnn_small_filters_bn": ("cnn_small_filters", {"batch_norm": True})}

# Run in a fresh interpreter: elmarc_tf cannot even be imported there.
RELOAD_SCRIPT = textwrap.dedent("""
    import json, sys

    class _NoElmarc:
        def find_spec(self, name, path=None, target=None):
            if name == "elmarc_tf" or name.startswith("elmarc_tf."):
                raise ImportError("elmarc_tf must not be needed to load an export")
            return None

    sys.meta_path.insert(0, _NoElmarc())
    import numpy as np
    import tensorflow as tf

    jobs = json.load(open(sys.argv[1]))
    report = {}
    for job in jobs:
        model = tf.saved_model.load(job["export"])
        x = np.load(job["input"])
        serve = model.signatures["serving_default"]
        np.save(job["features"], model.features(x).numpy())
        np.save(job["served"], serve(waveform=tf.constant(x))["features"].numpy())
        spec = serve.structured_input_signature[1]["waveform"]
        report[job["name"]] = {"shape": list(spec.shape), "dtype": spec.dtype.name,
                               "outputs": sorted(serve.structured_outputs),
                               "asset": model.description.asset_path.numpy().decode()}
    report["elmarc_tf_imported"] = any(m.split(".")[0] == "elmarc_tf" for m in sys.modules)
    json.dump(report, open(sys.argv[2], "w"))
""")


def _waveforms(cfg: Config, batch: int = 2) -> np.ndarray:
    """``(batch, n)`` music-like 12 kHz clips: ``n_samples`` long for waveform front-ends, a bit
    more than the crop minimum for spectrogram ones (so the in-graph crop is exercised)."""
    rules = input_rules(cfg)
    n = rules["shape"][1] or rules["min_samples"] + 1000
    return np.stack([music_like(n / 12000 + 1e-6, seed=s)[:n] for s in range(batch)])


def _model_input(cfg: Config, x: np.ndarray) -> np.ndarray:
    """Input of ``build_extractor(cfg, inputs='waveform')`` for waveforms ``(batch, n)``."""
    return x[..., None] if cfg.signal == "waveform" else x


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """name -> (config, export folder, waveforms (2, n), in-process features (2, feature_len))."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for name, (small, changes) in sorted(EXPORTED.items()):
        cfg = small_config(small, **changes)
        folder = export_frontend(cfg, SEED, root / name)
        x = _waveforms(cfg)
        ref = build_extractor(cfg, SEED, inputs="waveform")(_model_input(cfg, x)).numpy()
        out[name] = (cfg, folder, x, ref)
    return out


@pytest.fixture(scope="module")
def reloaded(exports, tmp_path_factory):
    """One fresh process loads every export: (report, name -> (features, served features))."""
    work = tmp_path_factory.mktemp("reload")
    jobs = []
    for name, (_, folder, x, _) in exports.items():
        np.save(work / f"{name}_x.npy", x)
        jobs.append({"name": name, "export": str(folder), "input": str(work / f"{name}_x.npy"),
                     "features": str(work / f"{name}_f.npy"), "served": str(work / f"{name}_s.npy")})
    (work / "jobs.json").write_text(json.dumps(jobs))
    (work / "reload.py").write_text(RELOAD_SCRIPT)
    done = subprocess.run([sys.executable, str(work / "reload.py"), str(work / "jobs.json"),
                           str(work / "report.json")], cwd=work, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((work / "report.json").read_text())
    features = {name: (np.load(work / f"{name}_f.npy"), np.load(work / f"{name}_s.npy"))
                for name in exports}
    return report, features


def test_reloading_needs_no_elmarc_tf(reloaded):
    report, _ = reloaded
    assert report["elmarc_tf_imported"] is False


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_savedmodel_in_fresh_process_gives_the_same_features(name, exports, reloaded):
    cfg, folder, x, ref = exports[name]
    report, features = reloaded
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    for got in features[name]:  # model.features(x) and signatures["serving_default"]
        assert got.shape == ref.shape == (2, describe_export(folder)["feature_length"])
        assert np.abs(got - ref).max() <= tol
    expected = [None, cfg.n_samples] if cfg.signal == "waveform" else [None, None]
    assert report[name]["shape"] == expected
    assert report[name]["dtype"] == "float32" and report[name]["outputs"] == ["features"]
    assert report[name]["asset"].endswith("assets/elmarc.json")


@pytest.mark.parametrize("name", ["cnn_music", "frame_level_many"])
def test_exported_weights_are_exactly_the_seeded_weights(name, exports, tmp_path):
    """Same seed -> byte-identical variables (checkpoint files too); they are build_extractor's."""
    cfg, folder, _, _ = exports[name]
    again = export_frontend(cfg, SEED, tmp_path / "again")
    for part in ("variables.index", "variables.data-00000-of-00001"):
        assert (folder / "variables" / part).read_bytes() == (again / "variables" / part).read_bytes()
    first, second = tf.saved_model.load(str(folder)), tf.saved_model.load(str(again))
    seeded = build_extractor(cfg, SEED, inputs="waveform").weights
    assert len(first.weights) == len(second.weights) == len(seeded) > 0
    described = describe_export(folder)["weights"]
    for a, b, w, d in zip(first.weights, second.weights, seeded, described):
        assert a.numpy().tobytes() == b.numpy().tobytes() == w.numpy().tobytes()
        assert a.name == f"{w.path}:0" and d == {"path": w.path, "shape": list(w.shape)}
    other = build_extractor(cfg, SEED + 1, inputs="waveform").weights
    assert first.weights[0].numpy().tobytes() != other[0].numpy().tobytes()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_keras_file_round_trip(name, exports):
    cfg, folder, x, ref = exports[name]
    model = load_keras(folder)
    np.testing.assert_array_equal(model(_model_input(cfg, x)).numpy(), ref)
    assert not model.trainable_weights
    np.testing.assert_array_equal(load_keras(folder / "model.keras")(_model_input(cfg, x)).numpy(), ref)


def test_load_keras_names_a_missing_file(tmp_path):
    with pytest.raises(ElmarcError, match=str(tmp_path)):
        load_keras(tmp_path)


@pytest.mark.parametrize("name", ["cnn_music", "sample_level"])
def test_description(name, exports):
    cfg, folder, _, ref = exports[name]
    d = describe_export(folder)
    assert d["format"] == "elmarc_tf.export" and d["seed"] == SEED  # as 0.1 wrote it
    assert Config.from_dict(d["config"]) == cfg and d["config"] == cfg.to_dict()
    assert d["layout"] == feature_layout(build_extractor(cfg, SEED))
    assert d["feature_length"] == ref.shape[1] == d["output"]["shape"][1]
    assert d["sampling_rate"] == 12000 and d["versions"]["tensorflow"] == tf.__version__
    assert "tf.saved_model.load" in d["usage"]
    if cfg.signal == "waveform":
        assert d["input"]["shape"] == [None, cfg.n_samples]
        assert d["input"]["min_samples"] == d["input"]["max_samples"] == cfg.n_samples
    else:
        assert d["input"]["shape"] == [None, None] and d["input"]["max_samples"] is None
        assert d["input"]["min_samples"] == (cfg.n_frames - 1) * 256  # crop: n_frames frames


def test_describe_export_rejects_other_folders(tmp_path):
    with pytest.raises(ElmarcError, match=f"{tmp_path}: not an elmarc export"):
        describe_export(tmp_path)
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "elmarc.json").write_text('{"format": "other"}')
    with pytest.raises(ElmarcError, match="not an elmarc export description"):
        describe_export(tmp_path)


def test_too_short_input_fails_clearly_with_crop(exports):
    cfg, folder, _, _ = exports["cnn_music"]
    model = tf.saved_model.load(str(folder))
    minimum = (cfg.n_frames - 1) * 256
    assert model.features(music_like(minimum / 12000 + 1e-6)[None, :minimum]).shape == (1, 112)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"too short.*at least {minimum} samples"):
        model.features(np.zeros((1, minimum - 1), np.float32))


def test_padding_modes_take_short_clips(tmp_path):
    """zero-pad: any clip of more than n_fft//2 = 256 samples; the STFT fails clearly below."""
    cfg = small_config("cnn_single_7x96", fix_length_by="zero-pad")
    model = tf.saved_model.load(str(export_frontend(cfg, SEED, tmp_path / "zp")))
    x = music_like(0.1)[None, :300]
    ref = build_extractor(cfg, SEED, inputs="waveform")(x).numpy()
    np.testing.assert_allclose(model.features(x).numpy(), ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    assert describe_export(tmp_path / "zp")["input"]["min_samples"] == 257
    with pytest.raises(tf.errors.InvalidArgumentError, match="too short.*at least 257 samples"):
        model.features(x[:, :256])


def test_waveform_export_takes_exactly_n_samples(exports):
    cfg, folder, x, _ = exports["sample_level"]
    model = tf.saved_model.load(str(folder))
    assert int(model.input_samples.numpy()) == cfg.n_samples
    serve = model.signatures["serving_default"]
    assert serve.structured_input_signature[1]["waveform"].shape.as_list() == [None, cfg.n_samples]
    entry_points = {"features": model.features,
                    "serving_default": lambda w: serve(waveform=tf.constant(w))["features"]}
    rule = f"exactly n_samples={cfg.n_samples}"
    for n, what in ((cfg.n_samples - 1000, "short"), (cfg.n_samples + 2000, "long"), (10, "short")):
        for name, call in entry_points.items():
            with pytest.raises(tf.errors.InvalidArgumentError, match=f"too {what}, needs {rule}"):
                call(np.zeros((1, n), np.float32))
    for name, call in entry_points.items():  # the right length still works through both
        assert call(x.astype(np.float32)).shape == (x.shape[0], model.features(x).shape[1]), name
    with pytest.raises(ConfigError, match="exactly n_samples"):
        export_frontend(cfg, SEED, folder.parent / "wrong", input_samples=cfg.n_samples + 1)


def test_fixed_input_samples_for_a_spectrogram_front_end(exports, tmp_path):
    cfg, _, x, ref = exports["cnn_music"]
    folder = export_frontend(cfg, SEED, tmp_path / "fixed", input_samples=x.shape[1])
    model = tf.saved_model.load(str(folder))
    assert int(model.input_samples.numpy()) == x.shape[1]
    assert np.abs(model.features(x).numpy() - ref).max() <= 1e-5 * np.abs(ref).max()
    with pytest.raises(ConfigError, match="too short"):
        export_frontend(cfg, SEED, tmp_path / "short", input_samples=256)


def test_export_replaces_an_export_but_not_other_folders(exports, tmp_path):
    cfg, _, _, _ = exports["frame_level"]
    folder = export_frontend(cfg, SEED, tmp_path / "e")
    assert export_frontend(cfg, SEED + 1, folder) == folder
    assert describe_export(folder)["seed"] == SEED + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]  # no staging folder left behind
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ElmarcError, match="is not an elmarc export"):
        export_frontend(cfg, SEED, tmp_path / "other")


def test_integer_pcm_is_scaled_as_librosa_reads_it(exports):
    cfg, folder, x, ref = exports["cnn_music"]
    model = tf.saved_model.load(str(folder))
    assert int(model.input_samples.numpy()) == -1  # any length
    pcm16 = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
    pcm32 = pcm16.astype(np.int32) * 65536
    expected = model.features(pcm16.astype(np.float32) / 32768).numpy()
    for pcm in (pcm16, pcm32, pcm16.astype(np.float64) / 32768):
        np.testing.assert_array_equal(model.features(pcm).numpy(), expected)
    assert np.abs(expected - ref).max() <= 1e-2 * np.abs(ref).max()  # 16-bit rounding only
    with pytest.raises(ValueError, match="matching concrete function"):  # not silently cast
        model.features(np.zeros((1, 4000), np.uint8))
