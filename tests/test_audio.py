"""Decoding, resampling, fixed length, and the MFCC baseline."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from conftest import music_like
from elmarc_tf import AudioError
from elmarc_tf.audio import fix_length, load_audio
from elmarc_tf.mfcc import mfcc_features


def test_stereo_44k_file_is_decoded_to_12k_mono(tmp_path):
    left = music_like(2.0, sr=44100, seed=1)
    right = music_like(2.0, sr=44100, seed=2)
    path = tmp_path / "clip.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_24")
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 24000) <= 1  # librosa rounds the resampled length up
    expected, _ = librosa.load(path, sr=12000, mono=True, res_type="soxr_hq")
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("fmt,channels,res_type", [
    ("mp3", 2, "soxr_hq"), ("flac", 1, "soxr_hq"), ("wav", 2, "kaiser_best"), ("ogg", 2, "soxr_hq"),
    ("wav", 5, "soxr_hq")])
def test_decoding_gives_librosa_loads_samples_exactly(tmp_path, fmt, channels, res_type):
    """load_audio decodes and downmixes itself (faster); the samples must be librosa.load's
    (for kaiser_best, up to the float32 rounding of a different order of summation)."""
    y = np.stack([music_like(1.5, sr=44100, seed=c) * (1 - 0.1 * c) for c in range(channels)], axis=1)
    path = tmp_path / f"clip.{fmt}"
    sf.write(path, y, 44100)
    expected, _ = librosa.load(path, sr=12000, mono=True, res_type=res_type)
    y = load_audio(path, 12000, res_type)
    if res_type == "kaiser_best":  # our polyphase form of resampy: equal up to float32 rounding
        assert y.dtype == expected.dtype and y.shape == expected.shape
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    else:
        np.testing.assert_array_equal(y, expected)


def test_non_finite_audio_is_refused_naming_the_file(tmp_path):
    y = music_like(0.5, sr=12000)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 12000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: decoded audio contains NaN or infinite samples"):
        load_audio(path)


def test_authors_resampler_is_available(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, music_like(1.0, sr=22050), 22050)
    a = load_audio(path, res_type="kaiser_best")
    b = load_audio(path, res_type="soxr_hq")
    assert abs(len(a) - 12000) <= 1 and len(a) == len(b)
    assert not np.allclose(a, b, atol=1e-6)  # two different resamplers


def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path):
    with pytest.raises(AudioError, match=r"nope.wav: file not found"):
        load_audio(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty.wav: empty file"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 20)
    with pytest.raises(AudioError, match=r"corrupt.wav: cannot decode audio") as info:
        load_audio(tmp_path / "corrupt.wav")
    assert "\n" not in str(info.value)


def test_fix_length_modes():
    x = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(x, 3, "crop"), [1, 2, 3])
    np.testing.assert_array_equal(fix_length(x, 6, "zero-pad"), [1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fix_length(x, 10, "repeat-pad"), [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    np.testing.assert_array_equal(fix_length(x, 2, "repeat-pad"), [1, 2])
    frames = np.ones((3, 96))
    assert fix_length(frames, 5, "zero-pad").shape == (5, 96)
    with pytest.raises(AudioError, match=r"song.wav: has 4 steps, fewer than the required 6"):
        fix_length(x, 6, "crop", name="song.wav")


def test_mfcc_baseline_matches_a_direct_librosa_computation():
    y = music_like(3.0)
    feats = mfcc_features(y, sr=12000)
    assert feats.shape == (120,) and feats.dtype == np.float64
    m = librosa.feature.mfcc(y=y, sr=12000, n_mfcc=20)
    d = m[:, 1:] - m[:, :-1]
    dd = d[:, 1:] - d[:, :-1]
    expected = np.concatenate([m.mean(1), m.std(1), d.mean(1), d.std(1), dd.mean(1), dd.std(1)])
    np.testing.assert_allclose(feats, expected, rtol=1e-6)
