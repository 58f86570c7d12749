"""mⁿ-SampleCNN (Lee et al. 2018): Tables 1 and 3, the NumPy reference, whole-clip windows,
multi-level / multi-scale layout, seeds, serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference
from elmarc_tf import Config, build_extractor, feature_layout
from elmarc_tf.models.tf1_weights import original_variables
from elmarc_tf.errors import AudioError, ConfigError
from elmarc_tf.frontends.samplecnn import (
    TABLE3, build_samplecnn, parse_sizes, resolve_sizes, schedule_filters, select_levels,
    tap_names, window_size)
from elmarc_tf.frontends.windows import SlidingWindows, window_count

# Table 1 (3⁹-SampleCNN, 59 049 samples): output (time, filters) and parameters of every layer:
# the strided conv, the nine modules, the 1x1 conv.
TABLE1_OUTPUTS = [(19683, 128), (6561, 128), (2187, 128), (729, 256), (243, 256), (81, 256),
                  (27, 256), (9, 256), (3, 512), (1, 512), (1, 512)]
TABLE1_PARAMS = [512, 49280, 49280, 98560, 196864, 196864, 196864, 196864, 393728, 786944, 262656]
# Table 3: sampling rate -> input samples.
TABLE3_WINDOWS = {2000: 5184, 4000: 10368, 8000: 20736, 12000: 31104, 16000: 43740,
                  20000: 52488, 22050: 59049}

FIX_LENGTH_MODES = ("crop", "zero-pad", "repeat-pad")
SMALL = "3-3-2-2"  # window 36: 2 and 3 (odd and even 'same' padding)


def small_model(sizes=SMALL, seed=5, num_filters=6):
    return build_samplecnn(sizes, seed=seed, num_filters=num_filters)


def samplecnn_extractor(seed=0, **fields):
    """The whole-clip extractor of a ``samplecnn`` config (elmarc_tf.models.extractor.build_extractor)."""
    return build_extractor(Config(architecture="samplecnn", **fields), seed=seed)


def window_by_window(model, windows, selected):
    """Each window through ``model`` alone (batch 1), then each selected tap's mean over time."""
    rows = []
    for w in windows:
        maps = model(w[None, :, None].astype(np.float32))
        rows.append(np.concatenate([maps[i].numpy()[0].mean(axis=0) for i in selected]))
    return np.stack(rows)  # (count, d)


def pool_by_hand(per_window, pooling):
    stats = {"mean": lambda a: a.mean(axis=0), "max": lambda a: a.max(axis=0)}
    return np.concatenate([stats[p](per_window) for p in pooling])


# ----------------------------------------------------------------------------- Tables 1 and 3
def test_default_is_table1_layer_by_layer():
    model = build_samplecnn()
    assert model.input.shape == (None, 59049, 1)
    assert [tuple(t.shape) for t in model.outputs] == [(None, *o) for o in TABLE1_OUTPUTS]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [layer.count_params() for layer in convs] == TABLE1_PARAMS
    assert model.count_params() == 2_428_416
    assert [c.kernel_size[0] for c in convs] == [3] * 10 + [1]
    assert convs[0].strides == (3,) and convs[0].padding == "valid"
    assert all(c.padding == "same" and c.strides == (1,) for c in convs[1:10])
    assert all(np.all(c.bias.numpy() == 0) for c in convs)
    assert not model.trainable and not model.trainable_weights
    assert not [layer for layer in model.layers
                if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout,
                                      keras.layers.Dense))]
    # Table 1's total counts the 50-tag sigmoid output, which the extractor does not have.
    head = keras.layers.Dense(50, activation="sigmoid")(keras.layers.Flatten()(model.outputs[-1]))
    assert keras.Model(model.input, head).count_params() == 2_454_066


@pytest.mark.parametrize("rate", sorted(TABLE3))
def test_table3_models_take_their_input_size(rate):
    sizes = resolve_sizes(sampling_rate=rate)
    assert len(sizes) == 10 and sizes[:4] == (3, 3, 3, 3)
    model = build_samplecnn(sizes)
    assert model.input.shape == (None, TABLE3_WINDOWS[rate], 1)
    assert len(model.outputs) == 11 and model.outputs[-2].shape == (None, 1, 512)
    assert [int(t.shape[-1]) for t in model.outputs] == [128] * 3 + [256] * 5 + [512] * 3


