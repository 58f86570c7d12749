"""Extraction: file list -> tf.data pipeline -> frozen extractor -> feature store (resumable)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .batching import resolve_batch_size
from .errors import AudioError
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


def _feature_fn(cfg, seed):
    """``inputs -> features``, the layout, the length and the extractor (``None`` for the MFCC
    baseline, whose function is the identity)."""
    if cfg.features_type == "MFCC":
        n = 6 * cfg.mfcc_number
        names = [f"{s}_{k}" for k in ("mfcc", "d_mfcc", "dd_mfcc") for s in ("mean", "std")]
        layout = [{"name": name, "index": i, "offset": i * cfg.mfcc_number, "width": cfg.mfcc_number,
                   "span": cfg.mfcc_number, "padding": 0} for i, name in enumerate(names)]
        return (lambda x: x), layout, n, None
    import tensorflow as tf

    from .extractor import build_extractor, feature_layout
    from .pipeline import input_shape

    model = build_extractor(cfg, seed=seed, inputs="logmel")
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec((None, *input_shape(cfg)), tf.float32)])
    return fn, feature_layout(model), int(model.output.shape[-1]), model


def extract(cfg, items, seed: int = 0, out=None, batch_size: int | str | None = None,
            strict: bool = False, progress: bool = True, audio_cache=None) -> ExtractionResult:
    """Extract features of ``items`` (list of :class:`~elmarc_tf.datasets.Item`) into a store.

    Resumes an interrupted store (same config, seed and file list) without recomputing finished
    clips; returns at once if it is complete. Unreadable clips are recorded in the manifest and
    skipped; with ``strict`` the first one raises :class:`AudioError` (finished batches are kept).
    ``batch_size``: clips per forward pass (default: ``cfg.batch_size``; ``'auto'``: see
    :mod:`elmarc_tf.batching`). ``audio_cache`` (an :class:`~elmarc_tf.audio_cache.AudioCache` or
    a folder; ``None``: none)
    serves clips already decoded by another config or seed; it saves work only and does not
    change the features or the store's folder.
    """
    from .pipeline import make_dataset

    folder = store_dir(out or cfg.save_extracted_features_folder or DEFAULT_OUT, cfg, items, seed)
    writer = StoreWriter(folder, cfg, items, seed)
    if writer.complete:
        manifest = load_store(folder).manifest
        return ExtractionResult(folder, len(items), 0, manifest["n_failed"], manifest)
    fn, layout, length, model = _feature_fn(cfg, seed)
    batch_size = resolve_batch_size(cfg, model, batch_size)  # a config error stops before any work
    writer.begin()
    done = writer.done()
    todo = [i for i in range(len(items)) if i not in done]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), initial=len(done), unit="clip", file=sys.stderr,
                   desc=f"{cfg.architecture if cfg.features_type == 'CNN' else 'mfcc'} seed {seed}",
                   dynamic_ncols=True)
    if todo:
        dataset = make_dataset([it.path for it in items], todo, cfg, batch_size,
                               audio_cache=audio_cache)
        start, timings = time.perf_counter(), []
        for inputs, indices, errors in dataset:
            features = np.asarray(fn(inputs))
            errors = [e.decode() for e in errors.numpy()]
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
    manifest = writer.finish(layout, length)
    return ExtractionResult(folder, len(items), len(todo), manifest["n_failed"], manifest,
                            timings if todo else [])
