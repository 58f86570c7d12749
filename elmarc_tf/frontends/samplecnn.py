"""mⁿ-SampleCNN (Lee et al. 2018, Section 3.3, Tables 1 and 3) as a random-weight feature extractor,
with whole-clip sliding windows and multi-level / multi-scale aggregation (Section 4.1).

The window model
    ``sizes`` lists every module size bottom to top, the strided first layer's included, exactly as
    Table 3's digit strings: ``3-3-3-3-3-2-4-4-2-2`` (12 kHz), ten 3s for the 3⁹ model (one strided
    layer + 9 modules). Layers: Conv1D k = stride = ``sizes[0]`` 'valid', then per following size m
    one module [Conv1D k=m 'same' -> MaxPool m], then a 1x1 Conv1D. ReLU, the authors' TF1
    initializer with one seed per layer from its name, zero biases, no batch normalisation, no
    dropout, no output layer; frozen. The window is ``prod(sizes)`` samples and the top map has
    one time step. Input ``(batch, window, 1)``; outputs: every layer's map as a tap, in order
    ``conv0`` (strided conv), ``pool1`` .. ``pool{n}`` (modules, after their pooling), ``conv1x1``.

Filters (``num_filters`` = the strided layer's count, 128 in Table 1)
    Table 1 gives the schedule of the 3⁹ model only: 128 for the strided layer, modules 128, 128,
    256, 256, 256, 256, 256, 512, 512, and 512 for the 1x1 conv. Our rule for any number of
    layers keeps its two ends: of the ``len(sizes)`` layers below the 1x1 conv, the last two get
    512, the first three (of those left) 128, the rest 256; the 1x1 conv gets 512. For ten sizes
    this is exactly Table 1; for 3-3-2-2 it is 128, 128, 512, 512, 512. ``num_filters`` scales the
    whole schedule by ``num_filters / 128`` (rounded half up, at least 1).

Feature lengths (one scale, ``window_pooling`` mean + max):
    ``levels: 3`` (the seed's "last three hidden layers": pool{n-1}, pool{n}, conv1x1 — for ten
    sizes or more all three are 512-wide at full size) gives ``2 * 3 * 512 * nf / 128`` values:
    ``num_filters: 5`` -> 120 (about the MFCC vector), ``num_filters: 146`` -> 3504 (about the
    paper's ≈3500); ``num_filters: 128`` -> 3072, and ``levels: 4`` at 128 -> 3584.

Whole clips (Section 4.1)
    :class:`SlidingWindows` cuts a clip ``(batch, n)`` into windows of the model's input size every
    ``window_hop`` samples (``fix_length_by`` decides the end, :func:`window_count`), all windows of
    the batch go through the model as one batch ``(batch * windows, window, 1)``, each selected
    tap is averaged per window (:class:`~elmarc_tf.extractor.TapPooling`), and
    :class:`WindowPooling` summarises the windows of each clip by mean and max (the seed's
    "combination of max-pooling and average-pooling") into ``(batch, d * len(pooling))``. Several
    scales (models with different windows, e.g. 5⁵ = 709 ms ... 5⁶ = 3.5 s at 22 050 Hz) run over
    the same clip and their vectors are concatenated; :func:`samplecnn_layout` names every slice.
"""

from __future__ import annotations

import math
import re

import keras
import tensorflow as tf

from ..errors import AudioError, ConfigError, ElmarcError
from ..vocabulary import FIX_LENGTH_MODES
from .common import ConvFactory, layer_seed

# Table 1 (3⁹-SampleCNN): filters of the strided layer and the nine modules, then the 1x1 conv.
TABLE1_FILTERS = (128, 128, 128, 256, 256, 256, 256, 256, 512, 512)
TABLE1_TOP_FILTERS = 512
BASE_FILTERS = TABLE1_FILTERS[0]

