"""The random-vs-trained study: is random-CNN accuracy correlated with trained accuracy?

The paper's method rests on that claim (Pons & Serra, Sections 1 and 5, after Saxe et al.) and
leaves checking it on audio "for future work". For a list of architectures at one feature size and
over seeds, :func:`run_random_vs_trained` computes three accuracies per architecture:

1. **random + SVM**: random-weight features and the paper's SVM under the dataset's protocol,
   exactly as ``elmarc run`` (:func:`elmarc_tf.studies.study.run_experiment`);
2. **end-to-end**: the same front-end with the same initial weights trained with a softmax head
   (:func:`elmarc_tf.studies.train.train_experiment`);
3. **trained + SVM**: features of the trained front-end (its best epoch's weights, extracted
   from whole clips as the random ones, ``extract(weights=...)``) through the same SVM grid; per
   trained model, grid search on its validation clips, refit on its training clips, accuracy on
   its test clips (``predefined_split`` on that model's split), averaged over folds as (2).

Across architectures: Spearman's and Pearson's correlation (``scipy.stats``) between the mean
random and mean trained accuracies, with a percentile bootstrap confidence interval over seeds:
each resample draws, per architecture, its seeds with replacement (the same draws for both
accuracies: seed ``s`` is one set of initial weights, random and trained) and recomputes the
correlation of the means. A resample whose means are constant has no correlation; those are
counted and left out. Outputs: ``study.json``, ``table.txt`` / ``table.md``, ``scatter.png``.

Note the protocols differ where the dataset has no predefined split: the SVM's figure for
k-fold data is the paper's ``best_score_`` (grid search over the test folds: optimistic), while
the trained models are early-stopped on held-out validation clips and scored on the test folds.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure
from scipy import stats

from ..io.audio_cache import as_audio_cache
from ..evaluation.classifiers import classifier_grid
from ..config import Config, shared_fields
from ..datasets import items_from_config
from .demo import DEMO_CLASSES, make_demo_dataset
from ..errors import ConfigError, ElmarcError
from ..extraction.extract import extract
from ..extraction.options import RunOptions
from ..io.fileio import atomic_write_json, atomic_write_text, check_writable
from ..frontends import frontend_of, is_seeded
from .paper import DATASETS, SIZES, figure_of, paper_configs
from ..evaluation.protocols import Protocol, check_items_evaluable, evaluate
from .report import FAMILY_COLOURS, OTHER_FAMILY, format_table
from ..extraction.store import data_digest, load_store
from .results import Described, model_label, summarize, write_summary
from .study import claim_results_folder, results_name, run_experiment, save_seed, saved_seed
from .train import (CLASSIFIER, PATCH_KEYS, TrainingOptions, check_trainable, patch_config,
                    quiet_retracing, train_experiment, training_splits)

DEFAULT_OUT = Path("elmarc_out") / "random_vs_trained"
N_BOOT = 2000
CONFIDENCE = 0.95
COLUMNS = {"random": "random + SVM", "trained": "end-to-end", "transfer": "trained + SVM"}

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


# ------------------------------------------------------------------------------ statistics
def correlations(x: dict, y: dict, n_boot: int = N_BOOT, seed: int = 0,
                 confidence: float = CONFIDENCE) -> dict:
    """Spearman's and Pearson's correlation between the per-architecture means of ``x`` and
    ``y`` (``{architecture: per-seed accuracies}``, paired by seed), with bootstrap intervals.

    Returns ``n_architectures``, ``n_boot``, ``seed``, ``confidence`` and, for ``spearman`` and
    ``pearson``: ``r``, ``p`` (scipy's two-sided p-value), ``ci_low`` / ``ci_high`` (percentile
    interval over ``n_boot`` resamples; seeds resampled with replacement per architecture, the
    same indices for ``x`` and ``y``) and ``undefined`` (resamples without a correlation).
    """
    names = list(x)
    if len(names) < 3:
        raise ElmarcError(f"a correlation across architectures needs at least 3, got {len(names)}")
    xs = [np.asarray(x[n], dtype=float) for n in names]
    ys = [np.asarray(y[n], dtype=float) for n in names]
    for n, a, b in zip(names, xs, ys):
        if a.shape != b.shape or a.size == 0:
            raise ElmarcError(f"{n}: {a.size} and {b.size} per-seed accuracies (they must pair)")
    mx, my = [a.mean() for a in xs], [b.mean() for b in ys]
    tests = {"spearman": stats.spearmanr, "pearson": stats.pearsonr}
    rng = np.random.default_rng(seed)
    boot = {name: np.empty(n_boot) for name in tests}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples: scipy warns and returns nan
        point = {name: test(mx, my) for name, test in tests.items()}
        for b in range(n_boot):
            draws = [rng.integers(0, a.size, a.size) for a in xs]
            bx = [a[d].mean() for a, d in zip(xs, draws)]
            by = [c[d].mean() for c, d in zip(ys, draws)]
            for name, test in tests.items():
                boot[name][b] = test(bx, by).statistic
    out = {"n_architectures": len(names), "n_boot": int(n_boot), "seed": int(seed),
           "confidence": confidence}
    tail = 100 * (1 - confidence) / 2
    for name in tests:
        values = boot[name][~np.isnan(boot[name])]
        low, high = (np.percentile(values, [tail, 100 - tail]) if values.size
                     else (float("nan"), float("nan")))
        out[name] = {"r": float(point[name].statistic), "p": float(point[name].pvalue),
                     "ci_low": float(low), "ci_high": float(high),
                     "undefined": int(n_boot - values.size)}
    return out


# ------------------------------------------------------------------------------ trained + SVM
def _clip_parts(path) -> dict:
    """``{clip id: 'train' | 'val' | 'test'}`` of a trained model's ``clips.json``."""
    parts = json.loads(Path(path).read_text())
    return {i: part for part, ids in parts.items() for i in ids}


