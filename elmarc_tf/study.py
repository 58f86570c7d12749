"""One experiment of the paper over several random-weight seeds: extract (reusing stores),
evaluate under the dataset's protocol, write results (JSON + CSV). Also reads the authors'
``config_file.py`` without executing it.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .store import atomic_save, atomic_write_json, load_store

DEFAULT_RESULTS = Path("elmarc_out") / "results"


def read_original_config(path) -> dict:
    """The ``config_main`` dict of the original ``src/config_file.py``, parsed, never executed."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid Python ({e.msg})") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "config_main" for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(f"{path}:{node.lineno}: config_main must be a literal dict "
                                  f"(no names or calls)") from None
    raise ConfigError(f"{path}: no 'config_main = {{...}}' assignment found")


def model_label(cfg, feature_length: int | None = None) -> str:
    """The paper's legend name of a feature type, e.g. ``timbral+temporal (3584)``."""
    if cfg.features_type == "MFCC":
        name = "MFCCs"
    elif cfg.architecture in ("cnn_music", "cnn_audio"):
        second = "temporal" if cfg.architecture == "cnn_music" else "time"
        name = "+".join(("timbral", second)[i] for i in sorted(set(cfg.selected_features_list)))
    elif cfg.architecture == "cnn_single":
        name = f"{cfg.filter_shape[0]}x{cfg.filter_shape[1]}"
    else:
        name = {"cnn_small_filters": "VGG", "sample_level": "sample-level",
                "frame_level": "frame-level", "frame_level_many": "frame-level many-shapes"}[cfg.architecture]
    return f"{name} ({feature_length})" if feature_length else name


def _evaluate_seed(cfg, items, seed, features_out, n_jobs, progress, audio_cache=None) -> dict:
    from .classifiers import classifier_grid
    from .extract import extract
    from .protocols import evaluate

    store_seed = 0 if cfg.features_type == "MFCC" else seed  # MFCCs have no random weights
    extraction = extract(cfg, items, seed=store_seed, out=features_out, progress=progress,
                         audio_cache=audio_cache)
    X, y, ids, manifest = load_store(extraction.folder)
    by_id = {it.id: it for it in items}
    splits = [by_id[i].split for i in ids]
    folds = [by_id[i].fold for i in ids]
    estimator, grid = classifier_grid(cfg.model_type, seed=seed, svm_max_iter=cfg.svm_max_iter)
    result = evaluate(X, y, estimator, grid, protocol=cfg.protocol, splits=splits, folds=folds,
                      n_folds=cfg.n_folds, standardize=cfg.standardize, nested=cfg.nested_cv,
                      n_jobs=n_jobs, seed=seed, progress=progress,
                      progress_desc=f"seed {seed} {cfg.model_type} grid",
                      precompute_max_n=cfg.svm_precompute_max_n)
    result.update(seed=seed, store=str(extraction.folder), feature_length=int(X.shape[1]),
                  n_failed=manifest["n_failed"])
    return result


def run_experiment(cfg, seeds=(0, 1, 2), out=None, name: str | None = None, items=None,
                   features_out=None, n_jobs: int | None = None, progress: bool = True,
                   log=print, audio_cache=None) -> dict:
    """Extract + evaluate ``cfg`` for each seed; write ``<out>/<name>/results.{json,csv}``.

    Finished seeds are kept in ``seed<k>.json`` and not recomputed when the experiment is rerun
    with the same config (stores are reused too), so an interrupted run resumes.
    ``audio_cache`` (an :class:`~elmarc_tf.audio_cache.AudioCache` or a folder; ``None``: none):
    decoded clips shared by every seed and by other experiments given the same cache.
    """
    from .audio_cache import as_audio_cache
    from .datasets import items_from_config

    audio_cache = as_audio_cache(audio_cache)
    items = items if items is not None else items_from_config(cfg)
    name = name or cfg.experiment_name
    folder = Path(out or cfg.results_folder or DEFAULT_RESULTS) / name
    folder.mkdir(parents=True, exist_ok=True)
    per_seed = []
    for seed in seeds:
        cache = folder / f"seed{seed}.json"
        if cache.is_file():
            cached = json.loads(cache.read_text())
            if cached.get("config") == cfg.to_dict():
                per_seed.append(cached["result"])
                continue
        result = _evaluate_seed(cfg, items, seed, features_out, n_jobs, progress, audio_cache)
        atomic_write_json(cache, {"config": cfg.to_dict(), "result": result})
        per_seed.append(result)
        log(f"{name} seed {seed}: accuracy {result['accuracy']:.4f} ({result['protocol']}, "
            f"best {result['best_params']})" + capped_note(result))
    accuracies = [r["accuracy"] for r in per_seed]
    summary = {
        "name": name,
        "model": model_label(cfg, per_seed[0]["feature_length"]),
        "classifier": cfg.model_type,
        "dataset": cfg.dataset,
        "feature_length": per_seed[0]["feature_length"],
        "protocol": per_seed[0]["protocol"],
        "standardize": cfg.standardize,
        "nested_cv": cfg.nested_cv,
        "seeds": list(seeds),
        "accuracies": accuracies,
        "mean": float(np.mean(accuracies)),
        "std": float(np.std(accuracies)),
        "config": cfg.to_dict(),
        "per_seed": per_seed,
    }
    if "svm_max_iter" in per_seed[0]:  # SVM: the iteration cap and the fits it stopped
        summary.update(svm_max_iter=per_seed[0]["svm_max_iter"],
                       n_capped_fits=sum(r["n_capped_fits"] for r in per_seed),
                       n_fits=sum(r["n_fits"] for r in per_seed))
    atomic_write_json(folder / "results.json", summary)
    _write_csv(folder / "results.csv", summary)
    log(f"{summary['model']} {cfg.model_type}: {100 * summary['mean']:.2f} ± "
        f"{100 * summary['std']:.2f} % over seeds {list(seeds)} -> {folder / 'results.json'}")
    if summary.get("n_capped_fits"):
        log(f"{name}: {summary['n_capped_fits']} of {summary['n_fits']} SVM fits stopped at "
            f"svm_max_iter={summary['svm_max_iter']} iterations (per seed in results.json)")
    return summary


def capped_note(result: dict) -> str:
    """``'; 3 of 320 fits capped at 10000000 iterations (C=32, kernel=linear: 3), not the
    best point'`` for an SVM result with capped fits; ``''`` otherwise."""
    if not result.get("n_capped_fits"):
        return ""
    where = "; ".join(f"{k}: {v}" for k, v in result["capped_grid_points"].items())
    best = "including the best point" if result["best_capped"] else "not the best point"
    return (f"; {result['n_capped_fits']} of {result['n_fits']} fits capped at "
            f"{result['svm_max_iter']} iterations ({where}), {best}")


def _write_csv(path, summary) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["name", "model", "classifier", "seed", "accuracy", "feature_length",
                     "protocol", "best_params"])
    for r in summary["per_seed"]:
        writer.writerow([summary["name"], summary["model"], summary["classifier"], r["seed"],
                         f"{r['accuracy']:.6f}", r["feature_length"], r["protocol"],
                         json.dumps(r["best_params"], sort_keys=True)])
    for stat in ("mean", "std"):
        writer.writerow([summary["name"], summary["model"], summary["classifier"], stat,
                         f"{summary[stat]:.6f}", summary["feature_length"], summary["protocol"], ""])
    atomic_save(path, lambda f: f.write(buf.getvalue().encode()))
