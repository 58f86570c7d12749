"""The random-vs-trained study: is random-CNN accuracy correlated with trained accuracy?

The paper's method rests on that claim (Pons & Serra, Sections 1 and 5, after Saxe et al.) and
leaves checking it on audio "for future work". For a list of architectures at one feature size and
over seeds, :func:`run_random_vs_trained` scores every architecture under one protocol. Per split
(GTZAN's train/val/test lists, or each fold with its stratified ``val_fraction`` validation part of
the other folds: :func:`study_splits`, the trainings' own
:func:`~elmarc_tf.studies.train.training_splits`), the training, validation and test clips are
fixed once, the same for every column and seed:

1. **random + SVM**: random-weight features (the stores of ``elmarc run``) through the paper's SVM
   grid, the grid point chosen on the validation clips, refit on the training clips, accuracy on
   the test clips (:func:`svm_on_splits`);
2. **end-to-end**: the same front-end with the same initial weights trained with a softmax head,
   early-stopped on the validation clips, accuracy on the test clips
   (:func:`elmarc_tf.studies.train.train_experiment`);
3. **trained + SVM**: features of the trained front-end (its best epoch's weights, extracted from
   whole clips as the random ones) through :func:`svm_on_splits` on that model's clips, as (1);
4. an extra column, **the paper's protocol** (``elmarc run``: on k-fold data ``best_score_``, the
   grid chosen on the test folds, optimistic), labelled as such and left out of the statistics.

A seed's accuracy is the mean over splits. Across architectures, random + SVM against (2) and
(3): :func:`elmarc_tf.studies.rank_agreement.correlations` (Spearman, Kendall, Pearson with
bootstrap intervals over seeds and splits, a permutation p-value, top-1 agreement and regret).
Outputs: ``study.json`` (with each split's clip ids and each column's clip-set digests),
``table.txt`` / ``table.md``, ``scatter.png``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import yaml
from matplotlib.figure import Figure

from ..evaluation.classifiers import classifier_grid
from ..config import Config, shared_fields
from ..datasets import items_from_config
from .demo import DEMO_CLASSES, make_demo_dataset
from ..errors import ConfigError
from ..extraction.extract import extract
from ..extraction.options import RunOptions
from ..io.fileio import atomic_write_json, atomic_write_text, check_writable
from ..frontends import frontend_of, is_seeded
from .paper import DATASETS, SIZES, figure_of, paper_configs, study_run
from ..evaluation.protocols import Protocol, check_items_evaluable, evaluate
from .report import FAMILY_COLOURS, OTHER_FAMILY, format_table
from ..extraction.store import data_digest, load_store
from .results import Described, model_label, summarize, write_summary
from .study import (claim_results_folder, results_name, run_experiment, save_seed, saved_seed,
                    store_seed)
from .rank_agreement import N_BOOT, correlations
from ..frontends.spectrogram import vgg_min_input
from .train import (CLASSIFIER, PATCH_KEYS, TrainingOptions, TrainingSplit, check_trainable,
                    extra_architectures, patch_config, quiet_retracing, train_experiment,
                    training_splits)

DEFAULT_OUT = Path("elmarc_out") / "random_vs_trained"
COLUMNS = {"random": "random + SVM", "trained": "end-to-end", "transfer": "trained + SVM"}
PAPER_COLUMN = "random + SVM, paper protocol (optimistic)"
PARTS = ("train", "val", "test")

# Training settings of the study on the paper's datasets: 3 s patches (140 frames, 36 000
# samples at 12 kHz), as these models are trained in the literature.
STUDY_TRAINING = dict(train_patch_frames=140, train_patch_samples=36000, epochs=100, patience=10)

# The demo: small architectures at the paper's ~120-d size, few epochs, 4 stratified folds.
DEMO_ARCHITECTURES = {
    "sample_level-23": dict(architecture="sample_level", num_filters=23),
    "frame_level-40": dict(architecture="frame_level", num_filters=40),
    "frame_level_many-20": dict(architecture="frame_level_many", num_filters=20),
    "7x96-160": dict(architecture="7x96", num_filters=160, selected_features_list=[1]),
    "7x86-160": dict(architecture="7x86", num_filters=160, selected_features_list=[1]),
    "timbral+temporal-4": dict(architecture="cnn_music", num_filters=4,
                               selected_features_list=[0, 1]),
}
DEMO_FIELDS = dict(dataset="demo", n_frames=1376, n_samples=350000, n_folds=4, val_fraction=0.25,
                   train_patch_frames=140, train_patch_samples=36000, train_patches_per_clip=2,
                   epochs=15, patience=6, train_batch_size=8, learning_rate=3e-4)


# ------------------------------------------------------------------------------ the splits
def _digest(ids) -> str:
    """A short digest of a set of clip ids (sorted)."""
    return hashlib.sha256(json.dumps(sorted(map(str, ids))).encode()).hexdigest()[:16]


def study_splits(cfg, items) -> tuple[str, list[TrainingSplit]]:
    """``(protocol, splits)``: per split, the train / validation / test clip indices of ``items``
    under ``cfg``'s protocol, exactly as :func:`elmarc_tf.studies.train.training_splits` gives
    them to the trainings (labels as ints in sorted order, as a training encodes them): GTZAN's
    lists, or each fold with its stratified ``val_fraction`` validation part."""
    labels = sorted({it.label for it in items})
    return training_splits(cfg, items, [labels.index(it.label) for it in items])


def split_clip_ids(items, split: TrainingSplit) -> dict:
    """``{'train' | 'val' | 'test': [clip ids]}`` of one :class:`TrainingSplit` of ``items``."""
    return {part: [str(items[i].id) for i in getattr(split, part)] for part in PARTS}


def _clip_parts(path) -> dict:
    """``{clip id: 'train' | 'val' | 'test'}`` of a trained model's ``clips.json``."""
    parts = json.loads(Path(path).read_text())
    return {i: part for part, ids in parts.items() for i in ids}


