"""The front-end ``samplecnn`` in the whole tool: config keys and defaults, the sampling rate per
front-end, extraction from audio files into a store, the layout, export, FLOPs and the bench,
the configs of the SampleCNN study."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
import yaml

import numpy_reference
from conftest import music_like
from elmarc_tf import Config, ConfigError, build_extractor, compile_extractor, feature_layout
from elmarc_tf.io.audio import load_audio
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.models.export import describe_export, export_frontend
from elmarc_tf.extraction.extract import extract
from elmarc_tf.models.flops import clip_flops, model_flops
from elmarc_tf.frontends import FRONTENDS, frontend_of, resolve
from elmarc_tf.frontends.samplecnn import (TABLE3, build_samplecnn, parse_sizes, schedule_filters,
                                           window_size)
from elmarc_tf.extraction.store import load_store
from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.extraction.options import RunOptions
from test_export import RELOAD_SCRIPT

# Table 3: sampling rate -> input samples of its model.
TABLE3_WINDOWS = {2000: 5184, 4000: 10368, 8000: 20736, 12000: 31104, 16000: 43740,
                  20000: 52488, 22050: 59049}
FIX_LENGTH_MODES = ("crop", "zero-pad", "repeat-pad")


def scales_of(cfg):
    return frontend_of(cfg).scales(cfg)


# ----------------------------------------------------------------------------- config
def test_plain_samplecnn_is_table1_at_22050_hz():
    cfg = Config(architecture="samplecnn")
    assert (cfg.architecture, cfg.signal, cfg.sampling_rate, cfg.num_filters) == (
        "samplecnn", "waveform", 22050, 128)
    assert (cfg.levels, cfg.window_pooling, cfg.window_hop, cfg.sizes) == (3, ("mean", "max"), None, None)
    [scale] = scales_of(cfg)
    assert (scale.name, scale.window, scale.hop, scale.selected) == ("3^9", 59049, 59049, (8, 9, 10))
    model = build_extractor(cfg)
    assert model.input_shape == (None, None) and model.output.shape == (None, 3072)
    assert compile_extractor(cfg).input_shape == (None,)
    assert frontend_of(cfg).label(cfg) == "SampleCNN 3^9" and frontend_of(cfg).family == "waveform"


def test_the_alias_samplecnn_no_longer_names_sample_level():
    assert resolve("samplecnn")[0].name == "samplecnn"
    assert "samplecnn" not in FRONTENDS["sample_level"].aliases
    # an old config that meant the paper's sample-level model is refused, with the way out
    with pytest.raises(ConfigError, match="'n_samples' does not apply.*'sample_level'"):
        Config(architecture="samplecnn", num_filters=23, n_samples=350000)


@pytest.mark.parametrize("rate", sorted(TABLE3))
def test_table3_aliases_fix_the_model_and_its_rate(rate):
    alias = "samplecnn_3_9" if rate == 22050 else f"samplecnn_{rate // 1000}k"
    cfg = Config(architecture=alias)
    assert cfg.architecture == "samplecnn" and cfg.sampling_rate == rate
    assert cfg.sizes == parse_sizes(TABLE3[rate])
    assert [s.window for s in scales_of(cfg)] == [TABLE3_WINDOWS[rate]]
    # the same model from the rate alone (Table 3), and the rate from the sizes alone
    assert [s.window for s in scales_of(Config(architecture="samplecnn", sampling_rate=rate))] == [
        TABLE3_WINDOWS[rate]]
    assert Config(architecture="samplecnn", sizes=TABLE3[rate]).sampling_rate == rate


def test_sampling_rate_defaults_per_front_end():
    assert Config(architecture="samplecnn", sizes="3-3-2-2").sampling_rate == 22050  # not Table 3
    assert Config(architecture="samplecnn", m=5, n=5).sampling_rate == 22050
    assert Config(architecture="samplecnn", scales=["5^5", "5^6"]).sampling_rate == 22050
    assert Config(architecture="samplecnn", sizes="3^9", sampling_rate=16000).sampling_rate == 16000
    assert Config(architecture="samplecnn", m=3, n=4, sampling_rate=44100).sampling_rate == 44100
    with pytest.raises(ConfigError, match="'sampling_rate'=44100 has no Table 3 model"):
        Config(architecture="samplecnn", sampling_rate=44100)
    # the paper's front-ends: 12 kHz and 32 filters, the same config as when written out
    for fields in (dict(architecture="vgg", n_frames=1376), dict(features_type="MFCC"),
                   dict(architecture="sample_level", n_samples=350000)):
        cfg = Config(**fields)
        assert (cfg.sampling_rate, cfg.num_filters) == (12000, 32)
        assert cfg.to_dict() == Config(**fields, sampling_rate=12000, num_filters=32).to_dict()


def test_canonical_forms_and_round_trips():
    cfg = Config(architecture="samplecnn", scales=["5^5", "3-3-2-2"], levels=[0, -1],
                 window_hop=[100, None], window_pooling="max", num_filters=4)
    assert cfg.scales == ((5,) * 6, (3, 3, 2, 2)) and cfg.levels == (0, -1)
    assert cfg.window_hop == (100, None) and cfg.window_pooling == ("max",)
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert Config.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg
    assert json.loads(json.dumps(cfg.to_dict()))["scales"] == [[5] * 6, [3, 3, 2, 2]]
    assert [(s.name, s.window, s.hop) for s in scales_of(cfg)] == [("5^5", 15625, 100),
                                                                   ("3-3-2-2", 36, 36)]
    assert Config(architecture="samplecnn", sizes="3^9") == Config(architecture="samplecnn",
                                                                  sizes=[3] * 10)
    spec = frontend_of(cfg)
    assert spec.label(cfg) == "SampleCNN 5^5+3-3-2-2 layers [0, -1] (max)"
    assert spec.store_name(cfg) == "samplecnn-5_5+3-3-2-2-4"


@pytest.mark.parametrize("fields,message", [
    (dict(sizes="3-x-2"), "'sizes'='3-x-2' is not a size string"),
    (dict(sizes="3-1"), "every size >= 2"),
    (dict(sizes="3^3", m=3, n=3), "either 'sizes' or 'm' and 'n'"),
    (dict(m=3), "'m' and 'n' go together"),
    (dict(m=1, n=3), "'m' must be an int >= 2"),
    (dict(scales=["3^3", "3-3-3-3"]), "'scales' lists a model twice"),
    (dict(scales="3^3"), "'scales' must be a non-empty list"),
    (dict(scales=["3^3"], sizes="3^3"), "either 'scales' or 'sizes'"),
    (dict(levels=12), "'levels'=12 must be between 1 and the model's 11 layers"),
    (dict(levels=[0, 11]), r"'levels' \[11\] out of range"),
    (dict(levels=[1, -10]), "names a layer twice"),
    (dict(window_pooling=["mean", "median"]), "'window_pooling' must be"),
    (dict(window_hop=0), "'window_hop'=0 must be an int between 1 and the window"),
    (dict(window_hop=59050), "'window_hop'=59050 must be an int between 1 and the window"),
    (dict(scales=["3^3", "2^3"], window_hop=[9]), "'window_hop' lists 1 hops for 2 scales"),
    (dict(window_hop="half"), "'window_hop' must be an int"),
    (dict(batch_size=5), "'batch_size'=5: samplecnn takes one whole clip"),
    (dict(selected_features_list=[0]), "choose its layers with 'levels'"),
    (dict(num_filters=0), "'num_filters' must be a positive integer"),
    (dict(fix_length_by="trim"), "'fix_length_by' must be one of"),
])
def test_bad_samplecnn_keys_fail_in_one_line_naming_the_key(fields, message):
    with pytest.raises(ConfigError, match=message) as error:
        Config(architecture="samplecnn", **fields)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("key,value", [("sizes", "3^9"), ("levels", 2), ("window_hop", 100),
                                       ("window_pooling", ["mean"]), ("scales", ["3^9"]),
                                       ("m", 3)])
def test_samplecnn_keys_are_refused_elsewhere(key, value):
    with pytest.raises(ConfigError, match=f"'{key}' is a key of windowed front-ends.*'cnn_small_filters'"):
        Config(architecture="vgg", n_frames=1376, **{key: value})
    with pytest.raises(ConfigError, match=f"'{key}' is a key of windowed front-ends.*'mfcc'"):
        Config(features_type="MFCC", **{key: value})


# ----------------------------------------------------------------------------- extraction
RATE = 8000  # the config's rate; the files are written at 11 025 Hz (stereo), so resampled
SCALES = ["3^5", "2-2-4-4"]  # windows of 729 and 64 samples
HOPS = [500, None]


def _write(path: Path, seconds: float, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    y = music_like(max(seconds, 0.1), 11025, seed)[:int(seconds * 11025)]
    sf.write(path, np.stack([y, 0.5 * y], axis=1), 11025)
    return path


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Clips of 0.37 s, 0.29 s (not multiples of any window or hop) and 0.05 s (shorter than the
    729-sample window at 8 kHz)."""
    root = tmp_path_factory.mktemp("samplecnn_audio")
    _write(root / "a" / "long.wav", 0.37, 1)
    _write(root / "b" / "medium.wav", 0.29, 2)
    _write(root / "b" / "short.wav", 0.05, 3)
    return root


