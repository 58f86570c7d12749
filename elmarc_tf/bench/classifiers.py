"""Classifier timings: the paper's SVM grid (plain ``GridSearchCV(SVC())`` vs precomputed
kernels), the ELM grid, the Gram matrix's GFLOP/s, and libsvm iteration counts.

Measured on real-like features at the paper's sizes (:func:`real_like_features`): GTZAN
(930 clips; its fault-filtered 443 / 197 / 290 split), Extended Ballroom (4 180 clips; 10
stratified folds) and UrbanSound8K (8 732 clips; 10 folds), 3 585 features (the large
configurations). ``docs/performance.md`` reports the numbers; nothing here is asserted.

From the shell::

    python -c "from elmarc_tf.bench.classifiers import run_classifier_bench; run_classifier_bench()"
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, ParameterGrid, PredefinedSplit, StratifiedKFold
from sklearn.svm import SVC

from ..evaluation.classifiers import ELM_N_HIDDEN, SVM_PARAM_GRID, ELMClassifier
from ..config import DEFAULT_SVM_MAX_ITER
from ..errors import ConfigError
from ..evaluation.svm_grid import SVMGridSearch, gram_matrix, kernel_bytes

# (name, n_clips, n_features, n_classes, protocol) of the paper's datasets, large configurations.
PAPER_SIZES = [
    ("GTZAN", 930, 3585, 10, "predefined_split"),
    ("Extended Ballroom", 4180, 3585, 13, "stratified_kfold"),
    ("UrbanSound8K", 8732, 3585, 10, "predefined_folds"),
]
GTZAN_SPLIT = (443, 197, 290)  # fault-filtered train / val / test


def real_like_features(n: int, d: int = 3585, n_classes: int = 10, seed: int = 0,
                       class_sep: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Features shaped like global averages of random-CNN ReLU maps: ``X (n, d)`` float32, ``y (n,)``.

    Calibrated on the demo's front-ends (640 clips of its data; ``docs/performance.md``): each
    feature is a level (log-normal over features, median 25) plus a right-skewed (log-normal)
    variation with a spread of its own (log-normal over features, median 1.5), clipped at 0 as
    after a ReLU, so features with small levels are sparse and the relative spread falls as
    the level grows; the variation is driven by 16 latent factors with a common component
    (|correlation| between features ~0.4, the first principal component ~40 % of the variance)
    whose means depend on the class (``class_sep``); 3 % of features are dead (always 0).
    Non-negative, correlated, right-skewed, unscaled: as the original feeds them to the SVM.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    k = 16
    z = rng.standard_normal((n_classes, k))[y] * class_sep + rng.standard_normal((n, k))
    mixing = (rng.standard_normal((k, d)) + 0.7 * rng.standard_normal((k, 1))) / np.sqrt(k)
    a = z @ mixing + 0.5 * rng.standard_normal((n, d))
    a /= a.std(axis=0)
    skewed = np.exp(0.5 * a)
    skewed = (skewed - skewed.mean(axis=0)) / skewed.std(axis=0)
    level = rng.lognormal(np.log(10.0), 1.2, d)
    spread = rng.lognormal(np.log(1.0), 0.9, d)
    X = np.maximum(level + spread * skewed, 0.0)
    X[:, rng.random(d) < 0.03] = 0.0
    return X.astype(np.float32), y


def protocol_splits(y, protocol: str, seed: int = 0) -> list:
    """``(train, test)`` index pairs of the grid search: GTZAN's train -> val split (random
    443 / 197 rows of 930), or 10 stratified folds (both k-fold protocols; UrbanSound8K's folds
    are as large)."""
    if protocol == "predefined_split":
        role = np.repeat([-1, 0, 1], GTZAN_SPLIT)  # train, val, test
        np.random.default_rng(seed).shuffle(role)
        dev = np.flatnonzero(role < 1)
        return [(dev[tr], dev[te]) for tr, te in PredefinedSplit(role[dev]).split()]
    return list(StratifiedKFold(n_splits=10).split(np.zeros((len(y), 1)), y))


def matmul_peak_f64(n: int = 4096, repeats: int = 3) -> float:
    """GFLOP/s of NumPy's float64 ``A @ B`` (n x n), best of ``repeats``."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    A @ B
    best = min(_seconds(lambda: A @ B) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def gram_rate(X, repeats: int = 3) -> dict:
    """Seconds for ``X @ X.T`` (NumPy, ``syrk``) and its GFLOP/s, counted as ``2 n^2 d`` (what a
    general matrix product would do; ``syrk`` computes one triangle, half of it)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    best = min(_seconds(lambda: gram_matrix(X)) for _ in range(repeats))
    return {"n": n, "d": d, "seconds": best, "gflops": 2 * n * n * d / best / 1e9}


def iteration_counts(X, y, splits, grid=SVM_PARAM_GRID, max_iter: int = 10**8,
                     n_jobs=1, progress: bool = True) -> list[dict]:
    """libsvm iterations (``SVC.n_iter_``, the largest over a fit's binary sub-problems) of
    every fit of ``grid`` on ``splits`` with a high cap: one row per grid point with the most
    and the median iterations of its fits that converged (``None`` if none did), the fits that
    reached ``max_iter``, and (first row) the time of all fits."""
    candidates = list(ParameterGrid(grid))
    search = SVMGridSearch(X, y, SVC(max_iter=max_iter), n_jobs=n_jobs, progress=progress,
                           desc="iterations")
    jobs = [(p, tr, te) for p in candidates for tr, te in splits]
    start = time.perf_counter()
    outcomes = search.fit_many(jobs)
    seconds = time.perf_counter() - start
    rows = []
    for i, params in enumerate(candidates):
        mine = outcomes[i * len(splits): (i + 1) * len(splits)]
        iters = [o.n_iter for o in mine if not o.capped]
        rows.append({"params": params, "max_n_iter": int(max(iters)) if iters else None,
                     "median_n_iter": float(np.median(iters)) if iters else None,
                     "n_capped": int(sum(o.capped for o in mine)), "n_fits": len(mine)})
    rows[0]["seconds_all"] = seconds
    return rows


@dataclass(frozen=True)
class TimedPaths:
    """Which paths :func:`time_svm_grid` times: the ``precomputed`` grid in full, the ``plain``
    one, and of the plain one only ``plain_points`` (candidate indices in grid order) and/or
    ``plain_splits`` (split indices; ``None``: all)."""

    precomputed: bool = True
    plain: bool = True
    plain_points: list | None = None
    plain_splits: list | None = None


def time_svm_grid(X, y, splits, grid=SVM_PARAM_GRID, max_iter: int = DEFAULT_SVM_MAX_ITER,
                  n_jobs=1, paths: TimedPaths = TimedPaths(), progress: bool = True) -> dict:
    """Wall time of the grid search on the two paths (``paths``), and whether they agree.

    The precomputed path runs the whole grid (Gram matrix included; ``precomputed=False``: only
    the fits the plain path runs, for their scores). The plain path is
    ``GridSearchCV(SVC(max_iter), grid, cv=splits, refit=False)``; with ``plain_points``
    (candidate indices in grid order) and/or ``plain_splits`` (split indices) it runs only those
    fits — the same ones are then timed on the precomputed path too, and the plain time of the
    whole grid is estimated as the mean time per plain fit x the number of fits.
    """
    precomputed, plain = paths.precomputed, paths.plain
    plain_points, plain_splits = paths.plain_points, paths.plain_splits
    candidates = list(ParameterGrid(grid))
    estimator = SVC(max_iter=max_iter)
    out = {"n": len(y), "d": X.shape[1], "n_fits": len(candidates) * len(splits),
           "n_jobs": n_jobs, "svm_max_iter": max_iter}
    points = list(range(len(candidates))) if plain_points is None else list(plain_points)
    split_ids = list(range(len(splits))) if plain_splits is None else list(plain_splits)
    sub_grid = [{k: [v] for k, v in candidates[i].items()} for i in points]
    sub_splits = [splits[s] for s in split_ids]
    whole = len(points) == len(candidates) and len(split_ids) == len(splits)
    if precomputed:
        search = SVMGridSearch(X, y, estimator, n_jobs=n_jobs, progress=progress,
                               precompute_max_n=len(y), desc="precomputed")
        start = time.perf_counter()
        [found] = search.search_many(grid, [splits])
        out["precomputed_seconds"] = time.perf_counter() - start
        out["precomputed_best"] = found.best_params
        out["precomputed_best_score"] = found.best_score
        out["precomputed_capped"] = search.report()["n_capped_fits"]
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mine = found.scores[np.ix_(points, split_ids)]
    if not plain:
        return out
    Xd = np.asarray(X, dtype=np.float64)
    start = time.perf_counter()
    ref = GridSearchCV(estimator, sub_grid, cv=sub_splits, refit=False, n_jobs=n_jobs).fit(Xd, y)
    plain_seconds = time.perf_counter() - start
    ref_scores = np.array([ref.cv_results_[f"split{k}_test_score"] for k in range(len(sub_splits))]).T
    if not (whole and precomputed):  # the same fits on the precomputed path, timed
        sub = SVMGridSearch(X, y, estimator, n_jobs=n_jobs, progress=False,
                            precompute_max_n=len(y))
        start = time.perf_counter()
        [sub_found] = sub.search_many(sub_grid, [sub_splits])
        out["precomputed_seconds_same_fits"] = time.perf_counter() - start
        mine = sub_found.scores
    per_point = [float(ref.cv_results_["mean_fit_time"][i] + ref.cv_results_["mean_score_time"][i])
                 for i in range(len(points))]  # seconds per fit, mean over the splits timed
    out.update(plain_fits=len(points) * len(split_ids), plain_seconds_measured=plain_seconds,
               plain_seconds_per_fit=per_point,
               same_scores=bool(np.array_equal(mine, ref_scores)),
               max_score_difference=float(np.max(np.abs(mine - ref_scores))))
    if whole:
        out.update(plain_seconds=plain_seconds, plain_best=ref.best_params_)
        if precomputed:
            out.update(same_best=bool(ref.best_index_ == found.best_index),
                       same_best_score=float(ref.best_score_) == found.best_score)
    else:
        out["plain_seconds"] = plain_seconds / out["plain_fits"] * out["n_fits"]
        out["plain_estimated"] = True
    if precomputed:
        out["speedup"] = out["plain_seconds"] / out["precomputed_seconds"]
    return out


def time_elm_grid(X, y, splits, n_jobs=1, seed: int = 0) -> dict:
    """Wall time of the ELM grid (``n_hidden`` in ``ELM_N_HIDDEN``) by ``GridSearchCV`` on
    ``splits``, and its best point."""
    start = time.perf_counter()
    search = GridSearchCV(ELMClassifier(random_state=seed), [{"n_hidden": ELM_N_HIDDEN}],
                          cv=splits, refit=False, n_jobs=n_jobs).fit(np.asarray(X, np.float64), y)
    return {"elm_seconds": time.perf_counter() - start, "elm_best": search.best_params_,
            "elm_best_score": float(search.best_score_),
            "elm_fits": len(ELM_N_HIDDEN) * len(splits)}


def run_classifier_bench(sizes=None, out="elmarc_out/bench", n_jobs=1, precomputed: bool = True,
                         plain: bool = True, elm: bool = True, plain_points=None,
                         plain_splits=None, log=print) -> list[dict]:
    """Every measurement above per paper size (``sizes``: names of :data:`PAPER_SIZES`, default
    all); writes ``<out>/classifier_bench.json`` and returns the rows.

    ``precomputed``: the precomputed grid in full. ``plain``: ``GridSearchCV(SVC())``;
    ``plain_points`` / ``plain_splits`` (``{name: [indices]}``) time only part of it at that size
    (see :func:`time_svm_grid`); by default it runs in full at the GTZAN size, on split 0 for
    four grid points at the Extended Ballroom size and for two at the UrbanSound8K size (one
    plain fit there takes minutes). ``elm``: also the ELM grid.
    """
    unknown = sorted(set(sizes or ()) - {name for name, *_ in PAPER_SIZES})
    if unknown:
        raise ConfigError(f"unknown classifier bench size {unknown[0]!r}; valid: "
                          f"{', '.join(name for name, *_ in PAPER_SIZES)}")
    default_points = {"Extended Ballroom": [0, 10, 20, 28], "UrbanSound8K": [20, 28]}
    plain_points = default_points if plain_points is None else plain_points
    plain_splits = ({k: [0] for k in default_points} if plain_splits is None else plain_splits)
    peak = matmul_peak_f64()
    log(f"float64 matmul peak {peak:.1f} GFLOP/s")
    rows = []
    for name, n, d, n_classes, protocol in PAPER_SIZES:
        if sizes is not None and name not in sizes:
            continue
        X, y = real_like_features(n, d, n_classes)
        splits = protocol_splits(y, protocol)
        row = {"dataset": name, "protocol": protocol, "kernel_mb": kernel_bytes(n) / 1e6,
               **gram_rate(X), "matmul_peak_gflops": peak}
        row.update(time_svm_grid(X, y, splits, n_jobs=n_jobs, paths=TimedPaths(
            precomputed, plain, plain_points.get(name), plain_splits.get(name))))
        if elm:
            row.update(time_elm_grid(X, y, splits, n_jobs=n_jobs))
        log(json.dumps(row, default=str))
        rows.append(row)
    path = Path(out) / "classifier_bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1, default=str))
    return rows


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
