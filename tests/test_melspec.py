"""The in-graph log-mel against librosa with the authors' parameters."""

import librosa
import numpy as np
import pytest

from conftest import music_like, small_config
from elmarc_tf import build_extractor
from elmarc_tf.io.fix_length import fix_length_np as fix_length
from elmarc_tf.frontends.melspec import FixLength, LogMelSpectrogram

SR = 12000


def librosa_logmel(y, pad_mode):
    """The original compute_input's spectrogram: melspectrogram then logamplitude, (frames, 96)."""
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=256, n_mels=96,
                                         power=2, fmin=0.0, fmax=6000.0, pad_mode=pad_mode)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T


def signals():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)
    t = np.arange(4 * SR) / SR
    chirp = (0.5 * np.sin(2 * np.pi * (50 + 700 * t) * t)).astype(np.float32)
    gaps = noise.copy()
    gaps[SR // 2: SR] = 0.0
    gaps[2 * SR:] *= 1e-4  # a very quiet tail: the top-dB floor comes into play
    return {"noise": noise, "chirp": chirp, "silence_gaps": gaps, "music_30s": music_like(30.0)}


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
@pytest.mark.parametrize("name", ["noise", "chirp", "silence_gaps", "music_30s"])
def test_logmel_matches_librosa(name, pad_mode):
    y = signals()[name]
    ref = librosa_logmel(y, pad_mode)
    ours = LogMelSpectrogram(pad_mode=pad_mode)(y[None]).numpy()[0]
    assert ours.shape == ref.shape == (1 + len(y) // 256, 96)
    diff = np.abs(ours - ref)
    above_floor = ref > ref.max() - 80.0 + 1e-3
    print(f"{name}/{pad_mode}: max |dB diff| {diff.max():.2e}, median {np.median(diff):.2e}, "
          f"max above floor {diff[above_floor].max():.2e}")
    # float32 STFTs in different FFT libraries: measured <= 2e-4 dB; 0.01 dB leaves headroom.
    assert diff[above_floor].max() < 1e-2
    assert diff.max() < 1e-2
    assert np.median(diff) < 1e-3


def test_pad_modes_differ_only_at_the_edges():
    y = signals()["music_30s"]
    a = LogMelSpectrogram(pad_mode="reflect")(y[None]).numpy()[0]
    b = LogMelSpectrogram(pad_mode="constant")(y[None]).numpy()[0]
    changed = np.where(np.abs(a - b).max(axis=1) > 1e-3)[0]
    assert set(changed) <= {0, 1, len(a) - 2, len(a) - 1} and len(changed) > 0


def test_top_db_floor_is_relative_to_the_whole_clip_per_clip():
    """Two clips in one batch, 60 dB apart: each gets its own floor, as librosa per clip."""
    quiet = signals()["silence_gaps"]
    loud = (quiet * 1000).astype(np.float32)
    out = LogMelSpectrogram()(np.stack([loud, quiet])).numpy()
    for clip, o in zip((loud, quiet), out):
        np.testing.assert_allclose(o, librosa_logmel(clip, "reflect"), atol=1e-2)
    assert np.isclose(out[0].min(), out[0].max() - 80.0, atol=1e-3)  # the floor bites
    assert out[1].min() < out[0].min() - 40  # not the loud clip's floor


@pytest.mark.parametrize("mode", ["crop", "zero-pad", "repeat-pad"])
@pytest.mark.parametrize("n", [7, 10, 23])
def test_fix_length_layer_matches_numpy(mode, n):
    frames = np.random.RandomState(0).uniform(-80, 0, (1, 10, 96)).astype(np.float32)
    if mode == "crop" and n > 10:
        with pytest.raises(Exception, match="shorter than the fixed length"):
            FixLength(n, mode)(frames)
        return
    expected = fix_length(frames[0], n, mode)
    np.testing.assert_array_equal(FixLength(n, mode)(frames).numpy()[0], expected)


def test_waveform_input_equals_logmel_input_from_librosa():
    """Spectrogram front-end fed a whole clip computes the original's input in the graph."""
    cfg = small_config("cnn_single_7x96", n_frames=150, fix_length_by="crop")
    y = music_like(5.0)  # 235 frames, cropped to 150 after the whole-clip dB floor
    from_wave = build_extractor(cfg, seed=0, inputs="waveform")(y[None]).numpy()
    logmel = fix_length(librosa_logmel(y, "reflect"), cfg.n_frames, "crop")
    from_logmel = build_extractor(cfg, seed=0, inputs="logmel")(logmel[None]).numpy()
    np.testing.assert_allclose(from_wave, from_logmel, rtol=1e-4, atol=1e-4)
