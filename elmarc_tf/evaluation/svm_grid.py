"""The SVM grid search on precomputed kernels: the numbers of ``GridSearchCV(SVC(), grid)``, faster.

:class:`SVMGridSearch` runs the fits of a grid search with ``sklearn.svm.SVC`` — every grid
point on every split, and refits — and picks the best point as ``GridSearchCV`` does: the grid
points in ``ParameterGrid`` order, each fit scored by accuracy on its test rows, the mean over the
splits by ``np.average``, the best point the first of the highest means (``rank_test_score`` /
``best_index_``). Its two ways of fitting give the same fits:

``precomputed`` (``n_samples <= precompute_max_n``, the paper's grid: rbf and linear kernels)
    The Gram matrix ``G = X @ X.T`` once per feature matrix (float64, one BLAS ``syrk``), the
    squared distances ``|x_i|^2 + |x_j|^2 - 2 G_ij`` from it and each gamma's RBF kernel
    ``exp(-gamma * D)`` once (``gamma='auto'`` is
    ``1 / n_features``, as ``SVC`` takes it); the linear kernel is ``G`` itself. Every C and every
    split of that kernel fits ``SVC(kernel='precomputed')`` on the block ``K[train][:, train]``
    and predicts from ``K[test][:, train]``. With ``standardize`` the scaler is fitted on each
    split's training rows (as the ``StandardScaler`` + ``SVC`` pipeline does), so the Gram matrix
    is computed per split from its scaled rows instead.
``plain``
    ``SVC`` with its own kernel on the feature rows, libsvm computing kernel rows itself from the
    d-dimensional vectors: what ``GridSearchCV(SVC(), grid)`` fits. Used above the size limit,
    and for grids the precomputed path does not cover (other kernels, ``gamma='scale'``, which
    depends on each training fold, ``probability=True``, sparse input, ``SVC`` subclasses).

Same fits: libsvm rounds kernel values to float32 in its kernel cache (``Qfloat``) and keeps
only the diagonal (``QD``) in float64. The BLAS Gram matrix differs from libsvm's own dot
products by float64 rounding (~1e-16 relative), almost always below float32 resolution, and its
diagonal is recomputed with libsvm's own ``ddot`` (:func:`gram_matrix`), so libsvm takes the
same SMO steps on either path: on one of the demo's 640-clip time-8 feature matrices, whose
linear-kernel fits take up to 7e6 iterations, 319 of the grid's 320 fits took the same number
of iterations (one RBF fit 6 more: 12 of its 409 600 kernel values were one float32 step
apart) and all gave the same predictions; the numbers of whole studies measured were equal
(``docs/performance.md``; ``tests/test_svm_grid.py`` checks per-fold scores and best
parameters against ``GridSearchCV``).

Memory of the precomputed path, for ``n`` rows: every kernel is ``8 n^2`` bytes (an 8 732-row
kernel, UrbanSound8K, is 610 MB). Alive at once: ``G``, one or two gamma kernels (while the
fits move from one gamma to the next) and one ``K[train][:, train]`` block (about ``0.8 n^2``
values with 10 folds) for each split being fitted, plus libsvm's own kernel cache (``cache_size``,
200 MB by default) per running fit: ~3 GB at n = 8 732 with two jobs. Above ``precompute_max_n``
rows the plain path is used.

Iteration cap: ``SVC(max_iter=...)`` (libsvm's SMO iterations, per binary sub-problem; -1: no
limit). A fit that reaches it stops early (``fit_status_ == 1``); each fit's iterations
(``n_iter_``, the largest over its sub-problems) and whether it was capped are recorded, and
:meth:`SVMGridSearch.report` summarises them. Capped fits' ``ConvergenceWarning`` is not
repeated per fit while a batch runs.

Parallel fits (``n_jobs``) are threads: libsvm releases the GIL while training and predicting
(``with nogil`` around ``svm_train`` / ``copy_predict`` in scikit-learn's ``_libsvm.pyx``), so
the threads share one kernel in memory and one copy of the features; worker processes would each
need their own. Progress (fits done / total, rate, ETA) is a tqdm bar on stderr.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
from joblib import effective_n_jobs
from scipy.linalg.blas import ddot as blas_ddot
from scipy.sparse import issparse
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import ParameterGrid
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

__all__ = ["PRECOMPUTED_KERNELS", "FitOutcome", "GridFound", "SVMGridSearch", "gram_matrix",
           "rbf_from_gram", "submatrix", "kernel_bytes", "handles"]

# Kernels the precomputed path computes from the Gram matrix.
PRECOMPUTED_KERNELS = ("rbf", "linear")
# Rows of the RBF kernel computed per step (bounds the float64 temporaries to chunk x n).
_CHUNK_ROWS = 512


def handles(estimator) -> bool:
    """Whether :class:`SVMGridSearch` runs grid searches of ``estimator`` (an ``SVC``)."""
    return isinstance(estimator, SVC)


def kernel_bytes(n: int) -> int:
    """Bytes of one float64 ``(n, n)`` kernel matrix (8 732 rows: 610 MB)."""
    return 8 * int(n) ** 2


def gram_matrix(X: np.ndarray) -> np.ndarray:
    """``X @ X.T`` (n, n) float64 for ``X`` (n, d), as libsvm would see it.

    NumPy's BLAS computes the matrix (``syrk``). The diagonal is then recomputed as libsvm
    computes it, ``ddot(x_i, x_i)`` by the BLAS scikit-learn's libsvm calls (SciPy's): libsvm
    keeps the diagonal in float64 (``QD``, in every SMO step) where it rounds the rest to float32,
    so with this diagonal the linear kernel libsvm trains on is bitwise its own, and the RBF
    kernel's squared norms are libsvm's ``x_square``.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    G = X @ X.T
    G[np.diag_indices_from(G)] = [blas_ddot(x, x) for x in X]
    return G


