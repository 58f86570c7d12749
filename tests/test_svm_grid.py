"""The SVM grid on precomputed kernels against GridSearchCV(SVC(), grid), and capped fits."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import (GridSearchCV, LeaveOneGroupOut, ParameterGrid,
                                     PredefinedSplit, StratifiedKFold, cross_val_predict)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from elmarc_tf import Config, ConfigError
from elmarc_tf.bench.classifiers import real_like_features
from elmarc_tf.evaluation.classifiers import SVM_PARAM_GRID
from elmarc_tf.evaluation.protocols import Protocol, SVMSearchOptions, evaluate
from elmarc_tf.evaluation.svm_grid import SVMGridSearch, gram_matrix, rbf_from_gram, submatrix
from elmarc_tf.extraction.options import RunOptions

# The paper's grid with one C fewer (the same kernels: 6 gammas + 'auto', and linear).
GRID = [{"kernel": ["rbf"], "gamma": SVM_PARAM_GRID[0]["gamma"], "C": [0.1, 2.0, 32.0]},
        {"kernel": ["linear"], "C": [0.1, 32.0]}]


def _real_like():
    """Non-negative, correlated, unscaled features like a random CNN's (60 clips, 3 classes)."""
    X, y = real_like_features(60, 24, n_classes=3, seed=3, class_sep=1.0)
    return X / 10, np.array(["a", "b", "c"])[y]


def _separable():
    X, y = make_blobs(n_samples=54, centers=3, n_features=5, cluster_std=0.8, random_state=2)
    return X, y


DATA = {"real_like": _real_like, "separable": _separable}


def _key(params):
    return ", ".join(f"{k}={params[k]}" for k in sorted(params))


def _prefixed(grid):
    return [{f"clf__{k}": v for k, v in g.items()} for g in grid]


def _strip(params):
    return {k.removeprefix("clf__"): v for k, v in params.items()}


