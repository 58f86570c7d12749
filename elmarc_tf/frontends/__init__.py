"""Registry of front-ends: name -> :class:`FrontEndSpec` -> ``build(config, seed, fast) -> keras.Model``.

Every builder returns a frozen (``trainable=False``) functional model whose outputs are *all* the
architecture's taps, in the original's order. :func:`elmarc_tf.models.extractor.build_extractor` keeps the
selected ones and averages them.

Original names (``cnn_small_filters``, ``cnn_single``, ``cnn_music``, ``cnn_audio``,
``sample_level``, ``frame_level``, ``frame_level_many``) are accepted, plus readable aliases; an
alias may also fix some config fields (``7x96`` is ``cnn_single`` with a 7x96 filter). The MFCC
baseline (``features_type: MFCC``) is the front-end ``mfcc``: it has the same interface, no
random weights, and its input is computed outside the graph. ``samplecnn`` (Lee et al. 2018's
mⁿ-SampleCNN) is windowed (:attr:`FrontEndSpec.scales`): it takes whole clips, cut into windows
of its models' input size (:mod:`elmarc_tf.frontends.windows`); ``build`` gives its first
scale's window model.

The LEAF family (:mod:`~elmarc_tf.frontends.leaf`) enters twice: every spectrogram front-end
takes the config's ``input_representation`` (the authors' log-mel by default, or a LEAF-family
representation of the same shape, :mod:`~elmarc_tf.frontends.filterbank`), and the front-ends
``leaf``, ``sincnet``, ``sincnet_plus``, ``tdfbanks``, ``mel_tf`` and ``pcen_mel`` (family
``filterbank``) are the representation alone, summarised over the whole clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError
from . import filterbank, leaf, mfcc, samplecnn, spectrogram, waveform

# The original's ``signal`` key -> how a decoded clip becomes the front-end's input
# (a key of :data:`elmarc_tf.extraction.pipeline.INPUTS`).
INPUT_OF_SIGNAL = {"spectrogram": "logmel", "waveform": "waveform"}
WHOLE_CLIP_INPUT = "clip"  # the input kind of front-ends that take the whole clip, any length


def _representation_suffix(cfg, sep: str) -> str:
    """``""`` for the authors' log-mel, else e.g. ``+leaf`` / ``+leaf-random`` (``sep`` ``+``)."""
    if cfg.input_representation == filterbank.LOGMEL:
        return ""
    return f"{sep}{cfg.input_representation}" + ("-random" if cfg.filterbank_init == "random"
                                                 else "")


def _name_and_size(cfg) -> str:
    return f"{cfg.architecture}-{cfg.num_filters}" + _representation_suffix(cfg, "+")


def _architecture_and_taps(cfg) -> str:
    return (f"{cfg.architecture} nf={cfg.num_filters} taps={list(cfg.selected_features_list)}"
            + _representation_suffix(cfg, " input="))


def _on_representation(label: Callable) -> Callable:
    """A spectrogram front-end's label, followed by its representation where it is not the
    authors' log-mel: ``VGG``, ``VGG on LEAF``, ``VGG on LEAF (random init)``."""
    def labelled(cfg) -> str:
        if cfg.input_representation == filterbank.LOGMEL:
            return label(cfg)
        return f"{label(cfg)} on {filterbank.representation_label(cfg)}"
    return labelled


def _selected_branches(taps) -> Callable:
    """The paper's label of a model named by its selected taps, e.g. ``timbral+temporal``."""
    return lambda cfg: "+".join(taps[i] for i in sorted(set(cfg.selected_features_list)))


def _no_check(cfg) -> None:
    return None


def _mfcc_revisions(cfg) -> dict:
    """repeat-pad repeats a short clip whole, as the authors' code (0.1 cut the repeats)."""
    return {"mfcc_repeat_pad": "whole copies"} if cfg.fix_length_by == "repeat-pad" else {}


# The paper's settings of the fields whose default depends on the front-end (Config leaves them
# None until its front-end is known).
PAPER_DEFAULTS = {"sampling_rate": 12000, "num_filters": 32}


def _paper_defaults(cfg) -> dict:
    return {key: value for key, value in PAPER_DEFAULTS.items() if getattr(cfg, key) is None}


