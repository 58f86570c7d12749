"""tf.data from a list of files to batches of front-end inputs.

Per clip, in parallel with the model (``num_parallel_calls`` + ``prefetch``): decode + mono +
resample to ``sampling_rate`` (:func:`elmarc_tf.io.audio.load_audio`; 12 kHz for the paper's
front-ends), then the front-end's input kind
(:data:`INPUTS`, named by :attr:`elmarc_tf.frontends.FrontEndSpec.input`) prepares the clip:

- ``waveform``: fix the length to ``n_samples`` -> ``(n_samples, 1)``;
- ``logmel`` (every spectrogram front-end): the config's ``input_representation`` of the
  **whole** clip — by default the authors' log-mel (TensorFlow ops of
  :class:`elmarc_tf.frontends.melspec.LogMelSpectrogram`, so the top-dB floor is relative to the whole clip
  as in the original), or a LEAF-family representation with the same frames (its random
  filterbank drawn from the extraction's seed) — then fixed to ``n_frames`` -> ``(n_frames,
  n_mels)``: :func:`elmarc_tf.models.extractor.input_layers`, the layers an exported model runs too;
- ``mfcc`` (the MFCC baseline): the 120 MFCC statistics of the clip, zero- or repeat-padded to at
  least ``mfcc_fixed_length`` samples as the original -> ``(6 * mfcc_number,)``;
- ``clip`` (the LEAF family alone; windowed front-ends, ``samplecnn``): the whole clip, any length
  -> ``(n,)``. A windowed model cuts it into windows: with ``crop``, a clip shorter than the longest
  window fails (the error names the file); the padding modes take any clip (one window, padded).
  Clips differ in length, so a batch holds one clip (:mod:`elmarc_tf.extraction.batching`).

With an ``audio_cache`` (:class:`elmarc_tf.io.audio_cache.AudioCache` or its folder), the decoded
12 kHz clip comes from the cache when the same file content was decoded before (by any config),
so a study decodes each clip once; the inputs are identical.

A clip that cannot be decoded or brought to length is not fatal: its input is zeros and its
error message travels with it, so the caller records it and drops its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from ..io.audio import load_audio
from ..io.fix_length import EXTENSIONS, fix_length_np
from ..io.audio_cache import as_audio_cache
from ..errors import AudioError
from ..models.extractor import input_layers
from ..models.trained_weights import apply_trained_representation
from ..frontends import WHOLE_CLIP_INPUT, frontend_of
from ..frontends.mfcc import STATISTICS
from ..frontends.windows import window_count
from ..frontends.melspec import HOP_LENGTH, N_FFT, n_frames_for
from ..frontends.mfcc import MIN_SAMPLES as MFCC_MIN_SAMPLES
from ..frontends.mfcc import mfcc_features


@dataclass(frozen=True)
class InputKind:
    """How a decoded 12 kHz mono clip ``(n,)`` becomes a front-end's input."""

    shape: Callable  # (config) -> the per-clip input shape (None: the clip's own length)
    prepare: Callable  # (clip, config, path) -> NumPy array, in the decoding threads; AudioError
    # (config, seed, trained weights or None) -> TF function (1, n) -> (1, *shape); None: reshape
    graph: Optional[Callable] = None
    # (config) -> the input given in place of a clip that failed (its row is dropped); None: zeros
    # of `shape` (a kind whose shape has a None length gives its own)
    failed: Optional[Callable] = None


def _check_stft_length(y, cfg, path):
    if len(y) <= N_FFT // 2:
        raise AudioError(f"{path}: {len(y)} samples is too short for a {N_FFT}-point STFT")
    frames = n_frames_for(len(y), HOP_LENGTH)
    if cfg.fix_length_by == "crop" and frames < cfg.n_frames:
        raise AudioError(f"{path}: gives {frames} frames, fewer than n_frames={cfg.n_frames}; "
                         f"use fix_length_by 'zero-pad' or 'repeat-pad'")
    return y


def _representation_graph(cfg, seed, trained=None):
    """``(1, n) -> (1, n_frames, n_mels)``: :func:`input_layers`, with a representation that
    learned in training taking ``trained``'s variables."""
    layers = input_layers(cfg, seed)
    if trained is not None:
        apply_trained_representation(layers[0], trained)

    def graph(y):
        for layer in layers:
            y = layer(y)
        return y

    return graph


def _fix_samples(y, cfg, path):
    return fix_length_np(y, cfg.n_samples, cfg.fix_length_by, name=path)


def _scales(cfg) -> list:
    """The window models of a windowed front-end (none for others)."""
    spec = frontend_of(cfg)
    return spec.scales(cfg) if spec.scales is not None else []


def _whole_clip(y, cfg, path):
    """The whole clip; a windowed front-end's windows must fit it."""
    if len(y) == 0:
        raise AudioError(f"{path}: no samples")
    for scale in _scales(cfg):
        try:
            window_count(len(y), scale.window, scale.hop, cfg.fix_length_by)
        except AudioError as e:
            raise AudioError(f"{path}: {e} (model {scale.name})") from None
    return y


def _failed_clip(cfg):
    """What stands in for a clip that failed: zeros, as long as the longest window (or one)."""
    return np.zeros(max((s.window for s in _scales(cfg)), default=1), np.float32)


