"""Seconds per training step and per epoch of the paper's front-ends on this machine.

For each configuration (the paper's ~120-feature sizes by default; ``--size large`` for ~3500),
builds the trainable model of :func:`elmarc_tf.studies.train.build_classifier` (10 classes, as GTZAN) on
3 s patches (140 log-mel frames or 36 000 samples at 12 kHz; VGG's pooling needs 1280 frames, so
it takes whole 1376-frame inputs), then times on random inputs (dB-like log-mel, waveforms in
[-1, 1]):

- ``first step``: the first training step (tracing the step + running it);
- ``step``: the median of ``--steps`` training steps of ``--batch`` patches (Adam);
- ``eval``: the median of ``--steps`` forward passes of ``--batch`` patches;
- ``GTZAN epoch``: one epoch of the GTZAN protocol from those medians: 443 training clips, one
  patch each (ceil(443 / batch) steps), and the 197 validation clips' patches covering 29 s
  (1376 frames / 350 000 samples; 10 patches of 3 s, 1 for VGG), ``ceil(197 * 10 / batch)`` passes.

Training builds Keras' plain layers (``build_classifier(fast=False)``); ``--fused`` also times
the model whose 'valid' Conv2Ds fuse the max over frequency that follows them (``fast=True``,
the extractor's default).

    python scripts/time_training.py [--size small|large] [--arch NAME ...] [--steps 5]
                                    [--batch 16] [--fused] [--out docs/training_times.md]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from elmarc_tf.config import Config
from elmarc_tf.frontends import frontend_of
from elmarc_tf.studies.paper import paper_frontends
from elmarc_tf.studies.train import (PATCH_KEYS, build_classifier, patch_config, patch_length,
                             patch_starts, step_functions)

PATCHES = dict(train_patch_frames=140, train_patch_samples=36000)
GTZAN_TRAIN, GTZAN_VAL, N_CLASSES = 443, 197, 10


def training_config(fields: dict) -> Config:
    """The paper configuration with 3 s patches, or whole inputs where the model needs more."""
    cfg = Config.from_dict({**fields, **PATCHES})
    try:
        patch_config(cfg)
    except Exception:
        cfg = cfg.replace(train_patch_frames=None, train_patch_samples=None)
    return cfg


def _median_seconds(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_config(name: str, fields: dict, steps: int, batch: int, fast: bool = False) -> dict:
    cfg = training_config(fields)
    model = build_classifier(cfg, 0, N_CLASSES, fast=fast)
    optimizer = keras.optimizers.Adam(cfg.learning_rate)
    optimizer.build(model.trainable_variables)
    train, predict = step_functions(model, optimizer, model.input_shape[1:])
    rng = np.random.default_rng(0)
    shape = (batch, *model.input_shape[1:])
    low, high = (-80.0, 0.0) if cfg.signal == "spectrogram" else (-1.0, 1.0)
    x = tf.constant(rng.uniform(low, high, shape).astype(np.float32))
    y = tf.constant(rng.integers(0, N_CLASSES, batch).astype(np.int32))
    start = time.perf_counter()
    float(train(x, y)[0])
    first = time.perf_counter() - start
    step = _median_seconds(lambda: float(train(x, y)[0]), steps)
    predict(x).numpy()
    evaluate = _median_seconds(lambda: predict(x).numpy(), steps)
    length_key = PATCH_KEYS[frontend_of(cfg).input][0]
    patches_per_clip = len(patch_starts(getattr(cfg, length_key), patch_length(cfg)))
    epoch = (math.ceil(GTZAN_TRAIN / batch) * step
             + math.ceil(GTZAN_VAL * patches_per_clip / batch) * evaluate)
    return {"name": name, "patch": patch_length(cfg), "unit": length_key.removeprefix("n_"),
            "features": int(model.get_layer(f"{frontend_of(cfg).name}_extractor").output.shape[-1]),
            "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
            "first": first, "step": step, "eval": evaluate, "epoch": epoch, "fast": fast}


def markdown(rows: list[dict], batch: int) -> str:
    lines = [f"| configuration | patch | features | trainable parameters | first step (s) | "
             f"step of {batch} (s) | eval of {batch} (s) | GTZAN epoch (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = r["name"] + (" (fused layers)" if r["fast"] else "")
        lines.append(f"| {name} | {r['patch']} {r['unit']} | {r['features']} | {r['parameters']:,} | "
                     f"{r['first']:.1f} | {r['step']:.3f} | {r['eval']:.3f} | {r['epoch']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "large"], default="small")
    parser.add_argument("--arch", nargs="*", help="configurations whose name contains one of these")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--fused", action="store_true", help="also time fast=True models")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args()
    frontends = paper_frontends()
    sizes = {name: fields for name, fields in frontends.items()}
    rank = {"small": 0, "large": 1}[args.size]
    chosen = {}
    for base in {name.rsplit("-", 1)[0] for name in sizes}:
        variants = sorted((n for n in sizes if n.rsplit("-", 1)[0] == base),
                          key=lambda n: int(n.rsplit("-", 1)[1]))
        chosen[variants[rank]] = sizes[variants[rank]]
    if args.arch:
        chosen = {n: f for n, f in chosen.items() if any(a in n for a in args.arch)}
    rows = []
    for name in sorted(chosen):
        for fast in (False, True) if args.fused else (False,):
            row = time_config(name, chosen[name], args.steps, args.batch, fast)
            rows.append(row)
            print(markdown([row], args.batch).splitlines()[-1], flush=True)
    header = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
              f"TensorFlow {tf.__version__}, GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    table = markdown(rows, args.batch)
    print("\n" + header + "\n\n" + table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(header + "\n\n" + table)


if __name__ == "__main__":
    main()
