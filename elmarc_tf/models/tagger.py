"""Export a whole tagger: one SavedModel from a clip's waveform to class labels and scores.

The graph is the frozen front-end of :mod:`elmarc_tf.models.export` (its length check and, here,
the fix-length rule of a waveform front-end or SampleCNN's windows, as the extraction applies them)
followed by the fitted classifier of :mod:`elmarc_tf.models.classifier_graph` (scaler, SVM or
ELM, in float64). ``tf.saved_model.load(folder)`` in any TensorFlow 2 process (no elmarc_tf, no
scikit-learn) gives an object with

- ``classify(waveform)``: ``(batch, n)`` mono waveforms at the model's rate (float32/float64, or
  integer PCM, as the front-end export) -> ``{"labels": (batch,) string, "scores": (batch,
  n_classes) float64, "decision": (batch, m) float64, "index": (batch,) int32}``;
- ``signatures["serving_default"]``: input ``waveform`` ``(None, None)`` float32, the same outputs
  (TF Serving);
- ``class_names()``: ``(n_classes,)`` string, the classes in score order (a constant of the graph);
- ``frontend``: the front-end export's object (``frontend.features(waveform)``);
- ``description`` / ``frontend.description``: the ``tagger.json`` / ``elmarc.json`` assets.

``scores`` has one column per class (the estimator's ``decision_function``; two classes:
``[-d, d]``); ``decision`` is ``decision_function`` itself (an SVM's one-vs-one values, one per
class pair, ``decision_function_shape='ovo'``; one column for two classes). The clips of one
call share one length; the length rule is in ``tagger.json`` (``input``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from ..frontends import frontend_of
from ..io.fileio import versions
from ..io.fix_length import fix_length_tf
from .classifier_graph import classify
from .export import (DESCRIPTION_FILE, INPUT_DTYPES, INPUT_NAME, _make_module,
                     frontend_description, input_rules, save_export)
from .extractor import build_extractor

TAGGER_FORMAT = "elmarc_tf.tagger"  # a fixed name (not a module path)
TAGGER_FILE = "tagger.json"
OUTPUTS = ("labels", "scores", "decision", "index")


def clip_rules(config) -> dict:
    """How long a whole clip given to the tagger may be (:func:`~.export.input_rules`' keys):
    a waveform front-end's clip is brought to ``n_samples`` by ``fix_length_by`` in the graph;
    the others take clips as the front-end export does."""
    if frontend_of(config).input != "waveform":
        return input_rules(config)
    n, mode = config.n_samples, config.fix_length_by
    if mode == "crop":
        return {"shape": [None, None], "min_samples": n, "max_samples": None,
                "rule": f"at least n_samples={n} samples (fix_length_by 'crop' keeps the first {n})"}
    return {"shape": [None, None], "min_samples": 1, "max_samples": None,
            "rule": f"any length of at least 1 sample, brought to n_samples={n} by '{mode}'"}


def _clip_to_input(config):
    """``(batch, n) -> (batch, n_samples)``: the fix-length rule of a waveform front-end (None
    for the others, whose graph takes the whole clip)."""
    if frontend_of(config).input != "waveform":
        return None
    n, mode = config.n_samples, config.fix_length_by
    return lambda waveform: tf.reshape(fix_length_tf(waveform, n, mode), [-1, n])


def _make_tagger(frontend, classes, scaler, classifier, description_file: str):
    """A ``tf.Module``: ``frontend`` (the front-end export's module) then the classifier."""
    names = np.asarray([str(c) for c in classes], dtype=object)

    class ExportedTagger(tf.Module):
        """``classify``: ``(batch, n)`` waveforms -> labels and scores."""

        def __init__(self):
            super().__init__(name="elmarc_tagger")
            self.frontend = frontend
            self.description = tf.saved_model.Asset(description_file)
            self.classify = tf.function(self._classify)
            for dtype in INPUT_DTYPES:
                self.classify.get_concrete_function(tf.TensorSpec([None, None], dtype,
                                                                  name=INPUT_NAME))

        @tf.function(input_signature=[])
        def class_names(self):
            """``(n_classes,)`` string: the classes, in the order of ``scores``' columns."""
            return tf.constant(names)

        def _classify(self, waveform):
            """``(batch, n)`` -> ``{labels (batch,), scores (batch, n_classes), decision, index}``."""
            scores = classify(self.frontend.features(waveform), scaler, classifier)
            return {"labels": tf.gather(tf.constant(names), scores.index), "scores": scores.scores,
                    "decision": scores.decision, "index": scores.index}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name=INPUT_NAME)])
        def serve(self, waveform):
            """Serving signature: the outputs of ``classify``."""
            return self.classify(waveform)

    return ExportedTagger()


def export_tagger(config, seed: int, classes, scaler, classifier, out_dir,
                  about: dict | None = None):
    """Write ``config``'s seeded front-end followed by a fitted classifier as one SavedModel.

    ``classes``: the class names in the classifier's order; ``scaler``: a
    :class:`~.classifier_graph.ScalerArrays` or None; ``classifier``: an
    :class:`~.classifier_graph.SVMArrays` or :class:`~.classifier_graph.ELMArrays`;
    ``about``: more keys for ``tagger.json`` (where the model came from). ``out_dir``: absent,
    empty or a previous export (replaced). Returns ``out_dir``.
    """
    spec = frontend_of(config)
    if spec.signal is None:
        raise ConfigError(f"front-end '{spec.name}' is computed outside the graph (features_type "
                          f"'{config.features_type}'): there is no model to export")
    rules = clip_rules(config)
    model = build_extractor(config, seed=int(seed), inputs="waveform")
    frontend = frontend_description(config, seed, model, rules)
    tagger = {"format": TAGGER_FORMAT, "format_version": 1, "classes": [str(c) for c in classes],
              "classifier": type(classifier).__name__, "standardize": scaler is not None,
              "sampling_rate": int(config.sampling_rate), "input": frontend["input"],
              "outputs": list(OUTPUTS), "versions": versions(), **(about or {})}

    def make(assets: dict):
        module = _make_module(model, config, rules, assets[DESCRIPTION_FILE],
                              prepare=_clip_to_input(config))
        tagger_module = _make_tagger(module, classes, scaler, classifier, assets[TAGGER_FILE])
        return tagger_module, {"serving_default": tagger_module.serve.get_concrete_function()}

    return save_export(out_dir, {DESCRIPTION_FILE: frontend, TAGGER_FILE: tagger}, make)