def test_sizes_notations():
    assert parse_sizes("3^9") == parse_sizes(TABLE3[22050]) == (3,) * 10
    assert parse_sizes([3, 2, 4]) == resolve_sizes("3-2-4") == (3, 2, 4)
    assert resolve_sizes(m=5, n=6) == (5,) * 7 and window_size((5,) * 7) == 78125
    assert resolve_sizes() == (3,) * 10
    assert tap_names("3-3-2-2") == tap_names((3, 3, 2, 2)) == ("conv0", "pool1", "pool2", "pool3", "conv1x1")
    for bad in ("3-x-2", "3,3", "1-3", [3, 2.0], "", []):
        with pytest.raises(ConfigError, match="sizes"):
            parse_sizes(bad)
    with pytest.raises(ConfigError, match="not both"):
        resolve_sizes("3-3", m=3, n=1)
    with pytest.raises(ConfigError, match="'m' and 'n'"):
        resolve_sizes(m=3)
    with pytest.raises(ConfigError, match="sampling_rate"):
        resolve_sizes(sampling_rate=44100)


def test_filter_schedule():
    assert schedule_filters(10) == (128, 128, 128, 256, 256, 256, 256, 256, 512, 512, 512)
    assert schedule_filters(10, 5) == (5, 5, 5, 10, 10, 10, 10, 10, 20, 20, 20)
    assert schedule_filters(10, 146)[-3:] == (584, 584, 584)
    assert schedule_filters(10, 1) == (1, 1, 1, 2, 2, 2, 2, 2, 4, 4, 4)
    assert schedule_filters(10, 3) == (3, 3, 3, 6, 6, 6, 6, 6, 12, 12, 12)
    assert schedule_filters(10, 70)[3] == 140 and schedule_filters(10, 65)[3] == 130
    assert schedule_filters(15) == (128,) * 3 + (256,) * 10 + (512,) * 3
    assert schedule_filters(4) == (128, 128, 512, 512, 512)
    assert schedule_filters(1) == (512, 512)
    with pytest.raises(ConfigError, match="num_filters"):
        schedule_filters(10, 0)
    with pytest.raises(ConfigError, match="filters"):
        build_samplecnn(SMALL, filters=[4, 4, 4])


@pytest.mark.parametrize("kwargs,length", [
    (dict(num_filters=5), 120),  # ≈ the MFCC vector
    (dict(num_filters=146), 3504),  # ≈ 3500
    (dict(num_filters=128), 3072),
    (dict(num_filters=128, levels=4), 3584),
    (dict(num_filters=5, window_pooling=["mean"]), 60),
])
def test_paper_feature_lengths(kwargs, length):
    model = samplecnn_extractor(**kwargs)
    assert model.output.shape == (None, length)
    layout = feature_layout(model)
    levels = kwargs.get("levels", 3)
    assert [e["name"] for e in layout[:levels]] == list(tap_names("3^9")[-levels:])
    assert layout[-1]["offset"] + layout[-1]["width"] == length


# ----------------------------------------------------------------------------- NumPy reference
@pytest.mark.parametrize("sizes", ["3-3-2-2", "2-4-3", "4"])
def test_every_layer_matches_the_numpy_reference(sizes):
    """float32 convolutions of at most 3*24 terms against float64 NumPy: rtol 1e-4 plus 1e-5 of
    the largest value (zeros from the ReLU make a pure relative test meaningless)."""
    model = small_model(sizes, num_filters=12)
    x = np.random.default_rng(0).uniform(-1, 1, (3, window_size(parse_sizes(sizes)), 1)).astype(np.float32)
    weights = original_variables(model)
    ours = [t.numpy() for t in model(x)]
    ref = numpy_reference.samplecnn_taps(weights, x, parse_sizes(sizes))
    assert len(ours) == len(ref) == len(parse_sizes(sizes)) + 1
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
    selected = list(range(len(ref)))
    gap = np.concatenate([a.mean(axis=1) for a in ours], axis=-1)
    ref_gap = numpy_reference.samplecnn_window_features(weights, x, parse_sizes(sizes), selected)
    np.testing.assert_allclose(gap, ref_gap, rtol=1e-4, atol=1e-5 * np.abs(ref_gap).max())


# ----------------------------------------------------------------------------- windows
@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
@pytest.mark.parametrize("n", [36, 37, 53, 90, 107, 108])
@pytest.mark.parametrize("hop", [36, 12, 7])
def test_sliding_windows_are_the_reference_windows(mode, n, hop):
    """Pure data movement: exactly the NumPy reference's windows, rows clip by clip."""
    clips = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
    ours = SlidingWindows(36, hop, mode)(clips).numpy()
    ref = [numpy_reference.sliding_windows(c, 36, hop, mode) for c in clips]
    assert window_count(n, 36, hop, mode) == len(ref[0])
    np.testing.assert_array_equal(ours[..., 0], np.concatenate(ref).astype(np.float32))


