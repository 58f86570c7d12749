"""The experiment configuration: one validated dataclass.

Field names are the keys of the authors' ``config_main`` dict (``src/config_file.py`` of
``jordipons/elmarc``), flattened: the keys of its ``'CNN'`` sub-dict (``architecture``,
``num_filters``, ``selected_features_list``, ...) are top-level fields here, and its ``'MFCC'``
sub-dict maps to ``mfcc_number`` / ``mfcc_fixed_length``. A few fields the original hard-codes
are made explicit (``res_type``, ``pad_mode``, ``backend_taps``); their defaults are documented
in docs/configuration.md.

A config is validated once, when it is created: an unknown key, a missing required key or an
impossible value raises :class:`~elmarc_tf.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import yaml

from .errors import ConfigError
from .frontends import FRONTENDS, WHOLE_CLIP_INPUT, resolve
from .frontends.filterbank import check_representation
from .vocabulary import (BACKEND_TAPS, BATCH_NORM_POSITIONS, FEATURES_TYPES, FILTERBANK_INITS,
                         FIX_LENGTH_MODES, INPUT_REPRESENTATIONS, MODEL_TYPES, PAD_MODES,
                         PROTOCOLS, RES_TYPES, SIGNALS)



def _not_feature(default):
    """A field that does not change the features (classifier, protocol, where results go, speed):
    left out of the feature store's identity (:func:`elmarc_tf.extraction.store.store_key`)."""
    return field(default=default, metadata={"features": False})


def _added_feature(default):
    """A field that changes the features, added after the feature store's format was fixed: left
    out of the store's identity while it has its default value, so that every store written
    before it existed keeps its key (and is found and reused)."""
    return field(default=default, metadata={"features": True, "added": True})


def feature_fields(config) -> dict:
    """The fields of ``config`` (as in :meth:`Config.to_dict`) that its features depend on —
    the :func:`_added_feature` ones only where they differ from their default."""
    values = config.to_dict()
    return {f.name: values[f.name] for f in fields(config) if f.metadata.get("features", True)
            and not (f.metadata.get("added") and getattr(config, f.name) == f.default)}


# SVM grid search (elmarc_tf.evaluation.svm_grid): libsvm's iteration cap per fit (-1: none, as the
# original): 2.4x the most iterations a converging fit took in the measurements of
# docs/performance.md (12.7 million), below the fits that did not converge in 2e8; and the most
# rows for precomputed kernels (8 n^2 bytes each).
DEFAULT_SVM_MAX_ITER = 30_000_000
DEFAULT_SVM_PRECOMPUTE_MAX_N = 10_000

# Keys of the original nested dict that map to differently named flat fields.
_MFCC_KEYS = {"number": "mfcc_number", "fixed_length": "mfcc_fixed_length"}


