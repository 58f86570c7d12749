"""The LEAF family of learnable front-ends as Keras 3 layers and model factories.

LEAF (Zeghidour et al., *LEAF: A learnable frontend for audio classification*, ICLR 2021) turns a
waveform into a time-frequency representation in three learnable steps, each a drop-in for a step
of the log-mel: filtering by complex Gabor filters (Section 3.1), low-pass pooling by per-channel
Gaussian windows (Section 3.2) and compression by PCEN with a learnable smoothing coefficient
(Section 3.3). The paper's baselines are variants of the same skeleton (:mod:`.presets`):
``leaf``, ``sincnet``, ``sincnet_plus``, ``tdfbanks``, ``mel_tf`` and ``pcen_mel``.

Every number matches the public ``google-research/leaf-audio`` code at its defaults (16 kHz,
40 filters, 25 ms + 1 sample window, 10 ms stride, filters on the mel scale between 60 and
7800 Hz): the initialisation is deterministic (no random draw), and
:func:`load_leaf_audio_weights` maps leaf-audio's variable names onto ours. ``filterbank_init=
"random"`` draws seeded random filters instead (:func:`random_gabor_params`,
:func:`random_sinc_params`). Everything is frozen unless ``trainable=True``.

The package is split by kind, as leaf-audio is:

- :mod:`.defaults`: leaf-audio's numbers and the vocabularies of the options;
- :mod:`.initializers`: initial filter parameters (NumPy) and :class:`GaborKernelInitializer`;
- :mod:`.impulse_responses`: filters and windows from their parameters (pure TensorFlow);
- :mod:`.convolution`: the filterbank convolutions (direct or FFT) and their layers, the
  pre-emphasis and the squared modulus;
- :mod:`.pooling`: the strided low-pass poolings;
- :mod:`.postprocessing`: floor, log compression and PCEN;
- :mod:`.melfilters`: leaf-audio's STFT mel filterbank;
- :mod:`.presets`: the skeleton, :class:`FrontEndSpec` / :class:`MelBand` and the plain factories
  returning ``keras.Model``s ``(batch, samples) -> (batch, frames, filters)``;
- :mod:`.representation`: :func:`build_representation`, the same front-ends in the geometry of the
  paper's log-mel (12 kHz, 96 bands, 512-sample window, 256-sample hop, ``1 + n // 256`` frames);
- :mod:`.weights`: leaf-audio's saved variables onto our models.

Where leaf-audio has a quirk, it is kept for parity and named in the docstring of the function
that reproduces it (the pre-emphasis advances the signal by one sample; the time-domain
filterbanks' Hanning window is shifted by one sample; the sinc filters' Hamming window is not
symmetric).
"""

from ...vocabulary import FILTERBANK_INITS
from .convolution import (FilterConv1D, GaborConv1D, PreEmphasis, SincConv1D, SquaredModulus,
                          direct_conv1d, direct_conv1d_flops, fft_conv1d, fft_conv1d_flops,
                          fft_size, squared_modulus)
from .defaults import (CONVOLUTIONS, FRAMINGS, GAUSSIAN_WIDTH, INIT_N_FFT, LAYER_NORM_EPSILON,
                       LEAKY_SLOPE, LOG_OFFSET, MAX_FREQ, MEL_SCALES, MIN_FREQ, N_FILTERS,
                       POOL_PADDINGS, POOLING_FLOOR, PREEMPHASIS, SAMPLE_RATE, SINC_MIN_BAND_HZ,
                       SINC_MIN_LOW_HZ, SMOOTHERS, STRIDE_MS, WINDOW_MS, stride_samples,
                       window_samples)
from .impulse_responses import (gabor_constraint, gabor_impulse_responses, gabor_kernel,
                                gaussian_windows, hamming_window, interleave, leaf_audio_hanning,
                                sinc_kernel)
from .initializers import (GaborKernelInitializer, gabor_params, gabor_params_from_mel,
                           mel_filter_areas, mel_gabor_params, mel_triangles, random_gabor_params,
                           random_sinc_params, sinc_params)
from .melfilters import MelFilterbank
from .pooling import GaussianLowpass, MaxPool, SharedLowpass, depthwise_pool, n_frames
from .postprocessing import PCEN, Floor, LogCompression, ema, linear_recurrence, pcen
from .presets import (FRONTENDS, LEAF_AUDIO, LEAF_AUDIO_BAND, PARAMETRIC_FILTERBANKS,
                      WITH_VARIABLES, FrontEndSpec, MelBand, frontend, leaf, mel_tf, pcen_mel,
                      sincnet, sincnet_plus, tdfbanks)
from .representation import (REPRESENTATION_BAND, REPRESENTATION_FILTERS, REPRESENTATION_HOP,
                             REPRESENTATION_MAX_FREQ, REPRESENTATION_MIN_FREQ,
                             REPRESENTATION_SAMPLE_RATE, REPRESENTATION_WINDOW,
                             build_representation)
from .weights import LEAF_AUDIO_NAMES, load_leaf_audio_weights, our_variable_path

__all__ = [
    "FILTERBANK_INITS",
    # convolution
    "FilterConv1D", "GaborConv1D", "PreEmphasis", "SincConv1D", "SquaredModulus", "direct_conv1d",
    "direct_conv1d_flops", "fft_conv1d", "fft_conv1d_flops", "fft_size", "squared_modulus",
    # defaults
    "CONVOLUTIONS", "FRAMINGS", "GAUSSIAN_WIDTH", "INIT_N_FFT", "LAYER_NORM_EPSILON", "LEAKY_SLOPE",
    "LOG_OFFSET", "MAX_FREQ", "MEL_SCALES", "MIN_FREQ", "N_FILTERS", "POOL_PADDINGS",
    "POOLING_FLOOR", "PREEMPHASIS", "SAMPLE_RATE", "SINC_MIN_BAND_HZ", "SINC_MIN_LOW_HZ",
    "SMOOTHERS", "STRIDE_MS", "WINDOW_MS", "stride_samples", "window_samples",
    # impulse responses
    "gabor_constraint", "gabor_impulse_responses", "gabor_kernel", "gaussian_windows",
    "hamming_window", "interleave", "leaf_audio_hanning", "sinc_kernel",
    # initializers
    "GaborKernelInitializer", "gabor_params", "gabor_params_from_mel", "mel_filter_areas",
    "mel_gabor_params", "mel_triangles", "random_gabor_params", "random_sinc_params",
    "sinc_params",
    # layers
    "MelFilterbank", "GaussianLowpass", "MaxPool", "SharedLowpass", "depthwise_pool", "n_frames",
    "PCEN", "Floor", "LogCompression", "ema", "linear_recurrence", "pcen",
    # presets and the paper's representation
    "FRONTENDS", "LEAF_AUDIO", "LEAF_AUDIO_BAND", "PARAMETRIC_FILTERBANKS", "WITH_VARIABLES",
    "FrontEndSpec", "MelBand", "frontend", "leaf", "mel_tf", "pcen_mel", "sincnet",
    "sincnet_plus", "tdfbanks",
    "REPRESENTATION_BAND", "REPRESENTATION_FILTERS", "REPRESENTATION_HOP",
    "REPRESENTATION_MAX_FREQ", "REPRESENTATION_MIN_FREQ", "REPRESENTATION_SAMPLE_RATE",
    "REPRESENTATION_WINDOW", "build_representation",
    # leaf-audio's weights
    "LEAF_AUDIO_NAMES", "load_leaf_audio_weights", "our_variable_path",
]
