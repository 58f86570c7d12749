"""The experiment configuration: one validated dataclass.

Field names are the keys of the authors' ``config_main`` dict (``src/config_file.py`` of
``jordipons/elmarc``), flattened: the keys of its ``'CNN'`` sub-dict (``architecture``,
``num_filters``, ``selected_features_list``, ...) are top-level fields here, and its ``'MFCC'``
sub-dict maps to ``mfcc_number`` / ``mfcc_fixed_length``. A few fields the original hard-codes
are made explicit (``res_type``, ``pad_mode``, ``backend_taps``); their defaults are documented
in README.md.

A config is validated once, when it is created: an unknown key, a missing required key or an
impossible value raises :class:`~elmarc_tf.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from .errors import ConfigError

FEATURES_TYPES = ("CNN", "MFCC")
SIGNALS = ("spectrogram", "waveform")
FIX_LENGTH_MODES = ("crop", "zero-pad", "repeat-pad")
MODEL_TYPES = ("SVM", "linearSVM", "ELM", "MLP", "KNN", "linear")
RES_TYPES = ("soxr_hq", "kaiser_best", "soxr_vhq", "soxr_mq", "kaiser_fast", "polyphase", "fft")
PAD_MODES = ("reflect", "constant")
BACKEND_TAPS = ("original", "per_channel")
BATCH_NORM_POSITIONS = ("before_elu", "after_elu")
PROTOCOLS = ("predefined_split", "stratified_kfold", "predefined_folds")

# SVM grid search (elmarc_tf.svm_grid): libsvm's iteration cap per fit (-1: none, as the
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
    experiment_name: str = "v0"
    features_type: str = "CNN"
    model_type: str = "SVM"
    SVM_verbose: int = 0
    load_extracted_features: Any = False
    sampling_rate: int = 12000
    dataset: Optional[str] = None
    audio_path: Optional[str] = None
    save_extracted_features_folder: Optional[str] = None
    results_folder: Optional[str] = None
    train_set_list: Optional[str] = None
    val_set_list: Optional[str] = None
    test_set_list: Optional[str] = None
    audios_list: Any = False
    fix_length_by: str = "crop"

    # --- CNN (original config_main['CNN'] keys) ---
    signal: Optional[str] = None
    architecture: str = "cnn_small_filters"
    num_filters: int = 32
    selected_features_list: Optional[tuple] = None
    filter_shape: Optional[tuple] = None
    pool_shape: Optional[tuple] = None
    n_frames: Optional[int] = None
    n_mels: int = 96
    n_samples: Optional[int] = None
    batch_size: Any = "auto"  # clips per forward pass, or "auto" (elmarc_tf.batching)

    # --- MFCC baseline (original config_main['MFCC'] keys 'number', 'fixed_length') ---
    mfcc_number: int = 20
    mfcc_fixed_length: int = 2048

    # --- made explicit here (hard-coded or implicit in the original) ---
    res_type: str = "soxr_hq"
    pad_mode: str = "reflect"
    backend_taps: str = "original"
    batch_norm: bool = False  # VGG only: the batch-normalisation ablation (paper Section 3.4)
    batch_norm_position: str = "before_elu"

    # --- evaluation options beyond the original (off by default; see elmarc_tf.protocols) ---
    protocol: Optional[str] = None  # None: chosen from the data (splits / folds / k-fold)
    n_folds: int = 10
    standardize: bool = False
    nested_cv: bool = False

    # --- SVM grid search (elmarc_tf.svm_grid; results name both) ---
    svm_max_iter: int = DEFAULT_SVM_MAX_ITER  # libsvm iterations per fit; -1: no limit
    svm_precompute_max_n: int = DEFAULT_SVM_PRECOMPUTE_MAX_N  # above: kernels computed by libsvm

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
                import yaml

                data = yaml.safe_load(text)
        except Exception as e:  # parser errors carry multi-line messages
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"{path}: not valid YAML/JSON ({first})") from None
        try:
            return cls.from_dict(data or {})
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        """Flat, JSON-serialisable dict; ``Config.from_dict(c.to_dict()) == c``."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    def replace(self, **changes) -> "Config":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- derived
    @property
    def input_length(self) -> int:
        """``n_frames`` for spectrogram front-ends, ``n_samples`` for waveform ones."""
        return self.n_frames if self.signal == "spectrogram" else self.n_samples


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


def _validate(cfg: Config) -> None:
    from .frontends import resolve  # local import: the registry imports this module's type

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
    for name in ("sampling_rate", "n_mels", "mfcc_number", "mfcc_fixed_length", "n_folds"):
        _positive_int(cfg, name)
    for name in ("n_frames", "n_samples"):
        _positive_int(cfg, name, required=False)
    _pair(cfg, "filter_shape")
    _pair(cfg, "pool_shape")
    if cfg.features_type == "MFCC":  # the baseline has no front-end to check
        return

    spec, preset = resolve(cfg.architecture)
    _set(cfg, "architecture", spec.name)
    for key, value in preset.items():
        if getattr(cfg, key) is None:
            _set(cfg, key, value)
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
    length_key = "n_frames" if spec.signal == "spectrogram" else "n_samples"
    if getattr(cfg, length_key) is None:
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