def _part_digests(parts: dict) -> dict:
    """``{part: digest of its clip ids}`` of ``{clip id: part}``."""
    return {part: _digest([i for i, p in parts.items() if p == part]) for part in PARTS}


# ------------------------------------------------------------------------------ SVM on splits
@dataclass(frozen=True)
class SplitModel:
    """One feature extractor scored on one split: ``name`` (``split``, ``fold<k>``), the split's
    clips ``parts`` (``{clip id: 'train' | 'val' | 'test'}``) or the ``clips`` file that lists
    them (a training's ``clips.json``), and its ``weights`` file (``None``: random weights) with
    their ``weights_digest``."""

    name: str
    parts: Optional[dict] = None
    clips: Optional[str] = None
    weights: Optional[str] = None
    weights_digest: Optional[str] = None


def svm_on_splits(cfg, models: dict, items, out, name: str, features_out,
                  run: RunOptions = RunOptions(), protocol: str = "predefined_split") -> dict:
    """``cfg``'s classifier grid on the features of ``models`` (``{seed: [SplitModel]}``);
    ``<out>/<name>/results.json`` as :func:`run_experiment` writes it.

    Per model: ``extract(cfg, items, seed, weights=its weights)`` (random features: the store
    ``elmarc run`` uses), then :func:`elmarc_tf.evaluation.protocols.evaluate` with
    ``predefined_split`` on its parts: the grid point chosen on the validation clips, refit on the
    training clips, accuracy on the test clips. A seed's accuracy is the mean over its models;
    each split's entry records its clips' digests (``clips``). ``protocol``: recorded as the
    results' protocol. ``run``: as :func:`run_experiment` (extraction and grid search on
    ``run.engine``, no progress bar).
    """
    log = run.logger()
    folder = claim_results_folder(out, cfg, name)
    data = data_digest(items)
    per_seed = []
    for seed, entries in models.items():
        identity = dict(data=data, weights=[m.weights_digest for m in entries],
                        clips=[_part_digests(m.parts) if m.parts is not None else m.clips
                               for m in entries])
        cache = folder / f"seed{seed}.json"
        result = saved_seed(cache, cfg, **identity)
        if result is not None:
            per_seed.append(result)
            continue
        splits = []
        for model in entries:
            extraction = extract(cfg, items, seed=store_seed(cfg, seed), out=features_out,
                                 weights=model.weights, run=replace(run, log=None))
            X, y, ids, _ = load_store(extraction.folder)
            parts = model.parts if model.parts is not None else _clip_parts(model.clips)
            rows = np.array([i in parts for i in ids])
            estimator, grid = classifier_grid(cfg.model_type, seed=seed,
                                              svm_max_iter=cfg.svm_max_iter)
            result = evaluate(X[rows], y[rows], estimator, grid,
                              splits=[parts[i] for i in ids[rows]],
                              protocol=Protocol("predefined_split", standardize=cfg.standardize,
                                                seed=seed),
                              run=replace(run, progress=False))
            splits.append({"name": model.name, "accuracy": result["accuracy"],
                           "val_accuracy": result["val_accuracy"],
                           "best_params": result["best_params"], "store": str(extraction.folder),
                           "weights_digest": model.weights_digest,
                           "clips": _part_digests({i: parts[i] for i in ids[rows]})})
        result = {"seed": seed, "accuracy": float(np.mean([s["accuracy"] for s in splits])),
                  "protocol": protocol,
                  "best_params": splits[0]["best_params"] if len(splits) == 1 else {},
                  "feature_length": int(X.shape[1]), "splits": splits}
        if len(splits) > 1:
            result["fold_accuracies"] = [s["accuracy"] for s in splits]
        save_seed(cache, cfg, result, **identity)
        per_seed.append(result)
        log(f"{name} seed {seed}: accuracy {result['accuracy']:.4f}")
    first = per_seed[0]
    trained = any(m.weights is not None for entries in models.values() for m in entries)
    label = model_label(cfg, first["feature_length"]) + (" trained" if trained else "")
    summary = summarize(Described(name, label, cfg.model_type, first["protocol"],
                                  first["feature_length"], cfg.standardize, False),
                        cfg, [r["seed"] for r in per_seed], per_seed)
    write_summary(folder, summary)
    return summary


