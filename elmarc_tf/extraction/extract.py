"""Extraction: file list -> engine (tf.data here, or a Ray cluster) -> feature store (resumable).

Both engines share everything but the computing: :func:`extract` locks the store, works out which
clips it still lacks (:meth:`~elmarc_tf.extraction.store.StoreWriter.prepare`), hands them to the engine as
an :class:`ExtractionJob`, and writes what comes back into the store (keyed by clip index, so the
order of results does not matter). Engines (:data:`ENGINES`): ``local`` runs the tf.data pipeline
and the extractor in this process; ``ray`` runs them on a Ray cluster
(:mod:`elmarc_tf.extraction.ray`, ``pip install elmarc_tf[ray]``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from ..io.audio_cache import AudioCache, as_audio_cache
from .batching import choose_batch_size, resolve_batch_size
from ..errors import AudioError, ConfigError
from ..models.extractor import CompiledExtractor, compile_extractor
from ..io.fileio import FolderLock
from ..frontends import frontend_of
from .options import RunOptions
from .pipeline import make_dataset
from .ray import RayEngine
from .store import StoreWriter, load_store, store_dir
from ..models.trained_weights import TrainedWeights, apply_trained_weights, read_trained_weights

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


@dataclass(frozen=True)
class ExtractionJob:
    """What an engine computes: the features of ``paths[i]`` for ``i`` in ``todo`` (the clips the
    store lacks, in order), ``batch_size`` clips per forward pass, with the seeded random weights
    or ``trained`` ones."""

    cfg: object  # Config
    seed: int
    extractor: CompiledExtractor  # built by the driver (layout, feature length, batch size)
    paths: list
    todo: list
    batch_size: int
    audio_cache: Optional[AudioCache] = None
    trained: Optional[TrainedWeights] = None


class LocalEngine:
    """The ``local`` engine: the tf.data pipeline and the extractor in this process (no options)."""

    def __init__(self, options=None) -> None:
        pass

    def chunks(self, job: ExtractionJob):
        """``(indices (b,), features (b, feature_length) float32, errors [b str])`` per batch, in
        order."""
        dataset = make_dataset(job.paths, job.todo, job.cfg, job.batch_size,
                               audio_cache=job.audio_cache, seed=job.seed, trained=job.trained)
        for inputs, indices, errors in dataset:
            yield (indices.numpy(), np.asarray(job.extractor(inputs)),
                   [e.decode() for e in errors.numpy()])


# name -> class(options) with .chunks(job) -> (indices, features, errors) chunks, in any order
ENGINES = {"local": LocalEngine, "ray": RayEngine}


def with_weights(cfg, weights) -> tuple:
    """``(config, TrainedWeights or None)`` for extracting with ``weights`` (a trained weights
    file of :mod:`elmarc_tf.studies.train`, or None: the seeded random weights).

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
            strict: bool = False, weights=None, run: RunOptions = RunOptions()) -> ExtractionResult:
    """Extract features of ``items`` (list of :class:`~elmarc_tf.datasets.Item`) into a store.

    Resumes an interrupted store (same config, seed and file list) without recomputing finished
    clips; returns at once if it is complete and its files are unchanged (see
    :meth:`~elmarc_tf.extraction.store.StoreWriter.prepare`: changed files, damaged chunks and clips another
    store already holds). Unreadable clips, and clips whose input or features are not finite
    (e.g. audio too loud for float32), are recorded in the manifest and skipped; with ``strict``
    the first one raises :class:`AudioError` (finished batches are kept). One process at a time
    writes a store: another one fails at once (:class:`~elmarc_tf.io.fileio.FolderBusy`) or, with
    ``run.wait``, waits. ``run.log``: called with one line per damaged file set aside (default:
    stderr); ``run.progress``: a progress bar.

    ``batch_size``: clips per forward pass (default: ``cfg.batch_size``; ``'auto'``: see
    :mod:`elmarc_tf.extraction.batching`). ``run.audio_cache`` (an
    :class:`~elmarc_tf.io.audio_cache.AudioCache` or a folder; ``None``: none) serves clips
    already decoded by another config or seed; it saves work only and does not change the
    features or the store's folder. ``weights``: a trained
    weights file (or a read :class:`~elmarc_tf.models.trained_weights.TrainedWeights`) to extract with
    instead of the seeded random weights; the store's key then includes their digest (see
    :func:`with_weights`) and its manifest says where they came from. ``run.engine``: ``"local"``
    or ``"ray"`` (with ``run.ray``, a :class:`~elmarc_tf.extraction.ray_cluster.RayOptions`;
    ``None``: Ray started on this machine, one actor per CPU); both write the same store with
    the same features.
    """
    if run.engine not in ENGINES:
        raise ConfigError(f"unknown engine {run.engine!r}; valid: {', '.join(ENGINES)}")
    runner = ENGINES[run.engine](run.ray)
    cfg, trained = with_weights(cfg, weights)
    folder = store_dir(out or cfg.save_extracted_features_folder or DEFAULT_OUT, cfg, items, seed)
    with FolderLock(folder, wait=run.wait):
        return _extract_locked(StoreWriter(folder, cfg, items, seed), runner, batch_size, strict,
                               run.progress, as_audio_cache(run.audio_cache), run.logger(_warn),
                               trained)


def _warn(line: str) -> None:
    print(f"elmarc: {line}", file=sys.stderr)


def _extract_locked(writer, runner, batch_size, strict, progress, audio_cache, log,
                    trained=None) -> ExtractionResult:
    cfg, items, seed, folder = writer.cfg, writer.items, writer.seed, writer.folder
    if writer.up_to_date:
        writer.tidy()  # chunks an interrupted finish left beside the manifest
        manifest = load_store(folder).manifest
        return ExtractionResult(folder, len(items), 0, manifest["n_failed"], manifest)
    extractor = compile_extractor(cfg, seed)
    if trained is not None:
        apply_trained_weights(extractor.model, trained)
    resolve_batch_size(cfg, extractor.model, batch_size)  # config errors: before any work
    todo = writer.prepare()
    for line in writer.damaged:
        log(line)
    batch = choose_batch_size(cfg, extractor, len(todo), batch_size, store_clips=len(items))

    bar = None
    if progress:
        bar = tqdm(total=len(items), initial=len(items) - len(todo), unit="clip", file=sys.stderr,
                   desc=f"{frontend_of(cfg).name} seed {seed}", dynamic_ncols=True)
    timings = []
    if todo:
        paths = [it.path for it in items]
        job = ExtractionJob(cfg, seed, extractor, paths, todo, batch.size, audio_cache, trained)
        written = set(range(len(items))) - set(todo)
        start = time.perf_counter()
        for indices, features, errors in runner.chunks(job):
            new = [k for k, i in enumerate(indices) if int(i) not in written]  # each clip once
            if not new:
                continue
            indices, features = np.asarray(indices)[new], np.asarray(features)[new]
            errors = [errors[k] or _non_finite(features[j], paths[int(indices[j])])
                      for j, k in enumerate(new)]
            now = time.perf_counter()
            writer.write_chunk(indices, features, errors, now - start)
            written.update(int(i) for i in indices)
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
    return ExtractionResult(folder, len(items), len(todo), manifest["n_failed"], manifest, timings)


def _non_finite(row: np.ndarray, path: str) -> str:
    """The failure of a clip whose features are not all finite (``''`` when they are)."""
    bad = int(np.size(row) - np.count_nonzero(np.isfinite(row)))
    return (f"{path}: {bad} of {np.size(row)} features are not finite (NaN or infinite): the audio "
            f"is too loud for float32 arithmetic" if bad else "")
