"""Classifiers of the original ``main.py``, as sklearn estimators and hyper-parameter grids.

``classifier_grid(model_type, seed=0)`` gives ``(estimator, param_grid)`` for each of the
original's ``model_type`` values (:data:`ESTIMATORS`, keyed by
:data:`elmarc_tf.vocabulary.MODEL_TYPES`); every grid is a list of dicts that
``GridSearchCV`` / ``ParameterGrid`` take as they are (``[{}]`` when there is nothing to tune).

The ELM, and what the original used
-----------------------------------
The authors' ``model_type='ELM'`` is Python-ELM (D. C. Lambert, ``src/elm.py`` and
``src/random_layer.py`` of the original repository)::

    GenELMClassifier(hidden_layer=RandomLayer(n_hidden=h, activation_func='reclinear', alpha=1))

What those two classes do, read from their source:

* ``RandomLayer`` mixes a dot-product ("MLP") and a distance ("RBF") input activation as
  ``alpha * (X @ W + b) + (1 - alpha) * rbf_width * dist(X, centers) / radii``. With
  ``alpha=1`` only the dot-product part is computed (the RBF centres and radii are never
  drawn). At fit time it draws, from ``check_random_state(random_state)`` (a
  ``numpy.random.RandomState``), first the biases ``b = rs.normal(size=n_hidden)`` and then the
  weights ``W = rs.normal(size=(n_features, n_hidden))``: standard normal, *no* scaling by the
  input dimension or anything else. ``RandomLayer``'s ``random_state`` defaults to ``None``
  and the original passes none, so its hidden layers were unseeded. ``'reclinear'`` is
  ``max(0, x)``. So ``H = relu(X @ W + b)``, with ``X`` the raw (unstandardised) features.
* ``GenELMClassifier`` encodes the labels with ``LabelBinarizer(neg_label=-1, pos_label=1)``:
  ``K`` columns in {-1, +1} for ``K > 2`` classes, a *single* column (+1 for ``classes_[1]``)
  for two classes, and a constant -1 column for one class. The output weights are
  ``beta = scipy.linalg.pinv2(H) @ T`` (SVD pseudo-inverse, singular values below
  ``1e6 * eps * s_max`` dropped; no ridge, no bias unit). ``predict`` is
  ``LabelBinarizer.inverse_transform(H @ beta)``: argmax over columns for ``K > 2``, and
  ``classes_[1]`` where the single score is ``> 0`` for two classes.

``ELMClassifier`` below does the same with the ``hpelm`` package (1.0.10). What hpelm does:

* ``hpelm.ELM(inputs, outputs, norm=...)`` wraps a solver ``nnet`` (``SLFNPython``). Its only
  training algorithm is the normal equations: it accumulates ``HH = H.T @ H + norm * I`` and
  ``HT = H.T @ T`` and solves ``HH @ beta = HT`` by Cholesky (LAPACK ``posv``); when ``HH`` is
  not positive definite (rank-deficient ``H``: more hidden units than samples, dead ReLU
  units) it *prints* a message and falls back to ``numpy.linalg.lstsq(HH, HT)``, the
  minimum-norm solution of the normal equations. ``norm=None`` means ``50 * eps``;
  ``norm=0.0`` is accepted and gives the plain normal equations.
* That equals ``pinv(H) @ T`` in exact arithmetic, and numerically to ~1e-9 on most data, but
  not always: the normal equations square the condition number of ``H``, so the fallback
  drops the directions with singular values below ~``sqrt(L * eps) * s_max`` (~3e-7 for
  ``L=500``) where pinv2 keeps everything above ``2.2e-10 * s_max``. Raw non-negative
  features of large magnitude (unscaled, as the original feeds them) give such ``H``, above all
  near the interpolation threshold (samples ~ units, e.g. GTZAN's 443 training clips and 500
  units); in one such case (443 samples x 40 features, 500 units, random labels) hpelm's
  predictions agreed with pinv2's on only 40 % of held-out samples. Hence, for ``ridge=0``
  (the default, the original's setup), the output weights are the SVD least-squares solution
  ``lstsq(H, T, rcond=PINV2_RCOND)`` (LAPACK ``gelsd``; the same cut-off as pinv2), with ``H``
  projected by the hpelm network. It costs more than a Cholesky solve when
  ``n_samples >= n_hidden`` is large. For ``ridge > 0`` the
  network is trained by hpelm itself (``norm=ridge``: Cholesky, lstsq fallback); a small
  positive ridge is the fast option. hpelm's fallback message is silenced by ``_QuietSLFN``,
  the same solver without the print (hpelm documents sub-classing its ``nnet``).
* Targets: hpelm's ``'c'`` (classification) flag only changes its ``error()`` metric and
  requires ``outputs > 1``; the solution is a plain least-squares regression on whatever
  ``T`` is given. So ``T`` is built here exactly as Python-ELM's ``LabelBinarizer(-1, 1)``
  (one column for two classes) and the network is trained without the flag.
* Hidden units: ``add_neurons(number, func, W, B)`` stores ``(number, func, W, B)`` and the
  solver looks ``func`` up by name in ``nnet.func`` (``{'lin', 'sigm', 'tanh', 'rbf_*'}``);
  ``ELM.add_neurons`` only accepts names in ``ELM.flist`` *or* a numpy ufunc, but a ufunc is
  then used as a key into ``nnet.func`` and training fails with ``KeyError``. ReLU is
  therefore registered by name on each network instance: ``nnet.func['relu'] = relu`` and
  ``'relu'`` appended to that instance's ``flist``. Nothing in hpelm is modified globally.
  (hpelm's ``sigm`` is ``1 / (1 + exp(+(X @ W + B)))``, a mirrored logistic; with symmetric
  random weights that is the same distribution of units.)
* ``W`` and ``B`` are always given explicitly (hpelm's own default would scale ``W`` by
  ``3 / sqrt(inputs)`` and use the global ``numpy.random``); they are drawn from
  ``numpy.random.default_rng(random_state)``, biases first, then weights, like Python-ELM
  (same distribution, not the same stream: Python-ELM used ``RandomState``).

The fitted state is plain arrays (``hidden_weights_``, ``hidden_biases_``,
``output_weights_``); an hpelm network is rebuilt from them when predicting, so fitted
estimators pickle and clone like any sklearn estimator.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import hpelm
import numpy as np
from hpelm.nnets.slfn_python import SLFNPython
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 (requirements allow >= 1.3)
    def validate_data(estimator, *args, **kwargs):
        """``estimator._validate_data``: checks X (and y), sets or checks ``n_features_in_``."""
        return estimator._validate_data(*args, **kwargs)

from ..errors import ConfigError

__all__ = [
    "SVM_C", "SVM_GAMMA", "SVM_PARAM_GRID", "ELM_N_HIDDEN", "LINEAR_SVM_C", "KNN_N_NEIGHBORS",
    "PINV2_RCOND", "ELMClassifier", "ESTIMATORS", "classifier_grid",
]

# The original's SVM grid: rbf with gamma in {2^-3, ..., 2^-13, 'auto'} x C, and linear x C.
SVM_C = [0.1, 2.0, 8.0, 32.0]
SVM_GAMMA = [1 / 2**3, 1 / 2**5, 1 / 2**7, 1 / 2**9, 1 / 2**11, 1 / 2**13, "auto"]
SVM_PARAM_GRID = [
    {"kernel": ["rbf"], "gamma": SVM_GAMMA, "C": SVM_C},
    {"kernel": ["linear"], "C": SVM_C},
]

# The original's ``hyperparameters`` for the other model types.
ELM_N_HIDDEN = [100, 250, 500, 1200, 1800, 2500]
LINEAR_SVM_C = [0.1, 1.0, 2.0]
KNN_N_NEIGHBORS = [1, 3, 5, 10, 20, 30, 50, 100]

# Python-ELM's pinv2 cut-off in float64: singular values <= this * the largest are dropped.
PINV2_RCOND = 1e6 * np.finfo(np.float64).eps


def _relu(X, W, B):
    """ReLU hidden units in hpelm's calling convention: (N, d), (d, L), (L,) -> (N, L)."""
    return np.maximum(np.dot(X, W) + B, 0.0)


