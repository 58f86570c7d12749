"""``elmarc bench --profile``: where an extractor's forward pass spends its time, layer by layer.

The extractor's graph (nested models included) is replayed layer by layer on one batch of random
log-mel frames or waveforms of the full input length; each layer is timed alone on its real input
(a compiled ``tf.function``, the best of at least three calls after a warm-up, as the forward
rate of :mod:`elmarc_tf.bench.timing`), and its analytic FLOPs (:mod:`elmarc_tf.models.flops`) give its GFLOP/s.
The whole model is timed the same way, so the sum of the layers can be compared with it. The
replay reproduces the model's own output (checked by a test), so the times are of the real
computation, fused layers included. A front-end that takes whole clips is profiled on one 30 s
clip (:func:`elmarc_tf.bench.timing.random_batch`); its window models' layers run on all the clip's
windows, and their FLOPs are counted for all of them.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from ..extraction.batching import rule_batch_size
from ..models.extractor import compile_extractor
from ..io.fileio import atomic_write_json, atomic_write_text, versions
from ..models.flops import clip_flops, conv_flops
from ..models.keras_graph import nodes_in_order, pack_outputs
from ..studies.paper import paper_config
from .timing import best_call_seconds, clip_samples, matmul_peak, random_batch

DEFAULT_SECONDS = 1.0  # per layer: at least three calls and this long


def replay(model: keras.Model, inputs, visit=None, prefix: str = ""):
    """Run ``model`` on ``inputs`` one layer at a time, descending into nested models.

    ``visit(name, layer, args, kwargs, outputs)`` is called for every layer that is not itself a
    model, with its inputs and outputs (eager tensors); ``name`` is the layer's path, e.g.
    ``cnn_music_taps/conv1d_2``. Returns the model's outputs, structured as ``model(inputs)``.
    """
    values = {id(kt): v for kt, v in zip(model.inputs, tf.nest.flatten(inputs))}
    for node in nodes_in_order(model):
        layer = node.operation
        if isinstance(layer, keras.layers.InputLayer):
            continue
        args, kwargs = node.arguments.fill_in(values)
        name = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model):
            outputs = replay(layer, tf.nest.flatten(args), visit, prefix=f"{name}/")
        else:
            outputs = layer(*args, **kwargs)
            if visit is not None:
                visit(name, layer, args, kwargs, outputs)
        for kt, value in zip(node.outputs, tf.nest.flatten(outputs)):
            values[id(kt)] = value
    return pack_outputs(model, [values[id(kt)] for kt in model.outputs])


def _shape(x) -> list:
    """Per-clip shape(s) of a layer's input/output (batch dimension left out)."""
    shapes = [list(t.shape[1:]) for t in tf.nest.flatten(x)]
    return shapes[0] if len(shapes) == 1 else shapes


def profile_layers(cfg, batch_size=None, seconds: float = DEFAULT_SECONDS, seed: int = 0) -> dict:
    """Per-layer forward times of ``cfg``'s extractor (the fast graph ``extract`` runs).

    ``batch_size``: clips per call (default: the automatic batch size extraction uses).
    Returns ``{"batch_size", "flops", "model_ms", "layers": [{"layer", "type", "input_shape",
    "output_shape", "flops", "ms", "gflops"}, ...]}``: FLOPs per clip (``None`` for layers that
    are not convolutions, which :mod:`elmarc_tf.models.flops` does not count) and milliseconds per clip;
    ``model_ms`` is the whole model's, timed the same way.
    """
    extractor = compile_extractor(cfg, seed=seed)
    model = extractor.model
    batch = int(batch_size or rule_batch_size(cfg, model))
    x = tf.constant(random_batch(cfg, extractor, batch))
    layers = []

    def visit(name, layer, args, kwargs, outputs):
        fn = tf.function(lambda *a: layer(*a, **kwargs))
        ms = 1e3 * best_call_seconds(fn, args, seconds) / batch
        rows = int(tf.nest.flatten(args)[0].shape[0])  # clips, or every window of the clips
        flops = (conv_flops(layer) * rows // batch
                 if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D) else None)
        layers.append({"layer": name, "type": type(layer).__name__,
                       "input_shape": _shape(args), "output_shape": _shape(outputs),
                       "flops": flops, "ms": ms,
                       "gflops": None if flops is None else flops / ms / 1e6})

    replay(model, x, visit)
    return {"batch_size": batch, "flops": clip_flops(model, clip_samples(cfg)),
            "layers": layers,
            "model_ms": 1e3 * best_call_seconds(extractor, (x,), 3 * seconds) / batch}


def markdown(name: str, profile: dict, peak_gflops: float | None = None) -> str:
    """A Markdown table of one :func:`profile_layers` result."""
    total = sum(r["ms"] for r in profile["layers"])
    gflops = profile["flops"] / profile["model_ms"] / 1e6
    head = (f"**{name}**, batch {profile['batch_size']}: whole model {profile['model_ms']:.2f} ms "
            f"per clip ({profile['flops'] / 1e9:.2f} GFLOP, {gflops:.1f} GFLOP/s"
            + (f", {100 * gflops / peak_gflops:.0f} % of the {peak_gflops:.0f} GFLOP/s peak"
               if peak_gflops else "")
            + f"); its layers timed one by one: {total:.2f} ms.")
    lines = [head, "", "| layer | type | input | output | GFLOP/clip | ms/clip | share | GFLOP/s |"
             + (" % of peak |" if peak_gflops else ""),
             "|---|---|---|---|---:|---:|---:|---:|" + ("---:|" if peak_gflops else "")]
    for r in profile["layers"]:
        rate = "-" if r["gflops"] is None else f"{r['gflops']:.1f}"
        row = (f"| {r['layer']} | {r['type']} | {_fmt(r['input_shape'])} | "
               f"{_fmt(r['output_shape'])} | "
               + ("-" if r["flops"] is None else f"{r['flops'] / 1e9:.3f}")
               + f" | {r['ms']:.3f} | {100 * r['ms'] / total:.1f} % | {rate} |")
        if peak_gflops:
            row += " - |" if r["gflops"] is None else f" {100 * r['gflops'] / peak_gflops:.0f} % |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _fmt(shape) -> str:
    if shape and isinstance(shape[0], list):
        return " + ".join(_fmt(s) for s in shape) if len(shape) <= 3 else f"{len(shape)} tensors"
    return "x".join(str(d) for d in shape)


def run_profile(names, quick: bool = False, out="elmarc_out/bench", log=print) -> dict:
    """Profile each paper configuration in ``names`` (:func:`elmarc_tf.studies.paper.paper_config`)
    against the matmul peak measured in the same run; writes ``profile.json`` and ``profile.md``
    in ``out`` and returns ``{"matmul_gflops", "profiles": {name: profile}}``."""
    configs = {name: paper_config(name) for name in names}  # unknown names fail before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    matmul = matmul_peak(seconds=3.0 if quick else 9.0)
    log("float32 matmul: " + ", ".join(f"{k} {v:.1f}" for k, v in matmul.items()) + " GFLOP/s")
    result = {"matmul_gflops": matmul, "profiles": {}, "versions": versions()}
    tables = []
    for name, cfg in configs.items():
        profile = profile_layers(cfg, seconds=0.3 if quick else DEFAULT_SECONDS)
        result["profiles"][name] = profile
        tables.append(markdown(name, profile, matmul["peak"]))
        log(tables[-1])
        atomic_write_json(out / "profile.json", result)  # each finished profile is kept
    atomic_write_text(out / "profile.md", "\n".join(tables))
    log(f"written: {out / 'profile.json'}, {out / 'profile.md'}")
    return result