@dataclass(frozen=True)
class FrontEndSpec:
    """What the rest of the package needs to know about one front-end."""

    name: str
    signal: str | None  # the original's `signal`: 'spectrogram' / 'waveform'; None: no such key
    input: str  # how a decoded clip becomes its input: a key of elmarc_tf.extraction.pipeline.INPUTS
    build: Callable  # (config, seed, fast=True) -> keras.Model with one output per tap
    taps: tuple  # tap names, in the original's order
    label: Callable  # (config) -> the paper's legend name, e.g. "VGG", "timbral+temporal"
    check: Callable = _no_check  # (config) -> None; raises ConfigError
    default_selection: tuple = ()
    aliases: dict = field(default_factory=dict)  # alias -> preset of config fields
    seeded: bool = True  # False: no random weights, one store serves every seed
    store_name: Callable = _name_and_size  # (config) -> the store folder's name before its key
    describe: Callable = _architecture_and_taps  # (config) -> one line for `elmarc info`
    family: str = ""  # how `elmarc compare` groups and colours it; "" : its signal
    # (config) -> {name: value}: fixes of how its features are computed, made after stores were
    # written, where they change the config's features (part of the store key: such a store is
    # recomputed, not reused with the old numbers)
    revisions: Callable = filterbank.revisions  # the representation's, for every other front-end
    # (config) -> {field: value}: its defaults for fields left None (sampling_rate, num_filters),
    # and its own fields in canonical form; the config sets them before it validates the rest
    resolve_fields: Callable = _paper_defaults
    # windowed front-ends (elmarc_tf.frontends.windows): (config) -> [WindowScale, ...]; the
    # whole clip is its input. None: one model on an input of fixed size.
    scales: Callable | None = None
    # config key -> why it does nothing for this front-end: the config refuses such a key where
    # it is set to other than its default (it would only give identical features a new store)
    ignores: dict = field(default_factory=dict)

    def is_seeded(self, config) -> bool:
        """Whether the features of ``config`` depend on the seed: random weights, or a filterbank
        drawn at random (``filterbank_init: random``). False: one store serves every seed."""
        return self.seeded or config.filterbank_init == "random"


# Keys that a front-end of one input kind does not read (FrontEndSpec.ignores), and why.
IGNORED_BY_LOGMEL = {"train_patch_samples": "it trains on log-mel patches of "
                                            "'train_patch_frames' frames"}
IGNORED_BY_WHOLE_CLIP = {
    "n_frames": "it takes the whole clip, of the clip's own length",
    "n_samples": "it takes the whole clip, of the clip's own length",
}
IGNORED_BY_SAMPLECNN = {
    **IGNORED_BY_WHOLE_CLIP,
    "n_samples": "it takes whole clips in windows of prod(sizes) samples (the paper's "
                 "sample-level model is 'sample_level')",
    **{key: "one window of prod(sizes) samples is its training patch"
       for key in ("train_patch_samples", "train_patch_frames")},
}
IGNORED_BY_FILTERBANK = {**IGNORED_BY_WHOLE_CLIP,
                         "num_filters": "its filters are the representation's 'n_mels' channels"}
IGNORED_BY_SIGNAL = {"spectrogram": IGNORED_BY_LOGMEL, "waveform": {}}


def _spec(name, signal, module, taps, label=None, default=None, aliases=None):
    """A spec whose builder and check are ``module.build_<name>`` / ``module.check_<name>``;
    ``label``: a fixed name, a function of the config, or None: the selected taps' names."""
    label = (_selected_branches(taps) if label is None
             else label if callable(label) else (lambda cfg, label=label: label))
    return FrontEndSpec(
        name=name,
        signal=signal,
        input=INPUT_OF_SIGNAL[signal],
        build=getattr(module, f"build_{name}"),
        taps=taps,
        label=_on_representation(label) if signal == "spectrogram" else label,
        check=getattr(module, f"check_{name}"),
        default_selection=tuple(default if default is not None else range(len(taps))),
        aliases=aliases or {},
        family=signal,
        ignores=IGNORED_BY_SIGNAL[signal],
    )