def random_split_experiment(cfg, seeds, items, out, name: str, features_out,
                            run: RunOptions = RunOptions()) -> dict:
    """Random features + ``cfg``'s classifier on the study's splits (:func:`study_splits`, the
    trainings' splits): :func:`svm_on_splits` with random weights, every seed on the same
    clips."""
    protocol, splits = study_splits(cfg, items)
    models = [SplitModel(s.name, parts={i: part for part, ids in split_clip_ids(items, s).items()
                                        for i in ids}) for s in splits]
    return svm_on_splits(cfg, {int(seed): models for seed in seeds}, items, out, name,
                         features_out, run, protocol=f"{protocol} (train/val/test splits)")


def trained_features_experiment(cfg, trained: dict, items, out, name: str, features_out,
                                run: RunOptions = RunOptions()) -> dict:
    """Features of each trained model of ``trained`` (a :func:`train_experiment` summary) through
    ``cfg``'s classifier grid: :func:`svm_on_splits` with each model's best weights on its own
    train/val/test clips (its ``clips.json``)."""
    models = {entry["seed"]: [SplitModel(s["name"], clips=s.get("clips"), weights=s["weights"],
                                         weights_digest=s["weights_digest"])
                              for s in entry["splits"]]
              for entry in trained["per_seed"]}
    return svm_on_splits(cfg, models, items, out, name, features_out, run,
                         protocol=f"{trained['protocol']} (trained models' splits)")


# ------------------------------------------------------------------------------ the study
def _study_config(fields: dict, log) -> Config:
    """The config of one architecture; patch keys its architecture cannot take are dropped
    (whole inputs), with a log line."""
    cfg = Config.from_dict(fields)
    if frontend_of(cfg).input in PATCH_KEYS:
        try:
            patch_config(cfg)
        except ConfigError as e:
            cfg = cfg.replace(train_patch_frames=None, train_patch_samples=None)
            log(f"{e}: trained on whole inputs instead")
    check_trainable(cfg)
    return cfg


def _stats(summary: dict) -> dict:
    """Accuracies of one column: per seed, their mean and std, and ``per_split`` (``(n_seeds,
    n_splits)``, where the results have splits)."""
    out = {"name": summary["name"], "accuracies": summary["accuracies"], "mean": summary["mean"],
           "std": summary["std"]}
    if all("splits" in e for e in summary["per_seed"]):
        out["per_split"] = [[s["accuracy"] for s in e["splits"]] for e in summary["per_seed"]]
    return out


