"""From labelled audio to a tagger: :func:`fit` a config's classifier, label new files with the
:class:`FittedModel`, export it as one SavedModel.

:func:`fit` extracts the config's data (reusing its feature store), runs the config's grid search
under its protocol exactly as ``elmarc run`` does for one seed (:func:`~.study.evaluate_stored`),
then refits the chosen hyper-parameters on every labelled clip (a ``StandardScaler`` first with
``standardize``). New files go through the same extraction (decoding, resampling, the fix-length
rule, SampleCNN's windows) with the same seeded front-end, so their features are those the store
would hold. Saving and loading: :mod:`elmarc_tf.studies.model_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm import tqdm

from ..datasets import items_from_config
from ..errors import AudioError, ConfigError
from ..evaluation.classifiers import ELMClassifier, classifier_grid
from ..evaluation.protocols import check_items_evaluable
from ..extraction.batching import choose_batch_size
from ..extraction.extract import ENGINES, ExtractionJob, _non_finite, extract
from ..extraction.options import RunOptions
from ..extraction.store import data_digest, load_store
from ..io.audio_cache import as_audio_cache
from ..models.classifier_graph import ELMArrays, ScalerArrays, SVMArrays
from ..models.extractor import compile_extractor
from ..models.tagger import export_tagger
from .study import evaluate_stored, store_seed


def _svm_arrays(svc: SVC) -> SVMArrays:
    """libsvm's one-vs-one model of a fitted ``SVC`` (for two classes scikit-learn stores
    ``dual_coef_`` and ``intercept_`` negated, so that > 0 means ``classes_[1]``)."""
    sign = -1.0 if len(svc.classes_) == 2 else 1.0
    return SVMArrays(np.asarray(svc.support_vectors_, np.float64),
                     sign * np.asarray(svc.dual_coef_, np.float64),
                     sign * np.asarray(svc.intercept_, np.float64),
                     np.asarray(svc.n_support_, np.int64), str(svc.kernel), float(svc._gamma))


def _elm_arrays(elm: ELMClassifier) -> ELMArrays:
    if elm.activation != "relu":
        raise ConfigError(f"ELM activation {elm.activation!r} cannot be exported; only 'relu'")
    return ELMArrays(elm.hidden_weights_, elm.hidden_biases_, elm.output_weights_)


# fitted estimator's type -> its plain arrays (what the TensorFlow graph and the model folder use)
ARRAYS_OF = {SVC: _svm_arrays, ELMClassifier: _elm_arrays}


def classifier_arrays(estimator):
    """The plain arrays of a fitted SVM or ELM (:data:`ARRAYS_OF`); ``ConfigError`` for others."""
    convert = ARRAYS_OF.get(type(estimator))
    if convert is None:
        raise ConfigError(f"a fitted {type(estimator).__name__} has no TensorFlow form; "
                          f"model_type SVM or ELM can be exported")
    return convert(estimator)


def scaler_arrays(scaler) -> ScalerArrays | None:
    return None if scaler is None else ScalerArrays(np.asarray(scaler.mean_, np.float64),
                                                    np.asarray(scaler.scale_, np.float64))


@dataclass(frozen=True)
class FilePredictions:
    """What :meth:`FittedModel.score_files` gives: per file of ``paths`` its ``labels`` (str,
    ``''`` for a failed file), ``scores (n, n_classes)`` (NaN rows for failed files) and
    ``errors`` (``''`` for files that worked)."""

    paths: list
    labels: list
    scores: np.ndarray
    errors: list


@dataclass
class FittedModel:
    """A front-end (``config``, features of the store seed ``feature_seed``) + a classifier fitted
    on every labelled clip (``scaler`` a fitted ``StandardScaler`` or None, ``estimator``), and
    ``about``: what it came from (``seed``, ``best_params``, ``cv_accuracy``, ``protocol``,
    ``data_digest``, ``n_clips``)."""

    config: object
    feature_seed: int
    scaler: object
    estimator: object
    about: dict = field(default_factory=dict)

    @property
    def classes(self) -> list:
        """The class names, in the order of the score columns."""
        return [str(c) for c in self.estimator.classes_]

    def features(self, paths, run: RunOptions = RunOptions(progress=False)):
        """``(X (n, feature_length) float32, errors [n str])`` of audio files ``paths``: rows of
        files that failed are zeros and their error says why."""
        paths = [str(p) for p in paths]
        extractor = compile_extractor(self.config, self.feature_seed)
        X = np.zeros((len(paths), extractor.feature_length), np.float32)
        errors = [""] * len(paths)
        if not paths:
            return X, errors
        batch = choose_batch_size(self.config, extractor, len(paths))
        job = ExtractionJob(self.config, self.feature_seed, extractor, paths,
                            list(range(len(paths))), batch.size, as_audio_cache(run.audio_cache))
        bar = tqdm(total=len(paths), unit="clip", file=sys.stderr, disable=not run.progress,
                   desc="predict", dynamic_ncols=True)
        for indices, rows, errs in ENGINES[run.engine](run.ray).chunks(job):
            for i, row, err in zip(np.asarray(indices), np.asarray(rows), errs):
                X[int(i)] = row
                errors[int(i)] = err or _non_finite(row, paths[int(i)])
            bar.update(len(errs))
        bar.close()
        return X, errors

    def _scaled(self, X):
        return X if self.scaler is None else self.scaler.transform(np.asarray(X, np.float64))

    def _features_or_fail(self, paths):
        X, errors = self.features(paths)
        failed = next((e for e in errors if e), None)
        if failed:
            raise AudioError(failed)
        return np.asarray(X, np.float64)

    def predict(self, paths) -> np.ndarray:
        """``(n,)`` labels of audio files (``AudioError`` for the first file that fails)."""
        return self.estimator.predict(self._scaled(self._features_or_fail(paths)))

    def decision_function(self, paths) -> np.ndarray:
        """The estimator's ``decision_function`` of audio files: ``(n, n_classes)``, ``(n,)`` for
        two classes (> 0: the second)."""
        return self.estimator.decision_function(self._scaled(self._features_or_fail(paths)))

    def predict_proba(self, paths) -> np.ndarray:
        """``(n, n_classes)`` class probabilities, for classifiers that give them (KNN, MLP);
        an SVM (no Platt scaling in the paper's grid) or an ELM gives scores only:
        :meth:`decision_function`."""
        if not hasattr(self.estimator, "predict_proba"):
            raise ConfigError(f"model_type {self.config.model_type}: the classifier gives no "
                              f"probabilities; use decision_function")
        return self.estimator.predict_proba(self._scaled(self._features_or_fail(paths)))

    def score_files(self, paths, run: RunOptions = RunOptions()) -> FilePredictions:
        """Labels and per-class scores (:func:`class_scores`) of every file that can be used."""
        X, errors = self.features(paths, run)
        ok = np.flatnonzero([not e for e in errors])
        labels, scores = [""] * len(errors), np.full((len(errors), len(self.classes)), np.nan)
        if ok.size:
            Xs = self._scaled(np.asarray(X[ok], np.float64))
            for i, label in zip(ok, self.estimator.predict(Xs)):
                labels[i] = str(label)
            if hasattr(self.estimator, "decision_function"):
                scores[ok] = class_scores(self.estimator.decision_function(Xs))
        return FilePredictions([str(p) for p in paths], labels, scores, errors)

    def export(self, out_dir):
        """One SavedModel, waveform -> labels and scores (:func:`~elmarc_tf.models.tagger.export_tagger`)."""
        return export_tagger(self.config, self.feature_seed, self.classes,
                             scaler_arrays(self.scaler), classifier_arrays(self.estimator), out_dir,
                             about={"fitted": self.about})


def class_scores(decision) -> np.ndarray:
    """One score per class from a ``decision_function``: ``(n, k)`` as it is, ``(n,)`` (two
    classes, > 0 the second) as ``[-d, d]``."""
    decision = np.asarray(decision, np.float64)
    return np.stack([-decision, decision], axis=1) if decision.ndim == 1 else decision


def refit(cfg, X, y, best_params: dict, seed: int):
    """``(scaler or None, estimator)``: ``cfg``'s classifier with ``best_params`` fitted on
    ``X (n, d)``, ``y (n,)``, after a ``StandardScaler`` with ``cfg.standardize``."""
    estimator, _ = classifier_grid(cfg.model_type, seed=seed, svm_max_iter=cfg.svm_max_iter)
    estimator = clone(estimator).set_params(**best_params)
    X = np.asarray(X, np.float64)
    scaler = StandardScaler().fit(X) if cfg.standardize else None
    return scaler, estimator.fit(scaler.transform(X) if scaler is not None else X, y)


def fit(config, seed: int = 0, items=None, features_out=None,
        run: RunOptions = RunOptions()) -> FittedModel:
    """Fit ``config``'s classifier on its labelled clips (``items``; default the config's data).

    Features come from the store (``features_out``: its root, as :func:`extract`); the grid
    search and protocol are ``elmarc run``'s for ``seed``; the chosen point is refitted on all
    clips that could be used. ``run``: progress, jobs, audio cache, engine (as ``elmarc run``).
    """
    items = items if items is not None else items_from_config(config)
    check_items_evaluable(config, items)
    feature_seed = store_seed(config, seed)
    extraction = extract(config, items, seed=feature_seed, out=features_out,
                         run=replace(run, log=None))
    stored = load_store(extraction.folder)
    result = evaluate_stored(config, items, stored, seed, run)
    scaler, estimator = refit(config, stored.X, stored.y, result["best_params"], seed)
    about = {"seed": int(seed), "best_params": result["best_params"],
             "cv_accuracy": float(result["accuracy"]), "protocol": result["protocol"],
             "data_digest": data_digest(items), "n_clips": int(len(stored.y)),
             "n_failed": int(stored.manifest["n_failed"])}
    return FittedModel(config, feature_seed, scaler, estimator, about)
