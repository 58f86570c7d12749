"""The LEAF family against leaf-audio's own outputs, NumPy oracles and the paper's log-mel
geometry."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import music_like
from elmarc_tf.errors import ConfigError, WeightsError
from elmarc_tf.frontends import leaf as L
from elmarc_tf.frontends.melspec import LogMelSpectrogram

REFERENCE = Path(__file__).parents[2] / "shared" / "reference" / "leaf"
FACTORIES = {  # reference folder -> our model at leaf-audio's defaults
    "leaf": L.leaf,
    "leaf_preemp": lambda: L.leaf(preemp=True),
    "sincnet": L.sincnet,
    "sincnet_plus": L.sincnet_plus,
    "tfbanks": L.tdfbanks,
    "mel": L.mel_tf,
}


def relative_error(ours, ref) -> float:
    """max |ours - ref| / max |ref|: one number per case, insensitive to where ref is near zero
    (PCEN and layer-norm outputs cross zero, so an elementwise relative error is meaningless)."""
    return float(np.abs(np.asarray(ours) - ref).max() / np.abs(ref).max())


def hz_to_mel(f, scale):
    """Mel scales written out by hand: HTK's 2595 log10(1 + f/700); Slaney's linear 3f/200 below
    1 kHz and logarithmic above (27 / ln 6.4 mels per e-fold)."""
    f = np.asarray(f, np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    above = 15.0 + 27.0 * np.log(np.maximum(f, 1e-9) / 1000.0) / np.log(6.4)
    return np.where(f < 1000.0, 3.0 * f / 200.0, above)


def mel_to_hz(m, scale):
    m = np.asarray(m, np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))


def mel_points(n, fmin, fmax, scale):
    """The n inner points of n + 2 points equally spaced on the mel scale: the filters' centres."""
    mels = np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n + 2)
    return mel_to_hz(mels, scale)[1:-1]


def built(layer, channels=1):
    layer.build((None, None, channels))
    return layer


# ------------------------------------------------------------------ parity with leaf-audio
@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference/leaf is not available")
@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "own_init"])
@pytest.mark.parametrize("case", sorted(FACTORIES))
def test_matches_leaf_audio(case, loaded):
    folder = REFERENCE / case
    config = json.loads((folder / "config.json").read_text())
    x, ref = np.load(folder / "input.npy"), np.load(folder / "output.npy")
    model = FACTORIES[case]()
    stored = dict(np.load(folder / "weights.npz"))
    if loaded:
        assert L.load_leaf_audio_weights(model, folder / "weights.npz") == []
    else:  # our own initialisation is leaf-audio's, variable by variable (float32 rounding)
        ours = {v.path: np.asarray(v) for v in model.weights}
        assert len(ours) == len(stored) == len(config["weights"])
        for name, value in stored.items():
            mine = ours[L.our_variable_path(name)]
            np.testing.assert_allclose(mine.reshape(value.shape), value, rtol=1e-5, atol=1e-7,
                                       err_msg=name)
    out = np.asarray(model(x))
    assert out.shape == ref.shape == tuple(config["output_shape"])
    # float32 throughout on both sides; observed <= 1e-5, the criterion is 1e-4
    assert relative_error(out, ref) <= 1e-4


def test_load_errors_are_one_line(tmp_path):
    model = L.leaf(L.FrontEndSpec(n_filters=4))
    good = {"leaf/" + k: np.asarray(v) for k, v in
            {"kernel:0": model.get_layer("filterbank").kernel, "learnable_pooling/kernel:0":
             np.full((1, 1, 4, 1), 0.3), "PCEN/alpha:0": np.ones(4), "PCEN/delta:0": np.ones(4),
             "PCEN/root:0": np.ones(4), "PCEN/EMA/smooth:0": np.ones(4)}.items()}
    good["kernel:0"] = good.pop("leaf/kernel:0")
    unused = L.load_leaf_audio_weights(model, {**good, "leaf/other:0": np.ones(1)})
    assert unused == ["leaf/other:0"]
    np.testing.assert_array_equal(np.asarray(model.get_layer("pooling").width),
                                  np.full(4, 0.3, np.float32))
    missing = {k: v for k, v in good.items() if "smooth" not in k}
    with pytest.raises(WeightsError, match="pcen/smooth") as e:
        L.load_leaf_audio_weights(model, missing)
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsError, match=r"PCEN/alpha:0' has shape \(5,\)"):
        L.load_leaf_audio_weights(model, {**good, "leaf/PCEN/alpha:0": np.ones(5)})
    bad = tmp_path / "weights.npz"
    bad.write_text("not a zip")
    with pytest.raises(WeightsError, match="weights.npz: cannot read"):
        L.load_leaf_audio_weights(model, bad)


