"""Evaluation protocols of the original ``main.py``, reporting the figure the original reports.

- ``predefined_split`` (GTZAN fault-filtered lists): grid search fitting on *train* and scoring on
  *val* (``PredefinedSplit``), final model with the best hyper-parameters refit on *train* only,
  accuracy on *test*.
- ``stratified_kfold`` (Ballroom, Extended Ballroom, generic data): ``GridSearchCV(cv=10)``; the
  reported figure is ``best_score_``, the best grid point's mean accuracy over the folds.
- ``predefined_folds`` (UrbanSound8K): as above with the dataset's own folds.

Options beyond the original, off by default and recorded in the result:
``standardize`` (z-score features inside each training fold) and ``nested`` (nested
cross-validation: the grid search runs inside each outer training fold, so the reported accuracy is
an unbiased estimate — ``best_score_`` of a search over the test folds is optimistic).

Fits: an ``SVC`` grid runs on precomputed kernels (:mod:`elmarc_tf.evaluation.svm_grid`: one Gram matrix,
one RBF kernel per gamma, the same fits as ``GridSearchCV``, an iteration cap counted per fit,
``n_jobs`` threads sharing the kernels); other estimators through ``GridSearchCV``. Engines
(:data:`SEARCHES`): ``local`` in this process; ``ray`` spreads ``GridSearchCV``'s fits over a Ray
cluster (:mod:`elmarc_tf.evaluation.ray`; the SVM's too, on libsvm's own kernels, its cap applied
but its capped fits not counted). The same accuracies everywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import (GridSearchCV, LeaveOneGroupOut, ParameterGrid, PredefinedSplit,
                                     StratifiedKFold, cross_val_predict)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..config import DEFAULT_SVM_PRECOMPUTE_MAX_N
from ..errors import ConfigError
from ..extraction.options import RunOptions
from .ray import RaySearch
from .svm_grid import SVMGridSearch
from .svm_grid import handles as handles_svm
from ..vocabulary import PROTOCOLS


class LocalSearch:
    """``with LocalSearch(None, n_jobs) as search:`` the local engine: joblib's default backend
    with ``n_jobs``; :meth:`share` returns the array itself (the interface of
    :class:`~elmarc_tf.evaluation.ray.RaySearch`)."""

    def __init__(self, options=None, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs

    def __enter__(self) -> "LocalSearch":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def share(self, array):
        return array


# name -> (ray_options, n_jobs) -> a context manager with .n_jobs and .share(array)
SEARCHES = {"local": LocalSearch, "ray": RaySearch}


@dataclass(frozen=True)
class Protocol:
    """What :func:`evaluate` measures: the protocol ``name`` (one of ``PROTOCOLS``; ``None``:
    :func:`choose_protocol`), ``n_folds`` for ``stratified_kfold``, ``standardize`` (z-score
    features inside each training fold), ``nested`` cross-validation, and the ``seed`` of the
    nested outer folds' shuffle."""

    name: str | None = None
    n_folds: int = 10
    standardize: bool = False
    nested: bool = False
    seed: int = 0


@dataclass(frozen=True)
class SVMSearchOptions:
    """How an ``SVC`` grid is searched (:mod:`elmarc_tf.evaluation.svm_grid`): precomputed
    kernels up to ``precompute_max_n`` rows, and the progress bar's label ``desc``; neither
    changes a result."""

    precompute_max_n: int = DEFAULT_SVM_PRECOMPUTE_MAX_N
    desc: str = "SVM grid"


def choose_protocol(splits=None, folds=None) -> str:
    """``predefined_split`` when items carry train/val/test, ``predefined_folds`` when they carry
    folds, else ``stratified_kfold``."""
    if splits is not None and all(s is not None for s in splits):
        return "predefined_split"
    if folds is not None and all(f is not None for f in folds):
        return "predefined_folds"
    return "stratified_kfold"