def _mfcc_statistics(y, cfg, path):
    """As the original ``extract_mfcc_features``: a clip shorter than ``mfcc_fixed_length`` is
    zero-padded to it, or repeated whole until it is at least that long (the copies are not cut);
    a longer clip, and every clip with ``crop``, is used whole. A clip too short for second
    differences fails (:class:`AudioError`; its statistics would be NaN)."""
    extension = EXTENSIONS[cfg.fix_length_by]
    if 0 < len(y) < cfg.mfcc_fixed_length and extension is not None:
        y = extension.numpy(y, cfg.mfcc_fixed_length)  # extended, not cut
    if len(y) < MFCC_MIN_SAMPLES:
        raise AudioError(f"{path}: {len(y)} samples give fewer than the 3 MFCC frames the second "
                         f"differences need ({MFCC_MIN_SAMPLES} samples); use fix_length_by "
                         f"'zero-pad' or 'repeat-pad'")
    return mfcc_features(y, cfg.sampling_rate, cfg.mfcc_number)


INPUTS: dict[str, InputKind] = {
    "logmel": InputKind(shape=lambda cfg: (cfg.n_frames, cfg.n_mels), prepare=_check_stft_length,
                        graph=_representation_graph),
    "waveform": InputKind(shape=lambda cfg: (cfg.n_samples, 1), prepare=_fix_samples),
    "mfcc": InputKind(shape=lambda cfg: (len(STATISTICS) * cfg.mfcc_number,),
                      prepare=_mfcc_statistics),
    WHOLE_CLIP_INPUT: InputKind(shape=lambda cfg: (None,), prepare=_whole_clip,
                                failed=_failed_clip),
}


NOT_FINITE = (": the input is not finite (NaN or infinite) after pre-processing: the audio is too "
              "loud for float32 arithmetic")


def input_kind(cfg) -> InputKind:
    """The :class:`InputKind` of ``cfg``'s front-end."""
    return INPUTS[frontend_of(cfg).input]


def input_shape(cfg) -> tuple:
    """Per-clip input of the extractor built with ``inputs='logmel'``: its own input."""
    return input_kind(cfg).shape(cfg)


def _decode_fn(paths, cfg, audio_cache=None):
    """A NumPy function ``index -> (prepared clip float32, error bytes)`` for ``tf.numpy_function``."""
    load = audio_cache.load if audio_cache is not None else load_audio
    prepare = input_kind(cfg).prepare

    def decode(index):
        path = paths[int(index)]
        try:
            y = load(path, cfg.sampling_rate, cfg.res_type)
            return prepare(y, cfg, path).astype(np.float32), b""
        except AudioError as e:
            return np.zeros(0, np.float32), str(e).encode()

    return decode


def make_dataset(paths, indices, cfg, batch_size: int, audio_cache=None,
                 seed: int = 0, trained=None) -> tf.data.Dataset:
    """Batches ``(inputs, indices, errors)`` for ``paths[i]``, ``i`` in ``indices`` (in order).

    ``inputs``: ``(b, *input_shape(cfg))`` float32, e.g. ``(b, n_frames, n_mels)`` log-mel,
    ``(b, n_samples, 1)`` waveforms or ``(1, n)`` a whole clip (``clip`` kind: ``batch_size`` must
    be 1); ``errors``: ``(b,)`` strings, empty for clips that decoded
    (rows of failed clips are zeros). ``audio_cache``: an
    :class:`~elmarc_tf.io.audio_cache.AudioCache` or a folder for one (``None`` or ``False``: decode
    every clip) — the decoded clips are read from / saved to it. ``seed``: the extraction's seed
    (a random filterbank of ``input_representation`` is drawn from it). An input of the clip's
    own length (``clip``) comes one clip per batch (``batch_size`` 1). ``trained``: trained
    weights (:class:`~elmarc_tf.models.trained_weights.TrainedWeights`) whose learned input
    representation computes the inputs (:func:`~elmarc_tf.models.trained_weights.apply_trained_representation`).
    """
    kind = input_kind(cfg)
    paths = list(paths)
    decode = _decode_fn(paths, cfg, as_audio_cache(audio_cache))
    shape = kind.shape(cfg)
    graph = kind.graph(cfg, seed, trained) if kind.graph is not None else None
    names = tf.constant([str(p) for p in paths])
    failed = tf.constant(kind.failed(cfg) if kind.failed is not None else np.zeros(shape, np.float32))
    reshaped = [-1 if d is None else d for d in shape]

    def to_input(y):
        return graph(y[None])[0] if graph is not None else tf.reshape(y, reshaped)

    def load(index):
        y, err = tf.numpy_function(decode, [index], [tf.float32, tf.string], stateful=False)
        y.set_shape([None])
        err = tf.reshape(err, [])
        x = tf.cond(tf.size(y) > 0, lambda: to_input(y), lambda: failed)
        # finite samples can still overflow float32 on the way (a log-mel of samples near 1e38):
        # such a clip is a recorded failure, never NaNs a ReLU would turn into plausible zeros
        finite = tf.reduce_all(tf.math.is_finite(x))
        err = tf.where(finite | (tf.strings.length(err) > 0), err,
                       tf.strings.join([names[index], NOT_FINITE]))
        x = tf.cond(finite, lambda: x, lambda: failed)
        return tf.ensure_shape(x, shape), index, err

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(indices, dtype=np.int64))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
