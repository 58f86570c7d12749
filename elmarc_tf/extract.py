"""Extraction: file list -> engine (tf.data here, or a Ray cluster) -> feature store (resumable).

Both engines share everything but the computing: :func:`extract` works out which clips the store
still lacks, hands them to the engine as an :class:`ExtractionJob`, and writes what comes back
into the store (keyed by clip index, so the order of results does not matter). Engines
(:data:`ENGINES`): ``local`` runs the tf.data pipeline and the extractor in this process;
``ray`` runs them on a Ray cluster (:mod:`elmarc_tf.ray_extract`, ``pip install
elmarc_tf[ray]``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from .audio_cache import AudioCache, as_audio_cache
from .batching import resolve_batch_size
from .errors import AudioError, ConfigError
from .extractor import CompiledExtractor, compile_extractor
from .frontends import frontend_of
from .pipeline import make_dataset
from .ray_extract import RayEngine
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


@dataclass(frozen=True)
class ExtractionJob:
    """What an engine computes: the features of ``paths[i]`` for ``i`` in ``todo`` (the clips the
    store lacks, in order), ``batch_size`` clips per forward pass."""

    cfg: object  # Config
    seed: int
    extractor: CompiledExtractor  # built by the driver (layout, feature length, batch size)
    paths: list
    todo: list
    batch_size: int
    audio_cache: Optional[AudioCache] = None


class LocalEngine:
    """The ``local`` engine: the tf.data pipeline and the extractor in this process (no options)."""

    def __init__(self, options=None) -> None:
        pass

    def chunks(self, job: ExtractionJob):
        """``(indices (b,), features (b, feature_length) float32, errors [b str])`` per batch, in
        order."""
        dataset = make_dataset(job.paths, job.todo, job.cfg, job.batch_size,
                               audio_cache=job.audio_cache)
        for inputs, indices, errors in dataset:
            yield (indices.numpy(), np.asarray(job.extractor(inputs)),
                   [e.decode() for e in errors.numpy()])


# name -> class(options) with .chunks(job) -> (indices, features, errors) chunks, in any order
ENGINES = {"local": LocalEngine, "ray": RayEngine}


def extract(cfg, items, seed: int = 0, out=None, batch_size: int | str | None = None,
            strict: bool = False, progress: bool = True, audio_cache=None, engine: str = "local",
            ray_options=None) -> ExtractionResult:
    """Extract features of ``items`` (list of :class:`~elmarc_tf.datasets.Item`) into a store.

    Resumes an interrupted store (same config, seed and file list) without recomputing finished
    clips; returns at once if it is complete. Unreadable clips are recorded in the manifest and
    skipped; with ``strict`` the first one raises :class:`AudioError` (finished batches are kept).
    ``batch_size``: clips per forward pass (default: ``cfg.batch_size``; ``'auto'``: see
    :mod:`elmarc_tf.batching`). ``audio_cache`` (an :class:`~elmarc_tf.audio_cache.AudioCache` or
    a folder; ``None``: none)
    serves clips already decoded by another config or seed; it saves work only and does not
    change the features or the store's folder. ``engine``: ``"local"`` or ``"ray"`` (with
    ``ray_options``, a :class:`~elmarc_tf.ray_cluster.RayOptions`; ``None``: Ray started on this
    machine, one actor per CPU); both write the same store with the same features.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    folder = store_dir(out or cfg.save_extracted_features_folder or DEFAULT_OUT, cfg, items, seed)
    writer = StoreWriter(folder, cfg, items, seed)
    if writer.complete:
        manifest = load_store(folder).manifest
        return ExtractionResult(folder, len(items), 0, manifest["n_failed"], manifest)
    runner = ENGINES[engine](ray_options)
    extractor = compile_extractor(cfg, seed)
    batch_size = resolve_batch_size(cfg, extractor.model, batch_size)  # config errors: before any work
    writer.begin()
    done = writer.done()
    todo = [i for i in range(len(items)) if i not in done]

    bar = None
    if progress:
        bar = tqdm(total=len(items), initial=len(done), unit="clip", file=sys.stderr,
                   desc=f"{frontend_of(cfg).name} seed {seed}", dynamic_ncols=True)
    timings = []
    if todo:
        job = ExtractionJob(cfg, seed, extractor, [it.path for it in items], todo, batch_size,
                            as_audio_cache(audio_cache))
        written = set(done)
        start = time.perf_counter()
        for indices, features, errors in runner.chunks(job):
            new = [k for k, i in enumerate(indices) if int(i) not in written]  # each clip once
            if not new:
                continue
            indices, features = np.asarray(indices)[new], np.asarray(features)[new]
            errors = [errors[k] for k in new]
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
    manifest = writer.finish(extractor.layout, extractor.feature_length)
    return ExtractionResult(folder, len(items), len(todo), manifest["n_failed"], manifest, timings)