def trained_features_experiment(cfg, trained: dict, items, out, name: str, features_out,
                                run: RunOptions = RunOptions()) -> dict:
    """Features of each trained model of ``trained`` (a :func:`train_experiment` summary) through
    ``cfg``'s classifier grid; ``<out>/<name>/results.json`` as :func:`run_experiment` writes it.

    Per trained model (one per split/fold): ``extract(cfg, items, seed, weights=its best
    weights)``, then :func:`elmarc_tf.evaluation.protocols.evaluate` with ``predefined_split`` on that
    model's train/val/test clips; a seed's accuracy is the mean over its models. ``run``: as
    :func:`run_experiment` (the extraction runs on ``run.engine``, and so does the grid search,
    without a progress bar).
    """
    log = run.logger()
    folder = claim_results_folder(out, cfg, name)
    data = data_digest(items)
    per_seed = []
    for entry in trained["per_seed"]:
        seed = entry["seed"]
        digests = [s["weights_digest"] for s in entry["splits"]]
        cache = folder / f"seed{seed}.json"
        result = saved_seed(cache, cfg, data=data, weights=digests)
        if result is not None:
            per_seed.append(result)
            continue
        splits = []
        for split in entry["splits"]:
            extraction = extract(cfg, items, seed=seed, out=features_out, weights=split["weights"],
                                 run=replace(run, log=None))
            X, y, ids, _ = load_store(extraction.folder)
            parts = _clip_parts(split["clips"])
            rows = np.array([i in parts for i in ids])
            estimator, grid = classifier_grid(cfg.model_type, seed=seed,
                                              svm_max_iter=cfg.svm_max_iter)
            result = evaluate(X[rows], y[rows], estimator, grid,
                              splits=[parts[i] for i in ids[rows]],
                              protocol=Protocol("predefined_split", standardize=cfg.standardize,
                                                seed=seed),
                              run=replace(run, progress=False))
            splits.append({"name": split["name"], "accuracy": result["accuracy"],
                           "val_accuracy": result["val_accuracy"],
                           "best_params": result["best_params"], "store": str(extraction.folder),
                           "weights_digest": split["weights_digest"]})
        result = {"seed": seed, "accuracy": float(np.mean([s["accuracy"] for s in splits])),
                  "protocol": f"{trained['protocol']} (trained models' splits)",
                  "best_params": splits[0]["best_params"] if len(splits) == 1 else {},
                  "feature_length": int(X.shape[1]), "splits": splits}
        if len(splits) > 1:
            result["fold_accuracies"] = [s["accuracy"] for s in splits]
        save_seed(cache, cfg, result, data=data, weights=digests)
        per_seed.append(result)
        log(f"{name} seed {seed}: accuracy {result['accuracy']:.4f}")
    first = per_seed[0]
    summary = summarize(Described(name, f"{model_label(cfg, first['feature_length'])} trained",
                                  cfg.model_type, first["protocol"], first["feature_length"],
                                  cfg.standardize, False),
                        cfg, [r["seed"] for r in per_seed], per_seed)
    write_summary(folder, summary)
    return summary


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
    return {"name": summary["name"], "accuracies": summary["accuracies"], "mean": summary["mean"],
            "std": summary["std"]}


