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

Engines (:data:`SEARCHES`): ``local`` fits with joblib's default backend (``n_jobs`` processes);
``ray`` spreads the same fits over a Ray cluster (:mod:`elmarc_tf.ray_search`). Same fits, same
accuracies.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import (GridSearchCV, LeaveOneGroupOut, PredefinedSplit,
                                     StratifiedKFold, cross_val_predict)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .errors import ConfigError
from .ray_search import RaySearch
from .vocabulary import PROTOCOLS


class LocalSearch:
    """``with LocalSearch(None, n_jobs) as search:`` the local engine: joblib's default backend
    with ``n_jobs``; :meth:`share` returns the array itself (the interface of
    :class:`~elmarc_tf.ray_search.RaySearch`)."""

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


def evaluate(X, y, estimator, grid, protocol: str | None = None, splits=None, folds=None,
             n_folds: int = 10, standardize: bool = False, nested: bool = False,
             n_jobs: int | None = None, seed: int = 0, engine: str = "local",
             ray_options=None) -> dict:
    """Run one protocol on features ``X (n, d)`` and labels ``y (n,)``.

    ``splits``: per-row ``'train'``/``'val'``/``'test'`` (predefined_split); ``folds``: per-row fold
    numbers (predefined_folds). Returns a JSON-serialisable dict with ``accuracy`` (the reported
    figure), ``best_params``, ``labels``, ``confusion_matrix`` and per-class ``report`` (for the
    k-fold protocols these two come from out-of-fold predictions with the best parameters).
    ``engine``: where the fits run, ``"local"`` or ``"ray"`` (with ``ray_options``, a
    :class:`~elmarc_tf.ray_cluster.RayOptions`); the same numbers either way.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    protocol = protocol or choose_protocol(splits, folds)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    if engine not in SEARCHES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(SEARCHES)}")
    check_evaluable(y, protocol, splits, folds, n_folds, nested)
    with SEARCHES[engine](ray_options, n_jobs) as fits:
        return _evaluate(X, y, estimator, grid, protocol, splits, folds, n_folds, standardize,
                         nested, seed, fits)


def _evaluate(X, y, estimator, grid, protocol, splits, folds, n_folds, standardize, nested, seed,
              fits) -> dict:
    """:func:`evaluate`, its fits run by ``fits`` (one of :data:`SEARCHES`)."""
    n_jobs, share = fits.n_jobs, fits.share
    labels = sorted(set(y.tolist()))
    estimator, grid = _with_scaling(estimator, grid, standardize)
    out = {"protocol": protocol, "standardize": bool(standardize), "nested": bool(nested),
           "n_samples": int(len(y))}

    if protocol == "predefined_split":
        splits = np.asarray(splits)
        dev = splits != "test"
        cv = PredefinedSplit(np.where(splits[dev] == "val", 0, -1))
        search = GridSearchCV(estimator, grid, cv=cv, refit=False,
                              n_jobs=n_jobs).fit(share(X[dev]), share(y[dev]))
        train, test = splits == "train", splits == "test"
        model = clone(estimator).set_params(**search.best_params_).fit(X[train], y[train])
        pred = model.predict(X[test])
        out.update(accuracy=float(accuracy_score(y[test], pred)),
                   val_accuracy=float(search.best_score_), best_params=_strip(search.best_params_),
                   n_train=int(train.sum()), n_val=int((splits == "val").sum()), n_test=int(test.sum()),
                   **_summary(y[test], pred, labels))
        if nested:
            out["nested_note"] = "the test split is held out already: nested CV does not apply"
        return out

    if protocol == "predefined_folds":
        folds = np.asarray(folds)
        cv = PredefinedSplit(folds)
        out["n_folds"] = len(set(folds.tolist()))
    else:
        cv = StratifiedKFold(n_splits=n_folds)  # what GridSearchCV(cv=10) uses for classifiers
        out["n_folds"] = n_folds

    X_shared, y_shared = share(X), share(y)
    search = GridSearchCV(estimator, grid, cv=cv, refit=False, n_jobs=n_jobs).fit(X_shared, y_shared)
    best = clone(estimator).set_params(**search.best_params_)
    best_index = search.best_index_
    out.update(accuracy=float(search.best_score_), best_params=_strip(search.best_params_),
               fold_accuracies=[float(search.cv_results_[f"split{k}_test_score"][best_index])
                                for k in range(search.n_splits_)])
    if nested:
        outer_scores, nested_pred = [], np.empty_like(y)
        if protocol == "predefined_folds":
            outer = list(LeaveOneGroupOut().split(X, y, groups=folds))
        else:
            outer = list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))
        for train, test in outer:
            inner_cv = (PredefinedSplit(folds[train]) if protocol == "predefined_folds"
                        else StratifiedKFold(n_splits=n_folds))
            inner = GridSearchCV(estimator, grid, cv=inner_cv, n_jobs=n_jobs).fit(
                share(X[train]), share(y[train]))
            nested_pred[test] = inner.predict(X[test])
            outer_scores.append(float(accuracy_score(y[test], nested_pred[test])))
        out.update(accuracy=float(np.mean(outer_scores)), best_score_cv=float(search.best_score_),
                   fold_accuracies=outer_scores, **_summary(y, nested_pred, labels))
        return out
    pred = cross_val_predict(best, X_shared, y_shared, cv=cv, n_jobs=n_jobs)
    out.update(**_summary(y, pred, labels))
    return out