def _by_hand(path, cfg, seed):
    """The features of one file, computed without the extractor: the decoded clip cut into
    windows and each window through the NumPy reference of its scale's model, each layer's
    mean over time, then mean and max over the windows."""
    clip = load_audio(path, cfg.sampling_rate, cfg.res_type)
    parts = []
    for scale in scales_of(cfg):
        sizes = parse_sizes(scale.name)
        weights = original_variables(build_samplecnn(sizes, seed=seed, num_filters=cfg.num_filters))
        windows = numpy_reference.sliding_windows(clip, scale.window, scale.hop, cfg.fix_length_by)
        per_window = numpy_reference.samplecnn_window_features(weights, windows[..., None], sizes,
                                                               list(scale.selected))
        stats = {"mean": per_window.mean(axis=0), "max": per_window.max(axis=0)}
        parts += [stats[p] for p in cfg.window_pooling]
    return np.concatenate(parts)


@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
def test_extraction_from_files_equals_the_windowed_model_by_hand(audio, tmp_path, mode):
    cfg = Config(architecture="samplecnn", scales=SCALES, window_hop=HOPS, levels=2,
                 sampling_rate=RATE, num_filters=4, fix_length_by=mode, dataset="demo",
                 audio_path=str(audio))
    items = folder_per_class(audio)
    result = extract(cfg, items, seed=3, out=tmp_path, run=RunOptions(progress=False))
    X, y, ids, manifest = load_store(result.folder)
    failures = {Path(f["path"]).name: f["error"] for f in manifest["failures"]}
    if mode == "crop":  # 400 samples at 8 kHz: no full 729-sample window
        assert list(failures) == ["short.wav"]
        assert failures["short.wav"].startswith(str(audio / "b" / "short.wav") + ": clip of 400 samples")
        assert "729-sample window" in failures["short.wav"] and "model 3^5" in failures["short.wav"]
    else:
        assert not failures
    paths = [it.path for it in items if Path(it.path).name not in failures]
    assert list(ids) == [it.id for it in items if Path(it.path).name not in failures]
    # one clip per forward pass: clips differ in length
    assert [n for n, _ in result.batch_seconds] == [1] * len(items)
    expected = np.stack([_by_hand(p, cfg, seed=3) for p in paths])
    assert X.shape == expected.shape == (len(paths), manifest["feature_length"])
    # float32 convolutions of at most 4 * 16 terms against float64 NumPy: rtol 1e-4 plus 1e-5 of
    # the largest value (ReLU zeros)
    np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert np.abs(expected).max() > 0


