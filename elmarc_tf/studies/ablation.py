"""The batch-normalisation ablation of the paper (Section 3.4, Figure 5).

With batch normalisation computed from the current batch, a clip's features depend on the other
clips of its batch: accuracy then depends on the batch size and on the order of the data (sorted
by class, a batch of 100 GTZAN clips is one genre and carries a "genre cue"). Without it, features
and accuracy do not depend on the batch.

Steps: decode every clip once (the log-mel inputs are cached on disk), check directly that a clip's
features change with its batch companions with BN and do not without, then for every condition
(BN / no BN x sorted / shuffled order) x batch size x run (random weights seed): features into a
feature store (atomic and resumable, batch by batch), SVM under stratified k-fold CV, and finally a
table (mean ± std over runs), a one-way ANOVA across batch sizes per condition and a PNG.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import f_oneway

from ..evaluation.classifiers import classifier_grid
from ..config import Config
from ..datasets import load_dataset
from .demo import make_demo_dataset
from ..errors import ElmarcError
from ..models.extractor import compile_extractor
from ..io.fileio import atomic_write_json
from ..extraction.inputs_cache import load_inputs
from ..evaluation.protocols import Protocol, check_evaluable, evaluate
from ..extraction.options import RunOptions
from .report import format_table
from ..extraction.store import StoreWriter, load_store

CONDITIONS = [("BN", "sorted"), ("BN", "shuffled"), ("no BN", "sorted"), ("no BN", "shuffled")]


def decoded_inputs(items, cfg, folder, run: RunOptions = RunOptions()):
    """Inputs ``(n, n_frames, n_mels)`` of the clips of ``items`` that decode
    (:func:`~elmarc_tf.extraction.inputs_cache.load_inputs`: decoded once, cached in ``folder``).

    Returns ``(inputs, kept items, failures)``; unreadable clips are left out *before* batching
    (a zero input would change its batch companions' statistics).
    """
    x, errors = load_inputs(cfg, items, folder, run)
    kept = [i for i, e in enumerate(errors) if not e]
    return np.asarray(x[kept]), [items[i] for i in kept], [e for e in errors if e]


def batch_order(labels, order: str, run: int) -> np.ndarray:
    """Row order in which clips are batched: grouped by class (``sorted``) or random per run."""
    labels = np.asarray(labels)
    if order == "sorted":
        return np.argsort(labels, kind="stable")
    return np.random.default_rng(run).permutation(len(labels))


def features_in_batches(fn, inputs, order, batch_size):
    """Features ``(n, d)`` in the original row order, computed in batches of ``order``."""
    rows = {}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        for i, f in zip(idx, np.asarray(fn(inputs[idx]))):
            rows[int(i)] = f
    return np.stack([rows[i] for i in range(len(inputs))])


def batch_dependence(fn_bn, fn_plain, inputs, companions: int = 3) -> dict:
    """Features of clip 0 in two different batches: max |difference| with and without BN."""
    n = len(inputs)
    a = np.array([0] + list(range(1, 1 + companions))) % n
    b = np.array([0] + list(range(n - companions, n))) % n
    out = {}
    for name, fn in (("BN", fn_bn), ("no BN", fn_plain)):
        out[name] = float(np.abs(np.asarray(fn(inputs[a]))[0] - np.asarray(fn(inputs[b]))[0]).max())
    return out


@dataclass(frozen=True)
class AblationModel:
    """The network the ablation probes: the VGG (``cnn_small_filters``) with ``num_filters``
    filters per layer on ``n_frames`` log-mel frames (audio resampled with ``res_type``), its
    batch-statistics normalisation at ``position`` (``before_elu`` or ``after_elu``)."""

    num_filters: int = 32
    n_frames: int = 1376
    position: str = "before_elu"
    res_type: str = "soxr_hq"

    def config(self) -> Config:
        """The config without batch normalisation (``batch_norm=True`` adds it)."""
        return Config(architecture="cnn_small_filters", num_filters=self.num_filters,
                      n_frames=self.n_frames, batch_norm_position=self.position,
                      res_type=self.res_type)


def run_ablation(items, out, batch_sizes=(1, 10, 100), orders=("sorted", "shuffled"), runs=3,
                 model: AblationModel = AblationModel(), folds=10,
                 run: RunOptions = RunOptions()) -> dict:
    """The whole ablation on ``items``; results in ``out`` (resumable). Returns the summary.

    ``folds``: the SVM's stratified cross-validation folds. ``run``: its ``progress`` (the
    decoding's bar) and ``log`` (default ``print``) apply. The clips are checked against the
    SVM's folds before any work."""
    check_evaluable([it.label for it in items], "stratified_kfold", n_folds=folds)
    out = Path(out)
    log = run.logger()
    num_filters, position = model.num_filters, model.position
    base = model.config()
    inputs, kept, failures = decoded_inputs(items, base, out / "inputs", run)
    for f in failures:
        log(f"skipped: {f}")
    labels = np.array([it.label for it in kept])
    log(f"{len(kept)} clips, {len(set(labels))} classes; VGG-{num_filters}, BN {position}")

    check = batch_dependence(compile_extractor(base.replace(batch_norm=True), 0),
                             compile_extractor(base, 0), inputs)
    log(f"same clip, two different batches: max |feature difference| with BN = {check['BN']:.3g}, "
        f"without BN = {check['no BN']:.3g}")

    accuracies: dict[str, dict[int, list[float]]] = {}
    for bn_name, order in CONDITIONS:
        if order not in orders:
            continue
        condition = f"{bn_name}, {order}"
        accuracies[condition] = {}
        for repeat in range(runs):
            cfg = base.replace(batch_norm=bn_name == "BN")
            fn = None
            for bs in batch_sizes:
                folder = (out / "stores" / f"{'bn' if cfg.batch_norm else 'nobn'}_{order}"
                          / f"bs{bs}" / f"run{repeat}")
                result_path = folder / "accuracy.json"
                if not result_path.is_file():
                    if not (folder / "manifest.json").is_file():
                        fn = fn or compile_extractor(cfg, repeat)
                        X = features_in_batches(fn, inputs, batch_order(labels, order, repeat), bs)
                        writer = StoreWriter(folder, cfg.replace(batch_size=bs), kept, repeat)
                        writer.begin()
                        writer.write_chunk(np.arange(len(kept)), X, [""] * len(kept), 0.0)
                        writer.finish([], X.shape[1])
                    X, y, _, _ = load_store(folder)
                    estimator, grid = classifier_grid("SVM", svm_max_iter=base.svm_max_iter)
                    result = evaluate(X, y, estimator, grid,
                                      protocol=Protocol("stratified_kfold", n_folds=folds))
                    atomic_write_json(result_path, {"accuracy": result["accuracy"],
                                                    "best_params": result["best_params"]})
                acc = json.loads(result_path.read_text())["accuracy"]
                accuracies[condition].setdefault(bs, []).append(acc)
                log(f"{condition:14s} batch {bs:4d} run {repeat}: accuracy {acc:.3f}")

    rows, anova = [], {}
    for condition, by_bs in accuracies.items():
        row = {"condition": condition}
        for bs in batch_sizes:
            accs = 100 * np.array(by_bs[bs])
            row[f"bs{bs}"] = f"{accs.mean():.2f} ± {accs.std():.2f}"
        groups = [by_bs[bs] for bs in batch_sizes]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f, p = f_oneway(*groups) if len(groups) > 1 and runs > 1 else (float("nan"),) * 2
        anova[condition] = {"F": float(f), "p": float(p)}
        row["anova"] = f"F={f:.3g}, p={p:.3g}"
        rows.append(row)
    table = format_table(rows, [("condition", "condition")]
                         + [(f"bs{bs}", f"batch {bs}: acc % (mean ± std)") for bs in batch_sizes]
                         + [("anova", "one-way ANOVA across batch sizes")])
    log("\n" + table)
    chart = figure5(accuracies, batch_sizes, out / "figure5.png")
    summary = {"check": check, "accuracies": {c: {str(k): v for k, v in d.items()}
                                              for c, d in accuracies.items()},
               "anova": anova, "batch_sizes": list(batch_sizes), "runs": runs,
               "n_clips": len(kept), "failures": failures, "position": position,
               "num_filters": num_filters, "table": table, "chart": str(chart)}
    atomic_write_json(out / "ablation.json", summary)
    log(f"\nchart: {chart}\nresults: {out / 'ablation.json'}")
    return summary


DEFAULT_OUT = Path("elmarc_out") / "batchnorm_ablation"


def run_ablation_study(demo: bool = False, dataset: str | None = None, audio_root=None, out=None,
                       batch_sizes=(1, 10, 100), runs: int = 3, **options) -> dict:
    """:func:`run_ablation` on the embedded demo data (``demo``) or on a dataset
    (:func:`elmarc_tf.datasets.load_dataset` of ``dataset`` under ``audio_root``): what
    ``elmarc ablation`` and ``scripts/batchnorm_ablation.py`` run. ``out`` defaults to
    :data:`DEFAULT_OUT` (its ``demo`` sub-folder for the demo data)."""
    if any(b < 1 for b in batch_sizes) or runs < 1:
        raise ElmarcError("--batch-sizes and --runs must be positive")
    if demo:
        out = Path(out) if out is not None else DEFAULT_OUT / "demo"
        items = load_dataset("folder", make_demo_dataset(out / "audio", clips_per_class=10))
    else:
        if dataset is None or audio_root is None:
            raise ElmarcError("give --demo, or --dataset with --audio-root")
        out = Path(out) if out is not None else DEFAULT_OUT
        items = load_dataset(dataset, audio_root)
    return run_ablation(items, out, batch_sizes=batch_sizes, runs=runs, **options)


def figure5(accuracies, batch_sizes, path) -> Path:
    """Grouped bars in the style of the paper's Figure 5: accuracy per batch size and condition."""
    conditions = list(accuracies)
    width = 0.8 / max(len(conditions), 1)
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for k, condition in enumerate(conditions):
        means = [100 * np.mean(accuracies[condition][bs]) for bs in batch_sizes]
        stds = [100 * np.std(accuracies[condition][bs]) for bs in batch_sizes]
        xs = [i + (k - (len(conditions) - 1) / 2) * width for i in range(len(batch_sizes))]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=condition, edgecolor="black",
               linewidth=0.5)
    ax.set_xticks(range(len(batch_sizes)))
    ax.set_xticklabels([f"batch size {bs}" for bs in batch_sizes])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(conditions),
              frameon=False)
    ax.set_title("Random VGG features + SVM, with and without batch normalisation", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
