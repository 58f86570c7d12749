"""Fitted classifiers as TensorFlow ops, from plain arrays: the scaler, libsvm's SVM, the ELM.

Nothing here knows scikit-learn: the callers above (:mod:`elmarc_tf.studies.fit`) read the arrays
from fitted estimators and pass them in. Every op runs in float64, so the scores equal the
estimators' own to rounding.

- :class:`ScalerArrays`: ``(x - mean) / scale``, as ``StandardScaler.transform``.
- :class:`SVMArrays`: libsvm's one-vs-one model. For the pair ``(i, j)`` (``i < j``, pairs in the
  order (0, 1), (0, 2), ..., (1, 2), ...) the decision is
  ``sum_{sv in i} a_s K(sv, x) + sum_{sv in j} a_s K(sv, x) + b_p``; positive votes ``i``, else
  ``j``; the label is the class with most votes, ties to the lowest index (``SVC.predict``).
  ``dual_coef`` is ``(n_classes - 1, n_sv)`` in libsvm's layout (the coefficients of class ``i``'s
  vectors for the pair ``(i, j)`` are in row ``j - 1``, those of class ``j``'s in row ``i``) and
  ``intercept`` is libsvm's ``-rho`` (for two classes: scikit-learn's ``dual_coef_`` and
  ``intercept_`` negated). Kernels: ``rbf`` ``exp(-gamma |x - sv|^2)``, ``linear`` ``x . sv``.
- :class:`ELMArrays`: ``relu(x @ W + b) @ beta``.

:data:`CLASSIFIER_GRAPHS` maps each to a function ``(x (batch, d) float64, arrays) ->``
:class:`Scores` (class indices, per-class scores, the estimator's raw decision values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import tensorflow as tf

from ..errors import ConfigError

SVM_KERNELS = ("rbf", "linear")


@dataclass(frozen=True)
class ScalerArrays:
    """``mean (d,)`` and ``scale (d,)`` of a fitted ``StandardScaler``."""

    mean: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True)
class SVMArrays:
    """A fitted ``SVC`` in libsvm's one-vs-one form (see the module docstring).

    ``support_vectors (n_sv, d)``, ``dual_coef (n_classes - 1, n_sv)``, ``intercept (n_pairs,)``,
    ``n_support (n_classes,)`` (vectors of each class, in order), ``kernel``, ``gamma``."""

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    n_support: np.ndarray
    kernel: str
    gamma: float


@dataclass(frozen=True)
class ELMArrays:
    """A fitted ELM: ``weights (d, L)``, ``biases (L,)``, ``output_weights (L, n_outputs)``
    (``n_outputs`` 1 for two classes: > 0 means the second class)."""

    weights: np.ndarray
    biases: np.ndarray
    output_weights: np.ndarray


@dataclass(frozen=True)
class Scores:
    """What a classifier graph gives for ``batch`` inputs: ``index (batch,)`` int32 class
    indices, ``scores (batch, n_classes)`` float64 (one per class: the estimator's
    ``decision_function``, for two classes ``[-d, d]``), ``decision (batch, m)`` float64 (the
    estimator's ``decision_function`` as it is, one column for two classes; an SVM's one per
    pair, ``decision_function_shape='ovo'``)."""

    index: tf.Tensor
    scores: tf.Tensor
    decision: tf.Tensor


def pairs(n_classes: int) -> list[tuple[int, int]]:
    """libsvm's one-vs-one pairs ``(i, j)``, ``i < j``, in its order."""
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def pair_coefficients(svm: SVMArrays) -> np.ndarray:
    """``(n_sv, n_pairs)`` float64: column ``p`` holds the coefficients of pair ``p``'s decision
    (zero for vectors of other classes), so the decisions are ``K(x, sv) @ C + intercept``."""
    starts = np.concatenate([[0], np.cumsum(svm.n_support)]).astype(int)
    n_classes = len(svm.n_support)
    C = np.zeros((svm.support_vectors.shape[0], len(pairs(n_classes))))
    for p, (i, j) in enumerate(pairs(n_classes)):
        C[starts[i]:starts[i + 1], p] = svm.dual_coef[j - 1, starts[i]:starts[i + 1]]
        C[starts[j]:starts[j + 1], p] = svm.dual_coef[i, starts[j]:starts[j + 1]]
    return C


