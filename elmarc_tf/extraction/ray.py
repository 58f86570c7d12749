"""Extraction on a Ray cluster (Ray Data): the clips a store still lacks -> features, per clip.

The driver, :func:`elmarc_tf.extraction.extract.extract` with ``engine="ray"``, does what it does for the
local engine: it works out which clips the store lacks (resume is the store's, not Ray's) and
writes every result into the same store, keyed by clip index, so order does not matter and a
killed driver resumes with the same command, on either engine. This module turns those clips into
features on the cluster (:class:`RayEngine`):

- ``ray.data.from_items`` with one row per ``map_batches`` call: consecutive missing clips, their
  indices and paths, a whole number of forward passes of ``batch_size`` clips (as many as make a
  second or two of work: :func:`passes_per_call`) — the local engine's batches, so a clip meets
  the same other clips in its batch on both engines and ``batch_norm: true`` features (which
  depend on the batch) are the local engine's too. Paths travel, not audio: every node must be
  able to read them (and the audio cache folder, when one is given) — relative ones from the
  driver's working directory, which each actor takes as its own.
- ``map_batches`` with :class:`ClipExtractor` on a fixed pool of actors, one row per call: each
  actor builds the frozen extractor once from (config,
  seed) with :func:`~elmarc_tf.models.extractor.compile_extractor` (no Keras model is pickled) and runs
  each call's clips through the local engine's own input pipeline
  (:func:`~elmarc_tf.extraction.pipeline.make_dataset`: the same decoding, the same per-clip error capture —
  a clip that cannot be decoded or brought to length is a row with an error, never a failed
  block — and the same TensorFlow graph from clip to input, so the same inputs bit for bit),
  then returns per clip ``index``, ``features`` ``(feature_length,)`` float32, ``ok`` and
  ``error``.
- The driver streams the results (``iter_batches``) into the store writer.

An actor that dies is restarted by Ray and its call retried; blocks lost with a node are recomputed
from their lineage; the driver skips a clip it has already written.
"""

from __future__ import annotations

import gc
import math
import os
import time
from typing import Iterator

import numpy as np
import tensorflow as tf

from ..io.audio_cache import as_audio_cache
from ..config import Config
from ..models.extractor import compile_extractor
from ..models.flops import model_flops
from .pipeline import make_dataset
from .ray_cluster import RayOptions, actor_count, connect, import_ray
from ..models.trained_weights import apply_trained_weights, read_trained_weights

# How many clips a map_batches call gets (passes_per_call): enough estimated work that the call's
# fixed cost (~0.2 s: building its tf.data pipeline) stays small, few enough that every actor
# gets several calls and each call's results reach the store soon.
CALL_SECONDS = 2.0  # estimated work per call, at least
CORE_FLOPS = 150e9  # float32 FLOP/s of one fast core through a front-end (an AVX-512 core ran
#                     7x86-3585 at ~124; an AVX2 core the large configurations at 60-80): an upper
#                     bound, so that a call lasts CALL_SECONDS or longer
DECODE_SECONDS = 0.04  # decoding + resampling a 30 s clip on one core (elmarc bench: ~29 clips/s)
CALLS_PER_ACTOR = 2  # at least, when there are clips enough: actors finish together
CHUNK_WRITES = 100.0  # chunks/s the store writer sustains (measured ~130: an fsync each); with
#                      many actors, calls grow so that they all stay under half of it
MAX_CLIPS_PER_CALL = 64  # at most (each call is one store chunk)
# Each call's tf.data pipeline leaves reference cycles (~0.4 MB) that Python's own collector
# reaches rarely in a process as large as TensorFlow's; a full collection costs ~0.2-0.5 s.
COLLECT_SECONDS = 30.0  # an actor collects them at most this often: a few % of its time
# Tests only: a file path; the first actor to reach its first call creates it and exits the
# process at once (os._exit), so tests can check that a dying actor loses no clip. Never set.
TEST_EXIT_ONCE_ENV = "ELMARC_TEST_ACTOR_EXIT_ONCE"


def configure_tensorflow(cpus: float, gpus: float) -> None:
    """An actor's TensorFlow: ``cpus`` intra-op threads, one inter-op thread; on a GPU actor,
    memory growth (several actors may share a GPU). Call before TensorFlow runs anything."""
    tf.config.threading.set_intra_op_parallelism_threads(max(1, int(cpus)))
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if gpus:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)


