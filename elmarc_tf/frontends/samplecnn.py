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
    The front-end ``samplecnn`` is windowed (:mod:`elmarc_tf.frontends.windows`): a clip is cut
    into windows of the model's input size every ``window_hop`` samples (``fix_length_by``
    decides the end), all windows go through the model as one batch, each selected tap
    (``levels``) is averaged per window, and the windows of the clip are summarised by mean and
    max (``window_pooling``; the seed's "combination of max-pooling and average-pooling").
    Several ``scales`` (models with different windows, e.g. 5⁵ = 709 ms ... 5⁶ = 3.5 s at
    22 050 Hz) run over the same clip and their vectors are concatenated.

The config (:func:`samplecnn_fields`, :func:`check_samplecnn`, :func:`samplecnn_scales`)
    Model: ``sizes`` (a list or ``"3-3-2-2"`` / ``"3^9"``), or ``m`` and ``n`` (m repeated n+1
    times), or ``scales`` (a list of such sizes), else Table 3's model at ``sampling_rate``.
    ``sampling_rate`` defaults to Table 3's rate of the model when it is one of Table 3's, else
    22 050 Hz (Table 1); ``num_filters`` to 128 (Table 1), ``levels`` to 3, ``window_pooling``
    to ``[mean, max]``, ``window_hop`` to the window (an int for every scale, or one per scale).
"""

from __future__ import annotations

import math
import re

import keras

from ..errors import ConfigError
from .common import ConvFactory, layer_seed
from .windows import DEFAULT_WINDOW_POOLING, WindowScale, check_hop, check_pooling

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
        if not (_is_int(m) and _is_int(n) and m >= 2 and n >= 0):
            raise ConfigError(f"'m' must be an int >= 2 and 'n' an int >= 0, got m={m!r}, n={n!r}")
        return (m,) * (n + 1)
    return sizes_for_rate(DEFAULT_SAMPLING_RATE if sampling_rate is None else sampling_rate)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sizes_tag(sizes) -> str:
    """``(3, 3, 2, 2)`` -> ``"3-3-2-2"``: the scale's name in layer names and layer seeds."""
    return "-".join(str(s) for s in sizes)


def scale_name(sizes) -> str:
    """How labels and layouts name a model: ``3^9`` for ten 3s (mⁿ, every size equal), else the
    sizes as in Table 3 (``3-3-3-3-3-2-4-4-2-2``)."""
    sizes = tuple(sizes)
    if len(sizes) > 1 and len(set(sizes)) == 1:
        return f"{sizes[0]}^{len(sizes) - 1}"
    return sizes_tag(sizes)


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


# ----------------------------------------------------------------------------- the front-end `samplecnn`
# Table 3's models by rate, as aliases that fix the sizes and the rate; `samplecnn_3_9` is Table 1's.
ALIASES = {
    "samplecnn_3_9": {"sizes": parse_sizes("3^9")},
    **{f"samplecnn_{rate // 1000}k": {"sizes": parse_sizes(sizes), "sampling_rate": rate}
       for rate, sizes in TABLE3.items() if rate != DEFAULT_SAMPLING_RATE},
}
_RATE_OF_SIZES = {parse_sizes(sizes): rate for rate, sizes in TABLE3.items()}
_MODEL_KEYS = ("sizes", "m", "n")


def scale_sizes(cfg) -> list[tuple[int, ...]]:
    """The sizes of every scale of ``cfg``: its ``scales``, else the one model of ``sizes`` /
    ``m`` and ``n`` / Table 3 at ``sampling_rate`` (:func:`resolve_sizes`)."""
    if cfg.scales is not None:
        return [parse_sizes(s, key="scales") for s in cfg.scales]
    return [resolve_sizes(cfg.sizes, cfg.m, cfg.n, cfg.sampling_rate)]


def _scales(value) -> tuple:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"'scales' must be a non-empty list of sizes such as ['5^5', '3^9'], "
                          f"got {value!r}")
    scales = tuple(parse_sizes(s, key="scales") for s in value)
    if len(set(scales)) != len(scales):
        raise ConfigError(f"'scales' lists a model twice: {[sizes_tag(s) for s in scales]}")
    return scales


def _hops(value):
    if value is None or _is_int(value):
        return value
    if isinstance(value, (list, tuple)) and all(h is None or _is_int(h) for h in value):
        return tuple(value)
    raise ConfigError(f"'window_hop' must be an int (samples), or a list with one int (or null) "
                      f"per scale, got {value!r}")