# ------------------------------------------------------------------ PCEN against NumPy
def band_energies(y, n_bands=6):
    """A real-like PCEN input (frames, bands): STFT power of music_like summed in 6 bands."""
    frames = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), 512)[::160]
    power = np.abs(np.fft.rfft(frames * np.hanning(512), axis=1)) ** 2
    return power[:, 1:241].reshape(len(frames), n_bands, 40).sum(-1).astype(np.float32)


def pcen_numpy(x, alpha, delta, root, floor, step):
    """PCEN written as a plain loop in float64; ``step(s, x_t)`` is the smoother's update."""
    x = x.astype(np.float64)
    smoother, s = np.empty_like(x), x[0]
    for t in range(len(x)):
        s = step(s, x[t])
        smoother[t] = s
    a, r = np.minimum(alpha, 1.0), np.maximum(root, 1.0)
    return (x / (floor + smoother) ** a + delta) ** (1.0 / r) - delta ** (1.0 / r)


def test_pcen_ema_matches_numpy_recursion():
    x = band_energies(music_like(4.0, sr=16000))  # (T, 6), has a silent gap and onsets
    assert x.shape[0] > 300 and x.min() >= 0 and (x[:, 0] == 0).any()
    # per-channel values, including ones the layer clips (alpha 1.2 -> 1, root 0.5 -> 1,
    # smoothing 1.5 -> 1 and -0.1 -> 0)
    alpha = np.array([0.5, 0.8, 0.96, 1.0, 1.2, 0.9])
    smooth = np.array([0.01, 0.04, 0.2, 0.5, 1.5, -0.1])
    delta = np.array([0.5, 1.0, 2.0, 3.0, 2.0, 10.0])
    root = np.array([1.5, 2.0, 3.0, 0.5, 2.0, 4.0])
    layer = built(L.PCEN(floor=1e-6), 6)
    for var, value in (("alpha", alpha), ("smooth", smooth), ("delta", delta), ("root", root)):
        getattr(layer, var).assign(value.astype(np.float32))
    w = np.clip(smooth, 0, 1)
    ref = pcen_numpy(x, alpha, delta, root, 1e-6, lambda s, xt: w * xt + (1 - w) * s)
    out = np.asarray(layer(x[None]))[0]
    assert relative_error(out, ref) < 1e-5  # float32 recursion vs float64 loop
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-5)


def test_pcen_rnn_smoother_matches_numpy_recursion():
    x = band_energies(music_like(2.0, sr=16000, seed=1))
    rng = np.random.default_rng(0)
    kernel = 0.05 * np.eye(6) + rng.uniform(0, 0.002, (6, 6))
    recurrent = 0.9 * np.eye(6) + rng.uniform(0, 0.005, (6, 6))
    layer = built(L.PCEN(smoother="rnn", floor=1e-6), 6)
    # defaults: leaf-audio's fixed smoother is the EMA with coefficient 0.04
    default = np.asarray(layer(x[None]))[0]
    ref = pcen_numpy(x, 0.96, 2.0, 2.0, 1e-6, lambda s, xt: 0.04 * xt + 0.96 * s)
    assert relative_error(default, ref) < 1e-5
    layer.kernel.assign(kernel.astype(np.float32))
    layer.recurrent_kernel.assign(recurrent.astype(np.float32))
    ref = pcen_numpy(x, 0.96, 2.0, 2.0, 1e-6, lambda s, xt: xt @ kernel + s @ recurrent)
    assert relative_error(np.asarray(layer(x[None]))[0], ref) < 1e-5