@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
def test_short_clips(mode):
    clip = np.arange(1, 11, dtype=np.float32)[None]  # 10 samples, window 36
    if mode == "crop":
        with pytest.raises(AudioError, match="fix_length_by 'crop'"):
            SlidingWindows(36, fix_length_by=mode)(clip)
        with pytest.raises(AudioError, match="shorter"):
            window_count(10, 36, 36, mode)
        return
    windows = SlidingWindows(36, fix_length_by=mode)(clip).numpy()[..., 0]
    expected = np.concatenate([clip[0], np.zeros(26)]) if mode == "zero-pad" else np.tile(clip[0], 4)[:36]
    np.testing.assert_array_equal(windows, expected[None])


def test_window_count_rules():
    assert window_count(100, 36, 36, "crop") == 2  # samples 72..99 dropped
    assert window_count(100, 36, 36, "zero-pad") == 3
    assert window_count(108, 36, 36, "repeat-pad") == 3  # no partial window
    assert window_count(100, 36, 12, "crop") == 6 and window_count(100, 36, 12, "zero-pad") == 7
    assert window_count(5, 36, 12, "zero-pad") == 1
    with pytest.raises(ConfigError, match="window_hop"):
        SlidingWindows(36, 37)
    with pytest.raises(ConfigError, match="fix_length_by"):
        SlidingWindows(36, fix_length_by="pad")


