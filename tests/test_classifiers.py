"""Classifiers and grids of the original ``main.py``: SVM grid, hpelm-based ELM, registry."""

from __future__ import annotations

import importlib.metadata
import pickle

import hpelm
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from elmarc_tf.evaluation.classifiers import (
    ESTIMATORS, SVM_PARAM_GRID, ELMClassifier, _hpelm_network, classifier_grid,
)
from elmarc_tf.errors import ConfigError

PINV2_CUTOFF = 1e6 * np.finfo(np.float64).eps  # scipy's old pinv2 default, written out again


def _blobs(n=200, n_features=6, centers=3, std=1.0, seed=0):
    """Well separated Gaussian blobs: X (n, n_features) float64, y (n,) int."""
    return make_blobs(n_samples=n, n_features=n_features, centers=centers, cluster_std=std,
                      center_box=(-20, 20), random_state=seed)


def _numpy_elm_scores(model, X_train, y_train, X_new, rcond=None):
    """Independent ELM: H = relu(X W + B), beta = pinv(H) T with T one-hot in {-1, +1}
    (a single column for two classes); returns H_new @ beta, (n_new,) or (n_new, K)."""
    W, B = model.hidden_weights_, model.hidden_biases_
    H = np.maximum(X_train @ W + B, 0.0)
    classes = np.unique(y_train)
    T = np.where(y_train[:, None] == classes[None, :], 1.0, -1.0)
    if len(classes) == 2:
        T = T[:, 1:]
    pinv = np.linalg.pinv(H) if rcond is None else np.linalg.pinv(H, rcond=rcond)
    scores = np.maximum(X_new @ W + B, 0.0) @ (pinv @ T)
    return scores[:, 0] if len(classes) == 2 else scores


def _close(a, b, rel=1e-6):
    return np.max(np.abs(a - b)) <= rel * np.max(np.abs(b))


# --------------------------------------------------------------------------------------------
# The SVM grid and the registry
# --------------------------------------------------------------------------------------------

def test_svm_grid_matches_design_exactly():
    cs = [0.1, 2.0, 8.0, 32.0]
    gammas = [2.0**-3, 2.0**-5, 2.0**-7, 2.0**-9, 2.0**-11, 2.0**-13, "auto"]
    expected = {("rbf", g, c) for g in gammas for c in cs} | {("linear", None, c) for c in cs}
    points = list(ParameterGrid(SVM_PARAM_GRID))
    got = [(p["kernel"], p.get("gamma"), p["C"]) for p in points]
    assert len(points) == 32 and len(expected) == 32
    assert set(got) == expected and len(set(got)) == 32
    assert all(set(p) == ({"kernel", "gamma", "C"} if p["kernel"] == "rbf" else {"kernel", "C"})
               for p in points)
    estimator, grid = classifier_grid("SVM")
    assert type(estimator) is SVC and estimator.get_params() == SVC().get_params()
    assert grid == SVM_PARAM_GRID


EXPECTED = {
    "SVM": (SVC, SVM_PARAM_GRID),
    "ELM": (ELMClassifier, [{"n_hidden": [100, 250, 500, 1200, 1800, 2500]}]),
    "linearSVM": (LinearSVC, [{"C": [0.1, 1.0, 2.0]}]),
    "KNN": (KNeighborsClassifier, [{"n_neighbors": [1, 3, 5, 10, 20, 30, 50, 100]}]),
    "MLP": (MLPClassifier, [{}]),
    "linear": (SGDClassifier, [{}]),
}


def test_registry_holds_the_original_model_types():
    assert set(ESTIMATORS) == set(EXPECTED)