def reference(X, y, grid, protocol, splits=None, folds=None, n_folds=3, standardize=False,
              nested=False, seed=0, max_iter=-1):
    """The protocols by scikit-learn alone: GridSearchCV(SVC(), grid) (with a StandardScaler
    pipeline for ``standardize``), refit / cross_val_predict / nested loops as in the original
    ``main.py`` and elmarc_tf's protocol descriptions."""
    X = np.asarray(X, dtype=np.float64)
    est, grid = SVC(max_iter=max_iter), grid
    if standardize:
        est, grid = Pipeline([("scale", StandardScaler()), ("clf", est)]), _prefixed(grid)
    labels = sorted(set(y.tolist()))
    if protocol == "predefined_split":
        dev, train, test = splits != "test", splits == "train", splits == "test"
        search = GridSearchCV(est, grid, cv=PredefinedSplit(np.where(splits[dev] == "val", 0, -1)),
                              refit=False).fit(X[dev], y[dev])
        pred = clone(est).set_params(**search.best_params_).fit(X[train], y[train]).predict(X[test])
        return {"best_params": _strip(search.best_params_), "val_accuracy": search.best_score_,
                "accuracy": accuracy_score(y[test], pred),
                "confusion_matrix": confusion_matrix(y[test], pred, labels=labels).tolist()}
    cv = PredefinedSplit(folds) if protocol == "predefined_folds" else StratifiedKFold(n_folds)
    search = GridSearchCV(est, grid, cv=cv, refit=False).fit(X, y)
    best = search.best_index_
    out = {"best_params": _strip(search.best_params_), "accuracy": search.best_score_,
           "fold_accuracies": [search.cv_results_[f"split{k}_test_score"][best]
                               for k in range(search.n_splits_)]}
    if not nested:
        pred = cross_val_predict(clone(est).set_params(**search.best_params_), X, y, cv=cv)
        return {**out, "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist()}
    outer = (LeaveOneGroupOut().split(X, y, groups=folds) if protocol == "predefined_folds"
             else StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    pred, scores = np.empty_like(y), []
    for train, test in outer:
        inner_cv = PredefinedSplit(folds[train]) if protocol == "predefined_folds" else StratifiedKFold(n_folds)
        inner = GridSearchCV(est, grid, cv=inner_cv).fit(X[train], y[train])
        pred[test] = inner.predict(X[test])
        scores.append(accuracy_score(y[test], pred[test]))
    return {"best_params": out["best_params"], "best_score_cv": out["accuracy"],
            "accuracy": np.mean(scores), "fold_accuracies": scores,
            "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist()}


def assert_same(result, expected):
    """Equal numbers; best parameters equal (a tie within 1e-9 between two grid points would be
    the only allowed difference, and none occurs on these data)."""
    assert result["best_params"] == expected["best_params"]
    for key, value in expected.items():
        if key != "best_params":
            assert result[key] == (value if key == "confusion_matrix" else pytest.approx(value, abs=0)), key


def protocol_args(protocol, y):
    n = len(y)
    if protocol == "predefined_split":
        return {"splits": np.array(["train", "val", "test"])[np.arange(n) % 3]}
    if protocol == "predefined_folds":
        return {"folds": np.arange(n) % 3 + 1}
    return {}


CASES = [  # (protocol, standardize, nested)
    ("stratified_kfold", False, False), ("predefined_split", False, False),
    ("predefined_folds", False, False), ("stratified_kfold", True, False),
    ("predefined_folds", False, True), ("stratified_kfold", True, True),
]


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("protocol,standardize,nested", CASES)
def test_precomputed_path_equals_gridsearchcv(data, protocol, standardize, nested):
    X, y = DATA[data]()
    args = protocol_args(protocol, y)
    expected = reference(X, y, GRID, protocol, n_folds=3, standardize=standardize, nested=nested,
                         max_iter=10**6, **args)
    result = evaluate(X, y, SVC(max_iter=10**6), GRID, **args, protocol=Protocol(name=protocol,
                      n_folds=3, standardize=standardize, nested=nested))
    assert result["svm_kernel"] == "precomputed" and result["n_capped_fits"] == 0
    assert_same(result, expected)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fallback_above_the_size_limit_is_the_plain_path_with_the_same_result(n_jobs):
    X, y = _real_like()
    expected = reference(X, y, GRID, "stratified_kfold", max_iter=10**6)
    for max_n in (len(y) - 1, 0):
        result = evaluate(X, y, SVC(max_iter=10**6), GRID, protocol=Protocol(n_folds=3),
                          run=RunOptions(progress=False, jobs=n_jobs),
                          svm=SVMSearchOptions(precompute_max_n=max_n))
        assert result["svm_kernel"] == "plain"
        assert_same(result, expected)


def _shifted():
    """Real-like features whose rows ``i % 3 == 2`` (fold 3, the ``test`` split) are shifted and
    scaled: a scaler fitted on the training rows differs much from one fitted on all rows, so a
    scaler that sees the test rows changes the fits."""
    X, y = _real_like()
    shifted = np.arange(len(y)) % 3 == 2
    X[shifted] = 3.0 * X[shifted] + 2.0
    return X, y


PLAIN_STANDARDIZED = [  # (protocol, nested, grid, precompute_max_n): each forces the plain path
    ("stratified_kfold", False, GRID, 0),
    ("predefined_folds", False, GRID, 0),
    ("predefined_split", False, GRID, 0),  # the final model refit on 'train', scored on 'test'
    ("predefined_folds", True, GRID, 0),  # refits on each outer training part
    ("predefined_folds", False, [{"gamma": ["scale", "auto"], "C": [0.5, 8.0]}], 10000),
    ("predefined_split", False, [{"gamma": ["scale"], "C": [0.5, 8.0]}], 10000),
]


@pytest.mark.parametrize("protocol,nested,grid,max_n", PLAIN_STANDARDIZED)
def test_plain_path_fits_the_scaler_on_each_splits_training_rows(protocol, nested, grid, max_n):
    """The plain path with ``standardize`` (above the size limit, or ``gamma='scale'``) against
    ``Pipeline(StandardScaler(), SVC())`` in ``GridSearchCV`` over the same folds: the same fold
    scores, best point and refit predictions, which differ when a scaler sees the test rows."""
    X, y = _shifted()
    args = protocol_args(protocol, y)
    expected = reference(X, y, grid, protocol, standardize=True, nested=nested, max_iter=10**6,
                         **args)
    result = evaluate(X, y, SVC(max_iter=10**6), grid,
                      protocol=Protocol(protocol, n_folds=3, standardize=True, nested=nested),
                      svm=SVMSearchOptions(precompute_max_n=max_n), **args)
    assert result["svm_kernel"] == "plain"
    assert_same(result, expected)


def test_grids_the_kernels_do_not_cover_take_the_plain_path():
    X, y = _separable()
    grid = [{"kernel": ["poly"], "degree": [2, 3], "C": [1.0]}, {"kernel": ["rbf"], "gamma": ["scale"]}]
    search = SVMGridSearch(X, y, SVC())
    assert search.kernel_path(list(ParameterGrid(grid))) == "plain"
    assert_same(evaluate(X, y, SVC(), grid,
                         protocol=Protocol(n_folds=3)), reference(X, y, grid, "stratified_kfold"))


def test_parallel_threads_give_the_same_fits():
    X, y = _real_like()
    splits = list(StratifiedKFold(3).split(X, y))
    one = SVMGridSearch(X, y, SVC(max_iter=10**6)).search_many(GRID, [splits])[0]
    two = SVMGridSearch(X, y, SVC(max_iter=10**6), n_jobs=2).search_many(GRID, [splits])[0]
    assert np.array_equal(one.scores, two.scores) and one.best_index == two.best_index
    assert np.array_equal(one.oof_pred, two.oof_pred)


def test_kernels_from_the_gram_matrix_match_sklearn():
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((40, 7))) * 3
    X[5] = X[4]  # a duplicate row: distance 0 exactly, kernel 1
    G = gram_matrix(X)
    np.testing.assert_allclose(G, X @ X.T, rtol=1e-13)
    for gamma in (1 / 8, 1 / 7, 1 / 2**13):
        K = rbf_from_gram(G, gamma)
        # float64 rounding of |x|^2 + |y|^2 - 2 x.y vs sklearn's own formula
        np.testing.assert_allclose(K, rbf_kernel(X, gamma=gamma), rtol=1e-12, atol=1e-14)
        assert np.all(np.diagonal(K) == 1.0) and K[4, 5] == 1.0
    rows, cols = np.array([7, 0, 39, 7]), np.array([3, 38, 2])
    block = submatrix(G, rows, cols)
    assert np.array_equal(block, G[np.ix_(rows, cols)]) and block.flags.c_contiguous


@pytest.mark.filterwarnings("ignore:Solver terminated early")
def test_capped_fits_are_counted_where_they_happen():
    """A cap that stops some fits and not others: the count and the grid points equal those of
    SVCs fitted by hand (``fit_status_ == 1``), and the capped fits' scores equal GridSearchCV's
    with the same cap."""
    X, y = _real_like()
    X = X * 10  # raw scale: the linear kernel needs many iterations, the rbf ones few
    cap = 200
    splits = list(StratifiedKFold(3).split(X, y))
    capped_by_hand = {}
    for params in ParameterGrid(GRID):
        for train, _ in splits:
            if SVC(max_iter=cap, **params).fit(X[train], y[train]).fit_status_ == 1:
                capped_by_hand[_key(params)] = capped_by_hand.get(_key(params), 0) + 1
    n_capped = sum(capped_by_hand.values())
    assert 0 < n_capped < 69  # some capped, not all: the test can tell counts apart

    result = evaluate(X, y, SVC(max_iter=cap), GRID, protocol=Protocol(n_folds=3))
    assert result["svm_max_iter"] == cap and result["n_fits"] == 69
    assert result["n_capped_fits"] == n_capped
    assert result["capped_grid_points"] == capped_by_hand
    assert result["best_capped"] == (_key(result["best_params"]) in capped_by_hand)
    assert_same(result, reference(X, y, GRID, "stratified_kfold", max_iter=cap))


def test_a_cap_of_one_iteration_caps_every_fit_and_the_best():
    X, y = _separable()
    args = protocol_args("predefined_split", y)
    result = evaluate(X, y, SVC(max_iter=1), GRID, **args,
                      protocol=Protocol(name="predefined_split"))
    assert result["n_fits"] == len(ParameterGrid(GRID)) + 1  # the grid + the refit
    assert result["n_capped_fits"] == result["n_fits"] and result["best_capped"]
    assert result["max_n_iter"] == 1 and result["svm_max_iter"] == 1


def test_progress_bar_counts_the_fits(capsys):
    X, y = _separable()
    splits = list(StratifiedKFold(3).split(X, y))
    SVMGridSearch(X, y, SVC(), progress=True, desc="seed 7 SVM grid").search_many(GRID, [splits])
    err = capsys.readouterr().err
    assert "seed 7 SVM grid (precomputed)" in err and "69/69" in err
    SVMGridSearch(X, y, SVC(), progress=False).search_many(GRID, [splits])
    assert capsys.readouterr().err == ""


def test_config_fields_validated_and_not_part_of_the_store_key():
    from elmarc_tf.extraction.store import store_key

    cfg = Config(architecture="7x86", num_filters=4, n_frames=30)
    assert cfg.svm_max_iter > 0 and Config(architecture="7x86", num_filters=4, n_frames=30,
                                           svm_max_iter=-1).svm_max_iter == -1
    for bad in (0, -2, 1.5, True, "1e6"):
        with pytest.raises(ConfigError, match="'svm_max_iter' must be a positive integer or -1"):
            cfg.replace(svm_max_iter=bad)
    with pytest.raises(ConfigError, match="'svm_precompute_max_n' must be an integer >= 0"):
        cfg.replace(svm_precompute_max_n=-1)
    assert store_key(cfg, []) == store_key(cfg.replace(svm_max_iter=5, svm_precompute_max_n=0), [])


def test_study_results_name_the_cap_and_count_capped_fits(tmp_path, capsys):
    from elmarc_tf.studies.demo import make_demo_dataset
    from elmarc_tf.studies.study import run_experiment

    audio = make_demo_dataset(tmp_path / "audio", clips_per_class=3, seconds=2.0)
    cfg = Config(dataset="demo", audio_path=str(audio), architecture="7x86", num_filters=4,
                 n_frames=60, n_folds=3, svm_max_iter=1)
    logged = []
    summary = run_experiment(cfg, seeds=(0,), out=tmp_path / "results", name="capped",
                             features_out=tmp_path / "features", run=RunOptions(progress=False,
                             log=logged.append))
    saved = json.loads((tmp_path / "results" / "capped" / "results.json").read_text())
    n_fits = 32 * 3  # the paper's grid x 3 folds; out-of-fold predictions reuse the grid's fits
    assert saved["svm_max_iter"] == 1 and saved["n_fits"] == n_fits
    assert saved["n_capped_fits"] == n_fits == saved["per_seed"][0]["n_capped_fits"]
    assert saved["per_seed"][0]["best_capped"] is True and summary["n_capped_fits"] == n_fits
    assert f"{n_fits} of {n_fits} fits capped at 1 iterations" in logged[0]
    assert "including the best point" in logged[0]
    assert any(f"{n_fits} of {n_fits} SVM fits stopped at svm_max_iter=1" in line for line in logged)


def test_demo_evaluate_cv_equals_its_gridsearchcv():
    from elmarc_tf.config import DEFAULT_SVM_MAX_ITER
    from elmarc_tf.studies.demo import evaluate_cv

    X, y = _real_like()
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=4)
    search = GridSearchCV(SVC(max_iter=DEFAULT_SVM_MAX_ITER), SVM_PARAM_GRID, cv=cv).fit(X, y)
    result = evaluate_cv(X, y, seed=4)
    assert result["best_params"] == search.best_params_
    assert result["accuracy"] == search.best_score_
    assert result["std"] == search.cv_results_["std_test_score"][search.best_index_]
    assert result["n_capped_fits"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_libsvm_takes_the_same_steps_on_the_precomputed_kernels(seed):
    """The dual solution, intercepts and iteration counts of SVC on the features equal those of
    SVC(kernel='precomputed') on our kernels, bit for bit: unscaled real-like features whose
    linear fits take ~1e5 SMO steps (with the BLAS syrk diagonal instead of libsvm's own dot
    products, the linear fits of these three matrices take other steps)."""
    X, y = real_like_features(150, 24, n_classes=3, seed=seed, class_sep=0.5)
    X = X.astype(np.float64)
    G = gram_matrix(X)
    for params, K in [({"kernel": "linear"}, G), ({"kernel": "rbf", "gamma": 1 / 2**9},
                                                   rbf_from_gram(G, 1 / 2**9)),
                      ({"kernel": "rbf", "gamma": "auto"}, rbf_from_gram(G, 1 / X.shape[1]))]:
        own = SVC(C=32.0, **params).fit(X, y)
        pre = SVC(C=32.0, kernel="precomputed").fit(K, y)
        assert own.n_iter_.max() > (10**4 if params["kernel"] == "linear" else 50)
        assert np.array_equal(own.n_iter_, pre.n_iter_), params
        assert np.array_equal(own.dual_coef_, pre.dual_coef_), params
        assert np.array_equal(own.intercept_, pre.intercept_), params
        assert np.array_equal(own.support_, pre.support_), params
