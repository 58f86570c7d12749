"""How many clips per forward pass: ``batch_size: auto``, by rule or measured on this machine.

Without batch normalisation a clip's features do not depend on its batch, so the batch size is
only a speed / memory trade-off, and the right one depends on the input length and the model:
a 29 s clip costs 0.3 GFLOP through a small front-end and 317 GFLOP through frame_level-896,
and its largest feature map ranges from 1 MB to 380 MB (VGG-717's first layer).

The automatic size batches just enough clips to hide the per-call overhead of a forward pass
(about a millisecond) behind :data:`WORK_PER_BATCH` of arithmetic, and never so many that the
largest map of a batch exceeds :data:`MEMORY_PER_BATCH`, about a server CPU's last-level cache.
Larger batches do not run faster on a CPU: once the convolutions are large matrix products,
extra clips only spill the caches and grow the resident memory. Measured with ``elmarc bench``
on 2 cores (clips/s by batch size): 7x86-3585 2.35 at 1, 1.88 at 4; VGG-32 71 at 1, 89 at 2,
50 at 10; the temporal branch at 256 filters 94 at 1, 44 at 7; sample_level-512 needs > 4 GiB
at batch 8 and 1.5 GiB at 1.

That rule was tuned on one CPU; on another (other caches, AVX-512) it was up to 1.6x off the best
size. So for a long extraction (:data:`SEARCH_ABOVE_SECONDS` of work by the rule's estimate)
``auto`` measures: a timed search over batch sizes, keeps the fastest, and remembers it per
configuration, machine, TensorFlow version and :data:`SEARCH_VERSION` (``batch_sizes.json`` in the
user's cache folder), so later runs start at once. The search is sized to the job and the machine:

- its budget is :data:`SEARCH_SHARE` of the job's estimated compute, within
  [:data:`SEARCH_MIN_SECONDS`, :data:`SEARCH_MAX_SECONDS`] (:func:`search_budget`): a 10-hour
  extraction may spend a few minutes finding its batch, VGG-717's one call of ~1.5 s at batch 1
  no longer ends the search there;
- its candidates are the powers of two whose batch fits half the memory the machine has free
  (:func:`available_memory`) once the store's finished features are set aside
  (:func:`search_candidates`);
- every candidate is timed alike (:func:`call_seconds`): one untimed call (tracing, warm-up), then
  :data:`TIMED_CALLS` timed calls, its rate its size over the fastest of them. A candidate whose
  calls at the best rate so far would not fit the budget left ends the search, and so do
  :data:`SEARCH_PATIENCE` candidates in a row slower than the best (on a CPU a larger batch
  only spills more caches once the rate has peaked).

Short jobs use the rule. :func:`choose_batch_size` says which it did and why; the store's manifest
records it. Features never depend on it (without batch normalisation).

A windowed front-end (``samplecnn``) takes whole clips of any length, and clips of one call must
have one length: it takes one clip per call (``auto`` never searches), and the clip's windows are
the model's batch (a 30 s clip: 11 windows of the 3⁹ model, 38 GFLOP). A larger batch is refused
rather than padding clips to one length, which would change their features.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from ..config import feature_fields
from ..errors import ConfigError
from ..frontends import takes_whole_clip
from ..io.fileio import atomic_write_json
from ..models.flops import conv_output_shape, model_flops
from ..models.keras_graph import weighted_layers

AUTO = "auto"
WORK_PER_BATCH = 4e9  # FLOPs: ~25 ms of compute even at 160 GFLOP/s, so ~1 ms of overhead is < 5 %
MEMORY_PER_BATCH = 32 * 2**20  # bytes of the largest feature map of a whole batch
MAX_BATCH = 64
SEARCH_ABOVE_SECONDS = 120.0  # the rule's estimate of a job's compute, above which auto measures
NOMINAL_FLOPS_PER_SECOND = 1e11  # for that estimate only: a 2-core CPU's order of magnitude
SEARCH_SHARE = 0.02  # of the job's estimated compute, the search's budget...
SEARCH_MIN_SECONDS = 8.0  # ...at least this (a job just over SEARCH_ABOVE_SECONDS)...
SEARCH_MAX_SECONDS = 300.0  # ...and at most this (a job of over four hours by the estimate)
TIMED_CALLS = 3  # timed calls of every candidate, after one untimed call
SEARCH_PATIENCE = 2  # candidates in a row slower than the best that end the search
SEARCH_MEMORY_SHARE = 0.5  # of the machine's available memory, for one batch of a candidate
MAPS_PER_CLIP = 3  # a batch's working memory per clip, in largest maps (a layer's input and
# output and the convolution's workspace; measured ~2 for VGG-717 and sample_level-512)
STORE_COPIES = 3  # the finished store's features held at once while it is written (rows,
# stacked, as float32)
FALLBACK_MEMORY = 2 << 30  # bytes assumed available where the machine does not say
SEARCH_VERSION = 2  # in the cache key: sizes chosen by an earlier search are not reused
CACHE_FILE = "batch_sizes.json"


def largest_map_bytes(model: keras.Model) -> int:
    """Bytes of the largest convolution output of one clip (float32), nested models included.

    Counted from the layer shapes, as the full map even where a pooling is fused into the
    convolution (an upper bound)."""
    sizes = [math.prod(int(d) for d in conv_output_shape(layer)[1:]) for layer in weighted_layers(model)
             if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D)]
    return 4 * max(sizes, default=1)


def auto_batch_size(model: keras.Model) -> int:
    """Clips per forward pass for ``model`` (an extractor with a fixed input size): see the
    module docstring. A front-end that takes whole clips takes one per call
    (:func:`rule_batch_size`).

    e.g. on the paper's 29 s inputs: 1 for every large configuration and VGG-32, 2 for
    sample_level-23, 14 for 7x96-160.
    """
    by_work = math.ceil(WORK_PER_BATCH / max(model_flops(model), 1))
    by_memory = MEMORY_PER_BATCH // largest_map_bytes(model)
    return int(max(1, min(by_work, by_memory, MAX_BATCH)))


def rule_batch_size(cfg, model: keras.Model) -> int:
    """The rule's clips per forward pass for ``cfg``'s extractor ``model``: 1 for a front-end
    that takes whole clips (:func:`~elmarc_tf.frontends.takes_whole_clip`), else
    :func:`auto_batch_size`."""
    return 1 if takes_whole_clip(cfg) else auto_batch_size(model)


def resolve_batch_size(cfg, model: keras.Model, requested: int | None = None) -> int:
    """The batch size to extract with: ``requested`` if given, else ``cfg.batch_size``, where
    ``'auto'`` means :func:`auto_batch_size` of the extractor ``model`` (``MAX_BATCH`` for a
    model without convolutions, such as the MFCC baseline's). A model that takes whole clips of
    any length (samplecnn, the LEAF family alone) takes one per call; a larger ``requested``
    size is a :class:`ConfigError`.

    With ``batch_norm: true`` features depend on the batch, so it must be chosen explicitly."""
    size = requested or cfg.batch_size
    if takes_whole_clip(cfg):
        if size not in (AUTO, 1):
            raise ConfigError(f"batch_size {size}: '{cfg.architecture}' takes one whole clip per "
                              f"forward pass (clips differ in length: padding them to one length "
                              f"would change their features); use 1 or 'auto'")
        return 1
    if size != AUTO:
        return int(size)
    if cfg.batch_norm:
        raise ConfigError("batch_size 'auto' with batch_norm: true: the features depend on the "
                          "batch, so set batch_size to a number")
    return auto_batch_size(model)


@dataclass(frozen=True)
class BatchChoice:
    """The batch size to extract with and how it was chosen (recorded in the store's manifest).

    ``how``: ``given`` (a number in the config or the call), ``rule`` (:func:`auto_batch_size`;
    a short job), ``measured`` (timed here) or ``cached`` (timed by an earlier run on this
    machine); ``rates``: clips/s per size tried (measured / cached)."""

    size: int
    how: str
    rates: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"size": self.size, "how": self.how,
                "rates": {str(k): round(v, 3) for k, v in self.rates.items()}}


def _fetched_call(fn, args) -> None:
    """``fn(*args)`` with its outputs fetched to NumPy (so the work is done, not queued)."""
    tf.nest.map_structure(np.asarray, fn(*args))


def best_call_seconds(fn, args, seconds: float, min_calls: int = 3) -> float:
    """Best wall-clock seconds of ``fn(*args)`` (outputs fetched) over at least ``min_calls``
    calls and ``seconds`` in all, after one untimed call (tracing, warm-up)."""
    _fetched_call(fn, args)
    best, calls, start = float("inf"), 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        _fetched_call(fn, args)
        best, calls = min(best, time.perf_counter() - t), calls + 1
    return best


def call_seconds(fn, args, calls: int = TIMED_CALLS,
                 clock: Callable = time.perf_counter) -> list[float]:
    """Seconds by ``clock`` of each of ``calls`` calls of ``fn(*args)`` (outputs fetched), after
    one untimed call (tracing, warm-up): every batch-size candidate is timed this way."""
    _fetched_call(fn, args)
    out = []
    for _ in range(calls):
        t = clock()
        _fetched_call(fn, args)
        out.append(clock() - t)
    return out


def search_budget(job_seconds: float) -> float:
    """Seconds the search may spend on a job of ``job_seconds`` estimated compute:
    :data:`SEARCH_SHARE` of it, within [:data:`SEARCH_MIN_SECONDS`, :data:`SEARCH_MAX_SECONDS`]."""
    return min(max(SEARCH_SHARE * job_seconds, SEARCH_MIN_SECONDS), SEARCH_MAX_SECONDS)


def _cgroup_memory_left() -> int | None:
    """Bytes this process's cgroup (v2) may still take, or None where it sets no limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
    except OSError:
        return None
    return None if limit == "max" else max(0, int(limit) - int(used))


def available_memory() -> int | None:
    """Bytes of memory this machine can give without swapping: ``MemAvailable`` of
    ``/proc/meminfo`` (else the free pages ``os.sysconf`` counts), no more than a cgroup's limit
    leaves; None where neither says."""
    free = None
    try:
        with open("/proc/meminfo") as f:
            free = next((int(line.split()[1]) * 1024 for line in f
                         if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    left = _cgroup_memory_left()
    return free if left is None else min(free, left)


def search_candidates(model: keras.Model, rule: int, memory: int | None = None,
                      reserved: int = 0) -> list[int]:
    """Batch sizes to time: the powers of two up to :data:`MAX_BATCH` whose batch
    (:data:`MAPS_PER_CLIP` largest maps per clip) fits :data:`SEARCH_MEMORY_SHARE` of ``memory``
    bytes (default :func:`available_memory`) less ``reserved`` bytes (the store's needs), and the
    rule's size; 1 at least."""
    memory = available_memory() if memory is None else memory
    usable = SEARCH_MEMORY_SHARE * (FALLBACK_MEMORY if memory is None else memory) - reserved
    cap = max(1, int(usable // (MAPS_PER_CLIP * largest_map_bytes(model))))
    return sorted({b for b in (2**k for k in range(7)) if b <= min(cap, MAX_BATCH)} | {rule})


def measure_rates(extractor, sizes, seconds: float = SEARCH_MIN_SECONDS,
                  clock: Callable = time.perf_counter) -> dict[int, float]:
    """Forward clips/s of a :class:`~elmarc_tf.models.extractor.CompiledExtractor` at each size, in
    order, within about ``seconds`` in all by ``clock``: each size timed by :func:`call_seconds`
    (one untimed call, then :data:`TIMED_CALLS`), its rate its size over its fastest call. A size
    whose calls at the best rate so far would not fit the time left ends the search (a larger
    batch is no faster per clip on a CPU once the rate peaked), and so do
    :data:`SEARCH_PATIENCE` sizes in a row slower than the best.

    Inputs: random ``(max(sizes), *extractor.input_shape)`` float32, sliced to each size."""
    rates, best, slower = {}, 0.0, 0
    deadline = clock() + seconds
    x = np.random.default_rng(0).uniform(-1, 0, (max(sizes), *extractor.input_shape))
    x = x.astype(np.float32)
    for size in sizes:
        if rates and (1 + TIMED_CALLS) * size / best > deadline - clock():
            break
        rates[size] = size / min(call_seconds(extractor, (x[:size],), TIMED_CALLS, clock))
        best, slower = (rates[size], 0) if rates[size] > best else (best, slower + 1)
        if slower == SEARCH_PATIENCE:
            break
    return rates


def machine_key() -> dict:
    """What the best batch size depends on besides the model: the CPU, its cores, TensorFlow."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "tensorflow": tf.__version__,
            "devices": [d.device_type for d in tf.config.list_logical_devices()]}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/elmarc_tf`` (default ``~/.cache/elmarc_tf``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "elmarc_tf"


def choose_batch_size(cfg, extractor, n_clips: int, requested=None, folder=None,
                      measure: Callable = measure_rates, store_clips: int | None = None
                      ) -> BatchChoice:
    """The batch size for extracting ``n_clips`` clips of ``cfg`` with ``extractor`` (a
    :class:`~elmarc_tf.models.extractor.CompiledExtractor`): ``requested`` or ``cfg.batch_size`` if a
    number; for ``auto``, the rule for a short job or a front-end that takes whole clips (one per
    call), else the fastest size measured here (or cached in ``folder``, default
    :func:`cache_dir`, by an earlier run on this machine): ``measure(extractor, sizes, seconds)``
    (:func:`measure_rates`) times the :func:`search_candidates` within :func:`search_budget` of
    the job.

    ``store_clips``: the rows the finished store will hold, whose memory is set aside (default
    ``n_clips``; a resumed extraction computes fewer clips than its store holds). With
    ``batch_norm: true`` features depend on the batch, so it must be chosen explicitly."""
    model = extractor.model
    size = requested or cfg.batch_size
    if size != AUTO:
        return BatchChoice(int(size), "given")
    if takes_whole_clip(cfg):  # one clip per call, of any length: nothing to search
        return BatchChoice(1, "rule")
    rule = resolve_batch_size(cfg, model)
    job_seconds = n_clips * model_flops(model) / NOMINAL_FLOPS_PER_SECOND
    if job_seconds < SEARCH_ABOVE_SECONDS:
        return BatchChoice(rule, "rule")
    key = hashlib.sha256(json.dumps([feature_fields(cfg), machine_key(), SEARCH_VERSION],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(folder or cache_dir()) / CACHE_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        rates = {int(k): v for k, v in known[key].items()}
        return BatchChoice(max(rates, key=lambda b: (rates[b], -b)), "cached", rates)
    store_bytes = STORE_COPIES * 4 * (store_clips or n_clips) * extractor.feature_length
    candidates = search_candidates(model, rule, available_memory(), store_bytes)
    rates = measure(extractor, candidates, search_budget(job_seconds))
    if not rates:
        return BatchChoice(rule, "rule")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**known, key: {str(b): r for b, r in rates.items()}})
    except OSError:  # a cache that cannot be written only loses the time saved next run
        pass
    return BatchChoice(max(rates, key=lambda b: (rates[b], -b)), "measured", rates)