def _clip_sets(summary: dict, trained: bool) -> dict:
    """``{split name: {part: digest}}`` of one column's seeds, ``None`` where seeds differ."""
    sets = []
    for entry in summary["per_seed"]:
        sets.append({s["name"]: (_part_digests(_clip_parts(s["clips"])) if trained else s["clips"])
                     for s in entry["splits"]})
    return sets[0] if all(x == sets[0] for x in sets) else None


def _study_row(name, cfg, seeds, out, items, training, run) -> dict:
    """The four experiments of one architecture and its row of the study."""
    svm_cfg = cfg.replace(model_type="SVM")
    results, features = out / "results", out / "features"
    paper = run_experiment(svm_cfg, seeds=seeds, out=results,
                           name=results_name(svm_cfg, classifier="SVM", base=name),
                           items=items, features_out=features, run=run)
    random = random_split_experiment(svm_cfg, seeds, items, results,
                                     results_name(svm_cfg, classifier="random_SVM", base=name),
                                     features, run=run)
    trained = train_experiment(cfg, seeds=seeds, out=results,
                               name=results_name(cfg, classifier=CLASSIFIER, base=name),
                               items=items, checkpoints_out=out / "training", training=training,
                               run=run)
    transfer = trained_features_experiment(svm_cfg, trained, items, results,
                                           results_name(svm_cfg, classifier="trained_SVM",
                                                        base=name), features, run=run)
    splits = [s for r in trained["per_seed"] for s in r["splits"]]
    return {"name": name, "model": random["model"], "feature_length": random["feature_length"],
            "family": frontend_of(cfg).family, "random": _stats(random),
            "trained": _stats(trained), "transfer": _stats(transfer), "paper": _stats(paper),
            "best_epoch_mean": float(np.mean([s["best_epoch"] for s in splits])),
            "seconds_per_epoch": float(np.median([t for s in splits
                                                  for t in s["curves"]["seconds"]])),
            "protocol": {"random": random["protocol"], "trained": trained["protocol"],
                         "paper": paper["protocol"]},
            "clip_sets": {"random": _clip_sets(random, False), "trained": _clip_sets(trained, True),
                          "transfer": _clip_sets(transfer, False)}}


@dataclass(frozen=True)
class Bootstrap:
    """The bootstrap of the statistics' intervals (:func:`correlations`): ``n_boot``
    resamples drawn with ``seed``."""

    n_boot: int = N_BOOT
    seed: int = 0


def study_statistics(rows: list[dict], bootstrap: Bootstrap = Bootstrap()) -> dict | None:
    """:func:`correlations` of random + SVM against ``trained`` (end-to-end) and ``transfer``
    (trained + SVM), on the per-seed, per-split accuracies of ``rows``; ``None`` with fewer than
    3 architectures."""
    if len(rows) < 3:
        return None
    table = lambda column: {r["name"]: r[column].get("per_split", r[column]["accuracies"])
                            for r in rows}
    return {column: correlations(table("random"), table(column), n_boot=bootstrap.n_boot,
                                 seed=bootstrap.seed)
            for column in ("trained", "transfer")}


def _identical(rows: list[dict]) -> bool:
    """Whether every column of every architecture used the same clip sets."""
    sets = [r["clip_sets"][c] for r in rows for c in ("random", "trained", "transfer")]
    return sets[0] is not None and all(s == sets[0] for s in sets)


