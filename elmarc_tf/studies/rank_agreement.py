"""Do two accuracies rank architectures alike? The statistics of the random-vs-trained study.

Per architecture, two accuracy tables ``x`` and ``y`` of shape ``(n_seeds, n_splits)`` (seed ``s``
is one set of initial weights, split ``k`` one train/validation/test partition of the clips; a
1-d table is one split). Across architectures, on the means of the tables:

- Spearman's ρ, Kendall's τ and Pearson's r (``scipy.stats``), each with scipy's two-sided p-value
  and a percentile bootstrap interval. A resample draws the splits with replacement (one draw
  shared by every architecture: a split is the same clips for all of them) and, per
  architecture, its seeds with replacement (independent initial weights); ``x`` and ``y`` take
  the same draws (paired). A resample whose means are constant has no correlation: counted as
  ``undefined`` and left out.
- A permutation p-value of Spearman's ρ: the share of orderings of ``y``'s means against ``x``'s
  whose ``|ρ|`` is at least the observed one; every ordering when there are at most
  ``max_exact`` of them (the identity included), else ``n_perm`` random ones
  (``(1 + hits) / (1 + n_perm)``).
- Top-1 agreement and regret: ``x`` picks the architecture with the best mean (ties: the first
  listed); ``agree`` says whether its ``y`` mean is the best one, and ``regret`` is the best ``y``
  mean minus the pick's (0 when they agree), with its bootstrap interval and the share of
  resamples in which the pick agrees.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import stats

from ..errors import ElmarcError

N_BOOT = 2000
N_PERM = 10000
CONFIDENCE = 0.95
TESTS = {"spearman": stats.spearmanr, "kendall": stats.kendalltau, "pearson": stats.pearsonr}


def _tables(x: dict, y: dict) -> tuple[list, list, list]:
    """``(names, xs, ys)``: the tables as float arrays ``(n_seeds, n_splits)``, checked to pair."""
    names = list(x)
    if len(names) < 3:
        raise ElmarcError(f"a correlation across architectures needs at least 3, got {len(names)}")
    xs = [np.atleast_2d(np.asarray(x[n], dtype=float).T).T for n in names]
    ys = [np.atleast_2d(np.asarray(y[n], dtype=float).T).T for n in names]
    for n, a, b in zip(names, xs, ys):
        if a.shape != b.shape or a.size == 0:
            raise ElmarcError(f"{n}: accuracies of shape {a.shape} and {b.shape} (seeds x splits; "
                              f"they must pair)")
    if len({a.shape[1] for a in xs}) > 1:
        raise ElmarcError("every architecture needs the same splits")
    return names, xs, ys


def top1(mx, my) -> dict:
    """``pick`` (index of the best ``mx``, first on ties), ``best`` (of ``my``), ``agree`` and
    ``regret`` (``max(my) - my[pick]``) of per-architecture means ``mx`` and ``my``."""
    mx, my = np.asarray(mx, dtype=float), np.asarray(my, dtype=float)
    pick, best = int(np.argmax(mx)), int(np.argmax(my))
    regret = float(my[best] - my[pick])
    return {"pick": pick, "best": best, "agree": regret == 0.0, "regret": regret}


def spearman_permutation(mx, my, n_perm: int = N_PERM, seed: int = 0,
                         max_exact: int = N_PERM) -> dict:
    """Permutation test of Spearman's ρ between ``mx`` and ``my`` (see the module docstring):
    ``p``, ``n_permutations`` and ``exact``."""
    rx, ry = stats.rankdata(mx), stats.rankdata(my)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())
    ry = ry - ry.mean()
    norm = np.linalg.norm(ry)
    if norm == 0 or not np.isfinite(rx).all():
        return {"p": float("nan"), "n_permutations": 0, "exact": False}
    ry = ry / norm
    observed = abs(float(rx @ ry))
    n = len(ry)
    exact = math.factorial(n) <= max_exact
    if exact:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.array([rng.permutation(n) for _ in range(n_perm)])
    hits = int(np.sum(np.abs(ry[orders] @ rx) >= observed - 1e-12))
    p = hits / len(orders) if exact else (1 + hits) / (1 + len(orders))
    return {"p": float(p), "n_permutations": int(len(orders)), "exact": bool(exact)}


def _interval(values, confidence: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not values.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def correlations(x: dict, y: dict, n_boot: int = N_BOOT, seed: int = 0,
                 confidence: float = CONFIDENCE, n_perm: int = N_PERM) -> dict:
    """The rank agreement of ``x`` and ``y`` (``{architecture: accuracies}``, ``(n_seeds,)`` or
    ``(n_seeds, n_splits)``, paired), as the module docstring says.

    Returns ``n_architectures``, ``n_seeds``, ``n_splits``, ``n_boot``, ``seed``, ``confidence``;
    for ``spearman``, ``kendall`` and ``pearson``: ``r``, ``p``, ``ci_low``, ``ci_high`` and
    ``undefined`` (resamples without a correlation), and for ``spearman`` also
    ``permutation_p``, ``n_permutations``, ``exact``; ``top1``: ``pick`` and ``best`` (names),
    ``agree``, ``regret``, ``regret_ci_low`` / ``regret_ci_high`` and ``agreement_rate`` (share of
    resamples that agree).
    """
    names, xs, ys = _tables(x, y)
    mx, my = [a.mean() for a in xs], [b.mean() for b in ys]
    n_splits = xs[0].shape[1]
    rng = np.random.default_rng(seed)
    boot = {name: np.empty(n_boot) for name in TESTS}
    regrets, agrees = np.empty(n_boot), np.empty(n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples: scipy warns and returns nan
        point = {name: test(mx, my) for name, test in TESTS.items()}
        for b in range(n_boot):
            splits = rng.integers(0, n_splits, n_splits)
            draws = [rng.integers(0, a.shape[0], a.shape[0]) for a in xs]
            bx = [a[d][:, splits].mean() for a, d in zip(xs, draws)]
            by = [c[d][:, splits].mean() for c, d in zip(ys, draws)]
            for name, test in TESTS.items():
                boot[name][b] = test(bx, by).statistic
            t = top1(bx, by)
            regrets[b], agrees[b] = t["regret"], t["agree"]
    out = {"n_architectures": len(names), "n_seeds": int(xs[0].shape[0]), "n_splits": n_splits,
           "n_boot": int(n_boot), "seed": int(seed), "confidence": confidence}
    for name in TESTS:
        low, high = _interval(boot[name], confidence)
        out[name] = {"r": float(point[name].statistic), "p": float(point[name].pvalue),
                     "ci_low": low, "ci_high": high,
                     "undefined": int(np.isnan(boot[name]).sum())}
    permutation = spearman_permutation(mx, my, n_perm, seed)
    out["spearman"].update(permutation_p=permutation["p"],
                           n_permutations=permutation["n_permutations"],
                           exact=permutation["exact"])
    t = top1(mx, my)
    low, high = _interval(regrets, confidence)
    out["top1"] = {"pick": names[t["pick"]], "best": names[t["best"]], "agree": t["agree"],
                   "regret": t["regret"], "regret_ci_low": low, "regret_ci_high": high,
                   "agreement_rate": float(agrees.mean()) if n_boot else float("nan")}
    return out
