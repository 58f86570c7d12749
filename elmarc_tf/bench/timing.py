"""Timing primitives of ``elmarc bench`` and the profiler: figures that depend on the machine,
measured in the same run, never assumed — the matmul peak, best-of call timing, forward rates of an
extractor, peak memory, the CPU allocator's page faults."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from ..extraction.batching import best_call_seconds, rule_batch_size
from ..models.extractor import build_extractor, compile_extractor
from ..models.flops import clip_flops, model_flops, representation_flops
from ..frontends import takes_whole_clip
from ..frontends.filterbank import representation

# A 64 MiB intermediate computed again and again: with an allocator that returns freed memory to
# the operating system, each call page-faults it in again (up to 16 384 minor faults of 4 KiB).
_FAULTS_PROBE = """
import json, resource
import elmarc_tf
import tensorflow as tf
x = tf.ones((4096, 4096))
fn = tf.function(lambda x: tf.reduce_sum(x * 2.0 + 1.0))
fn(x).numpy()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    fn(x).numpy()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5))
"""


# Front-ends that take whole clips (samplecnn) are timed on clips of this length, the paper's
# datasets' (GTZAN, Extended Ballroom): at 22 050 Hz, 11 windows of the 3⁹ model.
CLIP_SECONDS = 30.0


def clip_samples(cfg) -> int | None:
    """Samples of one timed clip of a front-end that takes whole clips (:data:`CLIP_SECONDS` at
    the config's rate); None for one with a fixed input."""
    return int(CLIP_SECONDS * cfg.sampling_rate) if takes_whole_clip(cfg) else None


def random_batch(cfg, extractor, batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` inputs of ``extractor`` (a :class:`~elmarc_tf.models.extractor.CompiledExtractor`),
    uniform in [-1, 0): its own input shape, or whole clips of :func:`clip_samples` samples."""
    n = clip_samples(cfg)
    shape = tuple(n if d is None else d for d in extractor.input_shape)
    return np.random.RandomState(seed).uniform(-1, 0, (batch, *shape)).astype(np.float32)


def peak_rss_mib() -> float:
    """The peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak(n: int = 4096, seconds: float = 3.0) -> dict:
    """GFLOP/s of a float32 ``n x n`` matmul: TensorFlow's kernel, the same under XLA, and NumPy's
    BLAS. ``tensorflow_peak`` is the best TensorFlow path (the same build and thread settings as
    extraction); ``peak`` is the best of all three, the stricter reference (TensorFlow's own
    MatMul kernel is not the fastest path on every CPU, and its convolutions can beat it)."""
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    b = np.random.default_rng(2).random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    candidates = {
        "tensorflow": tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(ta, tb))),
        "tensorflow_xla": tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(ta, tb)), jit_compile=True),
        "numpy": lambda: (a @ b).sum(),
    }
    out = {}
    for name, fn in candidates.items():
        np.asarray(fn())  # trace / warm up
        best, end = float("inf"), time.perf_counter() + seconds / len(candidates)
        while time.perf_counter() < end:
            start = time.perf_counter()
            np.asarray(fn())
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n**3 / best / 1e9
    out["tensorflow_peak"] = max(out["tensorflow"], out["tensorflow_xla"])
    out["peak"] = max(out.values())
    return out


def best_cpu_seconds(fn, args, calls: int = 3) -> float:
    """Least CPU time (this process, all its threads) of ``fn(*args)`` over ``calls`` calls after
    one untimed call: a cost that other processes on a shared machine inflate less than the wall
    clock."""
    tf.nest.map_structure(np.asarray, fn(*args))
    best = float("inf")
    for _ in range(calls):
        start = time.process_time()
        tf.nest.map_structure(np.asarray, fn(*args))
        best = min(best, time.process_time() - start)
    return best


def forward_rate(cfg, batch_sizes=(1, 2, 4, 8), seconds: float = 4.0, jit: bool = False) -> dict:
    """Forward-only clips/s of the extractor at each batch size (``'auto'``: the size extraction
    uses by default, :mod:`elmarc_tf.extraction.batching`), each the best of at least three calls after a
    warm-up (as the matmul peak); the fastest size is reported.

    A front-end that takes whole clips is timed as extraction runs it: one clip of
    :data:`CLIP_SECONDS` per call (its windows are the batch; other sizes are left out), and its
    FLOPs are that clip's (windows x one window's, :func:`~elmarc_tf.models.flops.clip_flops`);
    ``clip_samples`` says how long the clip was (None for a fixed input)."""
    fn = compile_extractor(cfg, seed=0, jit_compile=jit)
    n = clip_samples(cfg)
    flops = clip_flops(fn.model, n)
    auto = rule_batch_size(cfg, fn.model)
    sizes = [auto if b == "auto" else b for b in batch_sizes]
    if n is not None:
        sizes = [1]
    rates = {}
    for bs in dict.fromkeys(sizes):
        x = tf.constant(random_batch(cfg, fn, bs))
        rates[bs] = bs / best_call_seconds(fn, (x,), seconds / len(sizes))
    best = max(rates, key=rates.get)
    return {"flops": flops, "clips_per_s": rates[best], "batch_size": best, "auto_batch_size": auto,
            "gflops": flops * rates[best] / 1e9, "rates": rates, "jit": jit, "clip_samples": n}


def steady_forward_rate(cfg, batch_size: int, n_clips: int) -> float:
    """Forward-only clips/s timed as :func:`end_to_end_rate` times extraction: the extractor
    function of ``extract`` over ``n_clips`` clips in memory, in batches of ``batch_size``, every
    batch after the first, total clips over total seconds (a mean, where :func:`forward_rate`
    reports the best call)."""
    fn = compile_extractor(cfg, seed=0)
    x = random_batch(cfg, fn, batch_size)
    np.asarray(fn(x))  # the first batch: start-up, not timed
    n_batches = max(1, -(-n_clips // batch_size) - 1)
    start = time.perf_counter()
    for _ in range(n_batches):
        np.asarray(fn(x))
    return n_batches * batch_size / (time.perf_counter() - start)


def allocator_page_faults() -> dict:
    """Minor page faults per call of a computation with a 64 MiB intermediate, with TensorFlow's
    BFC CPU allocator (``TF_CPU_ALLOCATOR_USE_BFC=true``, what importing elmarc_tf selects) and with
    its default one (``false``), each in a fresh process (TensorFlow reads the setting once).

    Returns ``{"bfc": faults, "default": faults, "pages": 16384}``, or ``{}`` where ``getrusage``
    does not exist (Windows). How much the default allocator faults depends on the machine (its
    kernel, its C library, TensorFlow's build): from ~16 000 per call to none.
    """
    if sys.platform == "win32":
        return {}
    out = {"pages": 4096 * 4096 * 4 // 4096}
    for name, value in (("bfc", "true"), ("default", "false")):
        env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC=value, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run([sys.executable, "-c", _FAULTS_PROBE], capture_output=True,
                              text=True, env=env, check=True)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def representation_rate(cfg, n_samples: int, seconds: float = 4.0) -> dict:
    """Cost of ``cfg``'s input representation on one clip of ``n_samples`` (batch 1): analytic
    FLOPs per layer (:func:`elmarc_tf.models.flops.representation_flops`), clips/s of the representation
    alone, and clips/s of the whole exported graph, waveform -> representation -> fixed length ->
    ``cfg``'s CNN -> features (:func:`elmarc_tf.models.extractor.build_extractor` with
    ``inputs="waveform"``); each the best of at least three calls after a warm-up, in wall-clock
    time (``clips_per_s``, ``with_cnn_clips_per_s``) and in CPU time (``cpu_s``,
    ``with_cnn_cpu_s``: seconds of all threads per clip)."""
    rep = representation(cfg, seed=0)
    x = tf.constant(np.random.RandomState(0).uniform(-0.5, 0.5, (1, n_samples)).astype(np.float32))
    signature = [tf.TensorSpec((None, None), tf.float32)]
    alone = tf.function(lambda y: rep(y), input_signature=signature)
    whole = compile_extractor(cfg, model=build_extractor(cfg, seed=0, inputs="waveform"))
    layers = representation_flops(rep, n_samples)
    return {"representation": cfg.input_representation, "flops": sum(layers.values()),
            "layer_flops": layers,
            "cnn_flops": model_flops(build_extractor(cfg, seed=0, inputs="logmel")),
            "clips_per_s": 1.0 / best_call_seconds(alone, (x,), seconds / 2),
            "cpu_s": best_cpu_seconds(alone, (x,)),
            "with_cnn_clips_per_s": 1.0 / best_call_seconds(whole, (x,), seconds / 2),
            "with_cnn_cpu_s": best_cpu_seconds(whole, (x,))}