FRONTENDS: dict[str, FrontEndSpec] = {
    s.name: s
    for s in (
        _spec("cnn_small_filters", "spectrogram", spectrogram,
              ("pool1", "pool2", "pool3", "pool4", "pool5"), "VGG", aliases={"vgg": {}}),
        _spec("cnn_single", "spectrogram", spectrogram, ("conv", "pool"), spectrogram.label_cnn_single,
              default=(1,),
              aliases={"7x96": {"filter_shape": (7, 96), "pool_shape": (1, 1)},
                       "7x86": {"filter_shape": (7, 86), "pool_shape": (1, 11)},
                       "single": {}}),
        _spec("cnn_music", "spectrogram", spectrogram, ("timbral", "temporal"),
              aliases={"timbral_temporal": {}, "musically_motivated": {}}),
        _spec("cnn_audio", "spectrogram", spectrogram, ("timbral", "time"),
              aliases={"timbral_time": {}}),
        _spec("sample_level", "waveform", waveform,
              ("conv0", "pool1", "pool2", "pool3", "pool4", "pool5", "pool6"), "sample-level"),
        _spec("frame_level", "waveform", waveform, ("conv", "b1", "b2", "b3"), "frame-level"),
        _spec("frame_level_many", "waveform", waveform,
              ("conv512", "conv256", "conv128", "conv64", "conv32", "b1", "b2", "b3"),
              "frame-level many-shapes", aliases={"frame_level_multi": {}}),
        FrontEndSpec(name="mfcc", signal=None, input="mfcc", build=mfcc.build_mfcc,
                     taps=mfcc.STATISTICS, label=lambda cfg: "MFCCs",
                     default_selection=tuple(range(len(mfcc.STATISTICS))), seeded=False,
                     store_name=lambda cfg: f"mfcc{cfg.mfcc_number}",
                     describe=lambda cfg: f"MFCC baseline ({cfg.mfcc_number} coefficients)",
                     family="baseline", revisions=_mfcc_revisions),
        # Lee et al. 2018's mⁿ-SampleCNN over whole clips: family "waveform" (it reads raw
        # samples, as the paper's waveform models, and is compared and coloured with them).
        FrontEndSpec(name="samplecnn", signal="waveform", input=WHOLE_CLIP_INPUT,
                     build=samplecnn.build_window_model, taps=samplecnn.tap_names("3^9"),
                     label=samplecnn.label_samplecnn, check=samplecnn.check_samplecnn,
                     default_selection=(8, 9, 10), aliases=samplecnn.ALIASES,
                     store_name=samplecnn.store_name_samplecnn,
                     describe=samplecnn.describe_samplecnn, family="waveform",
                     resolve_fields=samplecnn.samplecnn_fields, scales=samplecnn.samplecnn_scales,
                     ignores=IGNORED_BY_SAMPLECNN),
        # The LEAF family alone: mean and std of each filter over the whole clip.
        *(FrontEndSpec(name=name, signal="waveform", input=WHOLE_CLIP_INPUT,
                       build=filterbank.build_filterbank, taps=filterbank.STATISTICS,
                       label=filterbank.label, check=filterbank.check_filterbank,
                       default_selection=tuple(range(len(filterbank.STATISTICS))), seeded=False,
                       store_name=filterbank.store_name, describe=filterbank.describe,
                       family=filterbank.FAMILY, ignores=IGNORED_BY_FILTERBANK)
          for name in leaf.FRONTENDS),
    )
}

ALIASES: dict[str, tuple[str, dict]] = {
    alias: (spec.name, preset) for spec in FRONTENDS.values() for alias, preset in spec.aliases.items()
}


def resolve(name: str) -> tuple[FrontEndSpec, dict]:
    """Look up an architecture by original name or alias: ``(spec, preset config fields)``."""
    if name in FRONTENDS:
        return FRONTENDS[name], {}
    if name in ALIASES:
        canonical, preset = ALIASES[name]
        return FRONTENDS[canonical], preset
    valid = ", ".join(sorted(FRONTENDS) + sorted(ALIASES))
    raise ConfigError(f"unknown architecture {name!r}; valid names: {valid}")


def frontend_of(config) -> FrontEndSpec:
    """The front-end a (validated) config describes (``config.frontend``)."""
    return FRONTENDS[config.frontend]


def selected_taps(config) -> tuple:
    """The tap indices a config selects (its ``selected_features_list``, else the default)."""
    spec = frontend_of(config)
    return tuple(config.selected_features_list if config.selected_features_list is not None
                 else spec.default_selection)


def is_seeded(config) -> bool:
    """Whether ``config``'s features depend on the seed (:meth:`FrontEndSpec.is_seeded`)."""
    return frontend_of(config).is_seeded(config)


def takes_whole_clip(config) -> bool:
    """Whether ``config``'s front-end takes the whole clip, of any length (no ``n_samples``)."""
    return frontend_of(config).input == WHOLE_CLIP_INPUT


def build_frontend(config, seed: int = 0, fast: bool = True):
    """The front-end of ``config`` with all its taps as outputs (a ``keras.Model``).

    ``fast=False``: Keras' plain layers instead of the faster equivalent ones (same weights)."""
    return frontend_of(config).build(config, seed, fast=fast)


__all__ = ["FRONTENDS", "ALIASES", "FrontEndSpec", "resolve", "frontend_of", "selected_taps",
           "build_frontend", "is_seeded", "takes_whole_clip"]