def test_store_layout_names_every_slice(audio, tmp_path):
    cfg = Config(architecture="samplecnn", scales=SCALES, window_hop=HOPS, levels=2,
                 sampling_rate=RATE, num_filters=4, fix_length_by="zero-pad", dataset="demo")
    result = extract(cfg, folder_per_class(audio), seed=3, out=tmp_path,
                     run=RunOptions(progress=False))
    X, _, _, manifest = load_store(result.folder)
    layout = manifest["layout"]
    assert layout == feature_layout(build_extractor(cfg, seed=3))
    assert Config.from_dict(manifest["config"]) == cfg
    assert result.folder.parent.name.startswith("samplecnn-3_5+2-2-4-4-4-")
    # scale by scale, statistic by statistic, tap by tap; offsets tile the vector
    assert [(e["scale"], e["pooling"], e["name"], e["width"]) for e in layout] == [
        (scale, pooling, tap, width)
        for scale, taps in (("3^5", (("pool5", 16), ("conv1x1", 16))),
                            ("2-2-4-4", (("pool3", 16), ("conv1x1", 16))))
        for pooling in ("mean", "max") for tap, width in taps]
    assert [e["offset"] for e in layout] == list(np.cumsum([0] + [e["width"] for e in layout[:-1]]))
    assert layout[-1]["offset"] + layout[-1]["width"] == X.shape[1] == manifest["feature_length"]
    assert [(e["window"], e["hop"]) for e in layout] == [(729, 500)] * 4 + [(64, 64)] * 4
    # each slice is that scale's layer, pooled by that statistic, alone
    paths = [it.path for it in folder_per_class(audio)]
    for e in layout:
        alone = Config(architecture="samplecnn", sizes=e["scale"], window_hop=e["hop"],
                       levels=[e["index"]], window_pooling=[e["pooling"]], sampling_rate=RATE,
                       num_filters=4, fix_length_by="zero-pad")
        expected = np.stack([_by_hand(p, alone, seed=3) for p in paths])
        got = X[:, e["offset"]:e["offset"] + e["width"]]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_a_batch_of_several_clips_is_refused_before_any_work(audio, tmp_path):
    cfg = Config(architecture="samplecnn", sizes="3^5", sampling_rate=RATE, num_filters=2)
    with pytest.raises(ConfigError, match="batch_size 3: 'samplecnn' takes one whole clip"):
        extract(cfg, folder_per_class(audio), out=tmp_path, batch_size=3,
                run=RunOptions(progress=False))
    assert not any(tmp_path.rglob("*.npz"))