def rbf_from_gram(G: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma * |x_i - x_j|^2)`` (n, n) from a Gram matrix ``G`` (n, n).

    Squared distances are ``(G_ii + G_jj) - 2 G_ij``, libsvm's formula in libsvm's order of
    operations, so that the kernel values agree with libsvm's to the last bit or nearly. Like
    libsvm's they are not clipped at 0: for two nearly equal rows rounding can leave a tiny
    negative distance and a kernel value above 1 by ~1e-16, which libsvm's float32 kernel cache
    rounds to 1 anyway. The diagonal is exactly 1. Computed in blocks of rows, so the
    temporaries stay small next to the result.
    """
    sq = np.diagonal(G).copy()
    K = np.empty_like(G)
    for start in range(0, G.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        block = K[rows]
        np.add(sq[rows, None], sq[None, :], out=block)  # libsvm: x_sq[i] + x_sq[j] - 2 dot
        block -= 2.0 * G[rows]
        block *= -float(gamma)
        np.exp(block, out=block)
    return K


def submatrix(K: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``K[np.ix_(rows, cols)]`` (len(rows), len(cols)), C-contiguous; one ``take`` per row,
    ~10x faster than NumPy's two-axis fancy indexing on kernels of thousands of rows."""
    out = np.empty((len(rows), len(cols)), dtype=K.dtype)
    for i, r in enumerate(rows):
        np.take(K[r], cols, out=out[i])
    return out


@dataclass
class FitOutcome:
    """One fit: accuracy on its test rows, predictions (n_test,), libsvm iterations, capped."""

    score: float
    pred: np.ndarray | None
    n_iter: int
    capped: bool
    error: BaseException | None = None


@dataclass
class GridFound:
    """One grid search's outcome, as ``GridSearchCV`` would report it.

    ``scores`` (n_candidates, n_splits): each fit's accuracy; ``best_index``, ``best_params``,
    ``best_score``: ``GridSearchCV``'s ``best_index_``, ``best_params_``, ``best_score_``;
    ``oof_pred`` (n_rows,): the best point's predictions on each split's test rows (each row
    once when the splits partition the rows, else the last split's; rows no split tests are
    left undefined); ``best_capped``: whether any of the best point's fits was capped.
    """

    candidates: list
    scores: np.ndarray
    best_index: int
    best_params: dict
    best_score: float
    oof_pred: np.ndarray
    best_capped: bool


@dataclass
class _Stats:
    n_fits: int = 0
    n_capped: int = 0
    max_n_iter: int = 0
    capped_at: Counter = field(default_factory=Counter)  # grid point (repr) -> capped fits
    fits_at: Counter = field(default_factory=Counter)


class _Shared:
    """Values built once on first use, shared by threads, dropped after their last user.

    ``counts[key]``: how many ``release(key)`` calls end the value's life.
    """

    def __init__(self, counts: Counter):
        self._counts = dict(counts)
        self._values, self._locks = {}, {}
        self._guard = threading.Lock()

    def acquire(self, key, build):
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = build()
            return self._values[key]

    def release(self, key) -> None:
        with self._guard:
            self._counts[key] -= 1
            if self._counts[key] == 0:
                self._values.pop(key, None)
                self._locks.pop(key, None)