@dataclass(frozen=True)
class Config:
    """One experiment: front-end, input, pre-processing, data and classifier settings.

    Only the front-end fields matter for feature extraction; the data and classifier fields
    (``dataset``, ``audio_path``, the split lists, ``model_type``, ...) are carried along so that
    one file describes a whole experiment, as in the original code.
    """

    # --- experiment (original top-level keys) ---
    experiment_name: str = _not_feature("v0")
    features_type: str = "CNN"
    model_type: str = _not_feature("SVM")
    SVM_verbose: int = _not_feature(0)
    load_extracted_features: Any = _not_feature(False)
    sampling_rate: Optional[int] = None  # None: the front-end's (12000, samplecnn: Table 3's)
    dataset: Optional[str] = None
    audio_path: Optional[str] = None
    save_extracted_features_folder: Optional[str] = _not_feature(None)
    results_folder: Optional[str] = _not_feature(None)
    train_set_list: Optional[str] = None
    val_set_list: Optional[str] = None
    test_set_list: Optional[str] = None
    audios_list: Any = False
    fix_length_by: str = "crop"

    # --- CNN (original config_main['CNN'] keys) ---
    signal: Optional[str] = None
    architecture: str = "cnn_small_filters"
    num_filters: Optional[int] = None  # None: the front-end's (32, samplecnn: 128)
    selected_features_list: Optional[tuple] = None
    filter_shape: Optional[tuple] = None
    pool_shape: Optional[tuple] = None
    n_frames: Optional[int] = None
    n_mels: int = 96
    n_samples: Optional[int] = None
    batch_size: Any = _not_feature("auto")  # clips per forward pass, or "auto" (elmarc_tf.extraction.batching)

    # --- windowed front-ends: samplecnn (elmarc_tf.frontends.samplecnn; None: its default) ---
    sizes: Any = _added_feature(None)  # module sizes bottom to top: [3, 3, 2, 2], "3-3-2-2", "3^9"
    m: Optional[int] = _added_feature(None)  # with n: sizes of m repeated n + 1 times (mⁿ)
    n: Optional[int] = _added_feature(None)
    levels: Any = _added_feature(None)  # the last k layers (3), or a list of layer indices
    window_hop: Any = _added_feature(None)  # samples between windows (the window), or one per scale
    window_pooling: Any = _added_feature(None)  # statistics over a clip's windows: [mean, max]
    scales: Any = _added_feature(None)  # several models (list of sizes), vectors concatenated

    # --- MFCC baseline (original config_main['MFCC'] keys 'number', 'fixed_length') ---
    mfcc_number: int = 20
    mfcc_fixed_length: int = 2048

    # --- made explicit here (hard-coded or implicit in the original) ---
    res_type: str = "soxr_hq"
    pad_mode: str = "reflect"
    backend_taps: str = "original"
    batch_norm: bool = False  # VGG only: the batch-normalisation ablation (paper Section 3.4)
    batch_norm_position: str = "before_elu"

    # --- the LEAF family (elmarc_tf.frontends.leaf / filterbank): what computes a spectrogram
    # front-end's input ('logmel': the authors' log-mel), how a parametric filterbank starts
    # ('random': drawn from the run's seed), whether its variables are trainable (features unchanged)
    input_representation: str = _added_feature("logmel")
    filterbank_init: str = _added_feature("mel")
    trainable: bool = _not_feature(False)

    # --- evaluation options beyond the original (off by default; see elmarc_tf.evaluation.protocols) ---
    protocol: Optional[str] = _not_feature(None)  # None: chosen from the data (splits / folds / k-fold)
    n_folds: int = _not_feature(10)
    standardize: bool = _not_feature(False)
    nested_cv: bool = _not_feature(False)

    # --- end-to-end training (elmarc_tf.studies.train); none of these changes the random features ---
    train_patch_frames: Optional[int] = _not_feature(None)  # None: whole inputs (n_frames)
    train_patch_samples: Optional[int] = _not_feature(None)  # None: whole inputs (n_samples)
    train_patches_per_clip: int = _not_feature(1)  # random patches per training clip per epoch
    epochs: int = _not_feature(50)
    learning_rate: float = _not_feature(1e-4)  # Adam (see elmarc_tf.studies.train on the inputs' scale)
    train_batch_size: int = _not_feature(16)
    patience: int = _not_feature(10)  # early stopping: epochs without a better validation accuracy
    dropout: float = _not_feature(0.5)  # before the dense softmax head
    head_standardize: bool = _not_feature(True)  # z-score the features (epoch-0 training statistics)
    head_batch_norm: bool = _not_feature(False)  # BatchNormalization before the head's dropout
    val_fraction: float = _not_feature(0.15)  # fold protocols: held-out part of the training folds

    # --- the weights: None = random (seeded); else the content digest of a trained weights file
    # (elmarc_tf.models.trained_weights), so that trained features get a store of their own ---
    trained_weights: Optional[str] = _added_feature(None)

    # --- SVM grid search (elmarc_tf.evaluation.svm_grid; results name both) ---
    svm_max_iter: int = _not_feature(DEFAULT_SVM_MAX_ITER)  # libsvm iterations per fit; -1: none
    svm_precompute_max_n: int = _not_feature(DEFAULT_SVM_PRECOMPUTE_MAX_N)  # above: libsvm's kernels

    def __post_init__(self) -> None:
        _validate(self)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Build from a flat dict (YAML style) or the original nested dict.

        Nested ``'CNN'`` / ``'MFCC'`` sub-dicts are flattened first. Unknown keys raise
        :class:`ConfigError` with the closest valid key as a suggestion.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a mapping of keys to values, got {type(d).__name__}")
        flat = _flatten(d)
        names = {f.name for f in fields(cls)}
        for key in flat:
            if key not in names:
                close = difflib.get_close_matches(key, sorted(names), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"unknown config key '{key}'{hint}")
        return cls(**flat)

    @classmethod
    def from_original(cls, config_main: dict) -> "Config":
        """Build from the original code's nested ``config_main`` dict."""
        return cls.from_dict(config_main)

    @classmethod
    def from_file(cls, path: str | Path) -> "Config":
        """Load a YAML (``.yaml``/``.yml``) or JSON config file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config file ({e.strerror})") from None
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                data = yaml.safe_load(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
        except yaml.YAMLError as e:  # its message spans lines: keep the problem and where
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
        try:
            return cls.from_dict(data or {})
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        """Flat, JSON-serialisable dict; ``Config.from_dict(c.to_dict()) == c``."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes) -> "Config":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- derived
    @property
    def frontend(self) -> str:
        """The name of the front-end in :data:`elmarc_tf.frontends.FRONTENDS` this config uses."""
        return FEATURES_TYPES[self.features_type] or self.architecture