# hpelm's dot-product neuron names plus the ReLU registered here.
_ACTIVATIONS = ("relu", "tanh", "sigm", "lin")


class _QuietSLFN(SLFNPython):
    """hpelm's float64 solver, without the print when it falls back to least squares.

    Records in ``solve_method`` which path solved the last system: ``'cholesky'`` or
    ``'lstsq'`` (``HH`` not positive definite, minimum-norm solution).
    """

    solve_method = None

    def solve_corr(self, HH, HT):
        """Output weights for ``HH`` (L, L; upper triangle filled) and ``HT`` (L, outputs)."""
        _, beta, info = self.posv(HH, HT)
        if info > 0:
            full = HH + np.triu(HH, k=1).T
            beta = np.linalg.lstsq(full, HT, rcond=None)[0]
            self.solve_method = "lstsq"
        else:
            self.solve_method = "cholesky"
        return beta


def _hpelm_network(n_inputs: int, n_outputs: int, activation: str, W, B, ridge: float):
    """An hpelm ELM with ``W`` (n_inputs, L) and ``B`` (L,) as hidden layer; ReLU registered."""
    net = hpelm.ELM(int(n_inputs), int(n_outputs), precision=np.float64, norm=float(ridge))
    net.nnet = _QuietSLFN(int(n_inputs), int(n_outputs), norm=float(ridge), precision=np.float64)
    net.nnet.func["relu"] = _relu
    net.flist = tuple(net.flist) + ("relu",)
    net.add_neurons(int(W.shape[1]), activation, W, B)
    return net


