"""leaf-audio's default numbers, the vocabularies of the LEAF family's options and the small
checks the layers share."""

from __future__ import annotations

import math

from ...errors import ConfigError
from ...vocabulary import FILTERBANK_INITS

# leaf-audio's defaults.
SAMPLE_RATE = 16000
N_FILTERS = 40
WINDOW_MS = 25.0
STRIDE_MS = 10.0
MIN_FREQ = 60.0
MAX_FREQ = 7800.0
INIT_N_FFT = 512  # the FFT grid on which the mel filters are read to place the Gabor filters
LOG_OFFSET = 1e-5
POOLING_FLOOR = 1e-5
GAUSSIAN_WIDTH = 0.4
PREEMPHASIS = 0.97
SINC_MIN_LOW_HZ = 50.0
SINC_MIN_BAND_HZ = 50.0
LEAKY_SLOPE = 0.2
LAYER_NORM_EPSILON = 1e-3

MEL_SCALES = ("htk", "slaney")
FRAMINGS = ("leaf", "centered")
POOL_PADDINGS = ("same", "valid", "centered")
SMOOTHERS = ("ema", "rnn")
CONVOLUTIONS = ("direct", "fft")  # how a filterbank convolution is computed (same numbers)
# option name -> its valid values (check_choices)
CHOICES = {"mel_scale": MEL_SCALES, "framing": FRAMINGS, "padding": POOL_PADDINGS,
           "smoother": SMOOTHERS, "conv": CONVOLUTIONS, "filterbank_init": FILTERBANK_INITS}

# sqrt(2 ln 2): a Gaussian of standard deviation s has its half maximum at +-s*sqrt(2 ln 2).
HALF_MAX = math.sqrt(2.0 * math.log(2.0))


def check_choices(**values) -> None:
    """Raise :class:`ConfigError` naming the option unless each value is one of :data:`CHOICES`'s
    for its name (``check_choices(conv="fft", mel_scale="htk")``)."""
    for name, value in values.items():
        if value not in CHOICES[name]:
            raise ConfigError(f"'{name}' must be one of {', '.join(map(str, CHOICES[name]))}; "
                              f"got {value!r}")


def window_samples(sample_rate: int, window_ms: float = WINDOW_MS) -> int:
    """leaf-audio's window in samples: ``sample_rate * ms // 1000 + 1`` (25 ms at 16 kHz: 401)."""
    return int(sample_rate * window_ms // 1000 + 1)


def stride_samples(sample_rate: int, stride_ms: float = STRIDE_MS) -> int:
    """leaf-audio's stride in samples: ``sample_rate * ms // 1000`` (10 ms at 16 kHz: 160)."""
    return int(sample_rate * stride_ms // 1000)


def values_per_clip(shape) -> int:
    """Values per clip of a ``(batch, ...)`` shape (the unit of the layers' FLOP counts)."""
    return math.prod(int(d) for d in shape[1:])
