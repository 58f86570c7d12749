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
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import (GridSearchCV, LeaveOneGroupOut, ParameterGrid,
                                     PredefinedSplit, StratifiedKFold, cross_val_predict)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .config import DEFAULT_SVM_PRECOMPUTE_MAX_N, PROTOCOLS
from .errors import ConfigError
from .svm_grid import SVMGridSearch
from .svm_grid import handles as handles_svm


def choose_protocol(splits=None, folds=None) -> str:
    """``predefined_split`` when items carry train/val/test, ``predefined_folds`` when they carry
    folds, else ``stratified_kfold``."""
    if splits is not None and all(s is not None for s in splits):
        return "predefined_split"
    if folds is not None and all(f is not None for f in folds):
        return "predefined_folds"
    return "stratified_kfold"


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
    """Grid searches by ``GridSearchCV`` (every estimator but the SVM; ``standardize``: a
    ``StandardScaler`` + estimator pipeline)."""

    def __init__(self, X, y, estimator, grid, standardize: bool, n_jobs):
        self.X, self.y, self.n_jobs = X, y, n_jobs
        self.estimator, self.grid = _with_scaling(estimator, grid, standardize)

    def search(self, splits, oof: bool):
        """``(best_params, best_score, fold_scores, oof_pred or None)`` over ``splits``."""
        search = GridSearchCV(self.estimator, self.grid, cv=splits, refit=False,
                              n_jobs=self.n_jobs).fit(self.X, self.y)
        best = search.best_index_
        fold_scores = [float(search.cv_results_[f"split{k}_test_score"][best])
                       for k in range(search.n_splits_)]
        pred = (cross_val_predict(clone(self.estimator).set_params(**search.best_params_), self.X,
                                  self.y, cv=splits, n_jobs=self.n_jobs) if oof else None)
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
    """Grid searches of an ``SVC`` by :class:`~elmarc_tf.svm_grid.SVMGridSearch` (precomputed
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


def evaluate(X, y, estimator, grid, protocol: str | None = None, splits=None, folds=None,
             n_folds: int = 10, standardize: bool = False, nested: bool = False,
             n_jobs: int | None = None, seed: int = 0, progress: bool = False,
             progress_desc: str = "SVM grid",
             precompute_max_n: int = DEFAULT_SVM_PRECOMPUTE_MAX_N) -> dict:
    """Run one protocol on features ``X (n, d)`` and labels ``y (n,)``.

    ``splits``: per-row ``'train'``/``'val'``/``'test'`` (predefined_split); ``folds``: per-row fold
    numbers (predefined_folds). Returns a JSON-serialisable dict with ``accuracy`` (the reported
    figure), ``best_params``, ``labels``, ``confusion_matrix`` and per-class ``report`` (for the
    k-fold protocols these two come from out-of-fold predictions with the best parameters).

    An ``SVC`` is grid-searched by :mod:`elmarc_tf.svm_grid` (the same fits as ``GridSearchCV``;
    precomputed kernels up to ``precompute_max_n`` rows; ``n_jobs`` threads; a progress bar
    labelled ``progress_desc`` when ``progress``), and the result also holds its iteration cap
    and capped fits (``svm_max_iter``, ``n_fits``, ``n_capped_fits``, ``capped_grid_points``,
    ``best_capped``, ``max_n_iter``, ``svm_kernel``). Other estimators: ``GridSearchCV``.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    protocol = protocol or choose_protocol(splits, folds)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    labels = sorted(set(y.tolist()))
    if handles_svm(estimator):
        searcher = _SVMSearch(X, y, estimator, grid, standardize, n_jobs, progress, progress_desc,
                              precompute_max_n)
    else:
        searcher = _SklearnSearch(X, y, estimator, grid, standardize, n_jobs)
    out = {"protocol": protocol, "standardize": bool(standardize), "nested": bool(nested),
           "n_samples": int(len(y))}

    if protocol == "predefined_split":
        splits = np.asarray(splits)
        bad = sorted(set(splits.tolist()) - {"train", "val", "test"})
        if bad or not all(np.any(splits == s) for s in ("train", "val", "test")):
            raise ConfigError("predefined_split needs 'train', 'val' and 'test' rows"
                              + (f" (found {bad})" if bad else ""))
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
        if len(set(folds.tolist())) < 2:
            raise ConfigError("predefined_folds needs at least two different folds")
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