def _plain(value):
    """Tuples (also nested ones, such as ``scales``) as lists."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _flatten(d: dict) -> dict:
    flat = {}
    for key, value in d.items():
        if key == "CNN" and isinstance(value, dict):
            flat.update(value)
        elif key == "MFCC" and isinstance(value, dict):
            for k, v in value.items():
                flat[_MFCC_KEYS.get(k, k)] = v
        else:
            flat[key] = value
    return flat


def _set(cfg: Config, name: str, value) -> None:
    object.__setattr__(cfg, name, value)


def _positive_int(cfg: Config, name: str, required: bool = True) -> None:
    value = getattr(cfg, name)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"'{name}' must be a positive integer, got {value!r}")


def _pair(cfg: Config, name: str) -> None:
    value = getattr(cfg, name)
    if value is None:
        return
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ConfigError(f"'{name}' must be two positive integers [time, frequency], got {value!r}")
    _set(cfg, name, tuple(value))


def _choice(cfg: Config, name: str, allowed) -> None:
    value = getattr(cfg, name)
    if value not in allowed:
        raise ConfigError(f"'{name}' must be one of {', '.join(map(str, allowed))}; got {value!r}")


# Keys of windowed front-ends only (FrontEndSpec.scales): an error with any other front-end.
WINDOW_KEYS = ("sizes", "m", "n", "levels", "window_hop", "window_pooling", "scales")


def _spec_of(features_type: str, architecture: str):
    """The spec of the front-end that ``features_type`` and ``architecture`` name, and the fields
    the architecture's alias fixes."""
    fixed = FEATURES_TYPES[features_type]
    return (FRONTENDS[fixed], {}) if fixed is not None else resolve(architecture)


def _frontend(cfg: Config):
    """The spec of ``cfg``'s front-end and the fields its alias fixes where they are unset."""
    spec, preset = _spec_of(cfg.features_type, cfg.architecture)
    return spec, {key: value for key, value in preset.items() if getattr(cfg, key) is None}


def _refuse_ignored(cfg: Config, spec) -> None:
    """Raise :class:`ConfigError` for a key that ``spec`` ignores (:attr:`FrontEndSpec.ignores`)
    set to other than its default: ``None``, or the value the front-end gives it when unset (so
    that a validated config's :meth:`Config.to_dict` loads again)."""
    if not spec.ignores:
        return
    unset = SimpleNamespace(**{f.name: getattr(cfg, f.name) for f in fields(cfg)})
    for key in spec.ignores:
        setattr(unset, key, None)
    defaults = spec.resolve_fields(unset)
    for key, why in spec.ignores.items():
        if getattr(cfg, key) not in (None, defaults.get(key)):
            raise ConfigError(f"'{key}' does not apply to architecture '{spec.name}': {why}")