# Table 3: sampling rate (Hz) -> module sizes bottom to top (the strided layer's first).
TABLE3 = {
    2000: "3-3-3-3-2-2-2-2-2-2",
    4000: "3-3-3-3-2-2-2-4-2-2",
    8000: "3-3-3-3-2-2-4-4-2-2",
    12000: "3-3-3-3-3-2-4-4-2-2",
    16000: "3-3-3-3-3-3-3-5-2-2",
    20000: "3-3-3-3-3-3-3-3-4-2",
    22050: "3-3-3-3-3-3-3-3-3-3",
}
DEFAULT_SAMPLING_RATE = 22050  # Table 1's model: 3⁹, 59 049 samples = 2 678 ms
DEFAULT_LEVELS = 3  # "the last three hidden layers"
WINDOW_POOLINGS = {"mean": tf.reduce_mean, "max": tf.reduce_max}
DEFAULT_WINDOW_POOLING = ("mean", "max")

_SIZES_STRING = re.compile(r"^\d+(-\d+)*$")
_POWER_STRING = re.compile(r"^(\d+)\^(\d+)$")


# ----------------------------------------------------------------------------- sizes and filters
def parse_sizes(spec, key: str = "sizes") -> tuple[int, ...]:
    """Module sizes from ``"3-3-2-2"`` (Table 3's notation), ``"3^9"`` (mⁿ: m repeated n+1 times)
    or a sequence of ints. Every size is an int >= 2; ``key`` names the config key in errors."""
    if isinstance(spec, str):
        text = spec.replace(" ", "")
        power = _POWER_STRING.match(text)
        if power:
            sizes = (int(power.group(1)),) * (int(power.group(2)) + 1)
        elif _SIZES_STRING.match(text):
            sizes = tuple(int(s) for s in text.split("-"))
        else:
            raise ConfigError(f"{key!r}={spec!r} is not a size string like '3-3-2-2' or '3^9'")
    elif isinstance(spec, (list, tuple)) and all(isinstance(s, int) and not isinstance(s, bool)
                                                 for s in spec):
        sizes = tuple(int(s) for s in spec)
    else:
        raise ConfigError(f"{key!r} must be a string like '3-3-2-2' or '3^9' or a list of ints, "
                          f"got {spec!r}")
    if not sizes or min(sizes) < 2:
        raise ConfigError(f"{key!r}={spec!r}: needs at least one size and every size >= 2")
    return sizes


def sizes_for_rate(sampling_rate: int) -> tuple[int, ...]:
    """Table 3's model for ``sampling_rate`` (Hz); other rates raise :class:`ConfigError`."""
    if sampling_rate not in TABLE3:
        raise ConfigError(f"'sampling_rate'={sampling_rate!r} has no Table 3 model (rates: "
                          f"{', '.join(str(r) for r in TABLE3)}); give 'sizes' or 'm' and 'n'")
    return parse_sizes(TABLE3[sampling_rate])


def resolve_sizes(sizes=None, m: int | None = None, n: int | None = None,
                  sampling_rate: int | None = None) -> tuple[int, ...]:
    """The module sizes from the first source given: ``sizes``; ``m`` and ``n`` (m repeated n+1
    times; not together with ``sizes``); Table 3 at ``sampling_rate``; else Table 1's 3⁹."""
    if sizes is not None:
        if m is not None or n is not None:
            raise ConfigError("give either 'sizes' or 'm' and 'n', not both")
        return parse_sizes(sizes)
    if (m is None) != (n is None):
        raise ConfigError(f"'m' and 'n' go together (got m={m!r}, n={n!r})")
    if m is not None:
        if not (isinstance(m, int) and isinstance(n, int) and m >= 2 and n >= 0):
            raise ConfigError(f"'m' must be an int >= 2 and 'n' an int >= 0, got m={m!r}, n={n!r}")
        return (m,) * (n + 1)
    return sizes_for_rate(DEFAULT_SAMPLING_RATE if sampling_rate is None else sampling_rate)


def sizes_tag(sizes) -> str:
    """``(3, 3, 2, 2)`` -> ``"3-3-2-2"``: the scale's name in layer names and layouts."""
    return "-".join(str(s) for s in sizes)


def window_size(sizes) -> int:
    """Input samples of the model: the product of the sizes (3⁹: 59 049)."""
    return math.prod(sizes)