@pytest.mark.parametrize("model_type", sorted(EXPECTED))
def test_classifier_grid_per_model_type(model_type):
    estimator, grid = classifier_grid(model_type, seed=7)
    cls, expected_grid = EXPECTED[model_type]
    assert type(estimator) is cls
    assert grid == expected_grid
    assert len(list(ParameterGrid(grid))) >= 1
    grid[0]["extra"] = [1]  # a fresh copy each call: the module's grids stay as they are
    assert classifier_grid(model_type)[1] == expected_grid
    if "random_state" in estimator.get_params() and model_type != "SVM":
        assert estimator.get_params()["random_state"] == 7
        assert classifier_grid(model_type, seed=None)[0].get_params()["random_state"] is None


def test_classifier_grid_fixed_settings():
    mlp = classifier_grid("MLP")[0]
    assert mlp.hidden_layer_sizes == (20,) and mlp.max_iter == 600 and mlp.early_stopping is False
    elm = classifier_grid("ELM", seed=3)[0]
    assert elm.get_params() == dict(n_hidden=1000, activation="relu", weight_scale=1.0, ridge=0.0,
                                    random_state=3)


def test_unknown_model_type_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        classifier_grid("RandomForest")
    message = str(info.value)
    assert "\n" not in message and "RandomForest" in message
    assert all(name in message for name in EXPECTED)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("model_type", sorted(EXPECTED))
def test_each_model_type_runs_in_grid_search(model_type):
    X, y = _blobs(n=200, n_features=5, centers=3, std=1.5)
    estimator, grid = classifier_grid(model_type, seed=0)
    # 100 training samples per split, so that KNN's largest k (100) fits
    cv = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    search = GridSearchCV(estimator, grid, cv=cv, error_score="raise").fit(X, y)
    assert len(search.cv_results_["params"]) == len(list(ParameterGrid(grid)))
    assert search.best_score_ > 0.8
    assert search.predict(X[:5]).shape == (5,)


# --------------------------------------------------------------------------------------------
# The ELM against an independent numpy computation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_hidden", [40, 300])  # over- and under-determined (120 samples)
@pytest.mark.parametrize("centers", [2, 4])
def test_elm_matches_numpy_pseudo_inverse(n_hidden, centers):
    X, y = _blobs(n=170, n_features=5, centers=centers, std=3.0, seed=1)
    X_train, y_train, X_new = X[:120], y[:120], X[120:]
    model = ELMClassifier(n_hidden=n_hidden, random_state=0).fit(X_train, y_train)
    assert model.hidden_weights_.shape == (5, n_hidden)
    assert model.hidden_biases_.shape == (n_hidden,)
    assert model.hidden_weights_.dtype == np.float64
    scores = model.decision_function(X_new)
    reference = _numpy_elm_scores(model, X_train, y_train, X_new)
    assert scores.shape == reference.shape == ((50,) if centers == 2 else (50, centers))
    assert _close(scores, reference)
    classes = np.unique(y_train)
    if centers == 2:
        expected = classes[(reference > 0).astype(int)]
    else:
        expected = classes[reference.argmax(1)]
    np.testing.assert_array_equal(model.predict(X_new), expected)


def test_elm_matches_pinv2_on_ill_conditioned_hidden_layer():
    # Raw non-negative features of large magnitude at the interpolation threshold (150 samples,
    # 150 units): H's kept singular values go down to ~1e-7 of the largest, where hpelm's normal
    # equations lose them (its predictions agree with pinv2's on ~80 % of these samples); the
    # ELM must still give Python-ELM's pinv2 solution.
    rng = np.random.default_rng(4)
    X = np.maximum(rng.normal(size=(200, 10)) + 2, 0) * 50
    y = rng.integers(0, 5, 200)
    model = ELMClassifier(n_hidden=150, random_state=4).fit(X[:150], y[:150])
    H = np.maximum(X[:150] @ model.hidden_weights_ + model.hidden_biases_, 0)
    ratios = np.linalg.svd(H, compute_uv=False)
    ratios = ratios / ratios[0]
    assert ratios[ratios > PINV2_CUTOFF].min() < 1e-5  # badly conditioned ...
    # ... with no singular value near the cut-off, so rounding cannot change the rank
    assert not np.any((ratios > PINV2_CUTOFF / 100) & (ratios < PINV2_CUTOFF * 100))
    reference = _numpy_elm_scores(model, X[:150], y[:150], X[150:], rcond=PINV2_CUTOFF)
    assert model.solve_method_ == "pinv"
    assert _close(model.decision_function(X[150:]), reference)


