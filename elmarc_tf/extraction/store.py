"""The feature store: one folder per (dataset, config, seed), written atomically and resumable.

Layout of a finished store::

    manifest.json   config, seed, feature layout, versions, time taken, failures (written last)
    features.npy    (n_ok, feature_len) float32, rows in the order of items.json
    items.json      one entry per row: id, path, label (+ split / fold)
    all_items.json  the full file list the store was started with (checked on resume)
    sources.json    each listed file's size and modification time when it was read

While extraction runs, each finished batch is a file ``chunks/<first index>.npz`` (features,
indices, errors) written to a temporary name and renamed, so a killed process (even ``kill -9``)
loses at most the batch in flight; rerunning continues with the clips not in any chunk. One
process at a time writes a store (:class:`~elmarc_tf.io.fileio.FolderLock`). Rerunning also keeps a
store true to its files: clips whose file changed are recomputed (whether their rows are in the
finished files or in chunks), damaged files are recomputed, and a store for a grown dataset takes
the rows it can from the store of the smaller one (:meth:`StoreWriter.prepare`).

The manifest is the commit point: ``features.npy`` and ``items.json`` are written (each renamed
into place) before it, and a manifest makes the chunks obsolete. So an interruption at any step of
:meth:`StoreWriter.finish` leaves either the finished store (chunks left beside it are removed the
next time the store is opened, :meth:`StoreWriter.tidy`) or an unfinished one that resumes from
its chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..config import Config, feature_fields
from ..errors import ElmarcError
from ..io.fileio import atomic_save, atomic_write_json, versions
from ..frontends import frontend_of

class StoredFeatures(NamedTuple):
    """What :func:`load_store` returns: ``X, y, ids, manifest = load_store(path)``."""

    X: np.ndarray  # (n_ok, feature_len) float32
    y: np.ndarray  # (n_ok,) labels (str)
    ids: np.ndarray  # (n_ok,) clip ids (str)
    manifest: dict


def store_key(cfg, items) -> str:
    """8 hex digits identifying the features: the feature-relevant config and the file list."""
    fields = {**feature_fields(cfg), **frontend_of(cfg).revisions(cfg)}
    if cfg.batch_norm:  # batch statistics: the features depend on the batch size
        fields["batch_size"] = cfg.batch_size
    blob = json.dumps([fields, [it.to_dict() for it in items]], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def store_dir(out_root, cfg, items, seed: int) -> Path:
    """``<out_root>/<dataset>/<architecture>-<nf>-<key>/seed<seed>`` (the front-end's
    ``store_name``: MFCC ``mfcc<n>-<key>``)."""
    dataset = cfg.dataset or (Path(cfg.audio_path).name if cfg.audio_path else "audio")
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset) or "audio"
    name = f"{frontend_of(cfg).store_name(cfg)}-{store_key(cfg, items)}"
    return Path(out_root) / dataset / name / f"seed{seed}"


class StoreWriter:
    """Writes one store; resumes one that was interrupted; brings a finished one up to date.

    Use :meth:`prepare` (under a :class:`~elmarc_tf.io.fileio.FolderLock` of the folder) to learn
    which clips still need computing, :meth:`write_chunk` for each batch, :meth:`finish` at the
    end.
    """

    def __init__(self, folder, cfg, items, seed: int) -> None:
        self.folder = Path(folder)
        self.cfg, self.items, self.seed = cfg, list(items), int(seed)
        self.chunks = self.folder / "chunks"
        self._listing = [it.to_dict() for it in self.items]
        self.damaged: list[str] = []  # what prepare() found damaged and set aside (one line each)
        self.adopted = 0  # clips whose rows prepare() took from another store of the same features

    # ------------------------------------------------------------------ state on disk
    @property
    def complete(self) -> bool:
        """A finished store: its manifest and data files are readable and agree."""
        return store_damage(self.folder) is None and (self.folder / MANIFEST).is_file()

    @property
    def up_to_date(self) -> bool:
        """Finished, undamaged, and no source file changed since: nothing to compute."""
        return self.complete and not self._stale()

    def prepare(self) -> list[int]:
        """Make the folder ready and return the indices of the clips still to compute (none when
        the store is finished and :attr:`up_to_date`).

        - a finished store whose recorded source files changed since (size or modification
          time) is reopened: the unchanged clips' rows are kept, the changed ones recomputed;
        - a finished store whose files are damaged (truncated manifest, missing data) is set
          aside (its files removed) and recomputed;
        - chunks that cannot be read, or disagree with the file list, are removed and their
          clips recomputed;
        - a new store first takes the rows of clips another finished store of the same features
          and seed already holds for the same, unchanged files (a dataset that grew: only the new
          clips are computed).
        """
        self.tidy()
        damage = store_damage(self.folder)
        if damage is not None:
            self.damaged.append(f"{self.folder}: {damage}; recomputing it")
            for name in (MANIFEST, FEATURES, ITEMS):
                (self.folder / name).unlink(missing_ok=True)
        elif (self.folder / MANIFEST).is_file():
            stale = self._stale()
            if not stale:
                return []
            self._reopen(stale)
        fresh = not self.chunks.is_dir() or not any(self.chunks.glob("*.npz"))
        self.begin()
        self._forget_changed()
        if fresh:
            self._adopt()
        done = self.done()
        return [i for i in range(len(self.items)) if i not in done]

    def begin(self) -> None:
        """Create the folder, or check that an existing one was started for the same clips;
        record the source files' signatures (size, modification time) the first time."""
        self.chunks.mkdir(parents=True, exist_ok=True)
        listing = self.folder / ALL_ITEMS
        if listing.is_file():
            if _read_json(listing) != self._listing:
                raise ElmarcError(f"{self.folder}: store was started with a different file list; "
                                  f"use another output folder or delete this one")
        else:
            atomic_write_json(listing, self._listing)
        if not (self.folder / SOURCES).is_file():
            atomic_write_json(self.folder / SOURCES, {"signatures": file_signatures(self.items)})

    def done(self) -> dict[int, tuple[np.ndarray, str]]:
        """Clips already in valid chunks: index -> (features, error). A chunk that cannot be read
        or does not fit this store (indices out of range, rows of another width) is removed and
        noted in :attr:`damaged`, so its clips are computed again."""
        out, width = {}, None
        for path in sorted(self.chunks.glob("*.npz")) if self.chunks.is_dir() else []:
            try:
                indices, features, errors = _read_chunk(path, len(self.items), width)
            except ValueError as e:
                self.damaged.append(f"{path}: {e}; its clips are computed again")
                path.unlink(missing_ok=True)
                continue
            width = features.shape[1]
            out.update((int(i), (row, str(err))) for i, row, err in zip(indices, features, errors))
        return out

    def write_chunk(self, indices, features, errors, seconds: float) -> None:
        """One batch: ``indices (b,)``, ``features (b, feature_length)``, ``errors`` (b strings,
        ``''`` for a clip that worked) and the ``seconds`` it took."""
        _save_chunk(self.chunks / f"{int(indices[0]):08d}.npz", indices, features, errors, seconds)

    def seconds(self) -> float:
        total = 0.0
        for path in self.chunks.glob("*.npz"):
            with np.load(path) as z:
                total += float(z["seconds"])
        return total

    def finish(self, layout: list, feature_length: int, **record) -> dict:
        """Consolidate the chunks into the final files; the manifest is written last, with
        ``record`` added to it (e.g. ``batch``: the batch size and how it was chosen;
        ``weights``: where trained weights came from), then the chunks are removed.

        The manifest's rename is the commit point. Interrupted (``KeyboardInterrupt``) before it,
        the store is unfinished and resumes from its chunks: the interruption is raised. After it,
        the store is finished and its manifest returned; the chunks that were not removed yet are
        removed the next time the store is opened (:meth:`tidy`)."""
        done = self.done()
        missing = [i for i in range(len(self.items)) if i not in done]
        if missing:
            raise ElmarcError(f"{self.folder}: {len(missing)} clips not extracted yet")
        ok = [i for i in range(len(self.items)) if not done[i][1]]
        X = (np.stack([done[i][0] for i in ok]).astype(np.float32) if ok
             else np.zeros((0, feature_length), np.float32))
        atomic_save(self.folder / FEATURES, np.save, X)
        atomic_write_json(self.folder / ITEMS, [self._listing[i] for i in ok])
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
            **record,
        }
        try:
            atomic_write_json(self.folder / MANIFEST, manifest)
            self.tidy()
        except KeyboardInterrupt:
            if not self._finished_with(manifest):
                raise
        return manifest

    def tidy(self) -> None:
        """Remove what an interrupted write left in the folder: temporary files (a killed
        process), and all chunks when a manifest is in place (a finish interrupted after its
        commit, or a reopen before it removed the manifest): a manifest makes them obsolete.
        Call it holding the folder's lock."""
        for tmp in [*self.folder.glob(".*.tmp"), *self.chunks.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
        if (self.folder / MANIFEST).is_file() and self.chunks.is_dir():
            shutil.rmtree(self.chunks)

    def _finished_with(self, manifest: dict) -> bool:
        """Whether ``manifest`` is the one in place (its rename, the commit point, happened)."""
        try:
            return _read_json(self.folder / MANIFEST) == json.loads(json.dumps(manifest))
        except (OSError, ElmarcError):
            return False

    # ------------------------------------------------------------------ keeping up to date
    def _stale(self, signatures=None) -> list[int]:
        """Clips whose source file changed since the store recorded it (none recorded: a store
        written before signatures were kept is taken as it is); ``signatures``: the files' now
        (default: read them)."""
        sources = self.folder / SOURCES
        if not sources.is_file():
            return []
        recorded = _read_json(sources)["signatures"]
        now = file_signatures(self.items) if signatures is None else signatures
        return [i for i, (old, new) in enumerate(zip(recorded, now)) if old != new]

    def _forget_changed(self) -> None:
        """Rows in chunks of clips whose file changed since ``sources.json`` recorded it are
        removed (the clips are computed again); then the files' signatures now are recorded.
        Interrupted in between, the next run finds the same clips changed."""
        now = file_signatures(self.items)
        stale = set(self._stale(now))
        if not stale:
            return
        for path in sorted(self.chunks.glob("*.npz")):
            try:
                indices, features, errors = _read_chunk(path, len(self.items), None)
                with np.load(path) as z:
                    seconds = float(z["seconds"])
            except (ValueError, KeyError):
                continue  # done() sets it aside
            keep = [k for k, i in enumerate(indices) if int(i) not in stale]
            if not keep:
                path.unlink()
            elif len(keep) < len(indices):
                _save_chunk(path, indices[keep], features[keep], errors[keep], seconds)
        atomic_write_json(self.folder / SOURCES, {"signatures": now})

    def _reopen(self, stale: list[int]) -> None:
        """A finished store back to chunks: every row but the ``stale`` clips' goes into one
        chunk, then the manifest is removed (killed in between, the next run starts over). The
        new signatures are recorded afterwards (:meth:`_forget_changed`), so that a manifest is
        never beside signatures newer than its rows."""
        X, _, _, manifest = load_store(self.folder)
        rows = _rows_by_index(self._listing, _read_json(self.folder / ITEMS), X, manifest)
        self.chunks.mkdir(exist_ok=True)
        keep = sorted(set(rows) - set(stale))
        if keep:
            self.write_chunk(keep, np.stack([rows[i][0] for i in keep]), [rows[i][1] for i in keep],
                             0.0)
        (self.folder / MANIFEST).unlink()

    def _adopt(self) -> None:
        """Rows of this store's clips held, for the same file in the same state, by another
        finished store of the same features and seed (found beside this one), as one chunk."""
        signatures = file_signatures(self.items)
        wanted = {json.dumps([d, sig], sort_keys=True): i
                  for i, (d, sig) in enumerate(zip(self._listing, signatures))}
        found: dict[int, tuple] = {}
        for other in sorted(self.folder.parent.parent.glob(f"*/{self.folder.name}")):
            if other == self.folder or not _same_features(other, self.cfg):
                continue
            listing, recorded = _read_json(other / ALL_ITEMS), _read_json(other / SOURCES)
            X, _, _, manifest = load_store(other)
            rows = _rows_by_index(listing, _read_json(other / ITEMS), X, manifest)
            for j, (d, sig) in enumerate(zip(listing, recorded["signatures"])):
                i = wanted.get(json.dumps([d, sig], sort_keys=True))
                if i is not None and i not in found and j in rows:
                    found[i] = rows[j]
        if found:
            indices = sorted(found)
            self.write_chunk(indices, np.stack([found[i][0] for i in indices]),
                             [found[i][1] for i in indices], 0.0)
            self.adopted = len(indices)


FORMAT_VERSION = 1
MANIFEST, FEATURES, ITEMS, ALL_ITEMS, SOURCES = ("manifest.json", "features.npy", "items.json",
                                                  "all_items.json", "sources.json")


def file_signatures(items) -> list:
    """``[size, modification time in ns]`` of each item's file (``None`` for a missing file)."""
    out = []
    for item in items:
        try:
            st = os.stat(item.path)
            out.append([st.st_size, st.st_mtime_ns])
        except OSError:
            out.append(None)
    return out


def data_digest(items) -> str:
    """A hash of the clips (ids, labels, splits, folds, paths) and their files' signatures: what
    an evaluation was computed from, besides the config."""
    blob = json.dumps([[it.to_dict() for it in items], file_signatures(items)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except ValueError as e:
        raise ElmarcError(f"{path}: damaged ({e})") from None


def _save_chunk(path, indices, features, errors, seconds: float) -> None:
    """A chunk file, written by :func:`~elmarc_tf.io.fileio.atomic_save`."""
    atomic_save(path, np.savez, indices=np.asarray(indices, np.int64),
                features=np.asarray(features, np.float32),
                errors=np.asarray([str(e) for e in errors], dtype=str),
                seconds=np.float64(seconds))


def _read_chunk(path, n_items: int, width: int | None):
    """``(indices, features, errors)`` of a chunk file; ValueError saying what is wrong."""
    try:
        with np.load(path) as z:
            indices, features, errors = z["indices"], z["features"], z["errors"]
    except Exception as e:  # EOFError, BadZipFile, KeyError, OSError, pickle errors...
        raise ValueError(f"unreadable chunk ({type(e).__name__})") from None
    if features.ndim != 2 or not len(indices) == len(features) == len(errors) or not len(indices):
        raise ValueError(f"inconsistent chunk ({len(indices)} indices, features {features.shape}, "
                         f"{len(errors)} errors)")
    if indices.min() < 0 or indices.max() >= n_items:
        raise ValueError(f"chunk indices outside 0..{n_items - 1}")
    if width is not None and features.shape[1] != width:
        raise ValueError(f"chunk rows have {features.shape[1]} features, others {width}")
    return indices, features, errors


def _rows_by_index(listing, kept, X, manifest) -> dict[int, tuple[np.ndarray, str]]:
    """A finished store's rows by index in its file list: features (or an empty row and the
    error, for failed clips)."""
    row_of = {json.dumps(d, sort_keys=True): k for k, d in enumerate(kept)}
    errors = {f["id"]: f["error"] for f in manifest["failures"]}
    out = {}
    for i, d in enumerate(listing):
        k = row_of.get(json.dumps(d, sort_keys=True))
        if k is not None:
            out[i] = (X[k], "")
        elif d["id"] in errors:
            out[i] = (np.zeros(X.shape[1], np.float32), errors[d["id"]])
    return out


def _same_features(folder: Path, cfg) -> bool:
    """Whether the finished store in ``folder`` holds the features of ``cfg`` (same feature
    fields and seed layout), with the files it needs to share rows."""
    if store_damage(folder) is not None or not all((folder / n).is_file()
                                                   for n in (MANIFEST, SOURCES, ALL_ITEMS)):
        return False
    try:
        other = Config.from_dict(_read_json(folder / MANIFEST)["config"])
    except ElmarcError:  # a config of another version of the package
        return False
    # with batch statistics (the BN ablation) a row depends on its batch companions: never shared
    return not cfg.batch_norm and feature_fields(cfg) == feature_fields(other)


def store_damage(folder) -> str | None:
    """What is wrong with a finished store's files (None: nothing, or not finished)."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        items = json.loads((folder / ITEMS).read_text())
        X = np.load(folder / FEATURES, mmap_mode="r")
    except (OSError, ValueError) as e:
        return f"damaged store ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    if not isinstance(manifest, dict) or "n_ok" not in manifest:
        return "damaged store (manifest.json is not a store manifest)"
    if X.ndim != 2 or X.shape[0] != len(items) or X.shape[0] != manifest["n_ok"]:
        return (f"damaged store ({FEATURES} has shape {tuple(X.shape)}, "
                f"{len(items)} items, manifest says {manifest['n_ok']})")
    return None


def store_progress(folder) -> dict:
    """An unfinished store's state, read without changing anything: ``n_items``, ``n_done``
    (clips in readable chunks), ``batches`` and ``damaged`` (one line per unreadable chunk)."""
    folder = Path(folder)
    listing = folder / ALL_ITEMS
    n_items = len(_read_json(listing)) if listing.is_file() else 0
    done, batches, damaged, width = set(), 0, [], None
    for path in sorted((folder / "chunks").glob("*.npz")):
        try:
            indices, features, _ = _read_chunk(path, n_items, width)
        except ValueError as e:
            damaged.append(f"{path.name}: {e}")
            continue
        width, batches = features.shape[1], batches + 1
        done.update(int(i) for i in indices)
    return {"n_items": n_items, "n_done": len(done), "batches": batches, "damaged": damaged}


def load_store(folder) -> StoredFeatures:
    """Read a finished store: ``X (n, d) float32, y (n,) labels, ids (n,), manifest``."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        hint = " (extraction not finished: rerun it to resume)" if (folder / "chunks").is_dir() else ""
        raise ElmarcError(f"{folder}: not a finished feature store, no {MANIFEST}{hint}")
    damage = store_damage(folder)
    if damage is not None:
        raise ElmarcError(f"{folder}: {damage}; rerun the extraction to recompute it")
    manifest = json.loads(manifest_path.read_text())
    items = json.loads((folder / ITEMS).read_text())
    X = np.load(folder / FEATURES)
    y = np.array([it["label"] for it in items], dtype=str)
    ids = np.array([it["id"] for it in items], dtype=str)
    return StoredFeatures(X, y, ids, manifest)


def describe_store(folder) -> dict:
    """What a store folder holds, read without changing anything (what ``elmarc info`` shows).

    ``state`` says which other keys there are:

    - ``"damaged"``: a finished store whose files do not agree; ``damage`` (one line,
      :func:`store_damage`);
    - ``"unfinished"``: an extraction in progress or interrupted (batches written, no
      manifest); ``n_items``, ``n_done``, ``batches``, ``damaged`` (:func:`store_progress`);
    - ``"finished"``: ``n_clips`` and ``feature_length`` (the shape of the features) and
      ``manifest``.

    Any other folder is an :class:`ElmarcError` naming it (as :func:`load_store`).
    """
    folder = Path(folder)
    damage = store_damage(folder)
    if damage is not None:
        return {"state": "damaged", "damage": damage}
    if (folder / "chunks").is_dir() and not (folder / MANIFEST).is_file():
        return {"state": "unfinished", **store_progress(folder)}
    X, _, _, manifest = load_store(folder)
    return {"state": "finished", "n_clips": int(X.shape[0]), "feature_length": int(X.shape[1]),
            "manifest": manifest}