def check_evaluable(labels, protocol: str | None = None, splits=None, folds=None,
                    n_folds: int = 10, nested: bool = False) -> str:
    """Check, before any work, that clips with these ``labels`` (and ``splits`` / ``folds``) can
    be evaluated under ``protocol`` (None: :func:`choose_protocol`); returns the protocol.

    Raises :class:`ConfigError` with one line saying which class, split or fold is short and
    what to change: at least two classes; for k-fold cross-validation at least ``n_folds`` clips
    per class (and, nested, enough left in each outer training part for the inner folds); every
    split non-empty and a training split with two classes; every set of training folds with two
    classes.
    """
    labels = np.asarray(labels)
    protocol = protocol or choose_protocol(splits, folds)
    counts = dict(sorted(Counter(labels.tolist()).items()))
    if len(counts) < 2:
        what = f"only one class ({', '.join(f'{c!r}: {n} clips' for c, n in counts.items())})" \
            if counts else "no clips"
        raise ConfigError(f"{what}: a classifier needs at least two classes")
    if protocol == "stratified_kfold":
        need = n_folds if not nested else _nested_need(n_folds)
        short = {c: n for c, n in counts.items() if n < need}
        if short:
            listed = ", ".join(f"{c!r} has {n}" for c, n in short.items())
            fewest = min(counts.values())
            hint = (f"set n_folds: {_largest_folds(fewest, nested)} or fewer"
                    if _largest_folds(fewest, nested) >= 2 else "add clips to the small classes")
            raise ConfigError(f"{'nested ' if nested else ''}{n_folds}-fold stratified cross-"
                              f"validation needs at least {need} clips per class, but {listed}; "
                              f"{hint}")
    elif protocol == "predefined_split":
        splits = np.asarray(splits)
        bad = sorted(set(splits.tolist()) - {"train", "val", "test"})
        if bad:
            raise ConfigError(f"predefined_split needs 'train', 'val' and 'test' rows (found {bad})")
        for split in ("train", "val", "test"):
            if not np.any(splits == split):
                raise ConfigError(f"predefined_split needs 'train', 'val' and 'test' rows; the "
                                  f"'{split}' split has no clips")
        train = set(labels[splits == "train"].tolist())
        if len(train) < 2:
            raise ConfigError(f"predefined_split: the 'train' split has only one class "
                              f"({train.pop()!r}); a classifier needs at least two")
    elif protocol == "predefined_folds":
        folds = np.asarray(folds)
        names = sorted(set(folds.tolist()))
        if len(names) < (3 if nested else 2):
            raise ConfigError(f"predefined_folds needs at least {3 if nested else 2} different "
                              f"folds{' for nested cross-validation' if nested else ''}, found "
                              f"{len(names)} ({', '.join(map(str, names))})")
        for fold in names:
            rest = set(labels[folds != fold].tolist())
            if len(rest) < 2:
                raise ConfigError(f"predefined_folds: without fold {fold} the training clips have "
                                  f"only one class ({rest.pop()!r}); a classifier needs at least two")
    return protocol


def check_items_evaluable(cfg, items, nested: bool | None = None) -> str:
    """:func:`check_evaluable` of clips ``items`` (their labels, splits and folds) under ``cfg``'s
    ``protocol``, ``n_folds`` and ``nested_cv`` (``nested``: instead of ``nested_cv``; a training
    has no nested search); returns the protocol."""
    return check_evaluable([it.label for it in items], cfg.protocol, [it.split for it in items],
                           [it.fold for it in items], cfg.n_folds,
                           cfg.nested_cv if nested is None else nested)


def _nested_need(n_folds: int) -> int:
    """Clips per class for nested k-fold: k for the outer folds, and k left in each outer
    training part (a class of n clips leaves n - ceil(n / k) there)."""
    n = n_folds
    while n - math.ceil(n / n_folds) < n_folds:
        n += 1
    return n


def _largest_folds(clips: int, nested: bool) -> int:
    """The most folds a class of ``clips`` clips allows."""
    return max((k for k in range(2, clips + 1) if (_nested_need(k) if nested else k) <= clips),
               default=1)


def _with_scaling(estimator, grid, standardize: bool):
    if not standardize:
        return estimator, grid
    pipe = Pipeline([("scale", StandardScaler()), ("clf", estimator)])
    return pipe, [{f"clf__{k}": v for k, v in g.items()} for g in grid]


def _strip(params: dict) -> dict:
    return {k.removeprefix("clf__"): (v if isinstance(v, (int, float, str, type(None))) else str(v))
            for k, v in params.items()}


def _summary(y_true, y_pred, labels) -> dict:
    return {
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "report": classification_report(y_true, y_pred, labels=labels, output_dict=True,
                                        zero_division=0),
    }