class _Blocks:
    """The ``(train, test)`` matrices of each fit, built on first use and shared by threads.

    A fit's block is ``(K[train][:, train], K[test][:, train])`` of its kernel (precomputed) or
    the rows ``(X[train], X[test])`` (plain), scaled by a scaler fitted on ``X[train]`` with
    ``standardize``. Blocks come from a *source*: the whole gamma kernel (precomputed,
    unscaled; shared by every split), or one split's scaled Gram matrix or rows. Each is
    dropped after its last user.
    """

    def __init__(self, search: "SVMGridSearch", path: str, split_rows: list, keys: list):
        self.search, self.path, self.split_rows, self.keys = search, path, split_rows, keys
        self.by_kernel = path == "precomputed" and not search.standardize
        self._blocks = _Shared(Counter(keys))
        self._sources = _Shared(Counter(self._source_key(key) for key in set(keys)))

    def _source_key(self, key):
        split, kernel = key
        return kernel if self.by_kernel else split

    def _source(self, key):
        split, kernel = key
        search = self.search
        if self.path == "plain":
            return search._rows(*self.split_rows[split])
        if search.standardize:  # (Gram matrix of the split's scaled rows, train / test positions)
            return search._scaled_gram(*self.split_rows[split])
        return search._gram if kernel[0] == "linear" else rbf_from_gram(search._gram, kernel[1])

    def _block(self, key):
        skey = self._source_key(key)
        value = self._sources.acquire(skey, lambda: self._source(key))
        try:
            if self.path == "plain":
                return value
            split, kernel = key
            if self.search.standardize:
                G, tr, te = value
                K = G if kernel[0] == "linear" else rbf_from_gram(G, kernel[1])
            else:
                K, (tr, te) = value, self.split_rows[split]
            return submatrix(K, tr, tr), submatrix(K, te, tr)
        finally:
            self._sources.release(skey)

    def acquire(self, j):
        """Fit ``j``'s ``(train, test)`` matrices; pair with :meth:`release`."""
        return self._blocks.acquire(self.keys[j], lambda: self._block(self.keys[j]))

    def release(self, j) -> None:
        self._blocks.release(self.keys[j])


def _param_key(params: dict) -> str:
    return ", ".join(f"{k}={params[k]}" for k in sorted(params))