def _generator(random_state) -> np.random.Generator:
    """``numpy.random.default_rng(random_state)``; a legacy ``RandomState`` seeds a new one."""
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(np.iinfo(np.int32).max)
    return np.random.default_rng(random_state)


class ELMClassifier(ClassifierMixin, BaseEstimator):
    """Extreme Learning Machine classifier (random hidden layer + least-squares output), via hpelm.

    Defaults reproduce the original's Python-ELM setup (see the module docstring):
    ``H = relu(X @ W + B)`` with ``W`` (n_features, n_hidden) and ``B`` (n_hidden,) drawn
    N(0, 1), targets one-hot in {-1, +1} (a single column for two classes), output weights
    ``pinv(H) @ T``, no ridge, no input scaling.

    Parameters
    ----------
    n_hidden : int
        Number of hidden units ``L``.
    activation : {'relu', 'tanh', 'sigm', 'lin'}
        Hidden unit function; all but 'relu' are hpelm's own.
    weight_scale : float
        ``W`` and ``B`` are ``weight_scale`` times N(0, 1) draws. With ReLU and ``ridge=0`` it
        does not change predictions (ReLU is positively homogeneous; the output weights scale
        back).
    ridge : float
        0: output weights by SVD pseudo-inverse, as the original (pinv2 cut-off). > 0: hpelm
        solves ``(H.T @ H + ridge * I) @ beta = H.T @ T`` (its ``norm``; Cholesky), much faster
        for large ``n_hidden``.
    random_state : int, numpy Generator / SeedSequence / RandomState, or None
        Seeds ``numpy.random.default_rng`` for ``W`` and ``B``; an int makes fits reproducible.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    n_features_in_ : int
    hidden_weights_ : ndarray (n_features, n_hidden), float64
    hidden_biases_ : ndarray (n_hidden,), float64
    output_weights_ : ndarray (n_hidden, n_outputs), float64
        ``n_outputs`` is 1 for one or two classes, else ``n_classes``.
    solve_method_ : str
        'pinv' (ridge 0), 'cholesky' or 'lstsq' (hpelm, ridge > 0; 'lstsq' when
        ``H.T @ H + ridge * I`` was not positive definite), or 'none' (one class).
    """

    def __init__(self, n_hidden=1000, activation="relu", weight_scale=1.0, ridge=0.0,
                 random_state=None):
        self.n_hidden = n_hidden
        self.activation = activation
        self.weight_scale = weight_scale
        self.ridge = ridge
        self.random_state = random_state

    def _check_params(self):
        if not isinstance(self.n_hidden, Integral) or isinstance(self.n_hidden, bool) \
                or self.n_hidden < 1:
            raise ValueError(
                f"ELMClassifier: n_hidden must be a positive int, got {self.n_hidden!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"ELMClassifier: activation must be one of {', '.join(_ACTIVATIONS)}; "
                             f"got {self.activation!r}")
        if not isinstance(self.weight_scale, Real) or not self.weight_scale > 0:
            raise ValueError(f"ELMClassifier: weight_scale must be > 0, got {self.weight_scale!r}")
        if not isinstance(self.ridge, Real) or not self.ridge >= 0:
            raise ValueError(f"ELMClassifier: ridge must be >= 0, got {self.ridge!r}")

    def fit(self, X, y):
        """Draw the hidden layer and solve the output weights.

        X : array-like (n_samples, n_features); y : array-like (n_samples,) of class labels
        (any type ``numpy.unique`` sorts: ints, strings, ...). Returns ``self``.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)

        rng = _generator(self.random_state)
        L = int(self.n_hidden)
        B = rng.standard_normal(L) * float(self.weight_scale)
        W = rng.standard_normal((X.shape[1], L)) * float(self.weight_scale)
        self.hidden_biases_, self.hidden_weights_ = B, W

        if n_classes == 1:  # nothing to separate: always predict the one class
            self.output_weights_ = np.zeros((L, 1))
            self.solve_method_ = "none"
            return self
        if n_classes == 2:  # LabelBinarizer(-1, 1): one column, +1 for classes_[1]
            T = np.where(y_index == 1, 1.0, -1.0)[:, None]
        else:
            T = -np.ones((X.shape[0], n_classes))
            T[np.arange(X.shape[0]), y_index] = 1.0
        net = _hpelm_network(X.shape[1], T.shape[1], self.activation, W, B, self.ridge)
        if self.ridge == 0:  # Python-ELM's pinv2(H) @ T (see the module docstring)
            H = net.project(X)
            beta = np.linalg.lstsq(H, T, rcond=PINV2_RCOND)[0]
            self.solve_method_ = "pinv"
        else:  # hpelm's ridge solution of (H.T @ H + ridge * I) @ beta = H.T @ T
            net.train(X, T)
            beta = net.nnet.get_B()
            self.solve_method_ = net.nnet.solve_method
        self.output_weights_ = np.asarray(beta, dtype=np.float64)
        return self

    def decision_function(self, X):
        """Scores ``H @ beta``: (n_samples,) for one or two classes (> 0 means ``classes_[1]``),
        else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        W, beta = self.hidden_weights_, self.output_weights_
        net = _hpelm_network(X.shape[1], beta.shape[1], self.activation, W, self.hidden_biases_,
                             self.ridge)
        net.nnet.set_B(beta)
        scores = np.asarray(net.predict(X), dtype=np.float64)
        return scores[:, 0] if beta.shape[1] == 1 else scores

    def predict(self, X):
        """Class labels (n_samples,), from ``classes_``: argmax of the scores, or the sign for two
        classes (ties go to ``classes_[0]``, as ``LabelBinarizer.inverse_transform``)."""
        scores = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, scores.shape[0])
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


