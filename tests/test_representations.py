"""The LEAF family in the study: as every spectrogram front-end's input representation, alone as
features (mean and std of each filter over the whole clip), seeded random filterbanks, the
trainable switch, the config keys, FLOP counts, and exports that need no elmarc_tf."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from conftest import SMALL, music_like, small_config
from elmarc_tf import Config, build_extractor, compile_extractor, feature_layout
from elmarc_tf.io.audio import load_audio
from elmarc_tf.bench.forward import run_representation_bench
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.errors import ConfigError
from elmarc_tf.models.export import describe_export, export_frontend, load_keras
from elmarc_tf.extraction.extract import extract
from elmarc_tf.models.flops import representation_flops
from elmarc_tf.frontends import FRONTENDS, frontend_of, is_seeded
from elmarc_tf.frontends import leaf as L
from elmarc_tf.frontends.melspec import LogMelSpectrogram
from elmarc_tf.extraction.store import load_store, store_key
from elmarc_tf.studies.study import run_experiment
from elmarc_tf.vocabulary import INPUT_REPRESENTATIONS
from elmarc_tf.extraction.options import RunOptions

SPECTROGRAM = sorted(name for name in SMALL if small_config(name).signal == "spectrogram")
LEAF_FAMILY = sorted(L.FRONTENDS)


def relative_error(ours, ref) -> float:
    """max |ours - ref| / max |ref| (outputs cross zero: an elementwise ratio means nothing)."""
    return float(np.abs(np.asarray(ours) - ref).max() / np.abs(ref).max())


def write_clips(root, seconds, sr=12000):
    """One WAV per length under two class folders (float samples: decoding is exact)."""
    for k, s in enumerate(seconds):
        path = root / f"c{k % 2}" / f"clip{k}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, music_like(s, sr, seed=k), sr, subtype="FLOAT")
    return folder_per_class(root)


# ------------------------------------------------------------------ the vocabulary
def test_every_leaf_front_end_is_a_representation_and_a_front_end():
    assert set(INPUT_REPRESENTATIONS) == {"logmel", *L.FRONTENDS}
    for name in L.FRONTENDS:
        spec = FRONTENDS[name]
        assert spec.family == "filterbank" and spec.input == "clip" and spec.taps == ("mean", "std")
    for name in L.PARAMETRIC_FILTERBANKS:  # random init changes a parametric filterbank only
        mel, rand = (L.build_representation(name, filterbank_init=i, seed=1) for i in ("mel", "random"))
        assert not np.allclose(mel.get_layer("filterbank").get_weights()[0],
                               rand.get_layer("filterbank").get_weights()[0])
    for name in L.FRONTENDS:  # trainable applies exactly where there are variables
        assert bool(L.build_representation(name).weights) == (name in L.WITH_VARIABLES)


# ------------------------------------------------------------------ as the CNNs' input
@pytest.mark.parametrize("representation", INPUT_REPRESENTATIONS)
def test_every_spectrogram_front_end_takes_every_representation(representation):
    """Same input shape, same feature length as on the log-mel; the CNN sees (n_frames, n_mels)."""
    y = music_like(0.6, seed=2)[None]  # 29 frames, brought to n_frames by repeat-pad
    for name in SPECTROGRAM:
        base = small_config(name, fix_length_by="repeat-pad")
        cfg = base.replace(input_representation=representation)
        model = build_extractor(cfg, seed=3, inputs="waveform")
        features = model(y).numpy()
        logmel_length = build_extractor(base, seed=3, inputs="logmel").output.shape[-1]
        assert features.shape == (1, logmel_length) and np.isfinite(features).all(), name
        assert tuple(model.get_layer("fix_frames").output.shape[1:]) == (cfg.n_frames, cfg.n_mels)
        assert model.get_layer(representation).name == representation  # the one named input


@pytest.mark.parametrize("fields", [
    dict(input_representation="leaf", filterbank_init="random", fix_length_by="repeat-pad"),
    dict(input_representation="pcen_mel", fix_length_by="zero-pad"),
    dict(input_representation="sincnet", fix_length_by="crop"),
], ids=["leaf-random-repeat", "pcen_mel-zero", "sincnet-crop"])
def test_extraction_and_the_exported_graph_compute_the_same_features(tmp_path, fields):
    """One definition of "clip -> CNN input": the tf.data pipeline (per clip) and the model with
    the representation in its graph (exports) give the same features for clips of several lengths
    and rates."""
    root = tmp_path / "audio"
    items = write_clips(root, [0.9, 1.3, 0.6])
    sf.write(root / "c1" / "at_22k.wav", music_like(1.1, 22050, seed=9), 22050)
    items = folder_per_class(root)
    cfg = Config(architecture="cnn_music", num_filters=4, n_frames=40, batch_size=2, **fields)
    result = extract(cfg, items, seed=5, out=tmp_path / "store", run=RunOptions(progress=False))
    X, _, ids, manifest = load_store(result.folder)
    failed = {f["id"] for f in manifest["failures"]}
    assert failed == ({"c0/clip2.wav"} if cfg.fix_length_by == "crop" else set())  # 29 < 40 frames
    model = build_extractor(cfg, seed=5, inputs="waveform")
    for row, clip in zip(X, ids):
        y = load_audio(root / clip, 12000, cfg.res_type)
        expected = model(y[None]).numpy()[0]
        assert relative_error(row, expected) <= 1e-5  # the same float32 ops in two graphs


# ------------------------------------------------------------------ alone: mean and std
@pytest.mark.parametrize("name", LEAF_FAMILY)
def test_alone_features_are_each_filters_mean_and_std(tmp_path, name):
    """Clips of different lengths in one extraction: each row is the time mean and std of that
    clip's own representation, computed here with NumPy in float64."""
    items = write_clips(tmp_path / "audio", [0.35, 1.7, 0.9])
    cfg = Config(architecture=name)
    result = extract(cfg, items, seed=0, out=tmp_path / "store", run=RunOptions(progress=False))
    X, _, ids, manifest = load_store(result.folder)
    assert [n for n, _ in result.batch_seconds] == [1, 1, 1]  # one clip per batch, never padded
    assert [(e["name"], e["offset"], e["width"]) for e in manifest["layout"]] == [
        ("mean", 0, 96), ("std", 96, 96)]
    representation = L.build_representation(name)
    for row, clip in zip(X, ids):
        y = load_audio(tmp_path / "audio" / clip, 12000)
        frames = np.asarray(representation(y[None]), np.float64)[0]
        assert frames.shape == (1 + len(y) // 256, 96)
        mean, std = frames.mean(axis=0), frames.std(axis=0)
        # float32 model vs float64 statistics of the same frames; scale: the largest value
        assert np.abs(row[:96] - mean).max() <= 1e-5 * np.abs(frames).max()
        assert np.abs(row[96:] - std).max() <= 1e-5 * np.abs(frames).max()
    assert not np.allclose(X[0], X[1])


def test_alone_front_ends_take_one_clip_per_batch(tmp_path):
    items = write_clips(tmp_path / "audio", [0.3, 0.5])
    with pytest.raises(ConfigError, match="batch_size 2: .mel_tf. takes one whole clip per forward"):
        extract(Config(architecture="mel_tf"), items, out=tmp_path / "s", batch_size=2,
                run=RunOptions(progress=False))
    with pytest.raises(ConfigError, match="'batch_size' must be 1 or auto for 'mel_tf'"):
        Config(architecture="mel_tf", batch_size=4)


# ------------------------------------------------------------------ seeds
def test_random_filterbank_is_seeded_through_the_extractor():
    y = music_like(1.0, seed=4)[None]
    alone = Config(architecture="leaf", filterbank_init="random")
    a, b, c = (compile_extractor(alone, seed)(y).numpy() for seed in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert relative_error(a, c) > 1e-2
    mel = Config(architecture="leaf")
    np.testing.assert_array_equal(compile_extractor(mel, 1)(y).numpy(),
                                  compile_extractor(mel, 2)(y).numpy())
    # under a CNN: the filterbank drawn from the run's seed is the layer's random_gabor_params
    cnn = small_config("cnn_single_7x96", input_representation="leaf", filterbank_init="random")
    kernels = [build_extractor(cnn, seed, inputs="waveform").get_layer("leaf")
               .get_layer("filterbank").get_weights()[0] for seed in (3, 3, 4)]
    np.testing.assert_array_equal(kernels[0], kernels[1])
    np.testing.assert_array_equal(kernels[0], L.random_gabor_params(96, 12000, 513, 0.0, 6000.0,
                                                                    seed=3, mel_scale="slaney"))
    assert not np.allclose(kernels[0], kernels[2])


def test_seeded_only_when_something_is_random():
    assert not is_seeded(Config(architecture="leaf"))
    assert not is_seeded(Config(architecture="pcen_mel"))
    assert is_seeded(Config(architecture="leaf", filterbank_init="random"))
    assert is_seeded(small_config("cnn_music", input_representation="pcen_mel"))  # CNN weights
    assert not is_seeded(Config(features_type="MFCC"))


def test_study_stores_deterministic_filterbanks_once(tmp_path):
    items = write_clips(tmp_path / "audio", [0.4, 0.5, 0.45, 0.6, 0.55, 0.5, 0.42, 0.38])
    stores = {}
    for name, fields in {"mel": {}, "random": {"filterbank_init": "random"}}.items():
        cfg = Config(architecture="sincnet", n_folds=2, **fields)
        summary = run_experiment(cfg, seeds=(0, 1), out=tmp_path / "results", name=name,
                                 items=items, features_out=tmp_path / "features",
                                 run=RunOptions(progress=False, log=lambda *a: None))
        stores[name] = [r["store"] for r in summary["per_seed"]]
        assert summary["model"] == ("SincNet (192)" if name == "mel"
                                    else "SincNet (random init) (192)")
    assert stores["mel"][0] == stores["mel"][1] and stores["mel"][0].endswith("seed0")
    assert stores["random"][0] != stores["random"][1]


# ------------------------------------------------------------------ trainable
LEAF_TRAINED = {"filterbank/kernel", "pooling/width", "pcen/alpha", "pcen/delta", "pcen/root",
                "pcen/smooth"}


def test_trainable_switches_on_the_representation_only():
    y = tf.constant(music_like(0.5, seed=1)[None])
    frozen = small_config("cnn_single_7x96", fix_length_by="repeat-pad", input_representation="leaf")
    model = build_extractor(frozen.replace(trainable=True), 0, inputs="waveform")
    assert {v.path for v in model.trainable_weights} == LEAF_TRAINED  # not the CNN's 1CNN/...
    assert len(model.weights) == len(LEAF_TRAINED) + 2
    assert build_extractor(frozen, 0, inputs="waveform").trainable_weights == []
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(y) ** 2)
    kernel = model.get_layer("leaf").get_layer("filterbank").kernel
    assert np.abs(tape.gradient(loss, kernel).numpy()).max() > 0
    # the switch changes no number
    np.testing.assert_array_equal(model(y).numpy(),
                                  build_extractor(frozen, 0, inputs="waveform")(y).numpy())
    alone = build_extractor(Config(architecture="sincnet_plus", trainable=True), 0)
    # leaf-audio keeps SincNet+'s PCEN smoother fixed
    assert {v.path for v in alone.trainable_weights} == {"filterbank/kernel", "pooling/width"}
    assert store_key(frozen.replace(trainable=True), []) == store_key(frozen, [])


# ------------------------------------------------------------------ config keys
@pytest.mark.parametrize("fields, message", [
    (dict(architecture="sample_level", n_samples=3000, input_representation="leaf"),
     "'input_representation' applies to spectrogram front-ends; 'sample_level' takes no spectrogram"),
    (dict(features_type="MFCC", input_representation="pcen_mel"),
     "'input_representation' applies to spectrogram front-ends; 'mfcc'"),
    (dict(architecture="leaf", input_representation="leaf"), "'leaf' is a representation itself"),
    (dict(architecture="vgg", n_frames=1376, input_representation="cqt"),
     "'input_representation' must be one of logmel, leaf"),
    (dict(architecture="vgg", n_frames=1376, filterbank_init="random"),
     "'filterbank_init' 'random' needs a filterbank with parameters .*'logmel' has none"),
    (dict(architecture="vgg", n_frames=1376, input_representation="pcen_mel",
          filterbank_init="random"), "'filterbank_init' .*'pcen_mel' has none"),
    (dict(architecture="mel_tf", filterbank_init="random"), "'filterbank_init' .*'mel_tf' has none"),
    (dict(architecture="leaf", filterbank_init="gammatone"), "'filterbank_init' must be one of mel, random"),
    (dict(architecture="vgg", n_frames=1376, trainable=True), "'trainable' needs .*'logmel' has none"),
    (dict(architecture="mel_tf", trainable=True), "'trainable' needs .*'mel_tf' has none"),
    (dict(architecture="leaf", trainable="yes"), "'trainable' must be true or false"),
])
def test_config_errors_name_the_key(fields, message):
    with pytest.raises(ConfigError, match=message) as e:
        Config(**fields)
    assert "\n" not in str(e.value)


def test_new_keys_are_features_only_where_they_change_features():
    base = small_config("cnn_music")
    keys = {store_key(base.replace(**c), []) for c in (
        {}, {"input_representation": "leaf"},
        {"input_representation": "leaf", "filterbank_init": "random"})}
    assert len(keys) == 3
    assert store_key(Config.from_dict(base.to_dict()), []) == store_key(base, [])
    spec = frontend_of(base.replace(input_representation="leaf", filterbank_init="random"))
    cfg = base.replace(input_representation="leaf", filterbank_init="random")
    assert spec.label(cfg) == "timbral+temporal on LEAF (random init)" and spec.label(base) == \
        "timbral+temporal"
    assert spec.store_name(cfg) == "cnn_music-4+leaf-random" and spec.store_name(base) == "cnn_music-4"
    assert Config(architecture="leaf").n_samples is None  # the whole clip: no length to give


# ------------------------------------------------------------------ FLOPs
def test_representation_flops_follow_the_layer_formulas():
    n, K, C, hop = 360000, 513, 96, 256
    T = 1 + n // hop
    direct = representation_flops(L.build_representation("leaf", conv="direct"), n)
    assert direct == {"channel": 0, "filterbank": 2 * n * K * 2 * C,  # complex Gabor: 2C real
                      "squared_modulus": 3 * n * C, "pooling": 2 * T * K * C, "floor": T * C,
                      "pcen": 10 * T * C}
    fft = representation_flops(L.build_representation("leaf"), n)
    N = 4096  # overlap-save blocks: 7/8 of each block kept, hop N - K + 1
    blocks = math.ceil(n / (N - K + 1))
    fft_cost = 2.5 * N * math.log2(N)
    assert fft["filterbank"] == int(blocks * (fft_cost * (2 * C + 1) + 6 * (N // 2 + 1) * 2 * C)
                                    + fft_cost * 2 * C)
    assert fft["filterbank"] < direct["filterbank"] / 20
    sinc = representation_flops(L.build_representation("sincnet", conv="direct"), n)
    assert sinc["filterbank"] == 2 * n * K * C and sinc["pooling"] == T * K * C  # max: compares
    logmel = representation_flops(LogMelSpectrogram(name="logmel"), n)["logmel"]
    assert logmel == int(T * (512 + 2.5 * 512 * 9 + 1.5 * 512 + 512 * C + 3 * C))
    assert sum(representation_flops(L.build_representation("mel_tf"), n).values()) < 1.01 * logmel


# ------------------------------------------------------------------ export
EXPORTS = {  # name -> config: waveform -> representation -> CNN, and the representation alone
    "7x96_on_leaf_random": small_config("cnn_single_7x96", fix_length_by="zero-pad",
                                        input_representation="leaf", filterbank_init="random"),
    "timbral_on_pcen_mel": small_config("cnn_music", input_representation="pcen_mel"),
    "leaf_alone": Config(architecture="leaf"),
}

RELOAD = textwrap.dedent("""
    import json, sys

    class _NoElmarc:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "elmarc_tf":
                raise ImportError("elmarc_tf must not be needed to load an export")

    sys.meta_path.insert(0, _NoElmarc())
    import numpy as np
    import tensorflow as tf

    out = {}
    for name, (folder, inputs) in json.load(open(sys.argv[1])).items():
        model = tf.saved_model.load(folder)
        out[name] = [model.features(np.load(x)).numpy().tolist() for x in inputs]
    json.dump(out, open(sys.argv[2], "w"))
""")


def test_exports_reload_without_elmarc_tf(tmp_path):
    jobs, expected = {}, {}
    for name, cfg in EXPORTS.items():
        folder = export_frontend(cfg, 6, tmp_path / name)
        model = build_extractor(cfg, 6, inputs="waveform")
        shortest = (cfg.n_frames - 1) * 256 if cfg.n_frames and cfg.fix_length_by == "crop" else 300
        lengths = [shortest + 700, shortest + 9000]
        inputs = []
        for k, n in enumerate(lengths):  # two lengths: the signature takes any length
            x = np.stack([music_like(n / 12000 + 1e-6, seed=k + s)[:n] for s in range(2)])
            np.save(tmp_path / f"{name}{k}.npy", x)
            inputs.append(str(tmp_path / f"{name}{k}.npy"))
            expected.setdefault(name, []).append(model(x).numpy())
        jobs[name] = (str(folder), inputs)
        keras_model = load_keras(folder)  # the .keras round trip: the same model, frozen
        np.testing.assert_array_equal(keras_model(np.load(inputs[0])).numpy(), expected[name][0])
        assert not keras_model.trainable_weights
        d = describe_export(folder)
        assert d["feature_length"] == expected[name][0].shape[1] and d["input"]["shape"] == [None, None]
    assert describe_export(tmp_path / "leaf_alone")["input"]["min_samples"] == 1
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "reload.py").write_text(RELOAD)
    done = subprocess.run([sys.executable, str(tmp_path / "reload.py"), str(tmp_path / "jobs.json"),
                           str(tmp_path / "out.json")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reloaded = json.loads((tmp_path / "out.json").read_text())
    for name, refs in expected.items():
        for got, ref in zip(reloaded[name], refs):
            # the same float32 graph in another process: rounding only
            assert np.abs(np.asarray(got) - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max()), name
    assert feature_layout(build_extractor(EXPORTS["leaf_alone"], 0))[1]["name"] == "std"


def test_representation_bench_rows(tmp_path):
    """The bench's table: each row's FLOPs are the layer formulas' sum, the time-domain column
    the same representation with direct convolutions; files written (no timing is asserted)."""
    result = run_representation_bench(["logmel", "sincnet"], cnn="7x96-160", quick=True,
                                      out=tmp_path, log=lambda *a: None)
    logmel, sincnet = result["rows"]
    n = 30 * 12000
    assert logmel["flops"] == logmel["direct_flops"] == sum(
        representation_flops(LogMelSpectrogram(), n).values())
    assert sincnet["flops"] == sum(representation_flops(L.build_representation("sincnet"), n).values())
    assert sincnet["direct_flops"] == sum(representation_flops(
        L.build_representation("sincnet", conv="direct"), n).values())
    assert sincnet["cnn_flops"] == 2 * (1376 - 6) * 7 * 96 * 160  # 7x96-160: one conv
    table = (tmp_path / "representations.md").read_text()
    for r in result["rows"]:  # real calls take CPU time; the table shows each measured figure
        assert r["clips_per_s"] > 0 and r["cpu_s"] > 0 and r["with_cnn_cpu_s"] > 0
        assert (f"| {r['clips_per_s']:.2f} | {1000 * r['cpu_s']:.0f} | "
                f"{r['with_cnn_clips_per_s']:.2f} | {1000 * r['with_cnn_cpu_s']:.0f} |") in table
    assert "| sincnet | 1.474 | 35.60 | 16.8 |" in table
    assert json.loads((tmp_path / "representations.json").read_text())["cnn"] == "7x96-160"