class _SklearnSearch:
    """Grid searches by ``GridSearchCV`` (``standardize``: a ``StandardScaler`` + estimator
    pipeline), their fits run by ``fits`` (one of :data:`SEARCHES`: its ``n_jobs``, and the data
    shared once with its workers)."""

    def __init__(self, X, y, estimator, grid, standardize: bool, fits):
        self.X, self.y, self.n_jobs = X, y, fits.n_jobs
        self.shared_X, self.shared_y = fits.share(X), fits.share(y)
        self.estimator, self.grid = _with_scaling(estimator, grid, standardize)

    def search(self, splits, oof: bool):
        """``(best_params, best_score, fold_scores, oof_pred or None)`` over ``splits``."""
        search = GridSearchCV(self.estimator, self.grid, cv=splits, refit=False,
                              n_jobs=self.n_jobs).fit(self.shared_X, self.shared_y)
        best = search.best_index_
        fold_scores = [float(search.cv_results_[f"split{k}_test_score"][best])
                       for k in range(search.n_splits_)]
        pred = (cross_val_predict(clone(self.estimator).set_params(**search.best_params_),
                                  self.shared_X, self.shared_y, cv=splits, n_jobs=self.n_jobs)
                if oof else None)
        return search.best_params_, float(search.best_score_), fold_scores, pred

    def search_refit_many(self, searches):
        """For each ``(splits, train, test)``: the grid search over ``splits`` refitted with its
        best parameters on ``train``, predictions on ``test``."""
        preds = []
        for splits, train, test in searches:
            params = self.search(splits, oof=False)[0]
            preds.append(self.refit_predict(params, train, test))
        return preds

    def refit_predict(self, params, train, test):
        model = clone(self.estimator).set_params(**params).fit(self.X[train], self.y[train])
        return model.predict(self.X[test])

    def report(self) -> dict:
        return {}


class _SVMSearch:
    """Grid searches of an ``SVC`` by :class:`~elmarc_tf.evaluation.svm_grid.SVMGridSearch` (precomputed
    kernels, iteration cap counted, threads, progress)."""

    def __init__(self, X, y, estimator, grid, standardize: bool, n_jobs, progress: bool,
                 desc: str, precompute_max_n: int):
        self.grid = grid
        self.engine = SVMGridSearch(X, y, estimator, standardize=standardize,
                                    precompute_max_n=precompute_max_n, n_jobs=n_jobs,
                                    progress=progress, desc=desc)
        self.best_capped = False

    def search(self, splits, oof: bool):
        [found] = self.engine.search_many(self.grid, [splits])
        self.best_capped |= found.best_capped
        return (found.best_params, found.best_score, [float(s) for s in found.scores[found.best_index]],
                found.oof_pred if oof else None)

    def search_refit_many(self, searches):
        found = self.engine.search_many(self.grid, [splits for splits, _, _ in searches])
        refits = self.engine.refit_predict_many(
            [(f.best_params, train, test) for f, (_, train, test) in zip(found, searches)])
        self.best_capped |= any(f.best_capped for f in found) or any(c for _, c in refits)
        return [pred for pred, _ in refits]

    def refit_predict(self, params, train, test):
        [(pred, capped)] = self.engine.refit_predict_many([(params, train, test)])
        self.best_capped |= capped
        return pred

    def report(self) -> dict:
        """The cap, the fits and the capped fits (:meth:`SVMGridSearch.report`), the kernel
        path, and ``best_capped``: whether a fit behind the reported figure was capped."""
        return {**self.engine.report(), "svm_kernel": self.engine.kernel_path(
                    list(ParameterGrid(self.grid))), "best_capped": bool(self.best_capped)}


