"""Decoding, resampling, fixed length, and the MFCC baseline."""

import librosa
import numpy as np
import pytest
import soundfile as sf

import numpy_reference
from conftest import music_like
from elmarc_tf import AudioError, Config
from elmarc_tf.io.audio import load_audio
from elmarc_tf.io.fix_length import fix_length_np as fix_length
from elmarc_tf.frontends.mfcc import mfcc_features
from elmarc_tf.extraction.pipeline import input_kind


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


def mfcc_signals():
    t = np.arange(2 * 12000) / 12000
    return {"tone_440": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
            "music": music_like(3.0)}


def assert_mfcc_statistics_equal(ours, expected):
    """Per block of 20 (mean / std of the MFCCs, their differences, their second differences):
    float32 librosa against a float64 recipe differ by ~1e-7 of a block's largest value;
    rtol 1e-5 plus 1e-5 of the block's largest value."""
    assert ours.shape == expected.shape == (120,) and ours.dtype == np.float64
    for block in range(6):
        part = slice(20 * block, 20 * (block + 1))
        np.testing.assert_allclose(ours[part], expected[part], rtol=1e-5,
                                   atol=1e-5 * np.abs(expected[part]).max(), err_msg=f"block {block}")


@pytest.mark.parametrize("name", ["tone_440", "music"])
def test_mfcc_baseline_equals_the_authors_recipe_written_out(name):
    """mfcc_features against numpy_reference.mfcc_statistics: STFT, mel filters, dB, DCT and the
    plain differences (not librosa.feature.delta) written out in NumPy."""
    y = mfcc_signals()[name]
    assert_mfcc_statistics_equal(mfcc_features(y, sr=12000), numpy_reference.mfcc_statistics(y, 12000))


@pytest.mark.parametrize("fixed_length", [2048, 2500])
@pytest.mark.parametrize("mode", ["zero-pad", "repeat-pad", "crop"])
def test_mfcc_input_is_padded_to_mfcc_fixed_length_as_the_original(mode, fixed_length):
    """The authors' extract_mfcc_features: a clip shorter than fixed_length is zero-padded to it,
    or repeated whole (copies of the clip until it is at least that long, not cut); a longer
    clip is used whole. ('crop' leaves every clip whole, as the design's "MFCCs of the whole
    clip"; the authors' code cut every clip to fixed_length samples.)"""
    cfg = Config(features_type="MFCC", fix_length_by=mode, mfcc_fixed_length=fixed_length)
    clip = music_like(1.0, seed=3)
    short, long = clip[:1100], clip[:3000]
    copies = 2 if fixed_length <= 2200 else 3
    padded = {"zero-pad": np.concatenate([short, np.zeros(fixed_length - 1100, np.float32)]),
              "repeat-pad": np.concatenate([short] * copies),
              "crop": short}[mode]
    prepare = input_kind(cfg).prepare
    assert_mfcc_statistics_equal(prepare(short, cfg, "short.wav").astype(np.float64),
                                 numpy_reference.mfcc_statistics(padded, 12000))
    assert_mfcc_statistics_equal(prepare(long, cfg, "long.wav").astype(np.float64),
                                 numpy_reference.mfcc_statistics(long, 12000))


def test_mfcc_of_a_clip_too_short_for_second_differences_fails_naming_it():
    """1 + n // 512 frames: under 1024 samples there are no second differences (NaN statistics);
    such a clip fails with crop, and is padded by the other modes."""
    cfg = Config(features_type="MFCC", fix_length_by="crop")
    tiny = music_like(1.0)[:1000]
    with pytest.raises(AudioError, match=r"tiny.wav: 1000 samples give fewer than the 3 MFCC "
                                         r"frames the second differences need \(1024 samples\)"):
        input_kind(cfg).prepare(tiny, cfg, "tiny.wav")
    for mode in ("zero-pad", "repeat-pad"):
        padded = cfg.replace(fix_length_by=mode)
        assert np.all(np.isfinite(input_kind(padded).prepare(tiny, padded, "tiny.wav")))