def passes_per_call(n_clips: int, batch_size: int, actors: int, flops_per_clip: float,
                    cpus: float = 1.0) -> int:
    """Forward passes of ``batch_size`` clips per ``map_batches`` call: :data:`CALL_SECONDS` of
    estimated work (``flops_per_clip`` at :data:`CORE_FLOPS` per core plus :data:`DECODE_SECONDS`,
    over an actor's ``cpus``), more with so many actors that their chunks would load the store
    writer over half of :data:`CHUNK_WRITES`; at most :data:`MAX_CLIPS_PER_CALL` clips and at
    most a 1 / (:data:`CALLS_PER_ACTOR` x ``actors``) share of the ``n_clips``; at least one pass.

    e.g. 2 actors of 1 CPU on 10 000 clips: vgg-717 (169 GFLOP/clip) 2 clips per call,
    7x96-3585 (6.6 GFLOP) 24, temporal-256 (0.6 GFLOP, batch 3) 15 passes = 45 clips."""
    seconds_per_clip = (flops_per_clip / CORE_FLOPS + DECODE_SECONDS) / max(cpus, 1.0)
    call_seconds = max(CALL_SECONDS, 2 * actors / CHUNK_WRITES)
    clips = min(math.ceil(call_seconds / seconds_per_clip), MAX_CLIPS_PER_CALL,
                math.ceil(n_clips / (CALLS_PER_ACTOR * actors)))
    return max(1, clips // batch_size)


def _exit_once_for_tests(marker: str | None) -> None:
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(1)


class ClipExtractor:
    """The Ray Data callable class: rows of clips -> one row per clip.

    Input batch: ``indices`` and ``paths``, one array of each per row (whole forward passes of
    ``batch_size`` clips; only the job's last may end with a shorter one). Output batch:
    ``index (n,)`` int64, ``features (n, feature_length)`` float32, ``ok (n,)`` bool and
    ``error (n,)`` str (empty when ok; a failed clip's features are those of a zero input, as in
    the local engine, and are not stored).
    """

    def __init__(self, config: dict, seed: int, batch_size: int, audio_cache: str | None = None,
                 cpus: float = 1.0, gpus: float = 0.0, cwd: str | None = None,
                 weights: str | None = None) -> None:
        if cwd is not None:
            os.chdir(cwd)  # the driver's: relative clip and cache paths mean the same here
        configure_tensorflow(cpus, gpus)
        self.cfg = Config.from_dict(config)
        self.seed, self.batch_size = int(seed), int(batch_size)
        self.extractor = compile_extractor(self.cfg, seed)
        self.trained = None
        if weights is not None:  # trained weights: the file travels as a path, checked by digest
            self.trained = read_trained_weights(weights)
            apply_trained_weights(self.extractor.model, self.trained)
        self.audio_cache = as_audio_cache(audio_cache)
        self.data_options = tf.data.Options()
        self.data_options.threading.private_threadpool_size = max(1, int(cpus))  # decoding threads
        self.calls = 0
        self.collected = time.monotonic()
        self.exit_marker = os.environ.get(TEST_EXIT_ONCE_ENV)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.calls == 0:
            _exit_once_for_tests(self.exit_marker)
        self.calls += 1
        out = [self._extract(np.asarray(i, np.int64), [str(p) for p in paths])
               for i, paths in zip(batch["indices"], batch["paths"])]
        return {key: np.concatenate([o[key] for o in out]) for key in out[0]}

    def _extract(self, indices: np.ndarray, paths: list[str]) -> dict[str, np.ndarray]:
        """One call's clips through the local engine's pipeline, ``batch_size`` at a time."""
        dataset = make_dataset(paths, range(len(paths)), self.cfg, self.batch_size,
                               audio_cache=self.audio_cache, seed=self.seed,
                               trained=self.trained).with_options(self.data_options)
        features, errors = [], []
        for inputs, _, errs in dataset:
            features.append(np.asarray(self.extractor(inputs), np.float32))
            errors += [e.decode() for e in errs.numpy()]
        del dataset
        if time.monotonic() - self.collected > COLLECT_SECONDS:
            gc.collect()
            self.collected = time.monotonic()
        return {"index": indices, "features": np.concatenate(features),
                "ok": np.array([not e for e in errors], bool),
                "error": np.array(errors, dtype=object)}


class RayEngine:
    """The ``ray`` extraction engine (:data:`elmarc_tf.extraction.extract.ENGINES`): ``RayEngine(options)``
    checks that Ray is installed; :meth:`chunks` joins or starts the cluster and computes."""

    def __init__(self, options: RayOptions | None = None) -> None:
        import_ray()  # not installed: a one-line error before any work
        self.options = options or RayOptions()

    def chunks(self, job) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
        """Features of ``job`` (an :class:`elmarc_tf.extraction.extract.ExtractionJob`) computed on Ray:
        ``(indices (n,), features (n, feature_length) float32, errors [n str])`` as they arrive,
        in any order."""
        options = self.options
        connect(options)
        import ray.data  # optional dependency, imported on first use (see elmarc_tf.extraction.ray_cluster)

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # extract() shows its own
        context.print_on_execution_start = False
        actors = actor_count(options, ray.cluster_resources())
        per_call = job.batch_size * passes_per_call(len(job.todo), job.batch_size, actors,
                                                    model_flops(job.extractor.model),
                                                    options.cpus_per_actor)
        calls = [job.todo[k:k + per_call] for k in range(0, len(job.todo), per_call)]
        rows = [{"indices": np.asarray(c, np.int64), "paths": [job.paths[i] for i in c]}
                for c in calls]  # a call is whole forward passes: the local engine's batches
        cache = as_audio_cache(job.audio_cache)
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        dataset = dataset.map_batches(
            ClipExtractor, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or None,
            fn_constructor_kwargs=dict(config=job.cfg.to_dict(), seed=job.seed,
                                       batch_size=job.batch_size,
                                       audio_cache=None if cache is None else str(cache.folder),
                                       cpus=options.cpus_per_actor, gpus=options.gpus_per_actor,
                                       cwd=os.getcwd(),
                                       weights=None if job.trained is None
                                       else str(job.trained.path)))
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield (np.asarray(batch["index"], np.int64), np.asarray(batch["features"], np.float32),
                   [str(e) for e in batch["error"]])