@pytest.mark.parametrize("activation, function", [
    ("tanh", np.tanh), ("sigm", lambda z: 1 / (1 + np.exp(z))), ("lin", lambda z: z)])
def test_elm_hpelm_activations(activation, function):
    X, y = _blobs(n=100, n_features=4, centers=3, std=0.3, seed=9)
    X = X / 20  # keep tanh / sigm units out of saturation
    model = ELMClassifier(n_hidden=30, activation=activation, random_state=0).fit(X, y)
    H = function(X @ model.hidden_weights_ + model.hidden_biases_)
    T = np.where(y[:, None] == np.arange(3)[None, :], 1.0, -1.0)
    expected = H @ np.linalg.lstsq(H, T, rcond=PINV2_CUTOFF)[0]
    assert _close(model.decision_function(X), expected)


def test_elm_labels_may_be_strings():
    X, y = _blobs(n=150, centers=3, seed=2)
    names = np.array(["blues", "disco", "jazz"])[y]
    model = ELMClassifier(n_hidden=60, random_state=0).fit(X[:100], names[:100])
    np.testing.assert_array_equal(model.classes_, ["blues", "disco", "jazz"])
    reference = _numpy_elm_scores(model, X[:100], names[:100], X[100:])
    np.testing.assert_array_equal(model.predict(X[100:]), model.classes_[reference.argmax(1)])


def test_elm_accuracy_on_separable_blobs():
    X, y = _blobs(n=600, n_features=8, centers=4, std=1.0, seed=3)
    model = ELMClassifier(n_hidden=100, random_state=0).fit(X[:400], y[:400])
    assert model.score(X[400:], y[400:]) > 0.95
    assert model.n_features_in_ == 8


def test_elm_two_classes_single_score_column():
    X, y = _blobs(n=100, centers=2, seed=4)
    labels = np.where(y == 1, "yes", "no")
    model = ELMClassifier(n_hidden=30, random_state=0).fit(X, labels)
    scores = model.decision_function(X)
    assert scores.shape == (100,) and model.output_weights_.shape == (30, 1)
    np.testing.assert_array_equal(model.predict(X), np.where(scores > 0, "yes", "no"))
    assert model.score(X, labels) > 0.95


def test_elm_one_class_predicts_it():
    X, _ = _blobs(n=20, centers=1)
    model = ELMClassifier(n_hidden=10, random_state=0).fit(X, ["only"] * 20)
    np.testing.assert_array_equal(model.predict(X[:3]), ["only"] * 3)
    np.testing.assert_array_equal(model.decision_function(X[:3]), np.zeros(3))
    assert model.solve_method_ == "none"


def test_elm_ridge_is_hpelms_tikhonov_solution():
    X, y = _blobs(n=120, centers=3, std=3.0, seed=5)
    ridge = 10.0
    model = ELMClassifier(n_hidden=50, ridge=ridge, random_state=0).fit(X, y)
    H = np.maximum(X @ model.hidden_weights_ + model.hidden_biases_, 0)
    T = np.where(y[:, None] == np.arange(3)[None, :], 1.0, -1.0)
    beta = np.linalg.solve(H.T @ H + ridge * np.eye(50), H.T @ T)
    assert model.solve_method_ in ("cholesky", "lstsq")
    assert _close(model.output_weights_, beta)
    assert _close(model.decision_function(X), H @ beta)