def _study_row(name, cfg, seeds, out, items, training, run) -> dict:
    """The three experiments of one architecture and its row of the study."""
    svm_cfg = cfg.replace(model_type="SVM")
    random = run_experiment(svm_cfg, seeds=seeds, out=out / "results",
                            name=results_name(svm_cfg, classifier="SVM", base=name),
                            items=items, features_out=out / "features", run=run)
    trained = train_experiment(cfg, seeds=seeds, out=out / "results",
                               name=results_name(cfg, classifier=CLASSIFIER, base=name),
                               items=items, checkpoints_out=out / "training", training=training,
                               run=run)
    transfer = trained_features_experiment(svm_cfg, trained, items, out / "results",
                                           results_name(svm_cfg, classifier="trained_SVM",
                                                        base=name),
                                           out / "features", run=run)
    splits = [s for r in trained["per_seed"] for s in r["splits"]]
    return {"name": name, "model": random["model"], "feature_length": random["feature_length"],
            "family": frontend_of(cfg).family, "random": _stats(random), "trained": _stats(trained), "transfer": _stats(transfer),
            "best_epoch_mean": float(np.mean([s["best_epoch"] for s in splits])),
            "seconds_per_epoch": float(np.median([t for s in splits for t in s["curves"]["seconds"]])),
            "protocol": {"random": random["protocol"], "trained": trained["protocol"]}}


@dataclass(frozen=True)
class Bootstrap:
    """The bootstrap of the correlations' intervals (:func:`correlations`): ``n_boot``
    resamples drawn with ``seed``."""

    n_boot: int = N_BOOT
    seed: int = 0


def run_random_vs_trained(base: dict, architectures: dict, seeds=(0, 1, 2), out=DEFAULT_OUT,
                          items=None, title: str | None = None, bootstrap: Bootstrap = Bootstrap(),
                          training: TrainingOptions = TrainingOptions(),
                          run: RunOptions = RunOptions()) -> dict:
    """Run the study: ``architectures`` (``{name: config fields}``, each completed by ``base``:
    data, input and training fields) over ``seeds``; see the module docstring.

    Everything lands under ``out`` (``features/``, ``training/``, ``results/<name>_SVM``,
    ``results/<name>_end-to-end``, ``results/<name>_trained_SVM``; ``elmarc compare out/results``
    reads them all) and is reused when rerun. Returns ``rows`` (per architecture: ``name``,
    ``model``, ``feature_length``, and ``random`` / ``trained`` / ``transfer`` accuracies with
    ``mean`` and ``std``), ``correlations`` (random vs ``trained`` and vs ``transfer``, see
    :func:`correlations`), ``table``, and the paths ``json``, ``table_txt``, ``table_md``, ``chart``.
    ``bootstrap``: the correlations' intervals (:class:`Bootstrap`). ``training``: as
    :func:`elmarc_tf.studies.train.train_experiment`. ``run`` (a
    :class:`~elmarc_tf.extraction.options.RunOptions`): as
    :func:`~elmarc_tf.studies.study.run_experiment`, for every extraction (random and trained
    weights) and grid search; ``run.audio_cache`` ``None``: ``<out>/audio_cache`` (``False``: none).
    Before any work every architecture's config is checked against the clips (the SVM's
    protocol and the training's) and ``out`` must be writable.
    """
    out = Path(out)
    seeds = [int(s) for s in seeds]
    log = run.logger()
    run = replace(run, log=log, audio_cache=as_audio_cache(
        out / "audio_cache" if run.audio_cache is None else run.audio_cache))
    configs = {name: _study_config(shared_fields(base, fields), log)
               for name, fields in architectures.items()}
    items = items if items is not None else items_from_config(next(iter(configs.values())))
    labels = sorted({it.label for it in items})
    for cfg in configs.values():  # protocol errors and an unwritable folder before any work
        check_items_evaluable(cfg.replace(model_type="SVM"), items)
        check_items_evaluable(cfg, items, nested=False)
        training_splits(cfg, items, [labels.index(it.label) for it in items])
    check_writable(out)
    rows = []
    with quiet_retracing():  # one model per architecture, seed and fold, by design
        for name, cfg in configs.items():
            rows.append(_study_row(name, cfg, seeds, out, items, training, run))
    corr = {column: correlations({r["name"]: r["random"]["accuracies"] for r in rows},
                                 {r["name"]: r[column]["accuracies"] for r in rows},
                                 n_boot=bootstrap.n_boot, seed=bootstrap.seed)
            for column in ("trained", "transfer")}
    title = title or f"{base.get('dataset') or 'data'}: random vs trained ({len(seeds)} seeds)"
    text, markdown = study_tables(rows, corr, seeds)
    paths = {"json": out / "study.json", "table_txt": out / "table.txt",
             "table_md": out / "table.md", "chart": out / "scatter.png"}
    atomic_write_json(paths["json"], {"seeds": seeds, "rows": rows, "correlations": corr})
    atomic_write_text(paths["table_txt"], text + "\n")
    atomic_write_text(paths["table_md"], f"## {title}\n\n{markdown}")
    scatter_chart(rows, corr["trained"], title).savefig(paths["chart"], dpi=120)
    log("\n" + text + "\n")
    for key, path in paths.items():
        log(f"{key + ':':10} {path}")
    return {"rows": rows, "correlations": corr, "table": text, **paths}


