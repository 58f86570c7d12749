"""resampy's kaiser filters as a polyphase matrix product, against resampy itself."""

import librosa
import numpy as np
import pytest

from elmarc_tf.io.resample import resample_kaiser


@pytest.mark.parametrize("orig_sr,filt,seconds", [
    (44100, "kaiser_best", 2.0),   # the usual case: 40 phases
    (22050, "kaiser_fast", 1.0),
    (14700, "kaiser_best", 3.0),   # phase 0's t_out falls just below whole numbers here
    (8000, "kaiser_best", 1.0),    # upsampling: resampy's table is not scaled
    (48000, "kaiser_fast", 1.0),   # an integer ratio: one phase
    (44100, "kaiser_best", 0.005),  # shorter than the filter: both ends are zero-padded
])
def test_matches_resampy_up_to_float32_rounding(orig_sr, filt, seconds):
    rng = np.random.default_rng(orig_sr)
    n = int(orig_sr * seconds)
    y = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / orig_sr)
         + 0.2 * rng.standard_normal(n)).astype(np.float32)
    expected = librosa.resample(y, orig_sr=orig_sr, target_sr=12000, res_type=filt)
    out = resample_kaiser(y, orig_sr, 12000, filt)
    assert out.dtype == np.float32 and out.shape == expected.shape
    # resampy sums ~370 products in float32, we in float64: ~1e-6 of the scale apart; a wrong
    # weight (e.g. phase 0's second form left out at 14.7 kHz) is ~5e-5.
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_odd_rate_pairs_fall_back_to_resampy_exactly():
    y = np.random.default_rng(0).standard_normal(4406).astype(np.float32)  # 44056/12000: 1500 phases
    np.testing.assert_array_equal(resample_kaiser(y, 44056, 12000),
                                  librosa.resample(y, orig_sr=44056, target_sr=12000,
                                                   res_type="kaiser_best"))


def test_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="unknown resampy filter 'kaiser_worst'"):
        resample_kaiser(np.zeros(100, np.float32), 44100, 12000, "kaiser_worst")