# ------------------------------------------------------------------ filters
def test_gabor_centres_are_the_mel_points():
    sr, n = 16000, 40
    points = mel_points(n, 60.0, 7800.0, "htk")
    # leaf-audio's initialisation reads the mel filters on a 512-point grid: the centres are the
    # mel points rounded to the nearest bin
    centres = built(L.GaborConv1D(n, 401, sr)).centre_frequencies()
    np.testing.assert_allclose(centres, np.round(points * 512 / sr) * sr / 512, atol=1e-3)
    # on a fine grid they are the points themselves, to half a bin
    fine = built(L.GaborConv1D(n, 401, sr, init_n_fft=2 ** 16)).centre_frequencies()
    assert np.abs(fine - points).max() <= 0.5 * sr / 2 ** 16 + 1e-3
    # the paper's representation: Slaney mel points between 0 and 6000 Hz, 96 filters, 12 kHz
    layer = L.build_representation("leaf").get_layer("filterbank")
    points = mel_points(96, 0.0, 6000.0, "slaney")
    np.testing.assert_allclose(layer.centre_frequencies(),
                               np.round(points * 512 / 12000) * 12000 / 512, atol=1e-3)


def test_gabor_filters_peak_at_their_centre_frequency():
    layer = built(L.GaborConv1D(40, 401, 16000))
    kernel = np.asarray(layer.filters())[:, 0]  # (401, 80), real/imaginary interleaved
    response = np.abs(np.fft.fft(kernel[:, 0::2] + 1j * kernel[:, 1::2], 2 ** 16, axis=0))
    peak_hz = response.argmax(axis=0) * 16000 / 2 ** 16
    assert np.abs(peak_hz - layer.centre_frequencies()).max() <= 16000 / 2 ** 16