def _pct(summary: dict) -> str:
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}"


def _correlation_lines(corr: dict, n_seeds: int) -> list[str]:
    lines = []
    for column, c in corr.items():
        for method, label in (("spearman", "Spearman ρ"), ("pearson", "Pearson r")):
            m = c[method]
            lines.append(f"random + SVM vs {COLUMNS[column]}: {label} = {m['r']:+.3f} "
                         f"(p = {m['p']:.3g}), {c['confidence']:.0%} bootstrap CI "
                         f"[{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]"
                         + (f", {m['undefined']} of {c['n_boot']} resamples undefined"
                            if m["undefined"] else ""))
    c = next(iter(corr.values()))
    lines.append(f"{c['n_architectures']} architectures; bootstrap: {c['n_boot']} resamples of the "
                 f"{n_seeds} seeds per architecture (with replacement, paired across columns), "
                 f"numpy seed {c['seed']}; percentile interval.")
    return lines


def study_tables(rows: list[dict], corr: dict, seeds) -> tuple[str, str]:
    """(plain text, Markdown) of the per-architecture accuracies and the correlations."""
    table_rows = [{"name": r["name"], "dim": r["feature_length"], **{k: _pct(r[k]) for k in COLUMNS},
                   "epoch": f"{r['best_epoch_mean']:.1f}", "sec": f"{r['seconds_per_epoch']:.2f}"}
                  for r in sorted(rows, key=lambda r: -r["random"]["mean"])]
    columns = [("name", "architecture"), ("dim", "dim"),
               *((k, f"{h} (%)") for k, h in COLUMNS.items()),
               ("epoch", "best epoch (mean)"), ("sec", "s/epoch (median)")]
    notes = _correlation_lines(corr, len(seeds))
    header = f"Accuracy: mean ± std over seeds {list(seeds)}."
    text = "\n".join([format_table(table_rows, columns), "", header, *notes])
    esc = lambda v: str(v).replace("|", "\\|")
    md = ["| " + " | ".join(h for _, h in columns) + " |",
          "|" + "|".join("---" if k == "name" else "---:" for k, _ in columns) + "|"]
    md += ["| " + " | ".join(esc(r[k]) for k, _ in columns) + " |" for r in table_rows]
    markdown = "\n".join(md) + "\n\n" + "\n\n".join([header, *notes]) + "\n"
    return text, markdown


def scatter_chart(rows: list[dict], corr: dict, title: str | None = None) -> Figure:
    """Random + SVM accuracy (x) vs end-to-end accuracy (y), one labelled point per architecture
    coloured by family, error bars = std over seeds, the diagonal; the correlations with their
    bootstrap intervals in the legend below."""
    fig = Figure(figsize=(6.4, 6.4), layout="constrained")
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
    ax.set_xlabel("random weights + SVM: accuracy (%)")
    ax.set_ylabel("trained end to end: accuracy (%)")
    ax.grid(alpha=0.3)
    s, r = corr["spearman"], corr["pearson"]
    ax.plot([], [], " ", label=f"Spearman ρ = {s['r']:+.2f} [{s['ci_low']:+.2f}, {s['ci_high']:+.2f}]")
    ax.plot([], [], " ", label=f"Pearson r = {r['r']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8,
               frameon=False, title=f"error bars: std over seeds; [ ]: {corr['confidence']:.0%} "
                                    f"bootstrap interval over seeds", title_fontsize=8)
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
    if not architectures:
        raise ConfigError(f"no architecture of {dataset} ({size}) matches {only}")
    return base, architectures


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
    architectures = DEMO_ARCHITECTURES
    if only:
        architectures = {n: f for n, f in architectures.items() if any(o in n for o in only)}
        if not architectures:
            raise ConfigError(f"no demo architecture matches {only}")
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


def read_training_overrides(path) -> dict:
    """Config keys from a YAML/JSON file, applied to every architecture of a study (e.g.
    ``epochs``, ``train_patch_frames``); unknown keys fail when the configs are made."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of config keys to values")
    names = sorted(f.name for f in dataclasses.fields(Config))
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            raise ConfigError(f"{path}: unknown config key '{key}'"
                              + (f" (did you mean '{close[0]}'?)" if close else ""))
    return data