def run_random_vs_trained(base: dict, architectures: dict, seeds=(0, 1, 2), out=DEFAULT_OUT,
                          items=None, title: str | None = None, bootstrap: Bootstrap = Bootstrap(),
                          training: TrainingOptions = TrainingOptions(),
                          run: RunOptions = RunOptions()) -> dict:
    """Run the study: ``architectures`` (``{name: config fields}``, each completed by ``base``:
    data, input and training fields) over ``seeds``; see the module docstring.

    Everything lands under ``out`` (``features/``, ``training/``, ``results/<name>_random_SVM``,
    ``results/<name>_end-to-end``, ``results/<name>_trained_SVM`` and the paper protocol's
    ``results/<name>_SVM``; ``elmarc compare out/results`` reads them all) and is reused when
    rerun. Returns ``rows`` (per architecture: ``name``, ``model``, ``feature_length``, and
    ``random`` / ``trained`` / ``transfer`` / ``paper`` accuracies with ``mean``, ``std`` and
    ``per_split``; ``clip_sets``: each column's ``{split: {part: digest}}``), ``splits`` (the
    clip ids of each split's parts), ``identical_clip_sets``, ``correlations`` (random vs
    ``trained`` and vs ``transfer``, see :func:`correlations`; ``None`` with fewer than 3
    architectures), ``table``, and the paths ``json``, ``table_txt``, ``table_md``, ``chart``.
    ``bootstrap``: the statistics' intervals (:class:`Bootstrap`). ``training``: as
    :func:`elmarc_tf.studies.train.train_experiment`. ``run`` (a
    :class:`~elmarc_tf.extraction.options.RunOptions`): as
    :func:`~elmarc_tf.studies.study.run_experiment`, for every extraction (random and trained
    weights) and grid search; ``run.audio_cache`` ``None``: ``<out>/audio_cache`` (``False``: none).
    Before any work every architecture's config is checked against the clips (the SVM's
    protocol and the training's) and ``out`` must be writable.
    """
    out = Path(out)
    seeds = [int(s) for s in seeds]
    run = study_run(run, out)
    log = run.log
    configs = {name: _study_config(shared_fields(base, fields), log)
               for name, fields in architectures.items()}
    items = items if items is not None else items_from_config(next(iter(configs.values())))
    for cfg in configs.values():  # protocol errors and an unwritable folder before any work
        check_items_evaluable(cfg.replace(model_type="SVM"), items)
        check_items_evaluable(cfg, items, nested=False)
        study_splits(cfg, items)
    check_writable(out)
    rows = []
    with quiet_retracing():  # one model per architecture, seed and fold, by design
        for name, cfg in configs.items():
            rows.append(_study_row(name, cfg, seeds, out, items, training, run))
    corr = study_statistics(rows, bootstrap)
    if corr is None:
        log(f"{len(rows)} architectures: the statistics across architectures need at least 3")
    identical = _identical(rows)
    if not identical:
        log("the columns' clip sets differ (clips that could not be decoded?): see study.json")
    splits = {s.name: split_clip_ids(items, s)
              for s in study_splits(next(iter(configs.values())), items)[1]}
    title = title or f"{base.get('dataset') or 'data'}: random vs trained ({len(seeds)} seeds)"
    text, markdown = study_tables(rows, corr, seeds)
    paths = {"json": out / "study.json", "table_txt": out / "table.txt",
             "table_md": out / "table.md", "chart": out / "scatter.png"}
    atomic_write_json(paths["json"], {"seeds": seeds, "rows": rows, "correlations": corr,
                                      "splits": splits, "identical_clip_sets": identical})
    atomic_write_text(paths["table_txt"], text + "\n")
    atomic_write_text(paths["table_md"], f"## {title}\n\n{markdown}")
    scatter_chart(rows, corr and corr["trained"], title).savefig(paths["chart"], dpi=120)
    log("\n" + text + "\n")
    for key, path in paths.items():
        log(f"{key + ':':10} {path}")
    return {"rows": rows, "correlations": corr, "splits": splits,
            "identical_clip_sets": identical, "table": text, **paths}


def _pct(summary: dict) -> str:
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}"


def _correlation_lines(corr: dict | None, n_seeds: int) -> list[str]:
    if corr is None:
        return ["Fewer than 3 architectures: no statistics across architectures."]
    lines = []
    for column, c in corr.items():
        for method, label in (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"),
                              ("pearson", "Pearson r")):
            m = c[method]
            lines.append(f"random + SVM vs {COLUMNS[column]}: {label} = {m['r']:+.3f} "
                         f"(p = {m['p']:.3g}"
                         + (f", permutation p = {m['permutation_p']:.3g}"
                            if "permutation_p" in m else "")
                         + f"), {c['confidence']:.0%} bootstrap CI "
                         f"[{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]"
                         + (f", {m['undefined']} of {c['n_boot']} resamples undefined"
                            if m["undefined"] else ""))
        t = c["top1"]
        lines.append(f"random + SVM vs {COLUMNS[column]}: top-1 "
                     f"{'agrees' if t['agree'] else 'differs'} (random picks {t['pick']}, "
                     f"best {COLUMNS[column]}: {t['best']}); regret "
                     f"{100 * t['regret']:.1f} points, {c['confidence']:.0%} CI "
                     f"[{100 * t['regret_ci_low']:.1f}, {100 * t['regret_ci_high']:.1f}]; "
                     f"agreement in {t['agreement_rate']:.0%} of resamples")
    c = next(iter(corr.values()))
    perm = c["spearman"]
    lines.append(f"{c['n_architectures']} architectures, {c['n_splits']} split(s); bootstrap: "
                 f"{c['n_boot']} resamples of the splits (shared by the architectures) and of the "
                 f"{n_seeds} seeds per architecture (with replacement, paired across columns), "
                 f"numpy seed {c['seed']}; percentile interval. Permutation p: "
                 f"{'all' if perm['exact'] else 'random'} {perm['n_permutations']} orderings.")
    return lines