def test_squared_modulus_and_preemphasis_by_hand():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 50, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(L.SquaredModulus()(x)),
                               x[..., ::2] ** 2 + x[..., 1::2] ** 2, rtol=1e-6)
    y = rng.standard_normal((1, 30, 1)).astype(np.float32)
    # leaf-audio's 'same' two-tap conv: y[n] = x[n+1] - 0.97 x[n], x[N] = 0
    expected = np.append(y[0, 1:, 0], 0.0) - 0.97 * y[0, :, 0]
    np.testing.assert_allclose(np.asarray(L.PreEmphasis()(y))[0, :, 0], expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", L.POOL_PADDINGS)
@pytest.mark.parametrize("n", [1, 159, 160, 161, 400, 401, 1000])
def test_pooling_frame_counts(padding, n):
    if padding == "valid" and n < 401:
        pytest.skip("'valid' needs at least one whole window")
    x = np.ones((1, n, 3), np.float32)
    for layer in (L.GaussianLowpass(401, 160, padding), L.SharedLowpass(401, 160, padding),
                  L.MaxPool(401, 160, padding)):
        out = np.asarray(layer(x))
        assert out.shape == (1, L.n_frames(n, 401, 160, padding), 3)
        assert np.isfinite(out).all()


def test_gaussian_windows_formula():
    w = np.array([0.001, 0.1, 0.4, 0.9], np.float32)
    size = 11
    t = np.arange(size) - 5.0
    sigma = np.clip(w, 2 / size, 0.5) * 5.0  # widths clipped to [2 / size, 0.5]
    np.testing.assert_allclose(np.asarray(L.gaussian_windows(w, size)),
                               np.exp(-0.5 * (t[:, None] / sigma) ** 2), rtol=1e-5)


# ------------------------------------------------------------------ the presets' arguments
def test_spec_and_band_defaults_are_leaf_audios_and_validated():
    assert L.FrontEndSpec().windows() == (401, 160)  # 25 ms + 1 sample, 10 ms at 16 kHz
    assert L.FrontEndSpec(sample_rate=12000).windows() == (301, 120)
    assert L.FrontEndSpec(sample_rate=12000, window_size=513, hop=256).windows() == (513, 256)
    band = L.MelBand()
    assert (band.min_freq, band.max_freq, band.mel_scale, band.n_fft) == (60.0, 7800.0, "htk", 512)
    with pytest.raises(ConfigError, match="'framing' must be one of leaf, centered; got 'middle'"):
        L.FrontEndSpec(framing="middle")
    with pytest.raises(ConfigError, match="'mel_scale' must be one of htk, slaney; got 'bark'"):
        L.MelBand(mel_scale="bark")
    with pytest.raises(AttributeError):  # frozen: a default shared by every call cannot change
        L.FrontEndSpec().n_filters = 3


@pytest.mark.parametrize("name", ["leaf", "tdfbanks"])
def test_presets_place_their_filters_on_the_band(name):
    """The band given to a preset reaches its filters: the peak of each complex filter's response
    is the Slaney mel point between 100 and 5000 Hz (read on a fine grid), not leaf-audio's."""
    sr, grid = 16000, 2 ** 16
    band = L.MelBand(100.0, 5000.0, "slaney", grid)
    model = L.FRONTENDS[name](L.FrontEndSpec(n_filters=12), band)
    layer = model.get_layer("filterbank")
    kernel = np.asarray(layer.kernel if name == "tdfbanks" else layer.filters())[:, 0]
    response = np.abs(np.fft.fft(kernel[:, 0::2] + 1j * kernel[:, 1::2], grid, axis=0))
    peak_hz = response.argmax(axis=0) * sr / grid
    # half a bin reading the mel filters, half a bin reading the response
    assert np.abs(peak_hz - mel_points(12, 100.0, 5000.0, "slaney")).max() <= sr / grid + 1e-3


# ------------------------------------------------------------------ random filterbanks
def test_random_init_is_seeded_and_in_range():
    sr, k = 16000, 401
    a = L.gabor_params("random", 40, sr, k, 60.0, 7800.0, seed=3)
    np.testing.assert_array_equal(a, L.gabor_params("random", 40, sr, k, 60.0, 7800.0, seed=3))
    assert not np.allclose(a, L.gabor_params("random", 40, sr, k, 60.0, 7800.0, seed=4))
    assert not np.allclose(a, L.gabor_params("mel", 40, sr, k, 60.0, 7800.0))
    centres = a[:, 0] * sr / (2 * np.pi)
    fwhm = np.sqrt(2 * np.log(2)) * sr / (np.pi * a[:, 1])
    assert np.all(np.diff(centres) >= 0) and centres.min() >= 60.0 and centres.max() <= 7800.0
    assert fwhm.min() >= sr / k * (1 - 1e-5) and fwhm.max() <= sr / 4 * (1 + 1e-5)
    # so the Gabor constraint leaves them as drawn
    np.testing.assert_allclose(np.asarray(L.gabor_constraint(a, k)), a, rtol=1e-6)

    s = L.sinc_params("random", 40, sr, seed=3)
    np.testing.assert_array_equal(s, L.sinc_params("random", 40, sr, seed=3))
    assert not np.allclose(s, L.sinc_params("random", 40, sr, seed=4))
    lower, width = 50.0 + s[:, 0], 50.0 + s[:, 1]
    assert (s >= 0).all() and lower.max() <= sr / 2 - 50 and width.max() <= sr / 4 * (1 + 1e-6)


def test_random_representation_stays_in_the_authors_band():
    layer = L.build_representation("leaf", filterbank_init="random", seed=7).get_layer("filterbank")
    centres = layer.centre_frequencies()
    assert centres.min() >= 0.0 and centres.max() <= 6000.0 and np.all(np.diff(centres) >= 0)
    mel = L.build_representation("leaf").get_layer("filterbank").centre_frequencies()
    assert np.abs(centres - mel).max() > 100.0


@pytest.mark.parametrize("name", ["leaf", "sincnet", "sincnet_plus", "tdfbanks"])
def test_random_models_are_seeded(name):
    x = music_like(0.3, sr=16000)[None]
    small = L.FrontEndSpec(n_filters=8)
    make = lambda seed: L.FRONTENDS[name](small, filterbank_init="random", seed=seed)
    a, b, c = (np.asarray(make(s)(x)) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and not np.allclose(a, c)
    with pytest.raises(ConfigError, match="filterbank_init"):
        L.FRONTENDS[name](small, filterbank_init="gammatone")


# ------------------------------------------------------------------ the paper's representation
@pytest.mark.parametrize("name", sorted(L.FRONTENDS))
def test_representation_has_the_logmel_frames(name):
    model = L.build_representation(name)
    logmel = LogMelSpectrogram(pad_mode="constant")
    for n in (1, 100, 255, 256, 257, 513, 3000, 4096):
        x = music_like(1.0)[None, :n]
        out = np.asarray(model(x))
        assert out.shape == (1, 1 + n // 256, 96) == tuple(logmel(x).shape)
        assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ["mel_tf", "tdfbanks", "leaf"])
def test_representation_frames_are_centred(name):
    """A click at sample 256 * 7 lands in frame 7, as in the centred STFT."""
    model = L.build_representation(name)
    x = np.zeros((1, 5000), np.float32)
    x[0, 256 * 7] = 1.0
    energy = np.asarray(model(x))[0].sum(axis=1)
    assert energy.argmax() == 7


def test_representation_mel_is_the_authors_mel_power():
    y = music_like(3.0)
    ours = np.exp(np.asarray(L.build_representation("mel_tf")(y[None]))[0]) - 1e-5
    # the authors' log-mel without the top-dB floor, back to power: same bands, window and frames
    ref = 10.0 ** (np.asarray(LogMelSpectrogram(pad_mode="constant", top_db=None)(y[None]))[0] / 10)
    big = ref > 1e-3 * ref.max()
    assert big.sum() > 1000
    np.testing.assert_allclose(ours[big], ref[big], rtol=1e-5)  # float32 STFTs: observed 1e-6


def test_unknown_representation():
    with pytest.raises(ConfigError, match="'input_representation' must be one of leaf"):
        L.build_representation("cqt")


# ------------------------------------------------------------------ Keras behaviour
@pytest.mark.parametrize("name", sorted(L.FRONTENDS))
def test_keras_save_load_round_trip(name, tmp_path):
    kwargs = {} if name in ("mel_tf", "pcen_mel") else dict(filterbank_init="random", seed=5)
    model = L.FRONTENDS[name](L.FrontEndSpec(n_filters=6), **kwargs)
    for v in model.weights:  # values no initialisation would give
        v.assign(np.asarray(v) * 0.9)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = music_like(0.2, sr=16000)[None]
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]
    assert loaded.get_layer("filterbank").get_config() == model.get_layer("filterbank").get_config()


TRAINED = {  # the variables leaf-audio trains, per front-end
    "leaf": {"preemp/kernel", "filterbank/kernel", "pooling/width", "pcen/alpha", "pcen/delta",
             "pcen/root", "pcen/smooth"},
    "sincnet": {"preemp/kernel", "filterbank/kernel", "layer_norm/gamma", "layer_norm/beta"},
    "sincnet_plus": {"preemp/kernel", "filterbank/kernel", "pooling/width"},
    "tdfbanks": {"preemp/kernel", "filterbank/kernel", "pooling/kernel"},
}


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_trainable_switch(name):
    frozen = L.FRONTENDS[name](L.FrontEndSpec(n_filters=4), preemp=True)
    assert frozen.trainable_weights == [] and len(frozen.weights) >= 3
    model = L.FRONTENDS[name](L.FrontEndSpec(n_filters=4), preemp=True, trainable=True)
    assert {v.path for v in model.trainable_weights} == TRAINED[name]
    x = tf.constant(music_like(0.1, sr=16000)[None])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    filters = model.get_layer("filterbank").kernel
    grad = grads[[v.path for v in model.trainable_weights].index(filters.path)]
    assert grad is not None and np.abs(np.asarray(grad)).max() > 0  # filters learn from the output


# ------------------------------------------------------------------ FFT convolution
@pytest.mark.parametrize("size, n", [(513, 5000), (401, 300), (64, 1000), (7, 3)])
def test_fft_convolution_is_tensorflows_same_conv1d(size, n):
    """Odd and even kernels, inputs shorter than the kernel, a batch of two; against conv1d."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, n, 1)).astype(np.float32)
    kernel = rng.standard_normal((size, 1, 5)).astype(np.float32)
    ref = np.asarray(tf.nn.conv1d(x, kernel, 1, "SAME"))
    for block in (None, L.fft_size(size) * 2):
        out = np.asarray(L.fft_conv1d(tf.constant(x), tf.constant(kernel), block))
        assert out.shape == ref.shape
        assert relative_error(out, ref) < 1e-5  # float32 FFTs: observed ~1e-7
    with pytest.raises(ConfigError, match="shorter than the 513-tap kernel"):
        L.fft_conv1d(tf.constant(x), tf.zeros((513, 1, 2)), block=256)


@pytest.mark.parametrize("init", L.FILTERBANK_INITS)
@pytest.mark.parametrize("name", L.PARAMETRIC_FILTERBANKS)
def test_fft_representation_equals_the_direct_one(name, init):
    """The representation the study uses (FFT) gives leaf-audio's time-domain numbers."""
    y = music_like(4.0, seed=3)[None]  # 12 kHz, with a silent gap
    fft, direct = (np.asarray(L.build_representation(name, filterbank_init=init, seed=4,
                                                     conv=conv)(y)) for conv in ("fft", "direct"))
    assert relative_error(fft, direct) <= 1e-5  # observed <= 5e-6 (SincNet+'s PCEN)