def evaluate(X, y, estimator, grid, splits=None, folds=None, protocol: Protocol = Protocol(),
             run: RunOptions = RunOptions(progress=False),
             svm: SVMSearchOptions = SVMSearchOptions()) -> dict:
    """Run one ``protocol`` (a :class:`Protocol`) on features ``X (n, d)`` and labels ``y (n,)``.

    ``splits``: per-row ``'train'``/``'val'``/``'test'`` (predefined_split); ``folds``: per-row fold
    numbers (predefined_folds). Returns a JSON-serialisable dict with ``accuracy`` (the reported
    figure), ``best_params``, ``labels``, ``confusion_matrix`` and per-class ``report`` (for the
    k-fold protocols these two come from out-of-fold predictions with the best parameters).

    An ``SVC`` is grid-searched by :mod:`elmarc_tf.evaluation.svm_grid` (the same fits as ``GridSearchCV``;
    precomputed kernels up to ``svm.precompute_max_n`` rows; ``run.jobs`` threads; a progress bar
    labelled ``svm.desc`` when ``run.progress``), and the result also holds its iteration cap
    and capped fits (``svm_max_iter``, ``n_fits``, ``n_capped_fits``, ``capped_grid_points``,
    ``best_capped``, ``max_n_iter``, ``svm_kernel``). Other estimators: ``GridSearchCV``.
    ``run.engine``: where the fits run, ``"local"`` or ``"ray"`` (with ``run.ray``, a
    :class:`~elmarc_tf.extraction.ray_cluster.RayOptions`; there every estimator goes through
    ``GridSearchCV``); the same numbers either way.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    name = protocol.name or choose_protocol(splits, folds)
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
    if run.engine not in SEARCHES:
        raise ConfigError(f"unknown engine {run.engine!r}; valid: {', '.join(SEARCHES)}")
    check_evaluable(y, name, splits, folds, protocol.n_folds, protocol.nested)
    with SEARCHES[run.engine](run.ray, run.jobs) as fits:
        if handles_svm(estimator) and run.engine == "local":
            searcher = _SVMSearch(X, y, estimator, grid, protocol.standardize, run.jobs,
                                  run.progress, svm.desc, svm.precompute_max_n)
        else:
            searcher = _SklearnSearch(X, y, estimator, grid, protocol.standardize, fits)
        return _evaluate(X, y, searcher, name, splits, folds, protocol.n_folds,
                         protocol.standardize, protocol.nested, protocol.seed)


def _evaluate(X, y, searcher, protocol, splits, folds, n_folds, standardize, nested,
              seed) -> dict:
    """:func:`evaluate` with its grid searches run by ``searcher``."""
    labels = sorted(set(y.tolist()))
    out = {"protocol": protocol, "standardize": bool(standardize), "nested": bool(nested),
           "n_samples": int(len(y))}

    if protocol == "predefined_split":
        splits = np.asarray(splits)
        dev = np.flatnonzero(splits != "test")
        cv = PredefinedSplit(np.where(splits[dev] == "val", 0, -1))
        best_params, best_score, _, _ = searcher.search(_index_splits(cv, dev, y), oof=False)
        train, test = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test")
        pred = searcher.refit_predict(best_params, train, test)
        out.update(accuracy=float(accuracy_score(y[test], pred)),
                   val_accuracy=best_score, best_params=_strip(best_params),
                   n_train=int(train.size), n_val=int((splits == "val").sum()), n_test=int(test.size),
                   **_summary(y[test], pred, labels))
        if nested:
            out["nested_note"] = "the test split is held out already: nested CV does not apply"
        return {**out, **searcher.report()}

    everything = np.arange(len(y))
    if protocol == "predefined_folds":
        folds = np.asarray(folds)
        cv = PredefinedSplit(folds)
        out["n_folds"] = len(set(folds.tolist()))
    else:
        cv = StratifiedKFold(n_splits=n_folds)  # what GridSearchCV(cv=10) uses for classifiers
        out["n_folds"] = n_folds

    best_params, best_score, fold_scores, pred = searcher.search(_index_splits(cv, everything, y),
                                                                 oof=not nested)
    out.update(accuracy=best_score, best_params=_strip(best_params), fold_accuracies=fold_scores)
    if nested:
        if protocol == "predefined_folds":
            outer = list(LeaveOneGroupOut().split(X, y, groups=folds))
        else:
            outer = list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))
        inner = [(_index_splits(PredefinedSplit(folds[train]) if protocol == "predefined_folds"
                        else StratifiedKFold(n_splits=n_folds), train, y), train, test)
                 for train, test in outer]
        nested_pred = np.empty_like(y)
        outer_scores = []
        for (train, test), fold_pred in zip(outer, searcher.search_refit_many(inner)):
            nested_pred[test] = fold_pred
            outer_scores.append(float(accuracy_score(y[test], fold_pred)))
        out.update(accuracy=float(np.mean(outer_scores)), best_score_cv=best_score,
                   fold_accuracies=outer_scores, **_summary(y, nested_pred, labels))
        return {**out, **searcher.report()}
    out.update(**_summary(y, pred, labels))
    return {**out, **searcher.report()}


def _index_splits(cv, rows, y) -> list:
    """``cv``'s ``(train, test)`` splits of ``rows`` (indices into the full data), as indices
    into the full data."""
    return [(rows[train], rows[test]) for train, test in cv.split(np.zeros((len(rows), 1)), y[rows])]