def study_tables(rows: list[dict], corr: dict | None, seeds) -> tuple[str, str]:
    """(plain text, Markdown) of the per-architecture accuracies and the statistics."""
    table_rows = [{"name": r["name"], "dim": r["feature_length"],
                   **{k: _pct(r[k]) for k in (*COLUMNS, "paper")},
                   "epoch": f"{r['best_epoch_mean']:.1f}", "sec": f"{r['seconds_per_epoch']:.2f}"}
                  for r in sorted(rows, key=lambda r: -r["random"]["mean"])]
    columns = [("name", "architecture"), ("dim", "dim"),
               *((k, f"{h} (%)") for k, h in COLUMNS.items()), ("paper", f"{PAPER_COLUMN} (%)"),
               ("epoch", "best epoch (mean)"), ("sec", "s/epoch (median)")]
    notes = _correlation_lines(corr, len(seeds))
    header = (f"Accuracy: mean ± std over seeds {list(seeds)}. The first three columns use the "
              f"same train / validation / test clips per split; the last is the paper's "
              f"best_score_ (grid chosen on the test folds: optimistic on k-fold data).")
    text = "\n".join([format_table(table_rows, columns), "", header, *notes])
    esc = lambda v: str(v).replace("|", "\\|")
    md = ["| " + " | ".join(h for _, h in columns) + " |",
          "|" + "|".join("---" if k == "name" else "---:" for k, _ in columns) + "|"]
    md += ["| " + " | ".join(esc(r[k]) for k, _ in columns) + " |" for r in table_rows]
    markdown = "\n".join(md) + "\n\n" + "\n\n".join([header, *notes]) + "\n"
    return text, markdown