def shared_fields(shared: dict, own: dict) -> dict:
    """``{**shared, **own}`` less the keys of ``shared`` that the front-end ``own`` names ignores
    (:attr:`FrontEndSpec.ignores`): settings given once for front-ends of several kinds, such as
    a study's patch lengths for log-mel and waveform models. Keys of ``own`` are all kept (and
    refused by validation where they do not apply)."""
    shared, own = _flatten(shared), _flatten(own)
    merged = {**shared, **own}
    defaults = {f.name: f.default for f in fields(Config)}
    features_type, architecture = (merged.get(key, defaults[key])
                                   for key in ("features_type", "architecture"))
    if features_type not in FEATURES_TYPES:
        return merged  # validation names the key
    ignored = _spec_of(features_type, architecture)[0].ignores
    return {key: value for key, value in merged.items() if key in own or key not in ignored}


def _number(cfg: Config, name: str, low: float, high: float, low_open: bool, high_open: bool) -> None:
    """A real number in the given interval; a numeric string (YAML reads ``1e-3`` as one) is
    converted."""
    value = getattr(cfg, name)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    inside = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and (low < value if low_open else low <= value)
              and (value < high if high_open else value <= high))
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"'{name}' must be a number in {interval}, got {getattr(cfg, name)!r}")
    _set(cfg, name, float(value))