def schedule_filters(n_layers: int, num_filters: int = BASE_FILTERS) -> tuple[int, ...]:
    """Filters of ``n_layers`` layers (strided + modules) and of the 1x1 conv: ``n_layers + 1``
    counts. See the module docstring for the rule; ``n_layers=10`` at 128 is Table 1."""
    if not isinstance(num_filters, int) or isinstance(num_filters, bool) or num_filters < 1:
        raise ConfigError(f"'num_filters' must be a positive int, got {num_filters!r}")
    base = [512 if i >= n_layers - 2 else 128 if i < 3 else 256 for i in range(n_layers)]
    base.append(TABLE1_TOP_FILTERS)
    return tuple(max(1, math.floor(c * num_filters / BASE_FILTERS + 0.5)) for c in base)


def tap_names(sizes) -> tuple[str, ...]:
    """``conv0``, ``pool1`` .. ``pool{n}``, ``conv1x1``: ``len(sizes) + 1`` taps."""
    sizes = parse_sizes(sizes)
    return ("conv0", *(f"pool{i}" for i in range(1, len(sizes))), "conv1x1")


def select_levels(levels, n_taps: int) -> list[int]:
    """Tap indices from ``levels``: an int k = the last k taps; or a list of indices (negative
    ones count from the top). Returned ascending, without repeats."""
    if isinstance(levels, int) and not isinstance(levels, bool):
        if not 1 <= levels <= n_taps:
            raise ConfigError(f"'levels'={levels} must be between 1 and the model's {n_taps} layers")
        return list(range(n_taps - levels, n_taps))
    if not isinstance(levels, (list, tuple)) or not levels or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in levels):
        raise ConfigError(f"'levels' must be an int or a non-empty list of layer indices, got {levels!r}")
    bad = [i for i in levels if not -n_taps <= i < n_taps]
    if bad:
        raise ConfigError(f"'levels' {bad} out of range for a model with {n_taps} layers")
    indices = sorted(i % n_taps for i in levels)
    if len(set(indices)) != len(indices):
        raise ConfigError(f"'levels'={list(levels)} names a layer twice")
    return indices


# ----------------------------------------------------------------------------- the window model
def build_samplecnn(sizes=None, filters=None, seed: int = 0, *, num_filters: int = BASE_FILTERS,
                    fast: bool = True, name: str | None = None) -> keras.Model:
    """The frozen mⁿ-SampleCNN of ``sizes``: ``(batch, prod(sizes), 1)`` -> one output per tap.

    ``sizes``: anything :func:`parse_sizes` takes; default Table 1's 3⁹ (59 049 samples).
    ``filters``: ``len(sizes) + 1`` counts (strided, modules, 1x1 conv); default
    :func:`schedule_filters` at ``num_filters``. Taps (:func:`tap_names`): ``conv0``
    ``(b, window / sizes[0], f0)``, ``pool{i}`` ``(b, window / prod(sizes[:i+1]), f_i)``,
    ``conv1x1`` ``(b, 1, f_top)``. Layers are named ``conv1d`` .. ``conv1d_{len(sizes)}`` and
    ``pool1`` .. ``pool{n}``; each layer's seed comes from ``seed``, the sizes and its name
    (:func:`~elmarc_tf.frontends.common.layer_seed`), so a model pruned to some taps keeps these
    weights and two scales with different sizes get independent weights. ``fast`` is accepted for
    the registry's builder signature; this family has no fused layers (Conv1D only).
    """
    sizes = parse_sizes(sizes) if sizes is not None else resolve_sizes()
    tag = sizes_tag(sizes)
    if filters is None:
        filters = schedule_filters(len(sizes), num_filters)
    elif (not isinstance(filters, (list, tuple)) or len(filters) != len(sizes) + 1
          or not all(isinstance(f, int) and f >= 1 for f in filters)):
        raise ConfigError(f"'filters' must list {len(sizes) + 1} positive ints for sizes {tag} "
                          f"(strided, {len(sizes) - 1} modules, 1x1), got {filters!r}")
    convs = ConvFactory(layer_seed(seed, f"samplecnn_{tag}"), fast=fast)
    inputs = keras.Input((window_size(sizes), 1), name="waveform")
    x = convs.conv1d(filters[0], sizes[0], strides=sizes[0])(inputs)
    taps = [x]
    for i, m in enumerate(sizes[1:], start=1):
        x = convs.conv1d(filters[i], m, padding="same")(x)
        x = keras.layers.MaxPooling1D(m, name=f"pool{i}")(x)
        taps.append(x)
    taps.append(convs.conv1d(filters[-1], 1)(x))
    model = keras.Model(inputs, taps, name=name or f"samplecnn_{tag}")
    model.trainable = False
    return model


