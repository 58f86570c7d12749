"""Extraction: file list -> tf.data pipeline -> frozen extractor -> feature store (resumable)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .batching import choose_batch_size, resolve_batch_size
from .errors import AudioError, ConfigError
from .extractor import compile_extractor
from .fileio import FolderLock
from .frontends import frontend_of
from .pipeline import make_dataset
from .store import StoreWriter, load_store, store_dir
from .trained_weights import TrainedWeights, apply_trained_weights, read_trained_weights

DEFAULT_OUT = Path("elmarc_out") / "features"


@dataclass
class ExtractionResult:
    folder: Path
    n_items: int
    n_computed: int  # clips computed by this call (0 when the store was already complete)
    n_failed: int
    manifest: dict
    batch_seconds: list = field(default_factory=list)  # (clips, seconds) of each batch computed

    def steady_rate(self) -> float:
        """clips/s after the first batch (which also pays for start-up: pipeline, tracing)."""
        rest = self.batch_seconds[1:]
        return sum(n for n, _ in rest) / sum(t for _, t in rest) if rest else float("nan")


def with_weights(cfg, weights) -> tuple:
    """``(config, TrainedWeights or None)`` for extracting with ``weights`` (a trained weights
    file of :mod:`elmarc_tf.train`, or None: the seeded random weights).

    With weights, the config's ``trained_weights`` is set to their digest, which puts the
    features in a store of their own; a config that already names a digest must name theirs,
    and one that names a digest needs the file."""
    if weights is None:
        if cfg.trained_weights is not None:
            raise ConfigError(f"'trained_weights' is {cfg.trained_weights[:12]}...: give the "
                              f"trained weights file it names (--weights)")
        return cfg, None
    if not frontend_of(cfg).seeded:
        raise ConfigError(f"front-end '{frontend_of(cfg).name}' has no weights to replace")
    trained = weights if isinstance(weights, TrainedWeights) else read_trained_weights(weights)
    if cfg.trained_weights not in (None, trained.digest):
        raise ConfigError(f"'trained_weights' is {cfg.trained_weights[:12]}... but "
                          f"{trained.path} has digest {trained.digest[:12]}...")
    return cfg.replace(trained_weights=trained.digest), trained


def extract(cfg, items, seed: int = 0, out=None, batch_size: int | str | None = None,
            strict: bool = False, progress: bool = True, audio_cache=None,
            wait: bool = False, log=None, weights=None) -> ExtractionResult:
    """Extract features of ``items`` (list of :class:`~elmarc_tf.datasets.Item`) into a store.

    Resumes an interrupted store (same config, seed and file list) without recomputing finished
    clips; returns at once if it is complete and its files are unchanged (see
    :meth:`~elmarc_tf.store.StoreWriter.prepare`: changed files, damaged chunks and clips another
    store already holds). Unreadable clips, and clips whose features are not finite (e.g. audio
    too loud for float32), are recorded in the manifest and skipped; with ``strict`` the first
    one raises :class:`AudioError` (finished batches are kept). One process at a time writes a
    store: another one fails at once (:class:`~elmarc_tf.fileio.FolderBusy`) or, with ``wait``,
    waits. ``log``: called with one line per damaged file set aside (default: stderr).
    ``batch_size``: clips per forward pass (default: ``cfg.batch_size``; ``'auto'``: see
    :mod:`elmarc_tf.batching`). ``audio_cache`` (an :class:`~elmarc_tf.audio_cache.AudioCache` or
    a folder; ``None``: none)
    serves clips already decoded by another config or seed; it saves work only and does not
    change the features or the store's folder.
    ``weights``: a trained weights file (or a read :class:`~elmarc_tf.trained_weights.TrainedWeights`)
    to extract with instead of the seeded random weights; the store's key then includes their
    digest (see :func:`with_weights`) and its manifest says where they came from.
    """
    cfg, trained = with_weights(cfg, weights)
    folder = store_dir(out or cfg.save_extracted_features_folder or DEFAULT_OUT, cfg, items, seed)
    with FolderLock(folder, wait=wait):
        return _extract_locked(StoreWriter(folder, cfg, items, seed), batch_size, strict, progress,
                               audio_cache, log or _warn, trained)


def _warn(line: str) -> None:
    print(f"elmarc: {line}", file=sys.stderr)


def _extract_locked(writer, batch_size, strict, progress, audio_cache, log,
                    trained=None) -> ExtractionResult:
    cfg, items, seed, folder = writer.cfg, writer.items, writer.seed, writer.folder
    if writer.up_to_date:
        manifest = load_store(folder).manifest
        return ExtractionResult(folder, len(items), 0, manifest["n_failed"], manifest)
    extractor = compile_extractor(cfg, seed)
    if trained is not None:
        apply_trained_weights(extractor.model, trained)
    resolve_batch_size(cfg, extractor.model, batch_size)  # config errors: before any work
    todo = writer.prepare()
    for line in writer.damaged:
        log(line)
    batch = choose_batch_size(cfg, extractor, len(todo), batch_size)
    done = len(items) - len(todo)

    bar = None
    if progress:
        bar = tqdm(total=len(items), initial=done, unit="clip", file=sys.stderr,
                   desc=f"{frontend_of(cfg).name} seed {seed}", dynamic_ncols=True)
    if todo:
        dataset = make_dataset([it.path for it in items], todo, cfg, batch.size,
                               audio_cache=audio_cache, seed=seed)
        start, timings = time.perf_counter(), []
        for inputs, indices, errors in dataset:
            features = np.asarray(extractor(inputs))
            errors = [e.decode() or _non_finite(row, items[i].path)
                      for e, row, i in zip(errors.numpy(), features, indices.numpy())]
            now = time.perf_counter()
            writer.write_chunk(indices.numpy(), features, errors, now - start)
            timings.append((len(errors), now - start))
            start = now
            if bar is not None:
                bar.update(len(errors))
            if strict and any(errors):
                if bar is not None:
                    bar.close()
                raise AudioError(next(e for e in errors if e))
    if bar is not None:
        bar.close()
    weights = ({"weights": {"digest": trained.digest, "file": str(trained.path),
                            "trained": trained.meta}} if trained is not None else {})
    manifest = writer.finish(extractor.layout, extractor.feature_length, batch=batch.to_dict(),
                             **weights)
    return ExtractionResult(folder, len(items), len(todo), manifest["n_failed"], manifest,
                            timings if todo else [])


def _non_finite(row: np.ndarray, path: str) -> str:
    """The failure of a clip whose features are not all finite (``''`` when they are)."""
    bad = int(np.size(row) - np.count_nonzero(np.isfinite(row)))
    return (f"{path}: {bad} of {np.size(row)} features are not finite (NaN or infinite): the audio "
            f"is too loud for float32 arithmetic" if bad else "")
