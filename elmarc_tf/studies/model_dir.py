"""A fitted model's folder (``elmarc fit --out MODEL_DIR``): written by :func:`save_model`, read
by :func:`load_model`.

Files::

    model.json         format, the front-end's config and feature seed, the classes, what the
                       model came from (seed, best_params, cv_accuracy, protocol, data digest),
                       versions, and the SHA-256 of every other file
    arrays.npz         the scaler's mean / scale and the classifier's arrays (SVM: support vectors,
                       dual coefficients, intercepts, vectors per class, gamma; ELM: W, b, beta)
    classifier.joblib  the fitted scikit-learn objects (scaler, estimator)

The estimator is read from ``classifier.joblib`` (a pickle: read only folders you trust, and
with compatible scikit-learn versions); for an SVM or an ELM the arrays it gives must equal
``arrays.npz``, so a pickle read differently by another version is refused. A file whose
digest differs from ``model.json``'s is refused with one line naming it. Paths are relative:
a folder copied elsewhere predicts the same.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import joblib
import numpy as np

from ..config import Config
from ..errors import ElmarcError
from ..io.fileio import atomic_write_json, check_writable, read_description_file, versions
from .fit import FittedModel, classifier_arrays, scaler_arrays

FORMAT = "elmarc_tf.model"  # a fixed name (not a module path): model folders outlive moves
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
PICKLE_FILE = "classifier.joblib"


def is_model_dir(path) -> bool:
    return (Path(path) / MODEL_FILE).is_file()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _arrays(model: FittedModel) -> dict:
    """Name -> array of the scaler's and classifier's arrays (those with a TensorFlow form)."""
    out = {}
    scaler = scaler_arrays(model.scaler)
    if scaler is not None:
        out.update({f"scaler_{k}": v for k, v in asdict(scaler).items()})
    if model.config.model_type in ("SVM", "ELM"):
        arrays = classifier_arrays(model.estimator)
        out.update({f"classifier_{f.name}": np.asarray(getattr(arrays, f.name))
                    for f in fields(arrays)})
    return out


def check_model_out(folder) -> Path:
    """``folder`` can take a model: absent, empty or an earlier model folder, and writable
    (checked before any work); a one-line error naming it if not."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir())
                                                    and not is_model_dir(folder))):
        raise ElmarcError(f"{folder}: exists and is not an elmarc model folder; choose another --out")
    check_writable(folder.parent if not folder.exists() else folder)
    return folder


def save_model(model: FittedModel, folder) -> Path:
    """Write ``model`` into ``folder`` (created; an earlier model there replaced). The files are
    written into a sibling folder first and swapped in whole, so an interruption leaves the
    earlier model or the new one, never a mix whose digests disagree."""
    folder = check_model_out(folder)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    joblib.dump({"scaler": model.scaler, "estimator": model.estimator}, staging / PICKLE_FILE)
    np.savez(staging / ARRAYS_FILE, **_arrays(model))
    atomic_write_json(staging / MODEL_FILE, {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(), "feature_seed": int(model.feature_seed),
        "model_type": model.config.model_type, "standardize": model.scaler is not None,
        "classes": model.classes, **model.about, "versions": versions(),
        "files": {name: _digest(staging / name) for name in (ARRAYS_FILE, PICKLE_FILE)},
    })
    if folder.exists():  # the earlier model: set aside, then removed once the new one is in place
        earlier = folder.with_name(f".{folder.name}.earlier")
        shutil.rmtree(earlier, ignore_errors=True)
        folder.rename(earlier)
        staging.rename(folder)
        shutil.rmtree(earlier)
    else:
        staging.rename(folder)
    return folder


def read_description(folder) -> dict:
    """``model.json`` of a model folder, its files checked against their digests."""
    folder = Path(folder)
    file = folder / MODEL_FILE
    if not file.is_file():
        raise ElmarcError(f"{folder}: not an elmarc model folder (no {MODEL_FILE})")
    data = read_description_file(file, FORMAT, "elmarc model description")
    for name, digest in data["files"].items():
        path = folder / name
        if not path.is_file():
            raise ElmarcError(f"{path}: missing from the model folder; fit the model again")
        if _digest(path) != digest:
            raise ElmarcError(f"{path}: changed since the model was fitted (its SHA-256 differs "
                              f"from {MODEL_FILE}'s); fit the model again")
    return data


def load_model(folder) -> FittedModel:
    """The :class:`~.fit.FittedModel` saved in ``folder`` (see the module docstring)."""
    folder = Path(folder)
    data = read_description(folder)
    try:
        saved = joblib.load(folder / PICKLE_FILE)
    except Exception as e:  # a pickle from incompatible library versions
        raise ElmarcError(f"{folder / PICKLE_FILE}: cannot be read with these library versions "
                          f"({type(e).__name__}); fit the model again") from None
    about = {k: data[k] for k in ("seed", "best_params", "cv_accuracy", "protocol", "data_digest",
                                  "n_clips", "n_failed")}
    model = FittedModel(Config.from_dict(data["config"]), int(data["feature_seed"]),
                        saved["scaler"], saved["estimator"], about)
    with np.load(folder / ARRAYS_FILE) as stored:
        expected = dict(stored)
    actual = _arrays(model)
    if set(actual) != set(expected) or not all(np.array_equal(actual[k], expected[k])
                                               for k in actual):
        raise ElmarcError(f"{folder / PICKLE_FILE}: its classifier does not match "
                          f"{ARRAYS_FILE} (read by other library versions?); fit the model again")
    if model.classes != data["classes"]:
        raise ElmarcError(f"{folder / MODEL_FILE}: classes differ from the classifier's")
    return model


__all__ = ["save_model", "load_model", "read_description", "is_model_dir"]