# ----------------------------------------------------------------------------- sliding windows
def window_count(n: int, window: int, hop: int, fix_length_by: str = "crop") -> int:
    """Windows of a clip of ``n`` samples; they start at ``0, hop, 2 hop, ...``.

    ``crop``: the full windows only, ``1 + (n - window) // hop``; samples after the last one are
    dropped; a clip shorter than one window is an :class:`AudioError`. ``zero-pad`` /
    ``repeat-pad``: ``1 + ceil(max(n - window, 0) / hop)``, i.e. one more window when samples are
    left after the last full one, and one window for a clip shorter than a window. The clip is
    extended to ``(count - 1) * hop + window`` samples: with zeros, or with the clip repeated
    from its start (sample i is ``clip[i % n]``).
    """
    _check_fix_length_by(fix_length_by)
    if n < 1:
        raise AudioError("empty clip: no samples to cut into windows")
    if fix_length_by == "crop":
        if n < window:
            raise AudioError(f"clip of {n} samples is shorter than the {window}-sample window "
                             f"with fix_length_by 'crop'; use 'zero-pad' or 'repeat-pad'")
        return 1 + (n - window) // hop
    return 1 + -(-max(n - window, 0) // hop)


def _check_fix_length_by(mode) -> str:
    if mode not in FIX_LENGTH_MODES:
        raise ConfigError(f"'fix_length_by' must be one of {', '.join(FIX_LENGTH_MODES)}, got {mode!r}")
    return mode


def _check_hop(hop, window: int) -> int:
    if not isinstance(hop, int) or isinstance(hop, bool) or not 1 <= hop <= window:
        raise ConfigError(f"'window_hop'={hop!r} must be an int between 1 and the window ({window})")
    return hop


def _extend_crop(clips, length):
    return clips[:, :length]


def _extend_zero(clips, length):
    return tf.pad(clips, [[0, 0], [0, length - tf.shape(clips)[1]]])


def _extend_repeat(clips, length):
    reps = -(-length // tf.shape(clips)[1])
    return tf.tile(clips, [1, reps])[:, :length]


_EXTEND = {"crop": _extend_crop, "zero-pad": _extend_zero, "repeat-pad": _extend_repeat}


@keras.saving.register_keras_serializable(package="elmarc_tf")
class SlidingWindows(keras.layers.Layer):
    """Clips ``(batch, n)`` (or ``(batch, n, 1)``) -> windows ``(batch * count, window, 1)``.

    ``count`` = :func:`window_count` ``(n, window, hop, fix_length_by)``, the same for every clip
    of a batch (clips of one batch have one length; ``n`` may change from batch to batch). Row
    ``b * count + j`` is window j (samples ``j * hop`` .. ``j * hop + window - 1``) of clip b.
    A clip shorter than a window with ``crop`` fails: :class:`AudioError` when its length is
    known when the layer runs, else TensorFlow's ``InvalidArgumentError`` naming fix_length_by.
    """

    def __init__(self, window: int, hop: int | None = None, fix_length_by: str = "crop", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.window = int(window)
        self.hop = _check_hop(self.window if hop is None else hop, self.window)
        self.fix_length_by = _check_fix_length_by(fix_length_by)

    def call(self, clips):
        if len(clips.shape) == 3:
            clips = clips[..., 0]
        clips = tf.cast(clips, self.compute_dtype)
        w, h = self.window, self.hop
        if clips.shape[1] is not None:  # known now: the same error as window_count
            window_count(int(clips.shape[1]), w, h, self.fix_length_by)
        n = tf.shape(clips)[1]
        if self.fix_length_by == "crop":
            tf.debugging.assert_greater_equal(
                n, w, message=f"clip shorter than the {w}-sample window with fix_length_by crop")
            count = 1 + (n - w) // h
        else:
            tf.debugging.assert_positive(n, message="empty clip: no samples to cut into windows")
            count = 1 + -(-tf.maximum(n - w, 0) // h)
        clips = _EXTEND[self.fix_length_by](clips, (count - 1) * h + w)
        windows = tf.signal.frame(clips, w, h, axis=1)  # (batch, count, window)
        return tf.reshape(windows, (-1, w, 1))

    def compute_output_shape(self, input_shape):
        return (None, self.window, 1)

    def get_config(self):
        return {**super().get_config(), "window": self.window, "hop": self.hop,
                "fix_length_by": self.fix_length_by}


def _check_pooling(pooling) -> list[str]:
    if isinstance(pooling, str):
        pooling = [pooling]
    if (not isinstance(pooling, (list, tuple)) or not pooling
            or any(p not in WINDOW_POOLINGS for p in pooling) or len(set(pooling)) != len(pooling)):
        raise ConfigError(f"'window_pooling' must be a non-empty list of distinct names from "
                          f"{', '.join(WINDOW_POOLINGS)}, got {pooling!r}")
    return list(pooling)


@keras.saving.register_keras_serializable(package="elmarc_tf")
class WindowPooling(keras.layers.Layer):
    """``[per_window (batch * count, d), clips (batch, ...)]`` -> ``(batch, d * len(pooling))``.

    The rows of each clip (consecutive, as :class:`SlidingWindows` makes them) are summarised by
    every statistic in ``pooling`` (``mean``, ``max``) and the results concatenated in that
    order: ``[mean(d), max(d)]``. ``clips`` only gives the batch size. ``scale`` names the model
    whose windows these are, for :func:`samplecnn_layout`.
    """

    def __init__(self, pooling=DEFAULT_WINDOW_POOLING, scale: str = "", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.pooling = _check_pooling(pooling)
        self.scale = str(scale)

    def call(self, inputs):
        per_window, clips = inputs
        d = per_window.shape[-1]
        grouped = tf.reshape(per_window, (tf.shape(clips)[0], -1, d))  # (batch, count, d)
        return tf.concat([WINDOW_POOLINGS[p](grouped, axis=1) for p in self.pooling], axis=-1)

    def compute_output_shape(self, input_shapes):
        per_window, clips = input_shapes
        return (clips[0], per_window[-1] * len(self.pooling))

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "scale": self.scale}


# ----------------------------------------------------------------------------- whole-clip extractor
def build_samplecnn_extractor(scales=None, *, levels=DEFAULT_LEVELS, window_hop=None,
                              fix_length_by: str = "crop", window_pooling=DEFAULT_WINDOW_POOLING,
                              num_filters: int = BASE_FILTERS, sampling_rate: int | None = None,
                              seed: int = 0, fast: bool = True) -> keras.Model:
    """Whole clips ``(batch, n)`` (any n) -> features ``(batch, sum over scales of d_s * P)``.

    ``scales``: a list of size specs (:func:`parse_sizes`; e.g. ``["5^5", "3^9", "5^6"]``), one
    model each over the same clip; default one scale, Table 3's model at ``sampling_rate``
    (22 050 Hz: 3⁹). ``levels``: the taps of each scale (:func:`select_levels`; ``3`` = the last
    three layers). ``window_hop``: samples between windows, an int for every scale, a list with
    one per scale (None = that scale's window), default the window; ``1 <= hop <= window``.
    ``fix_length_by``: the end of the clip (:func:`window_count`). ``window_pooling``: statistics
    over a clip's windows, ``P`` of them. Per scale s: ``d_s`` = the summed widths of its taps.
    Layout: scale by scale, then statistic by statistic, then tap by tap
    (:func:`samplecnn_layout`). Scale s's weights are those of ``build_samplecnn(sizes_s,
    seed=seed, num_filters=num_filters)``, whatever the other scales. All windows of a batch go
    through each model in one call. Layers: ``windows_{s}``, ``samplecnn_{sizes}`` (the model
    pruned to the selected taps), ``taps_{s}``, ``window_pooling_{s}``.
    """
    from ..extractor import TapPooling  # extractor imports the front-end registry, which lists this module

    if scales is None:
        scales = [resolve_sizes(sampling_rate=sampling_rate)]
    if isinstance(scales, str) or not isinstance(scales, (list, tuple)) or not scales:
        raise ConfigError(f"'scales' must be a non-empty list of size specs, got {scales!r}")
    sizes_list = [parse_sizes(s, key="scales") for s in scales]
    tags = [sizes_tag(s) for s in sizes_list]
    if len(set(tags)) != len(tags):
        raise ConfigError(f"'scales' lists a model twice: {tags}")
    if isinstance(window_hop, list):
        if len(window_hop) != len(sizes_list):
            raise ConfigError(f"'window_hop' lists {len(window_hop)} hops for {len(sizes_list)} scales")
        hops = window_hop
    else:
        hops = [window_hop] * len(sizes_list)
    pooling = _check_pooling(window_pooling)

    clips = keras.Input((None,), name="waveform")
    vectors = []
    for s, (sizes, hop) in enumerate(zip(sizes_list, hops)):
        model = build_samplecnn(sizes, seed=seed, num_filters=num_filters, fast=fast)
        selected = select_levels(levels, len(model.outputs))
        names = tap_names(sizes)
        taps_model = keras.Model(model.inputs, [model.outputs[i] for i in selected], name=model.name)
        taps_model.trainable = False
        windows = SlidingWindows(window_size(sizes), hop, fix_length_by, name=f"windows_{s}")(clips)
        taps = taps_model(windows)
        taps = list(taps) if isinstance(taps, (list, tuple)) else [taps]
        per_window = TapPooling([names[i] for i in selected], selected,
                                [int(model.outputs[i].shape[-1]) for i in selected],
                                name=f"taps_{s}")(taps)
        vectors.append(WindowPooling(pooling, scale=tags[s], name=f"window_pooling_{s}")(
            [per_window, clips]))
    features = vectors[0] if len(vectors) == 1 else keras.layers.Concatenate(name="scales")(vectors)
    extractor = keras.Model(clips, features, name="samplecnn_extractor")
    extractor.trainable = False
    return extractor


def samplecnn_layout(model: keras.Model) -> list[dict]:
    """Every slice of a :func:`build_samplecnn_extractor` vector, in order: ``scale`` (sizes),
    ``scale_index``, ``window`` (samples), ``hop``, ``pooling``, ``layer`` (tap name),
    ``layer_index`` (tap index in the scale's model), ``offset``, ``width``."""
    layers = {layer.name: layer for layer in model.layers}
    out, offset, s = [], 0, 0
    while f"window_pooling_{s}" in layers:
        windows, pool = layers[f"windows_{s}"], layers[f"window_pooling_{s}"]
        taps = layers[f"taps_{s}"].layout()
        for statistic in pool.pooling:
            for tap in taps:
                out.append({"scale": pool.scale, "scale_index": s, "window": windows.window,
                            "hop": windows.hop, "pooling": statistic, "layer": tap["name"],
                            "layer_index": tap["index"], "offset": offset + tap["offset"],
                            "width": tap["width"]})
            offset += sum(tap["span"] for tap in taps)
        s += 1
    if not out:
        raise ElmarcError(f"model {model.name!r} is not a SampleCNN extractor "
                          f"(it has no window_pooling_0 layer)")
    return out


__all__ = ["TABLE1_FILTERS", "TABLE1_TOP_FILTERS", "TABLE3", "WINDOW_POOLINGS", "parse_sizes",
           "sizes_for_rate", "resolve_sizes", "sizes_tag", "window_size", "schedule_filters",
           "tap_names", "select_levels", "build_samplecnn", "window_count", "SlidingWindows",
           "WindowPooling", "build_samplecnn_extractor", "samplecnn_layout"]
