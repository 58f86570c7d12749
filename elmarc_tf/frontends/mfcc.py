"""The MFCC baseline of the paper (Section 3.1) in the front-end interface.

Its features are computed with librosa outside the graph (:func:`elmarc_tf.mfcc.mfcc_features`,
run by the pipeline on each decoded clip); its "front-end" takes those ``6 * mfcc_number``
statistics ``(batch, 6 * n)`` and returns them as six taps ``(batch, n)`` — the mean and std over
time of the MFCCs, of their first and of their second differences — so that the extractor, the
feature layout, the store and the study treat it as every other front-end. No random weights: it
does not depend on the seed.
"""

from __future__ import annotations

import keras

from .common import frozen_model

STATISTICS = ("mean_mfcc", "std_mfcc", "mean_d_mfcc", "std_d_mfcc", "mean_dd_mfcc", "std_dd_mfcc")


@keras.saving.register_keras_serializable(package="elmarc_tf")
class Split(keras.layers.Layer):
    """``(batch, parts * width)`` -> ``parts`` tensors ``(batch, width)``, in order."""

    def __init__(self, parts: int, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, x):
        return keras.ops.split(x, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        width = None if input_shape[-1] is None else input_shape[-1] // self.parts
        return [(input_shape[0], width)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


def build_mfcc(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """``(batch, 6 * mfcc_number)`` statistics -> the six taps of :data:`STATISTICS`."""
    x = keras.Input((len(STATISTICS) * cfg.mfcc_number,), name="mfcc_statistics")
    return frozen_model(x, Split(len(STATISTICS), name="statistics")(x), "mfcc")