def first_max(values):
    """``(batch, k) -> (batch,)`` int32: the index of the first largest value (NumPy's argmax;
    ``tf.argmax`` does not promise which of equal values it returns)."""
    k = tf.shape(values)[1]
    top = tf.reduce_max(values, axis=1, keepdims=True)
    at = tf.where(values == top, tf.range(k)[None, :], k)
    return tf.cast(tf.reduce_min(at, axis=1), tf.int32)


def standardize(x, scaler: Optional[ScalerArrays]):
    """``(batch, d) float64`` -> the same, scaled (``scaler`` None: as it is)."""
    if scaler is None:
        return x
    return (x - tf.constant(scaler.mean, tf.float64)) / tf.constant(scaler.scale, tf.float64)


def _kernel(x, svm: SVMArrays):
    """``(batch, d)`` float64 -> ``(batch, n_sv)``: the kernel against every support vector."""
    sv = tf.constant(np.asarray(svm.support_vectors, np.float64))
    dots = tf.matmul(x, sv, transpose_b=True)
    if svm.kernel == "linear":
        return dots
    sv_norms = tf.constant(np.sum(np.asarray(svm.support_vectors, np.float64) ** 2, axis=1))
    distances = tf.reduce_sum(x * x, axis=1, keepdims=True) - 2.0 * dots + sv_norms[None, :]
    return tf.exp(-float(svm.gamma) * tf.maximum(distances, 0.0))


def svm_graph(x, svm: SVMArrays) -> Scores:
    """libsvm's one-vs-one decision, vote and scikit-learn's per-class (``'ovr'``) scores."""
    if svm.kernel not in SVM_KERNELS:
        raise ConfigError(f"SVM kernel {svm.kernel!r} cannot be exported; valid: "
                          f"{', '.join(SVM_KERNELS)}")
    n_classes = len(svm.n_support)
    decision = tf.matmul(_kernel(x, svm), tf.constant(pair_coefficients(svm))) \
        + tf.constant(np.asarray(svm.intercept, np.float64))[None, :]
    to_i, to_j = (tf.constant(np.eye(n_classes)[[pair[k] for pair in pairs(n_classes)]])
                  for k in (0, 1))  # (n_pairs, n_classes): each pair's first / second class
    positive = tf.cast(decision > 0, tf.float64)
    votes = tf.matmul(positive, to_i) + tf.matmul(1.0 - positive, to_j)  # SVC.predict's vote
    if n_classes == 2:  # scikit-learn's sign: > 0 means the second class
        d = -decision
        return Scores(first_max(votes), tf.concat([-d, d], axis=1), d)
    # scikit-learn's _ovr_decision_function: votes (a zero decision votes i) + bounded confidences
    ahead = tf.cast(decision >= 0, tf.float64)
    confidence = tf.matmul(decision, to_i - to_j)
    ovr = (tf.matmul(ahead, to_i) + tf.matmul(1.0 - ahead, to_j)
           + confidence / (3.0 * (tf.abs(confidence) + 1.0)))
    return Scores(first_max(votes), ovr, decision)


def elm_graph(x, elm: ELMArrays) -> Scores:
    """``relu(x @ W + b) @ beta``; two classes: the second where the one score is > 0."""
    hidden = tf.nn.relu(tf.matmul(x, tf.constant(np.asarray(elm.weights, np.float64)))
                        + tf.constant(np.asarray(elm.biases, np.float64))[None, :])
    out = tf.matmul(hidden, tf.constant(np.asarray(elm.output_weights, np.float64)))
    if elm.output_weights.shape[1] == 1:
        return Scores(tf.cast(out[:, 0] > 0, tf.int32), tf.concat([-out, out], axis=1), out)
    return Scores(first_max(out), out, out)


# arrays' type -> its graph
CLASSIFIER_GRAPHS = {SVMArrays: svm_graph, ELMArrays: elm_graph}


def classify(features, scaler: Optional[ScalerArrays], classifier) -> Scores:
    """``features (batch, d)`` (any float dtype) -> :class:`Scores` of ``classifier`` (one of
    :data:`CLASSIFIER_GRAPHS`' array types), after ``scaler``."""
    graph = CLASSIFIER_GRAPHS.get(type(classifier))
    if graph is None:
        raise ConfigError(f"a {type(classifier).__name__} cannot be computed in TensorFlow; "
                          f"exportable: SVM (rbf, linear) and ELM")
    return graph(standardize(tf.cast(features, tf.float64), scaler), classifier)