def test_info_prints_the_layout_by_scale_and_statistic(audio, tmp_path, capsys):
    from elmarc_tf.cli import main

    cfg = Config(architecture="samplecnn", sizes="3^5", levels=1, sampling_rate=RATE, num_filters=2,
                 fix_length_by="repeat-pad", dataset="demo")
    result = extract(cfg, folder_per_class(audio), out=tmp_path, run=RunOptions(progress=False))
    assert main(["info", str(result.folder)]) == 0
    out = capsys.readouterr().out
    assert "samplecnn 3^5 (window 729 = 91 ms, hop 729) at 8000 Hz nf=2 levels=1" in out
    assert "input:    waveform whole clips (repeat-pad, 8000 Hz" in out
    assert "layout:   3^5/mean/conv1x1[0:8], 3^5/max/conv1x1[8:16]" in out


# ----------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two exports (crop and zero-pad) of a two-scale model, and one fresh process without
    elmarc_tf that loads them and computes features of clips of two lengths."""
    root = tmp_path_factory.mktemp("samplecnn_export")
    out, jobs = {}, []
    for mode in ("crop", "zero-pad"):
        cfg = Config(architecture="samplecnn", scales=SCALES, window_hop=HOPS, levels=2,
                     sampling_rate=RATE, num_filters=4, fix_length_by=mode)
        folder = export_frontend(cfg, 5, root / mode)
        model = build_extractor(cfg, seed=5)
        for n in (1000, 2345):  # not multiples of any window or hop
            x = np.stack([music_like(n / RATE + 1e-6, RATE, seed=s)[:n] for s in range(2)])
            name = f"{mode}_{n}"
            np.save(root / f"{name}_x.npy", x)
            jobs.append({"name": name, "export": str(folder), "input": str(root / f"{name}_x.npy"),
                         "features": str(root / f"{name}_f.npy"), "served": str(root / f"{name}_s.npy")})
            out[name] = (cfg, folder, model(x).numpy())
    (root / "jobs.json").write_text(json.dumps(jobs))
    (root / "reload.py").write_text(RELOAD_SCRIPT)
    done = subprocess.run([sys.executable, str(root / "reload.py"), str(root / "jobs.json"),
                           str(root / "report.json")], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((root / "report.json").read_text())
    reloaded = {job["name"]: (np.load(job["features"]), np.load(job["served"])) for job in jobs}
    return out, report, reloaded


def test_export_reloads_without_elmarc_tf_and_gives_the_same_features(exported):
    out, report, reloaded = exported
    assert report["elmarc_tf_imported"] is False
    for name, (cfg, folder, ref) in out.items():
        assert report[name]["shape"] == [None, None]  # whole clips of any length
        for got in reloaded[name]:  # model.features and the serving signature
            assert got.shape == ref.shape == (2, describe_export(folder)["feature_length"])
            # the same float32 TensorFlow ops on the same CPU
            assert np.abs(got - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))


def test_export_description_and_minimum_length(exported):
    out, _, _ = exported
    crop_cfg, crop, _ = out["crop_1000"]
    zero_cfg, zero, _ = out["zero-pad_1000"]
    d = describe_export(crop)
    assert d["sampling_rate"] == RATE and "sr=8000" in d["usage"]
    assert d["layout"] == feature_layout(build_extractor(crop_cfg, seed=5))
    assert d["input"]["min_samples"] == 729 and d["input"]["max_samples"] is None
    assert describe_export(zero)["input"]["min_samples"] == 1
    model = tf.saved_model.load(str(crop))
    assert model.features(np.zeros((1, 729), np.float32)).shape == (1, d["feature_length"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="too short.*at least 729 samples"):
        model.features(np.zeros((1, 728), np.float32))
    assert tf.saved_model.load(str(zero)).features(np.ones((1, 5), np.float32)).shape == (
        1, d["feature_length"])


# ----------------------------------------------------------------------------- FLOPs and the bench
def _window_flops_by_hand(sizes, num_filters):
    """2 x output positions x kernel x in x out per conv: strided conv, modules ('same', before
    their pool), 1x1 conv."""
    f = schedule_filters(len(sizes), num_filters)
    length = window_size(sizes) // sizes[0]
    total = 2 * length * sizes[0] * 1 * f[0]
    for i, m in enumerate(sizes[1:], start=1):
        total += 2 * length * m * f[i - 1] * f[i]
        length //= m
    return total + 2 * length * f[-2] * f[-1]


def test_flops_per_clip_are_windows_times_one_window():
    full = build_extractor(Config(architecture="samplecnn"))
    per_window = _window_flops_by_hand((3,) * 10, 128)
    assert model_flops(full) == per_window and round(per_window / 1e9, 2) == 3.46
    n = 30 * 22050  # 661 500 samples: 11 full windows of 59 049
    assert clip_flops(full, n) == 11 * per_window
    cfg = Config(architecture="samplecnn", scales=SCALES, window_hop=HOPS, sampling_rate=RATE,
                 num_filters=4, fix_length_by="zero-pad")
    model = build_extractor(cfg)
    counts = [1 + math.ceil((2345 - 729) / 500), 1 + math.ceil((2345 - 64) / 64)]  # 5, 37
    assert clip_flops(model, 2345) == sum(c * _window_flops_by_hand(parse_sizes(s), 4)
                                          for c, s in zip(counts, SCALES))
    with pytest.raises(ValueError, match="n_samples"):
        clip_flops(model)


def test_bench_and_profile_time_one_whole_clip_per_call():
    """The measuring code on a small windowed model (timings are reported, never asserted)."""
    from elmarc_tf.bench.profile import profile_layers
    from elmarc_tf.bench.timing import forward_rate

    cfg = Config(architecture="samplecnn", sizes="3^5", sampling_rate=RATE, num_filters=2)
    row = forward_rate(cfg, batch_sizes=(1, 2, "auto"), seconds=0.05)
    n = 30 * RATE
    assert row["clip_samples"] == n and set(row["rates"]) == {1} and row["auto_batch_size"] == 1
    assert row["flops"] == (n // 729) * _window_flops_by_hand((3,) * 6, 2)
    profile = profile_layers(cfg, seconds=0.01)
    assert profile["batch_size"] == 1 and profile["flops"] == row["flops"]
    assert sum(r["flops"] or 0 for r in profile["layers"]) == row["flops"]  # every window counted


def test_bench_configurations_include_samplecnn():
    from elmarc_tf.studies.paper import bench_frontends, paper_config, paper_frontends

    names = list(bench_frontends())
    assert names[:len(paper_frontends())] == list(paper_frontends())
    assert names[len(paper_frontends()):] == ["samplecnn-3^9", "samplecnn-5", "samplecnn-146"]
    assert paper_config("samplecnn-3^9") == Config(architecture="samplecnn")
    lengths = {name: build_extractor(paper_config(name)).output.shape[-1]
               for name in ("samplecnn-3^9", "samplecnn-5", "samplecnn-146")}
    assert lengths == {"samplecnn-3^9": 3072, "samplecnn-5": 120, "samplecnn-146": 3504}


# ----------------------------------------------------------------------------- configs
def test_samplecnn_configs_exist_as_files_and_match_the_generator():
    from elmarc_tf.studies.paper import DATASETS, samplecnn_configs

    root = Path(__file__).resolve().parents[1] / "configs" / "samplecnn"
    for dataset in DATASETS:
        matrix = samplecnn_configs(dataset)
        files = {p.stem: p for p in (root / dataset).glob("*.yaml")}
        assert set(files) == set(matrix) == {f"samplecnn-{nf}_{clf}" for nf in (5, 146)
                                             for clf in ("SVM", "ELM")}
        for name, fields in matrix.items():
            assert yaml.safe_load(files[name].read_text()) == fields, name
            cfg = Config.from_dict(fields)
            assert (cfg.architecture, cfg.sampling_rate, cfg.levels) == ("samplecnn", 22050, 3)
    assert samplecnn_configs("urbansound8k")["samplecnn-5_SVM"]["fix_length_by"] == "repeat-pad"