def scatter_chart(rows: list[dict], corr: dict | None, title: str | None = None) -> Figure:
    """Random + SVM accuracy (x) vs end-to-end accuracy (y), one labelled point per architecture
    coloured by family, error bars = std over seeds, the diagonal; the statistics (``corr``:
    :func:`correlations` of these two columns, or ``None``) with their bootstrap intervals in the
    legend below."""
    fig = Figure(figsize=(6.4, 6.8), layout="constrained")
    ax = fig.subplots()
    xs = np.array([100 * r["random"]["mean"] for r in rows])
    ys = np.array([100 * r["trained"]["mean"] for r in rows])
    xerr = np.array([100 * r["random"]["std"] for r in rows])
    yerr = np.array([100 * r["trained"]["std"] for r in rows])
    low = max(0.0, min((xs - xerr).min(), (ys - yerr).min()) - 3)
    high = min(100.0, max((xs + xerr).max(), (ys + yerr).max()) + 3)
    ax.plot([low, high], [low, high], color="#999999", lw=0.8, ls="--", zorder=1,
            label="y = x (trained = random)")
    for family in sorted({r.get("family", OTHER_FAMILY) for r in rows}):
        members = [i for i, r in enumerate(rows) if r.get("family", OTHER_FAMILY) == family]
        colour = FAMILY_COLOURS.get(family, FAMILY_COLOURS[OTHER_FAMILY])
        ax.errorbar(xs[members], ys[members],
                    xerr=xerr[members], yerr=yerr[members], fmt="o",
                    color=colour, ecolor=colour, alpha=0.9, elinewidth=1, capsize=3,
                    markersize=6, zorder=3, label=family)
    for r, x, y in zip(rows, xs, ys):
        ax.annotate(r["name"], (x, y), xytext=(5, 4), textcoords="offset points", fontsize=9,
                    zorder=4, bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("random weights + SVM (grid chosen on validation clips): accuracy (%)")
    ax.set_ylabel("trained end to end: accuracy (%)")
    ax.grid(alpha=0.3)
    legend_title = "error bars: std over seeds"
    if corr is not None:
        for method, label in (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"),
                              ("pearson", "Pearson r")):
            m = corr[method]
            ax.plot([], [], " ", label=f"{label} = {m['r']:+.2f} "
                                       f"[{m['ci_low']:+.2f}, {m['ci_high']:+.2f}]")
        t = corr["top1"]
        ax.plot([], [], " ", label=f"permutation p (ρ) = {corr['spearman']['permutation_p']:.3g}")
        ax.plot([], [], " ", label=f"top-1 {'agrees' if t['agree'] else 'differs'}; regret "
                                   f"{100 * t['regret']:.1f} points")
        legend_title += (f"; [ ]: {corr['confidence']:.0%} bootstrap interval over seeds and "
                         f"splits")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8,
               frameon=False, title=legend_title, title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# ------------------------------------------------------------------------------ presets
def paper_architectures(dataset: str, audio_root, splits=None, size: str = "small",
                        only=None) -> tuple[dict, dict]:
    """``(base, architectures)`` of the paper's seeded front-ends of one dataset at one ``size``
    (``small``: ~120 features, ``large``: ~3500) for :func:`run_random_vs_trained`, with
    :data:`STUDY_TRAINING`; ``only``: substrings of architecture names to keep."""
    if size not in SIZES:
        raise ConfigError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    if dataset not in DATASETS:
        raise ConfigError(f"unknown paper dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    base = {**DATASETS[dataset]["fields"], "audio_path": str(audio_root), **STUDY_TRAINING}
    for key in ("train_set_list", "val_set_list", "test_set_list"):
        if key in base:
            base[key] = str(Path(splits) / Path(base[key]).name) if splits else None
    figure = DATASETS[dataset]["figures"][size]
    architectures = {}
    for exp, fields in paper_configs(dataset).items():
        name = exp.removesuffix("_SVM")
        own = {k: v for k, v in fields.items() if k not in ("figure", "experiment_name")}
        if (not exp.endswith("_SVM") or figure not in figure_of(fields)
                or not is_seeded(Config.from_dict(own))
                or (only and not any(o in name for o in only))):
            continue
        architectures[name] = {k: v for k, v in own.items() if k not in base}
    if size == "small":  # SampleCNN and LEAF-input CNNs, their filterbank learned or fixed
        architectures.update({name: fields for name, fields in extra_architectures().items()
                              if not only or any(o in name for o in only)})
    for fields in architectures.values():  # VGG trains on the shortest patch its pooling takes
        if Config.from_dict(shared_fields(base, fields)).architecture == "cnn_small_filters":
            fields.setdefault("train_patch_frames", vgg_min_input()[0])
    if not architectures:
        raise ConfigError(f"no architecture of {dataset} ({size}) matches {only}")
    return base, architectures


def default_architectures() -> dict:
    """The study's default architectures on any data (a CSV, a folder): those of
    :func:`paper_architectures` for GTZAN at ~120 features — the paper's seeded front-ends of
    its music figure, SampleCNN at two depths and 7x96 / VGG on a LEAF filterbank that learns or
    stays fixed."""
    return paper_architectures("gtzan", ".")[1]


def run_demo_study(out=DEFAULT_OUT / "demo", seeds=(0, 1, 2), clips_per_class: int = 8,
                   data_seed: int = 0, overrides=None, only=None,
                   bootstrap: Bootstrap = Bootstrap(),
                   training: TrainingOptions = TrainingOptions(),
                   run: RunOptions = RunOptions()) -> dict:
    """The study on the embedded demo data (:func:`elmarc_tf.studies.demo.make_demo_dataset`):
    :data:`DEMO_ARCHITECTURES` (``only``: substrings of their names to keep) with
    :data:`DEMO_FIELDS` updated by ``overrides``; other architectures or fields:
    :func:`run_random_vs_trained` on the demo data. The rest as :func:`run_random_vs_trained`."""
    out = Path(out)
    log = run.logger()
    architectures = select_architectures(DEMO_ARCHITECTURES, only, "demo architecture")
    base = study_base(DEMO_FIELDS, overrides or {}, architectures)
    audio = make_demo_dataset(out / "audio", clips_per_class, seed=data_seed)
    log(f"demo data: {len(DEMO_CLASSES) * clips_per_class} clips of {len(DEMO_CLASSES)} classes "
        f"in {audio}")
    base = {**base, "audio_path": str(audio)}
    return run_random_vs_trained(base, architectures, seeds=seeds, out=out,
                                 title=f"demo data: random vs trained ({len(seeds)} seeds)",
                                 bootstrap=bootstrap, training=training, run=run)


def study_base(base: dict, overrides: dict, architectures: dict) -> dict:
    """``base`` updated by ``overrides`` (``elmarc random-vs-trained --train-config``); an
    override of a key that an architecture sets itself would do nothing for it: a
    :class:`ConfigError` naming the key and those architectures."""
    for key in overrides:
        own = [name for name, fields in architectures.items() if key in fields]
        if own:
            raise ConfigError(f"--train-config: '{key}' does nothing for {', '.join(own)}: each "
                              f"sets its own")
    return {**base, **overrides}


def select_architectures(architectures: dict, only, what: str = "architecture") -> dict:
    """The ``architectures`` whose name contains one of ``only`` (all without ``only``); none: a
    :class:`ConfigError`."""
    if not only:
        return dict(architectures)
    kept = {n: f for n, f in architectures.items() if any(o in n for o in only)}
    if not kept:
        raise ConfigError(f"no {what} matches {only}")
    return kept


def _read_mapping(path, what: str) -> dict:
    """The mapping of a YAML/JSON file; a problem: one line naming the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of {what}")
    return data


def _check_keys(path, keys, where: str = "") -> None:
    """Every one of ``keys`` a config key, else a :class:`ConfigError` naming the file, ``where``
    (e.g. the architecture) and the closest key."""
    names = sorted(f.name for f in dataclasses.fields(Config))
    for key in keys:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            raise ConfigError(f"{path}: {where}unknown config key '{key}'"
                              + (f" (did you mean '{close[0]}'?)" if close else ""))


def read_training_overrides(path) -> dict:
    """Config keys from a YAML/JSON file, applied to every architecture of a study (e.g.
    ``epochs``, ``train_patch_frames``); unknown keys fail when the configs are made."""
    data = _read_mapping(path, "config keys to values")
    _check_keys(path, data)
    return data


def read_architectures(path) -> dict:
    """``{name: config fields}`` from a YAML/JSON file mapping each architecture's name to its
    config keys (``elmarc random-vs-trained --architectures``); a problem: one line naming the
    file and the architecture."""
    data = _read_mapping(path, "architecture names to config keys")
    if not data:
        raise ConfigError(f"{path}: no architectures")
    for name, fields in data.items():
        if not isinstance(fields, dict) or not fields:
            raise ConfigError(f"{path}: architecture '{name}' must be a mapping of config keys "
                              f"to values")
        _check_keys(path, fields, f"architecture '{name}': ")
    return {str(name): fields for name, fields in data.items()}


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def source_base(source) -> dict:
    """The study's base fields for the data of ``source`` (``elmarc random-vs-trained SOURCE``):
    a folder with one sub-folder per class, a ``path,label[,fold][,split]`` CSV, or a YAML/JSON
    config (its keys: data, protocol, training; an architecture's own keys replace its
    architecture keys). :data:`STUDY_TRAINING` under them; the protocol follows the clips as for
    ``elmarc run`` (the CSV's splits or folds, else ``n_folds`` stratified folds)."""
    source = Path(source)
    if source.is_dir():
        fields = {"dataset": "folder", "audio_path": str(source)}
    elif not source.is_file():
        raise ConfigError(f"{source}: no such file or folder")
    elif source.suffix.lower() == ".csv":
        fields = {"dataset": "csv", "audio_path": str(source)}
    elif source.suffix.lower() in CONFIG_SUFFIXES:
        Config.from_file(source)  # validated, errors naming the file
        fields = _read_mapping(source, "config keys to values")
    else:
        raise ConfigError(f"{source}: not a config ({', '.join(CONFIG_SUFFIXES)}), a CSV (.csv) "
                          f"or a folder of class folders")
    return {**STUDY_TRAINING, **fields}