def samplecnn_fields(cfg) -> dict:
    """The config fields of ``samplecnn`` in canonical form (sizes and scales as tuples of ints,
    lists as tuples) and its defaults for the fields left unset: ``sampling_rate`` Table 3's
    rate of a single Table 3 model, else 22 050 Hz (Table 1); ``num_filters`` 128; ``levels`` 3;
    ``window_pooling`` mean and max. ``m`` / ``n`` and an unset ``sizes`` stay as they are:
    with no model given, the sizes follow the rate (Table 3)."""
    out = {"window_hop": _hops(cfg.window_hop),
           "window_pooling": check_pooling(DEFAULT_WINDOW_POOLING if cfg.window_pooling is None
                                           else cfg.window_pooling),
           "levels": (DEFAULT_LEVELS if cfg.levels is None
                      else tuple(cfg.levels) if isinstance(cfg.levels, list) else cfg.levels)}
    models = []  # the models the config names, if any
    if cfg.scales is not None:
        given = [k for k in _MODEL_KEYS if getattr(cfg, k) is not None]
        if given:
            raise ConfigError(f"give either 'scales' or {' / '.join(repr(k) for k in given)}, not both")
        out["scales"] = models = _scales(cfg.scales)
    elif any(getattr(cfg, k) is not None for k in _MODEL_KEYS):
        models = [resolve_sizes(cfg.sizes, cfg.m, cfg.n)]  # checks the combination
        if cfg.sizes is not None:
            out["sizes"] = models[0]
    if cfg.num_filters is None:
        out["num_filters"] = BASE_FILTERS
    if cfg.sampling_rate is None:
        out["sampling_rate"] = (_RATE_OF_SIZES.get(models[0], DEFAULT_SAMPLING_RATE)
                                if len(models) == 1 else DEFAULT_SAMPLING_RATE)
    return out


def samplecnn_scales(cfg) -> list[WindowScale]:
    """The window models of a (validated) ``samplecnn`` config, one per scale."""
    sizes_list = scale_sizes(cfg)
    hops = cfg.window_hop if isinstance(cfg.window_hop, tuple) else [cfg.window_hop] * len(sizes_list)
    if len(hops) != len(sizes_list):
        raise ConfigError(f"'window_hop' lists {len(hops)} hops for {len(sizes_list)} scales")
    out = []
    for sizes, hop in zip(sizes_list, hops):
        window, taps = window_size(sizes), tap_names(sizes)
        out.append(WindowScale(name=scale_name(sizes), window=window,
                               hop=check_hop(window if hop is None else hop, window),
                               build=_window_builder(sizes, cfg.num_filters), taps=taps,
                               selected=tuple(select_levels(cfg.levels, len(taps)))))
    return out


def _window_builder(sizes, num_filters):
    def build(seed: int = 0, fast: bool = True) -> keras.Model:
        return build_samplecnn(sizes, seed=seed, num_filters=num_filters, fast=fast)
    return build


def build_window_model(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """The registry's builder: the window model of ``cfg``'s first scale, all its taps."""
    return samplecnn_scales(cfg)[0].build(seed, fast)


def check_samplecnn(cfg) -> None:
    """What a ``samplecnn`` config must satisfy beyond :func:`samplecnn_fields`' forms."""
    if cfg.n_samples is not None:
        raise ConfigError("'n_samples' does not apply to architecture 'samplecnn': it takes whole "
                          "clips in windows of prod(sizes) samples (the paper's sample-level model "
                          "is 'sample_level')")
    if cfg.selected_features_list is not None:
        raise ConfigError("'selected_features_list' does not apply to architecture 'samplecnn': "
                          "choose its layers with 'levels'")
    if cfg.batch_size not in ("auto", 1):
        raise ConfigError(f"'batch_size'={cfg.batch_size!r}: samplecnn takes one whole clip per "
                          f"forward pass (its windows are the batch); use 'auto' or 1")
    samplecnn_scales(cfg)  # levels and hops against every scale's model


def label_samplecnn(cfg) -> str:
    """``SampleCNN 3^9``, ``SampleCNN 5^5+3^9 last layer`` ...: the models, then the layers and
    window statistics where they are not the defaults (the last three; mean and max)."""
    label = "SampleCNN " + "+".join(scale_name(s) for s in scale_sizes(cfg))
    if cfg.levels != DEFAULT_LEVELS:
        label += (" last layer" if cfg.levels == 1 else f" last {cfg.levels} layers"
                  if _is_int(cfg.levels) else f" layers {list(cfg.levels)}")
    if tuple(cfg.window_pooling) != DEFAULT_WINDOW_POOLING:
        label += f" ({'+'.join(cfg.window_pooling)})"
    return label


def store_name_samplecnn(cfg) -> str:
    """``samplecnn-3_9-128``: the models (``m_n`` for mⁿ) and ``num_filters``."""
    names = (scale_name(s).replace("^", "_") for s in scale_sizes(cfg))
    return f"samplecnn-{'+'.join(names)}-{cfg.num_filters}"


def describe_samplecnn(cfg) -> str:
    """One line for ``elmarc info``: every scale's model, window and hop, and the aggregation."""
    scales = ", ".join(
        f"{s.name} (window {s.window} = {1000 * s.window / cfg.sampling_rate:.0f} ms, hop {s.hop})"
        for s in samplecnn_scales(cfg))
    return (f"samplecnn {scales} at {cfg.sampling_rate} Hz nf={cfg.num_filters} "
            f"levels={cfg.levels if _is_int(cfg.levels) else list(cfg.levels)} "
            f"window_pooling={'+'.join(cfg.window_pooling)}")


__all__ = ["TABLE1_FILTERS", "TABLE1_TOP_FILTERS", "TABLE3", "ALIASES", "parse_sizes",
           "sizes_for_rate", "resolve_sizes", "sizes_tag", "scale_name", "window_size",
           "schedule_filters", "tap_names", "select_levels", "build_samplecnn", "scale_sizes",
           "samplecnn_fields", "samplecnn_scales", "build_window_model", "check_samplecnn",
           "label_samplecnn", "store_name_samplecnn", "describe_samplecnn"]