def _validate_training(cfg: Config) -> None:
    """The keys of end-to-end training (:mod:`elmarc_tf.studies.train`)."""
    for name in ("train_patches_per_clip", "epochs", "train_batch_size", "patience"):
        _positive_int(cfg, name)
    for name, length in (("train_patch_frames", "n_frames"), ("train_patch_samples", "n_samples")):
        _positive_int(cfg, name, required=False)
        patch, whole = getattr(cfg, name), getattr(cfg, length)
        if patch is not None and whole is not None and patch > whole:
            raise ConfigError(f"'{name}'={patch} is longer than the input ('{length}'={whole})")
    _number(cfg, "learning_rate", 0.0, float("inf"), True, True)
    _number(cfg, "dropout", 0.0, 1.0, False, True)
    _number(cfg, "val_fraction", 0.0, 1.0, True, True)
    for name in ("head_standardize", "head_batch_norm"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(f"'{name}' must be true or false, got {getattr(cfg, name)!r}")


def _validate(cfg: Config) -> None:
    _choice(cfg, "features_type", FEATURES_TYPES)
    _choice(cfg, "model_type", MODEL_TYPES)
    _choice(cfg, "res_type", RES_TYPES)
    _choice(cfg, "pad_mode", PAD_MODES)
    _choice(cfg, "backend_taps", BACKEND_TAPS)
    if cfg.fix_length_by in (False, None):  # the original's "do nothing" means crop for CNNs
        _set(cfg, "fix_length_by", "crop")
    _choice(cfg, "fix_length_by", FIX_LENGTH_MODES)
    if cfg.protocol is not None:
        _choice(cfg, "protocol", PROTOCOLS)
    _choice(cfg, "batch_norm_position", BATCH_NORM_POSITIONS)
    for name in ("standardize", "nested_cv", "batch_norm"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(f"'{name}' must be true or false, got {getattr(cfg, name)!r}")
    if isinstance(cfg.svm_max_iter, bool) or not isinstance(cfg.svm_max_iter, int) \
            or not (cfg.svm_max_iter == -1 or cfg.svm_max_iter >= 1):
        raise ConfigError(f"'svm_max_iter' must be a positive integer or -1 (no limit), "
                          f"got {cfg.svm_max_iter!r}")
    if isinstance(cfg.svm_precompute_max_n, bool) or not isinstance(cfg.svm_precompute_max_n, int) \
            or cfg.svm_precompute_max_n < 0:
        raise ConfigError(f"'svm_precompute_max_n' must be an integer >= 0 (0: never precompute), "
                          f"got {cfg.svm_precompute_max_n!r}")
    if cfg.batch_size != "auto":
        _positive_int(cfg, "batch_size")
    spec, preset = _frontend(cfg)
    for values in (preset, spec.resolve_fields):  # the alias's fields first: defaults follow them
        for key, value in (values if isinstance(values, dict) else values(cfg)).items():
            _set(cfg, key, value)
    _refuse_ignored(cfg, spec)
    if spec.scales is None:
        given = [name for name in WINDOW_KEYS if getattr(cfg, name) is not None]
        if given:
            raise ConfigError(f"'{given[0]}' is a key of windowed front-ends (samplecnn), not of "
                              f"'{spec.name}'")
    for name in ("sampling_rate", "n_mels", "mfcc_number", "mfcc_fixed_length", "n_folds"):
        _positive_int(cfg, name)
    for name in ("n_frames", "n_samples"):
        _positive_int(cfg, name, required=False)
    _pair(cfg, "filter_shape")
    _pair(cfg, "pool_shape")
    _validate_leaf_keys(cfg)
    _validate_training(cfg)
    if cfg.trained_weights is not None and not (isinstance(cfg.trained_weights, str)
                                                and re.fullmatch(r"[0-9a-f]{64}", cfg.trained_weights)):
        raise ConfigError(f"'trained_weights' must be the 64-hex-digit digest of a trained weights "
                          f"file (set by extract's weights argument), got {cfg.trained_weights!r}")
    if FEATURES_TYPES[cfg.features_type] is not None:  # a fixed front-end (the MFCC baseline)
        check_representation(cfg, takes_spectrogram=False)
        return

    _set(cfg, "architecture", spec.name)
    if cfg.signal is None:
        _set(cfg, "signal", spec.signal)
    _choice(cfg, "signal", SIGNALS)
    if cfg.signal != spec.signal:
        raise ConfigError(
            f"'signal' is '{cfg.signal}' but architecture '{spec.name}' takes a {spec.signal}"
        )
    _positive_int(cfg, "num_filters")
    if cfg.batch_norm and spec.name != "cnn_small_filters":
        raise ConfigError(f"'batch_norm' is only available for cnn_small_filters (VGG), "
                          f"not '{spec.name}'")
    if spec.scales is not None:  # whole clips in windows: no fixed input length, no tap list
        spec.check(cfg)
        check_representation(cfg, takes_spectrogram=False)
        return
    length_key = "n_frames" if spec.signal == "spectrogram" else "n_samples"
    if getattr(cfg, length_key) is None and spec.input != WHOLE_CLIP_INPUT:
        raise ConfigError(f"'{length_key}' is required for architecture '{spec.name}'")

    n_taps = len(spec.taps)
    if cfg.selected_features_list is None:
        _set(cfg, "selected_features_list", tuple(spec.default_selection))
    sel = cfg.selected_features_list
    if (
        not isinstance(sel, (list, tuple))
        or not sel
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in sel)
    ):
        raise ConfigError(f"'selected_features_list' must be a non-empty list of tap indices, got {sel!r}")
    bad = [i for i in sel if not 0 <= i < n_taps]
    if bad:
        raise ConfigError(
            f"'selected_features_list' has {bad}, but '{spec.name}' has {n_taps} taps "
            f"(0..{n_taps - 1}: {', '.join(spec.taps)})"
        )
    _set(cfg, "selected_features_list", tuple(sel))
    spec.check(cfg)  # architecture-specific constraints (shapes, filter counts, lengths)
    check_representation(cfg, takes_spectrogram=spec.signal == "spectrogram")


def _validate_leaf_keys(cfg: Config) -> None:
    """The values of the LEAF-family keys; which front-ends they apply to is checked by
    :func:`~elmarc_tf.frontends.filterbank.check_representation`."""
    _choice(cfg, "input_representation", INPUT_REPRESENTATIONS)
    _choice(cfg, "filterbank_init", FILTERBANK_INITS)
    if not isinstance(cfg.trainable, bool):
        raise ConfigError(f"'trainable' must be true or false, got {cfg.trainable!r}")