# model_type -> (factory(seed) -> estimator, grid). Factories build a fresh estimator per call.
# 'MLP' and 'linear' have no ``hyperparameters`` list in the original (its tuning loop would
# stop with a NameError for them), hence ``[{}]``: fit as configured. The original's MLP also
# had ``verbose=10``, left out here.
ESTIMATORS = {
    "SVM": (lambda seed: SVC(), SVM_PARAM_GRID),
    "ELM": (lambda seed: ELMClassifier(random_state=seed), [{"n_hidden": ELM_N_HIDDEN}]),
    "linearSVM": (lambda seed: LinearSVC(random_state=seed), [{"C": LINEAR_SVM_C}]),
    "KNN": (lambda seed: KNeighborsClassifier(), [{"n_neighbors": KNN_N_NEIGHBORS}]),
    "MLP": (lambda seed: MLPClassifier(hidden_layer_sizes=(20,), max_iter=600, random_state=seed),
            [{}]),
    "linear": (lambda seed: SGDClassifier(random_state=seed), [{}]),
}


def classifier_grid(model_type: str, seed=0, svm_max_iter: int = -1):
    """``(estimator, param_grid)`` for one of the original's ``model_type`` values.

    ``param_grid`` is a fresh list of dicts for ``GridSearchCV`` (``[{}]``: nothing to tune).
    ``seed`` becomes the ``random_state`` of the estimators that draw random numbers (ELM
    hidden layer, MLP and SGD initialisation, LinearSVC's coordinate descent), so a grid
    search is reproducible and the paper's runs can differ by seed; ``None`` leaves them
    unseeded, as in the original. SVC and KNN do not use it. ``svm_max_iter`` is the ``SVC``'s
    ``max_iter`` (libsvm iterations per fit; -1, the default, no limit as the original).
    Raises ``ConfigError`` for an unknown ``model_type``.
    """
    if model_type not in ESTIMATORS:
        raise ConfigError(f"model_type: unknown {model_type!r}; valid: {', '.join(ESTIMATORS)}")
    factory, grid = ESTIMATORS[model_type]
    estimator = factory(seed)
    if isinstance(estimator, SVC):
        estimator.set_params(max_iter=svm_max_iter)
    return estimator, copy.deepcopy(grid)
