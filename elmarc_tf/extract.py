"""Extraction: file list -> tf.data pipeline -> frozen extractor -> feature store (resumable)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .batching import choose_batch_size, resolve_batch_size
from .errors import AudioError
from .extractor import compile_extractor
from .fileio import FolderLock
from .frontends import frontend_of
from .pipeline import make_dataset
from .store import StoreWriter, load_store, store_dir

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


def extract(cfg, items, seed: int = 0, out=None, batch_size: int | str | None = None,
            strict: bool = False, progress: bool = True, audio_cache=None,
            wait: bool = False, log=None) -> ExtractionResult:
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
    """
    folder = store_dir(out or cfg.save_extracted_features_folder or DEFAULT_OUT, cfg, items, seed)
    with FolderLock(folder, wait=wait):
        return _extract_locked(StoreWriter(folder, cfg, items, seed), batch_size, strict, progress,
                               audio_cache, log or _warn)


def _warn(line: str) -> None:
    print(f"elmarc: {line}", file=sys.stderr)


def _extract_locked(writer, batch_size, strict, progress, audio_cache, log) -> ExtractionResult:
    cfg, items, seed, folder = writer.cfg, writer.items, writer.seed, writer.folder
    if writer.up_to_date:
        manifest = load_store(folder).manifest
        return ExtractionResult(folder, len(items), 0, manifest["n_failed"], manifest)
    extractor = compile_extractor(cfg, seed)
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
    manifest = writer.finish(extractor.layout, extractor.feature_length, batch=batch.to_dict())
    return ExtractionResult(folder, len(items), len(todo), manifest["n_failed"], manifest,
                            timings if todo else [])


def _non_finite(row: np.ndarray, path: str) -> str:
    """The failure of a clip whose features are not all finite (``''`` when they are)."""
    bad = int(np.size(row) - np.count_nonzero(np.isfinite(row)))
    return (f"{path}: {bad} of {np.size(row)} features are not finite (NaN or infinite): the audio "
            f"is too loud for float32 arithmetic" if bad else "")
