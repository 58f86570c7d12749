"""Export a seeded front-end for reuse outside elmarc_tf: a TensorFlow SavedModel + a ``.keras`` file.

An export folder (:func:`export_frontend`) holds::

    saved_model.pb, variables/   a SavedModel: raw mono waveforms -> feature vectors
    assets/elmarc.json           its description: config, seed, feature layout, input rules, versions
    model.keras                  the same Keras model, for Keras users (needs ``import elmarc_tf``)

The SavedModel needs neither elmarc_tf nor its custom Keras layers: ``tf.saved_model.load(folder)``
in any TensorFlow 2 process gives an object with

- ``features(waveform)``: ``(batch, n) -> (batch, feature_length) float32``; float32 or float64
  waveforms, or integer PCM (int16, int32), scaled to [-1, 1) as soundfile and librosa read it;
- ``signatures["serving_default"]``: input ``waveform`` ``(batch, n)`` float32, output
  ``{"features": (batch, feature_length)}`` (TF Serving, TFLite converters, ...);
- ``input_samples``: the input length ``n`` the export takes, -1 for any length (a variable);
- ``weights``: the model's variables, in the Keras model's order (``model.weights``);
- ``description``: the ``elmarc.json`` asset (``description.asset_path``).

Input length (``n``, samples at the config's ``sampling_rate``: 12 kHz for the paper's
front-ends; see :func:`input_rules`), checked in the graph by both entry points, which fail with
an ``InvalidArgumentError`` saying the rule:

- waveform front-ends take exactly ``n_samples`` (the signature's shape is ``(None, n_samples)``);
- windowed front-ends (``samplecnn``) take any length (``(None, None)``) and cut it into windows in
  the graph; with ``crop`` at least the longest window (3⁹: 59 049 samples), else 1 sample;
- the LEAF family alone (``leaf``, ``sincnet``, ...) takes any length (``(None, None)``, at
  least one sample): the representation and its statistics over the whole clip are in the graph;
- spectrogram front-ends take any length (``(None, None)``): the log-mel (or the config's
  ``input_representation``, filterbank included) of the whole clip is
  computed in the graph, then fixed to ``n_frames`` with the config's ``fix_length_by``. The STFT's
  reflect padding needs more than ``n_fft // 2 = 256`` samples, so at least 257; with ``crop`` the
  clip must also give ``n_frames`` frames (``frames = 1 + n // 256``), i.e. at least
  ``(n_frames - 1) * 256`` samples.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from ..errors import ConfigError, ElmarcError
from .extractor import build_extractor, feature_layout
from ..io.fileio import read_description_file, versions
from ..frontends import frontend_of, takes_whole_clip
from ..frontends.melspec import HOP_LENGTH, N_FFT

FORMAT = "elmarc_tf.export"  # a fixed name (not a module path): exports written by 0.1 still open
FORMAT_VERSION = 1
DESCRIPTION_FILE = "elmarc.json"
KERAS_FILE = "model.keras"
INPUT_NAME = "waveform"
OUTPUT_NAME = "features"


def input_rules(config, input_samples: int | None = None) -> dict:
    """How long the exported model's input may be, in samples at ``config.sampling_rate``.

    Returns ``{"shape": [None, n or None], "min_samples": int, "max_samples": int or None,
    "rule": str}``. ``input_samples`` fixes the signature's length of a spectrogram, windowed or
    whole-clip front-end (it must be at least ``min_samples``); for a waveform front-end it must
    equal ``n_samples``. The LEAF family alone takes any length (at least one sample).
    """
    spec = frontend_of(config)
    if spec.input == "waveform":
        n = config.n_samples
        if input_samples is not None and int(input_samples) != n:
            raise ConfigError(f"input_samples={input_samples}: waveform front-end "
                              f"'{config.architecture}' takes exactly n_samples={n} samples")
        return {"shape": [None, n], "min_samples": n, "max_samples": n,
                "rule": f"exactly n_samples={n} samples (crop or pad clips beforehand)"}
    minimum, rule = _minimum_length(config, spec)
    if input_samples is not None:
        if int(input_samples) < minimum:
            raise ConfigError(f"input_samples={input_samples} is too short for "
                              f"'{config.architecture}': {rule}")
        return {"shape": [None, int(input_samples)], "min_samples": int(input_samples),
                "max_samples": int(input_samples),
                "rule": f"exactly {int(input_samples)} samples (input_samples of the export)"}
    return {"shape": [None, None], "min_samples": minimum, "max_samples": None, "rule": rule}


def _minimum_length(config, spec) -> tuple[int, str]:
    """``(minimum samples, rule)`` of a front-end that takes clips of any length."""
    if spec.scales is not None:  # windows cut in the graph
        windows = {s.name: s.window for s in spec.scales(config)}
        models = ", ".join(f"{name}: {w}" for name, w in windows.items())
        if config.fix_length_by == "crop":
            minimum = max(windows.values())
            return minimum, (f"at least {minimum} samples (fix_length_by 'crop' needs one full "
                             f"window of every model; windows in samples: {models}); samples "
                             f"after the last full window are dropped")
        return 1, (f"any length of at least 1 sample, cut into windows ({models}); the last "
                   f"partial window is completed by '{config.fix_length_by}'")
    if takes_whole_clip(config):
        return 1, ("any length (at least 1 sample): the features summarise the whole clip; the "
                   "clips of one batch share one length")
    if config.fix_length_by == "crop":
        minimum = max(N_FFT // 2 + 1, (config.n_frames - 1) * HOP_LENGTH)
        return minimum, (f"at least {minimum} samples: fix_length_by 'crop' needs "
                         f"n_frames={config.n_frames} frames (frames = 1 + n // {HOP_LENGTH}) and "
                         f"the STFT needs more than {N_FFT // 2}; longer clips are cropped to "
                         f"their first {config.n_frames} frames")
    what = ("log-mel" if config.input_representation == "logmel"
            else f"{config.input_representation} representation")
    return N_FFT // 2 + 1, (f"at least {N_FFT // 2 + 1} samples (the STFT needs more than "
                            f"{N_FFT // 2}); the {what} of the whole clip is brought to "
                            f"n_frames={config.n_frames} frames by '{config.fix_length_by}'")


def _usage(rules: dict, sampling_rate: int = 12000) -> str:
    """A few lines of Python that use the export without elmarc_tf."""
    n = rules["shape"][1]
    prepare = (f"y = librosa.util.fix_length(y, size={n})  # exactly {n} samples\n" if n is not None
               else f"# y needs at least {rules['min_samples']} samples\n")
    return ("import librosa, tensorflow as tf  # elmarc_tf is not needed\n"
            "model = tf.saved_model.load(EXPORT_DIR)\n"
            f"y, _ = librosa.load(AUDIO_FILE, sr={sampling_rate}, mono=True)\n"
            + prepare +
            "features = model.features(y[None, :]).numpy()  # (1, feature_length)\n"
            "# Keras: import elmarc_tf; keras.models.load_model(EXPORT_DIR + '/model.keras')")


# Input dtypes ``features`` accepts: float waveforms as they are, integer PCM scaled to [-1, 1)
# as soundfile / librosa read it (int16 / 32768, int32 / 2**31).
INPUT_DTYPES = (tf.float32, tf.float64, tf.int16, tf.int32)


def _as_float_waveform(waveform):
    """``(batch, n)`` of an :data:`INPUT_DTYPES` dtype -> float32, integer PCM scaled."""
    if waveform.dtype.is_integer:
        return tf.cast(waveform, tf.float32) / float(2 ** (8 * waveform.dtype.size - 1))
    return tf.cast(waveform, tf.float32)


def _length_check(config, rules: dict):
    """A function ``waveform -> waveform`` that fails (``InvalidArgumentError`` saying ``rules``'
    rule) unless the length fits: nothing runs on a wrong input first. Its static shape is
    dropped, so that a call with a wrong length cannot fail while TensorFlow builds the graph for
    it (with a message about some reshape) before the check runs."""
    low, high = rules["min_samples"], rules["max_samples"]
    message = f"elmarc export of '{config.architecture}': input waveform too {{}}, needs {rules['rule']}"

    def check_length(waveform):
        n = tf.shape(waveform)[1]
        checks = [tf.debugging.assert_greater_equal(n, low, message=message.format("short"))]
        if high is not None:
            checks.append(tf.debugging.assert_less_equal(n, high, message=message.format("long")))
        with tf.control_dependencies(checks):
            return tf.raw_ops.PlaceholderWithDefault(input=waveform, shape=[None, None])

    return check_length


def _make_module(model, config, rules: dict, description_file: str, prepare=None):
    """A ``tf.Module`` holding ``model`` with ``features`` / ``serve`` tf.functions and the asset.

    ``prepare``: ``(batch, n) -> (batch, n')`` float32 applied to a waveform of the right length
    before the model (None: none), e.g. the fix-length rule of a whole-clip export."""
    waveform_model = frontend_of(config).input == "waveform"  # a fixed number of samples
    check_length = _length_check(config, rules)
    prepare = prepare or (lambda waveform: waveform)

    class ExportedFrontend(tf.Module):
        """``features``: ``(batch, n) -> (batch, feature_length) float32``."""

        def __init__(self):
            super().__init__(name="elmarc_frontend")
            self.model = model
            self.weights = [w.value for w in model.weights]
            self.description = tf.saved_model.Asset(description_file)
            # the input length in samples, -1 for any length allowed by `description`'s rule
            self.input_samples = tf.Variable(-1 if rules["shape"][1] is None else rules["shape"][1],
                                             trainable=False, dtype=tf.int64, name="input_samples")
            self.features = tf.function(self._features)
            for dtype in INPUT_DTYPES:  # one concrete function per accepted dtype, all saved;
                # any length: the length rule is checked in the graph, with the export's message
                self.features.get_concrete_function(tf.TensorSpec([None, None], dtype,
                                                                  name=INPUT_NAME))

        def _features(self, waveform):
            """``(batch, n)`` waveforms (config rate) -> ``(batch, feature_length)`` features."""
            waveform = prepare(check_length(_as_float_waveform(waveform)))
            return self.model(waveform[:, :, None] if waveform_model else waveform, training=False)

        @tf.function(input_signature=[tf.TensorSpec(rules["shape"], tf.float32, name=INPUT_NAME)])
        def serve(self, waveform):
            """Serving signature: ``{"features": (batch, feature_length)}``."""
            return {OUTPUT_NAME: self.features(waveform)}

    return ExportedFrontend()


def _check_target(out_dir: Path) -> None:
    """``out_dir`` may be absent, an empty folder or a previous export (which is replaced)."""
    if not out_dir.exists():
        return
    if out_dir.is_dir() and (not any(out_dir.iterdir())
                             or (out_dir / "assets" / DESCRIPTION_FILE).is_file()):
        return
    raise ElmarcError(f"{out_dir}: exists and is not an elmarc export; choose another --out folder")


def export_frontend(config, seed: int, out_dir, input_samples: int | None = None) -> Path:
    """Write the seeded front-end of ``config`` as a SavedModel + ``model.keras`` in ``out_dir``.

    The SavedModel maps raw mono waveforms at ``sampling_rate`` ``(batch, n) float32`` to features
    ``(batch, feature_length) float32`` (see the module docstring and :func:`input_rules` for
    ``n``); spectrogram front-ends compute the log-mel in the graph. ``out_dir`` is written
    beside itself first and renamed into place; an existing export there is replaced, any other
    non-empty folder is an error. Returns ``out_dir``.
    """
    spec = frontend_of(config)
    if spec.signal is None:
        raise ConfigError(f"front-end '{spec.name}' is computed outside the graph (features_type "
                          f"'{config.features_type}'): there is no model to export")
    _check_target(Path(out_dir))  # before any work
    rules = input_rules(config, input_samples)
    model = build_extractor(config, seed=int(seed), inputs="waveform")
    description = frontend_description(config, seed, model, rules)

    def make(assets: dict):
        module = _make_module(model, config, rules, assets[DESCRIPTION_FILE])
        return module, {"serving_default": module.serve.get_concrete_function()}

    return save_export(out_dir, {DESCRIPTION_FILE: description}, make, keras_model=model)


def frontend_description(config, seed: int, model, rules: dict) -> dict:
    """The ``elmarc.json`` of an export of ``model`` (``config``'s front-end, ``seed``) taking
    inputs by ``rules`` (:func:`input_rules`)."""
    feature_length = int(model.output.shape[-1])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": config.architecture,
        "signal": config.signal,
        "seed": int(seed),
        "config": config.to_dict(),
        "feature_length": feature_length,
        "layout": feature_layout(model),
        "sampling_rate": int(config.sampling_rate),
        "input": {"name": INPUT_NAME, "dtype": "float32", "channels": "mono", **rules},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, feature_length]},
        "weights": [{"path": w.path, "shape": list(w.shape)} for w in model.weights],
        "files": {"saved_model": ".", "description": f"assets/{DESCRIPTION_FILE}",
                  "keras": KERAS_FILE},
        "usage": _usage(rules, int(config.sampling_rate)),
        "versions": versions(),
    }


def save_export(out_dir, descriptions: dict, make, keras_model=None) -> Path:
    """Write a SavedModel into ``out_dir`` (absent, empty or a previous export, replaced),
    staged beside it and renamed into place.

    ``descriptions``: asset file name -> JSON dict, written and saved as ``assets/<name>``;
    ``make(paths)`` (``paths``: name -> the file to give ``tf.saved_model.Asset``) returns
    ``(module, signatures)``; ``keras_model``: also saved as ``model.keras``. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    _check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        source = staging / "source"
        source.mkdir()
        for name, data in descriptions.items():
            (source / name).write_text(json.dumps(data, indent=1) + "\n")
        target = staging / "export"
        module, signatures = make({name: str(source / name) for name in descriptions})
        tf.saved_model.save(module, str(target), signatures=signatures)
        if keras_model is not None:
            with warnings.catch_warnings():  # Keras' own NumPy 2 `__array__(copy=)` notice on save
                warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept",
                                        category=DeprecationWarning)
                keras_model.save(target / KERAS_FILE)
        for name in descriptions:  # the assets are copied on save
            if not (target / "assets" / name).is_file():
                raise ElmarcError(f"{out_dir}: SavedModel written without its {name} asset")
        if out_dir.exists():
            os.replace(out_dir, staging / "old")
        os.replace(target, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def describe_export(path) -> dict:
    """The description of an export folder (its ``assets/elmarc.json``), as a dict.

    Keys: format, format_version, architecture, signal, seed, config (``Config.to_dict()``),
    feature_length, layout (tap name, offset, width, span, padding), sampling_rate, input
    (shape, min_samples, max_samples, rule), output, weights, files, usage, versions.
    """
    path = Path(path)
    file = path / "assets" / DESCRIPTION_FILE
    if not file.is_file():
        raise ElmarcError(f"{path}: not an elmarc export (no assets/{DESCRIPTION_FILE})")
    return read_description_file(file, FORMAT, "elmarc export description")


def load_keras(path):
    """The exported Keras model: ``path`` is an export folder or its ``model.keras`` file.

    elmarc_tf's custom layers (``LogMelSpectrogram``, ``FixLength``, ``TapPooling``, ...) are
    registered by importing this module, then ``keras.models.load_model`` reads it. The model takes ``(batch, n)`` waveforms (waveform
    front-ends: ``(batch, n_samples, 1)``) and returns ``(batch, feature_length)``.
    """
    path = Path(path)
    file = path / KERAS_FILE if path.is_dir() else path
    if not file.is_file():
        raise ElmarcError(f"{path}: no {KERAS_FILE} found (not an elmarc export?)")
    return keras.models.load_model(file)