@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
@pytest.mark.parametrize("hop", [None, 15])
def test_whole_clip_equals_window_by_window(mode, hop):
    """Two clips of 100 samples (not a multiple of the 36-sample window) in one batch: every
    window in one pass, averaged per tap, pooled by mean and max == each window alone through
    the window model, pooled by hand. Same float32 arithmetic on different batch sizes: rtol 1e-5."""
    pooling = ["mean", "max"]
    extractor = samplecnn_extractor(sizes=SMALL, levels=[0, 2, -1], window_hop=hop,
                                    fix_length_by=mode, window_pooling=pooling, num_filters=6,
                                    seed=5)
    model = small_model()
    selected = select_levels([0, 2, -1], 5)
    clips = np.random.default_rng(1).uniform(-1, 1, (2, 100)).astype(np.float32)
    ours = extractor(clips).numpy()
    graph = extractor.predict(clips, verbose=0)  # traced graph, unknown clip length
    for b, clip in enumerate(clips):
        windows = numpy_reference.sliding_windows(clip, 36, hop or 36, mode)
        expected = pool_by_hand(window_by_window(model, windows, selected), pooling)
        np.testing.assert_allclose(ours[b], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
        np.testing.assert_allclose(graph[b], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_one_extractor_takes_any_clip_length():
    extractor = samplecnn_extractor(sizes=SMALL, levels=1, fix_length_by="zero-pad",
                                    window_pooling=["max"], num_filters=6, seed=5)
    model = small_model()
    for n in (20, 36, 250):
        clip = np.random.default_rng(n).uniform(-1, 1, (1, n)).astype(np.float32)
        windows = numpy_reference.sliding_windows(clip[0], 36, 36, "zero-pad")
        expected = window_by_window(model, windows, [4]).max(axis=0)
        np.testing.assert_allclose(extractor(clip).numpy()[0], expected, rtol=1e-5, atol=1e-7)


def test_crop_short_clip_fails_in_graph_mode():
    extractor = samplecnn_extractor(sizes=SMALL, num_filters=2)
    run = tf.function(extractor, input_signature=[tf.TensorSpec((None, None), tf.float32)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="window with fix_length_by crop"):
        run(tf.zeros((1, 20)))


# ----------------------------------------------------------------------------- levels and scales
def test_multi_level_multi_scale_layout_matches_per_scale_computation():
    """Each (scale, layer, statistic) slice the layout reports equals that scale's model alone,
    window by window, that layer's mean over time, pooled by hand."""
    scales, hops, pooling = ["3-3-2-2", "2^4"], [18, None], ["max", "mean"]
    extractor = samplecnn_extractor(scales=scales, levels=2, window_hop=hops,
                                    fix_length_by="repeat-pad", window_pooling=pooling,
                                    num_filters=6, seed=9)
    clip = np.random.default_rng(2).uniform(-1, 1, (1, 130)).astype(np.float32)
    vector = extractor(clip).numpy()[0]
    layout = feature_layout(extractor)
    assert sum(e["width"] for e in layout) == vector.size
    assert [e["offset"] for e in layout] == list(np.cumsum([0] + [e["width"] for e in layout[:-1]]))
    assert [(e["scale"], e["pooling"], e["name"]) for e in layout] == [
        (s, p, layer)
        for s, layers in (("3-3-2-2", ("pool3", "conv1x1")), ("2^4", ("pool4", "conv1x1")))
        for p in pooling for layer in layers]
    for e in layout:
        model = build_samplecnn(e["scale"], seed=9, num_filters=6)
        windows = numpy_reference.sliding_windows(clip[0], e["window"], e["hop"], "repeat-pad")
        per_window = window_by_window(model, windows, [e["index"]])
        expected = pool_by_hand(per_window, [e["pooling"]])
        got = vector[e["offset"]:e["offset"] + e["width"]]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert [e["window"] for e in layout] == [36] * 4 + [32] * 4
    assert [e["hop"] for e in layout] == [18] * 4 + [32] * 4


def test_levels_and_scale_errors():
    assert select_levels(3, 11) == [8, 9, 10] and select_levels([-1, 0], 5) == [0, 4]
    for bad in (0, 12, [11], [1, -10], [], "3"):
        with pytest.raises(ConfigError, match="levels"):
            select_levels(bad, 11)
    with pytest.raises(ConfigError, match="scales"):
        Config(architecture="samplecnn", scales=["3^3", "3-3-3-3"])
    with pytest.raises(ConfigError, match="scales"):
        Config(architecture="samplecnn", scales="3^3")
    with pytest.raises(ConfigError, match="window_hop"):
        Config(architecture="samplecnn", scales=["3^3", "2^3"], window_hop=[9])
    with pytest.raises(ConfigError, match="window_pooling"):
        Config(architecture="samplecnn", scales=["3^3"], window_pooling=["mean", "median"])


# ----------------------------------------------------------------------------- seeds
def test_seeds():
    a, b, c = small_model(seed=1), small_model(seed=1), small_model(seed=2)
    va, vb, vc = (original_variables(m) for m in (a, b, c))
    assert list(va) == [f"conv1d{s}/{v}:0" for s in ("", "_1", "_2", "_3", "_4") for v in ("kernel", "bias")]
    for name in va:
        np.testing.assert_array_equal(va[name], vb[name])
        if name.endswith("kernel:0"):
            assert not np.array_equal(va[name], vc[name]), name
    # same-shaped layers (modules 4..7 of the 3⁹ model, 256 -> 256) get different kernels
    full = original_variables(build_samplecnn(num_filters=4))
    kernels = [full[f"conv1d_{i}/kernel:0"] for i in range(4, 8)]
    assert len({k.shape for k in kernels}) == 1
    assert all(not np.array_equal(kernels[i], kernels[j]) for i in range(4) for j in range(i))


def test_pruned_taps_and_other_scales_keep_the_weights():
    full = original_variables(small_model(seed=3))
    low = original_variables(samplecnn_extractor(sizes=SMALL, levels=[0, 1], num_filters=6, seed=3))
    assert sorted(low) == [f"conv1d{s}/{v}:0" for s in ("", "_1") for v in ("bias", "kernel")]
    for name, value in low.items():
        np.testing.assert_array_equal(value, full[name])
    both = samplecnn_extractor(scales=["2^4", SMALL], num_filters=6, seed=3)
    alone = original_variables(both.get_layer("scale_1"))
    for name, value in alone.items():
        np.testing.assert_array_equal(value, full[name])
    other = original_variables(both.get_layer("scale_0"))
    standalone = original_variables(build_samplecnn("2^4", seed=3, num_filters=6))
    assert sorted(other) == sorted(standalone)
    for name, value in other.items():
        np.testing.assert_array_equal(value, standalone[name])


# ----------------------------------------------------------------------------- serialisation
def test_keras_file_round_trip(tmp_path):
    extractor = samplecnn_extractor(scales=["3-3-2-2", "2-2-3"], levels=2, window_hop=[12, 6],
                                    fix_length_by="zero-pad", num_filters=4, seed=4)
    path = tmp_path / "samplecnn.keras"
    extractor.save(path)
    loaded = keras.saving.load_model(path)
    clip = np.random.default_rng(3).uniform(-1, 1, (2, 77)).astype(np.float32)
    np.testing.assert_array_equal(loaded(clip).numpy(), extractor(clip).numpy())
    assert feature_layout(loaded) == feature_layout(extractor)