class SVMGridSearch:
    """Grid searches and refits of an ``SVC`` on one feature matrix.

    Parameters
    ----------
    X : array (n, d); y : array (n,)
    estimator : SVC
        Its parameters (``max_iter``, ``tol``, ``cache_size``, ``class_weight``, ...) apply to
        every fit; grid points override them.
    standardize : bool
        z-score features with a scaler fitted on each fit's training rows (the
        ``StandardScaler`` + ``SVC`` pipeline).
    precompute_max_n : int
        Above this many rows, and for grids the kernels here do not cover, the plain path.
    n_jobs : int or None
        Parallel fits (threads; ``None`` 1, -1 all cores, as joblib).
    progress : bool
        A tqdm bar on stderr per batch of fits, labelled ``desc``.
    """

    def __init__(self, X, y, estimator=None, *, standardize: bool = False,
                 precompute_max_n: int = 10000, n_jobs=None, progress: bool = False,
                 desc: str = "SVM grid"):
        self.estimator = SVC() if estimator is None else estimator
        self.X = X if issparse(X) else np.asarray(X, dtype=np.float64)
        self.y = np.asarray(y)
        self.standardize = bool(standardize)
        self.precompute_max_n = int(precompute_max_n)
        self.n_jobs = effective_n_jobs(n_jobs)
        self.progress, self.desc = progress, desc
        self._stats = _Stats()
        self._gram = None  # unscaled Gram matrix, kept for every batch of this search

    # ----------------------------------------------------------------- path choice
    def kernel_path(self, candidates) -> str:
        """``'precomputed'`` or ``'plain'`` for these grid points (see the module docstring)."""
        base = self.estimator
        if (type(base) is not SVC or issparse(self.X) or base.get_params().get("probability") is True
                or self.X.shape[0] > self.precompute_max_n):
            return "plain"
        for params in candidates:
            merged = {**base.get_params(), **params}
            if merged["kernel"] not in PRECOMPUTED_KERNELS:
                return "plain"
            gamma = merged["gamma"]
            if merged["kernel"] == "rbf" and not (gamma == "auto" or (
                    isinstance(gamma, Real) and not isinstance(gamma, bool) and gamma > 0)):
                return "plain"
        return "precomputed"

    def _kernel_id(self, params: dict):
        merged = {**self.estimator.get_params(), **params}
        if merged["kernel"] == "linear":
            return ("linear",)
        gamma = merged["gamma"]
        return ("rbf", 1.0 / self.X.shape[1] if gamma == "auto" else float(gamma))

    # ----------------------------------------------------------------- fitting
    def fit_many(self, jobs) -> list[FitOutcome]:
        """Fit and score ``jobs``: ``(params, train, test)`` triples of a grid point and row
        indices (int arrays into ``X``). Returns one :class:`FitOutcome` per job, in order."""
        jobs = [(dict(p), np.asarray(tr, dtype=np.intp), np.asarray(te, dtype=np.intp))
                for p, tr, te in jobs]
        if not jobs:
            return []
        path = self.kernel_path([p for p, _, _ in jobs])
        split_ids, splits = [], {}
        for _, tr, te in jobs:  # identical (train, test) pairs share their blocks
            split_ids.append(splits.setdefault((tr.tobytes(), te.tobytes()), len(splits)))
        split_rows = [None] * len(splits)
        for (_, tr, te), s in zip(jobs, split_ids):
            split_rows[s] = (tr, te)
        kernels = [self._kernel_id(p) if path == "precomputed" else None for p, _, _ in jobs]
        if path == "precomputed" and not self.standardize and self._gram is None:
            self._gram = gram_matrix(self.X)
        blocks = _Blocks(self, path, split_rows, list(zip(split_ids, kernels)))

        def run(j) -> FitOutcome:
            params, tr, te = jobs[j]
            try:
                A_train, A_test = blocks.acquire(j)
                return self._fit_one(params, path, A_train, A_test, self.y[tr], self.y[te])
            finally:
                blocks.release(j)

        kernel_order = {k: i for i, k in enumerate(dict.fromkeys(kernels))}
        if blocks.by_kernel:  # one kernel at a time: it is dropped once its blocks are built
            order_key = lambda j: (kernel_order[kernels[j]], split_ids[j], j)
        else:  # one split at a time
            order_key = lambda j: (split_ids[j], kernel_order[kernels[j]], j)
        order = sorted(range(len(jobs)), key=order_key)
        outcomes: list = [None] * len(jobs)
        bar = tqdm(total=len(jobs), desc=f"{self.desc} ({path})", unit="fit", file=sys.stderr,
                   disable=not self.progress, dynamic_ncols=True)
        with warnings.catch_warnings(), bar:
            # Capped fits are counted and reported; one warning per fit would only repeat that.
            warnings.filterwarnings("ignore", message="Solver terminated early",
                                    category=ConvergenceWarning)
            if self.n_jobs == 1:
                for j in order:
                    outcomes[j] = run(j)
                    bar.update(1)
            else:
                self._run_threads(run, order, outcomes, bar)
        self._record(jobs, outcomes)
        return outcomes

    def _run_threads(self, run, order, outcomes, bar) -> None:
        """``outcomes[j] = run(j)`` for ``j`` in ``order`` on ``n_jobs`` threads; at most
        ``2 * n_jobs`` submitted at a time, so kernel blocks are built in order, not all at once."""
        pool = ThreadPoolExecutor(self.n_jobs)
        todo, running = iter(order), {}
        try:
            for j in todo:
                running[pool.submit(run, j)] = j
                if len(running) >= 2 * self.n_jobs:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    outcomes[running.pop(future)] = future.result()
                    bar.update(1)
                    nxt = next(todo, None)
                    if nxt is not None:
                        running[pool.submit(run, nxt)] = nxt
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # running fits end on their own
            raise
        pool.shutdown()

    def _rows(self, tr, te):
        X_tr, X_te = self.X[tr], self.X[te]
        if self.standardize:
            scaler = StandardScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        return X_tr, X_te

    def _scaled_gram(self, tr, te):
        """Gram matrix of the split's rows scaled by a scaler fitted on its training rows, and
        the positions of the train / test rows in it."""
        rows, inverse = np.unique(np.concatenate([tr, te]), return_inverse=True)
        scaled = StandardScaler().fit(self.X[tr]).transform(self.X[rows])
        return gram_matrix(scaled), inverse[:len(tr)], inverse[len(tr):]

    def _fit_one(self, params, path, A_train, A_test, y_train, y_test) -> FitOutcome:
        est = clone(self.estimator)
        if path == "precomputed":
            est.set_params(**{k: v for k, v in params.items() if k not in ("kernel", "gamma")},
                           kernel="precomputed")
        else:
            est.set_params(**params)
        try:
            est.fit(A_train, y_train)
            pred = est.predict(A_test)
        except Exception as e:  # noqa: BLE001 - a failed fit scores nan, as in GridSearchCV
            return FitOutcome(np.nan, None, 0, False, e)
        return FitOutcome(float(accuracy_score(y_test, pred)), pred, int(np.max(est.n_iter_)),
                          bool(est.fit_status_ == 1))

    def _record(self, jobs, outcomes) -> None:
        st = self._stats
        for (params, _, _), o in zip(jobs, outcomes):
            key = _param_key(params)
            st.n_fits += 1
            st.fits_at[key] += 1
            st.max_n_iter = max(st.max_n_iter, o.n_iter)
            if o.capped:
                st.n_capped += 1
                st.capped_at[key] += 1
        failed = [o for o in outcomes if o.error is not None]
        if failed and len(failed) == len(outcomes):
            raise failed[0].error
        if failed:
            warnings.warn(f"{len(failed)} of {len(outcomes)} SVM fits failed and score nan "
                          f"(first: {type(failed[0].error).__name__}: {failed[0].error})",
                          FitFailedWarning, stacklevel=3)

    # ----------------------------------------------------------------- grid searches
    def search_many(self, grid, split_lists) -> list[GridFound]:
        """One grid search per list of ``(train, test)`` splits, all fitted in one batch.

        ``grid``: a ``ParameterGrid`` argument (dict or list of dicts). Returns one
        :class:`GridFound` per split list, chosen as ``GridSearchCV`` chooses.
        """
        candidates = list(ParameterGrid(grid))
        jobs = [(p, tr, te) for splits in split_lists for p in candidates for tr, te in splits]
        outcomes = iter(self.fit_many(jobs))
        found = []
        for splits in split_lists:
            grid_outcomes = [[next(outcomes) for _ in splits] for _ in candidates]
            found.append(self._choose(candidates, splits, grid_outcomes))
        return found

    def _choose(self, candidates, splits, grid_outcomes) -> GridFound:
        scores = np.array([[o.score for o in row] for row in grid_outcomes], dtype=np.float64)
        means = mean_scores = np.average(scores, axis=1)  # GridSearchCV's mean_test_score
        if np.isnan(means).all():
            rank = np.ones(len(means), dtype=np.int32)
        else:  # GridSearchCV's rank_test_score (nan ranks last); best_index_ is its argmin
            means = np.nan_to_num(means, nan=np.nanmin(means) - 1)
            rank = rankdata(-means, method="min").astype(np.int32)
        best = int(rank.argmin())
        oof = np.empty_like(self.y)
        for (_, te), o in zip(splits, grid_outcomes[best]):
            if o.pred is None:
                raise o.error
            oof[te] = o.pred
        return GridFound(candidates=candidates, scores=scores, best_index=best,
                         best_params=candidates[best], best_score=float(mean_scores[best]),
                         oof_pred=oof, best_capped=any(o.capped for o in grid_outcomes[best]))

    def refit_predict_many(self, jobs) -> list[tuple[np.ndarray, bool]]:
        """Fit ``(params, train, test)`` and predict its test rows: ``(pred (n_test,), capped)``
        per job. A failed fit raises its error."""
        outcomes = self.fit_many(jobs)
        for o in outcomes:
            if o.error is not None:
                raise o.error
        return [(o.pred, o.capped) for o in outcomes]

    # ----------------------------------------------------------------- report
    def report(self) -> dict:
        """Every fit so far: ``svm_max_iter`` (the cap; -1 none), ``n_fits``, ``n_capped_fits``,
        ``capped_grid_points`` (grid point -> capped fits, grid order) and ``max_n_iter`` (the
        most libsvm iterations of one fit)."""
        st = self._stats
        return {"svm_max_iter": int(self.estimator.max_iter), "n_fits": st.n_fits,
                "n_capped_fits": st.n_capped,
                "capped_grid_points": {k: st.capped_at[k] for k in st.fits_at if st.capped_at[k]},
                "max_n_iter": st.max_n_iter}