def test_relu_weight_scale_does_not_change_predictions_without_ridge():
    X, y = _blobs(n=100, centers=3, std=3.0, seed=6)
    a = ELMClassifier(n_hidden=40, random_state=0).fit(X, y)
    b = ELMClassifier(n_hidden=40, weight_scale=0.01, random_state=0).fit(X, y)
    np.testing.assert_allclose(b.hidden_weights_, 0.01 * a.hidden_weights_)
    assert _close(b.decision_function(X), a.decision_function(X))


# --------------------------------------------------------------------------------------------
# hpelm: ReLU registration
# --------------------------------------------------------------------------------------------

def test_hpelm_relu_registered_by_name_trains_and_projects():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    W, B = rng.normal(size=(4, 7)), rng.normal(size=7)
    net = _hpelm_network(4, 2, "relu", W, B, ridge=0.0)
    net.train(X, T)  # must not raise
    np.testing.assert_allclose(net.project(X), np.maximum(X @ W + B, 0))
    assert net.predict(X).shape == (30, 2)
    assert "relu" not in hpelm.ELM(4, 2).flist  # registered on the instance only


@pytest.mark.skipif(importlib.metadata.version("hpelm") != "1.0.10",
                    reason="documents a quirk of hpelm 1.0.10")
def test_hpelm_ufunc_neurons_fail_in_training():
    # Why ReLU is registered by name: hpelm accepts a ufunc in add_neurons, then fails.
    rng = np.random.default_rng(0)
    net = hpelm.ELM(3, 2)
    net.add_neurons(4, np.tanh, rng.normal(size=(3, 4)), rng.normal(size=4))
    with pytest.raises(KeyError):
        net.train(rng.normal(size=(10, 3)), rng.normal(size=(10, 2)))


# --------------------------------------------------------------------------------------------
# sklearn conventions: seeds, params, clone, pickle, check_estimator
# --------------------------------------------------------------------------------------------

def test_same_random_state_same_fit():
    X, y = _blobs(n=80, centers=3, seed=7)
    a = ELMClassifier(n_hidden=25, random_state=11).fit(X, y)
    b = ELMClassifier(n_hidden=25, random_state=11).fit(X, y)
    c = ELMClassifier(n_hidden=25, random_state=12).fit(X, y)
    np.testing.assert_array_equal(a.hidden_weights_, b.hidden_weights_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    assert not np.allclose(a.hidden_weights_, c.hidden_weights_)
    refit = a.fit(X, y).hidden_weights_  # refitting with an int seed redraws the same layer
    np.testing.assert_array_equal(refit, b.hidden_weights_)
    d = ELMClassifier(n_hidden=25).fit(X, y)
    e = ELMClassifier(n_hidden=25).fit(X, y)
    assert not np.allclose(d.hidden_weights_, e.hidden_weights_)


def test_get_set_params_clone_pickle():
    model = ELMClassifier(n_hidden=30, random_state=4)
    assert model.get_params() == dict(n_hidden=30, activation="relu", weight_scale=1.0, ridge=0.0,
                                      random_state=4)
    assert model.set_params(n_hidden=12, ridge=0.5) is model
    assert model.n_hidden == 12 and model.ridge == 0.5
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    X, y = _blobs(n=60, centers=3, seed=8)
    model.fit(X, y)
    assert not hasattr(clone(model), "classes_")
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.decision_function(X), model.decision_function(X))


@pytest.mark.parametrize("params", [dict(n_hidden=0), dict(n_hidden=2.5), dict(activation="elu"),
                                    dict(weight_scale=0.0), dict(ridge=-1.0)])
def test_bad_params_raise_on_fit(params):
    X, y = _blobs(n=20, centers=2)
    with pytest.raises(ValueError):
        ELMClassifier(**params).fit(X, y)


@parametrize_with_checks([ELMClassifier(n_hidden=50)])
def test_sklearn_check_estimator(estimator, check):
    # All of sklearn's checks pass; none is listed as an expected failure.
    check(estimator)
