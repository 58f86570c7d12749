"""The feature store: one folder per (dataset, config, seed), written atomically and resumable.

Layout of a finished store::

    manifest.json   config, seed, feature layout, versions, time taken, failures (written last)
    features.npy    (n_ok, feature_len) float32, rows in the order of items.json
    items.json      one entry per row: id, path, label (+ split / fold)
    all_items.json  the full file list the store was started with (checked on resume)

While extraction runs, each finished batch is a file ``chunks/<first index>.npz`` (features,
indices, errors) written to a temporary name and renamed, so a killed process (even ``kill -9``)
loses at most the batch in flight; rerunning continues with the clips not in any chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import ElmarcError

FORMAT_VERSION = 1
# Config fields that do not change the features: left out of the store's identity.
_NOT_FEATURE_FIELDS = {"experiment_name", "model_type", "SVM_verbose", "load_extracted_features",
                       "save_extracted_features_folder", "results_folder", "batch_size",
                       "protocol", "n_folds", "standardize", "nested_cv",
                       "svm_max_iter", "svm_precompute_max_n"}


class StoredFeatures(NamedTuple):
    """What :func:`load_store` returns: ``X, y, ids, manifest = load_store(path)``."""

    X: np.ndarray  # (n_ok, feature_len) float32
    y: np.ndarray  # (n_ok,) labels (str)
    ids: np.ndarray  # (n_ok,) clip ids (str)
    manifest: dict


def atomic_save(path, save, *args, **kwargs) -> None:
    """``save(file, *args)`` into a unique temporary file beside ``path``, synced, then renamed
    over it: readers see the old file or the new one, never a partial one, and concurrent writers
    (threads or processes) never share a temporary file. The temporary file is removed on error."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            save(f, *args, **kwargs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path, obj) -> None:
    atomic_save(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def store_key(cfg, items) -> str:
    """8 hex digits identifying the features: the feature-relevant config and the file list."""
    fields = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_FEATURE_FIELDS}
    if cfg.batch_norm:  # batch statistics: the features depend on the batch size
        fields["batch_size"] = cfg.batch_size
    blob = json.dumps([fields, [it.to_dict() for it in items]], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def store_dir(out_root, cfg, items, seed: int) -> Path:
    """``<out_root>/<dataset>/<architecture>-<nf>-<key>/seed<seed>`` (MFCC: ``mfcc<n>-<key>``)."""
    dataset = cfg.dataset or (Path(cfg.audio_path).name if cfg.audio_path else "audio")
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset) or "audio"
    if cfg.features_type == "MFCC":
        name = f"mfcc{cfg.mfcc_number}-{store_key(cfg, items)}"
    else:
        name = f"{cfg.architecture}-{cfg.num_filters}-{store_key(cfg, items)}"
    return Path(out_root) / dataset / name / f"seed{seed}"


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("elmarc_tf", "tensorflow", "keras", "librosa", "numpy", "soundfile", "soxr"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


class StoreWriter:
    """Writes one store; resumes one that was interrupted."""

    def __init__(self, folder, cfg, items, seed: int) -> None:
        self.folder = Path(folder)
        self.cfg, self.items, self.seed = cfg, list(items), int(seed)
        self.chunks = self.folder / "chunks"
        self._listing = [it.to_dict() for it in self.items]

    @property
    def complete(self) -> bool:
        return (self.folder / "manifest.json").is_file()

    def begin(self) -> None:
        """Create the folder, or check that an existing one was started for the same clips."""
        self.chunks.mkdir(parents=True, exist_ok=True)
        listing = self.folder / "all_items.json"
        if listing.is_file():
            if json.loads(listing.read_text()) != self._listing:
                raise ElmarcError(f"{self.folder}: store was started with a different file list; "
                                  f"use another output folder or delete this one")
        else:
            atomic_write_json(listing, self._listing)

    def done(self) -> dict[int, tuple[np.ndarray, str]]:
        """Clips already in chunks: index -> (features, error)."""
        out = {}
        for path in sorted(self.chunks.glob("*.npz")) if self.chunks.is_dir() else []:
            with np.load(path) as z:
                for i, row, err in zip(z["indices"], z["features"], z["errors"]):
                    out[int(i)] = (row, str(err))
        return out

    def write_chunk(self, indices, features, errors, seconds: float) -> None:
        path = self.chunks / f"{int(indices[0]):08d}.npz"
        atomic_save(path, np.savez, indices=np.asarray(indices, np.int64),
                     features=np.asarray(features, np.float32),
                     errors=np.asarray([str(e) for e in errors], dtype=str),
                     seconds=np.float64(seconds))

    def seconds(self) -> float:
        total = 0.0
        for path in self.chunks.glob("*.npz"):
            with np.load(path) as z:
                total += float(z["seconds"])
        return total

    def finish(self, layout: list, feature_length: int) -> dict:
        """Consolidate the chunks into the final files; the manifest is written last."""
        done = self.done()
        missing = [i for i in range(len(self.items)) if i not in done]
        if missing:
            raise ElmarcError(f"{self.folder}: {len(missing)} clips not extracted yet")
        ok = [i for i in range(len(self.items)) if not done[i][1]]
        X = (np.stack([done[i][0] for i in ok]).astype(np.float32) if ok
             else np.zeros((0, feature_length), np.float32))
        atomic_save(self.folder / "features.npy", np.save, X)
        atomic_write_json(self.folder / "items.json", [self._listing[i] for i in ok])
        failures = [{"id": self.items[i].id, "path": self.items[i].path, "error": done[i][1]}
                    for i in range(len(self.items)) if done[i][1]]
        manifest = {
            "format": FORMAT_VERSION,
            "config": self.cfg.to_dict(),
            "seed": self.seed,
            "feature_length": int(feature_length),
            "layout": layout,
            "n_items": len(self.items),
            "n_ok": len(ok),
            "n_failed": len(failures),
            "failures": failures,
            "labels": sorted({self.items[i].label for i in ok}),
            "seconds": round(self.seconds(), 3),
            "versions": versions(),
        }
        atomic_write_json(self.folder / "manifest.json", manifest)
        for path in self.chunks.glob("*"):
            path.unlink()
        self.chunks.rmdir()
        return manifest


def load_store(folder) -> StoredFeatures:
    """Read a finished store: ``X (n, d) float32, y (n,) labels, ids (n,), manifest``."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        hint = " (extraction not finished: rerun it to resume)" if (folder / "chunks").is_dir() else ""
        raise ElmarcError(f"{folder}: not a finished feature store, no manifest.json{hint}")
    manifest = json.loads(manifest_path.read_text())
    items = json.loads((folder / "items.json").read_text())
    X = np.load(folder / "features.npy")
    y = np.array([it["label"] for it in items], dtype=str)
    ids = np.array([it["id"] for it in items], dtype=str)
    return StoredFeatures(X, y, ids, manifest)
