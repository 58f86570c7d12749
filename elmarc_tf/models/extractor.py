"""Front-end + taps -> one frozen model whose output is the feature vector (paper Section 2).

For every selected tap, the mean of each feature map over all its non-channel axes
(global average pooling), concatenated in tap order. As the authors' ``format_cnn_data`` /
``select_cnn_feature_layers``, each tap's means fill a row as wide as the architecture's *first*
tap and the rest of the row is zeros; the selected rows are concatenated with their padding.
That padding is only non-empty for the frame-level back-end taps (one value each plus nf-1
zeros, see :func:`elmarc_tf.frontends.waveform.backend`); ``backend_taps: per_channel`` gives
one mean per filter instead and no padding.

Only the selected taps are computed: the model is pruned to the layers they need. A tap that
concatenates maps along channels (cnn_music's timbral and temporal, frame_level_many's ``many``)
is averaged part by part and the means concatenated — the same numbers without writing the
concatenated map (at batch 3, temporal-256's four Conv1D maps: 18 ms instead of 50 ms).

A windowed front-end (``samplecnn``, :attr:`~elmarc_tf.frontends.FrontEndSpec.scales`) is the
same composition applied per window (:func:`windowed_extractor`): the whole clip is cut into
windows, the tap means are taken per window and pooled over the clip's windows, scale by scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import tensorflow as tf

from ..errors import ConfigError
from ..frontends import frontend_of, selected_taps
from ..frontends.common import frozen_model
from ..frontends.filterbank import representation
from ..frontends.windows import SlidingWindows, WindowedFeatures, WindowPooling
from .keras_graph import concatenated_parts
from ..frontends.melspec import FixLength

INPUT_MODES = ("logmel", "waveform")


@keras.saving.register_keras_serializable(package="elmarc_tf")
class TapPooling(keras.layers.Layer):
    """List of taps ``(batch, ..., C_i)`` -> features ``(batch, sum_i row_i)``.

    Each tap is averaged over every axis but batch and channels (``GlobalAveragePooling``) into
    ``(batch, C_i)``; with ``row_width`` set, zero-padded to ``(batch, row_width)``.
    ``tap_parts``: how many consecutive inputs make each tap (default one each): a tap given as
    parts ``(batch, ..., c_j)`` that concatenate along channels to it is their means concatenated.
    ``tap_names`` / ``tap_indices`` only describe the layout (:meth:`layout`).
    """

    def __init__(self, tap_names, tap_indices, tap_widths, row_width=None, tap_parts=None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.tap_names = list(tap_names)
        self.tap_indices = [int(i) for i in tap_indices]
        self.tap_widths = [int(w) for w in tap_widths]
        self.row_width = None if row_width is None else int(row_width)
        self.tap_parts = [1] * len(self.tap_widths) if tap_parts is None else [int(n) for n in tap_parts]

    def call(self, taps):
        rows, start = [], 0
        for n_parts, width in zip(self.tap_parts, self.tap_widths):
            means = [tf.reduce_mean(part, axis=list(range(1, len(part.shape) - 1)))
                     for part in taps[start:start + n_parts]]
            start += n_parts
            row = means[0] if n_parts == 1 else tf.concat(means, axis=-1)  # (batch, C_i)
            if self.row_width is not None and width < self.row_width:
                row = tf.pad(row, [[0, 0], [0, self.row_width - width]])
            rows.append(row)
        return tf.concat(rows, axis=-1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], sum(e["span"] for e in self.layout()))

    def layout(self) -> list[dict]:
        """Where each tap sits in the vector: name, tap index, offset, width (values), span, padding."""
        out, offset = [], 0
        for name, index, width in zip(self.tap_names, self.tap_indices, self.tap_widths):
            span = self.row_width if self.row_width is not None else width
            out.append({"name": name, "index": index, "offset": offset, "width": width,
                        "span": span, "padding": span - width})
            offset += span
        return out

    def get_config(self):
        return {**super().get_config(), "tap_names": self.tap_names, "tap_indices": self.tap_indices,
                "tap_widths": self.tap_widths, "row_width": self.row_width,
                "tap_parts": self.tap_parts}


def build_extractor(config, seed: int = 0, inputs: str = "logmel", fast: bool = True) -> keras.Model:
    """The frozen feature extractor of ``config``: ``(batch, input) -> (batch, feature_len)``.

    ``inputs``:
      - ``"logmel"``: spectrogram front-ends take ``(batch, n_frames, n_mels)`` log-mel (dB);
        waveform front-ends take ``(batch, n_samples)`` or ``(batch, n_samples, 1)`` at 12 kHz.
      - ``"waveform"``: every front-end takes 12 kHz waveforms. Spectrogram front-ends then take a
        whole clip ``(batch, any_length)`` and compute their input in the graph by
        :func:`input_layers` (the log-mel's top-dB floor relative to the whole clip, as the
        original; or the config's ``input_representation``), fixed to ``n_frames``.
    Same ``seed`` -> same weights (and random filterbank) -> same features. Every weight is
    frozen, except the representation's where ``config.trainable``. ``fast=False`` builds Keras'
    plain Conv2D + MaxPooling2D where the fast model fuses them
    (:class:`~elmarc_tf.frontends.common.FrequencyMaxConv2D`) and averages concatenated taps
    whole (:func:`channel_parts`): the reference the fast path is tested against (same weights,
    features equal to float32 rounding).
    """
    if inputs not in INPUT_MODES:
        raise ConfigError(f"inputs must be one of {', '.join(INPUT_MODES)}, got {inputs!r}")
    spec = frontend_of(config)
    if inputs == "waveform" and spec.signal is None:
        raise ConfigError(f"front-end '{spec.name}' is computed outside the graph: it takes no "
                          f"waveform input")
    if spec.scales is not None:  # whole clips, either way
        return windowed_extractor(config, seed, fast)
    frontend = spec.build(config, seed, fast=fast)
    selected = list(selected_taps(config))
    widths = [int(t.shape[-1]) for t in frontend.outputs]
    row_width = widths[0] if config.backend_taps == "original" else None
    if row_width is not None:
        for i in selected:
            if widths[i] > row_width:
                raise ConfigError(
                    f"tap {i} ('{spec.taps[i]}') of {spec.name} has {widths[i]} maps, more than the "
                    f"first tap's {row_width}: the original layout cannot hold it "
                    f"(set backend_taps: per_channel)")
    parts = [channel_parts(frontend.outputs[i]) if fast else [frontend.outputs[i]] for i in selected]
    taps_model = keras.Model(frontend.inputs, [p for tap in parts for p in tap],
                             name=f"{spec.name}_taps")
    if not config.trainable:  # trainable: the CNN's builder froze its layers; the LEAF family
        taps_model.trainable = False  # alone keeps the representation's own flags

    if spec.input == "logmel" and inputs == "waveform":
        x = keras.Input((None,), name="waveform")
        net_in = x
        for layer in input_layers(config, seed):
            net_in = layer(net_in)
    else:
        x = keras.Input(frontend.inputs[0].shape[1:], name=frontend.inputs[0].name)
        net_in = x
    taps = taps_model(net_in)
    if not isinstance(taps, (list, tuple)):
        taps = [taps]
    features = TapPooling([spec.taps[i] for i in selected], selected,
                          [widths[i] for i in selected], row_width,
                          tap_parts=[len(tap) for tap in parts], name="features")(list(taps))
    model = keras.Model(x, features, name=f"{spec.name}_extractor")
    if not config.trainable:  # trainable: all is frozen but the representation's variables
        model.trainable = False
    return model


def windowed_extractor(config, seed: int = 0, fast: bool = True) -> keras.Model:
    """The extractor of a windowed front-end: whole clips ``(batch, n)`` -> ``(batch, D)``.

    Per scale s (:class:`~elmarc_tf.frontends.windows.WindowScale`): ``windows_{s}`` cuts each
    clip into windows (``fix_length_by`` decides the end), the window model pruned to its
    selected taps (layer ``scale_{s}``) runs on every window of the batch at once, ``taps_{s}``
    averages each tap per window (:class:`TapPooling`), ``window_pooling_{s}`` summarises the
    clip's windows by ``window_pooling`` (mean, max). ``features``
    (:class:`~elmarc_tf.frontends.windows.WindowedFeatures`) concatenates the scales: scale by
    scale, statistic by statistic, tap by tap; :func:`feature_layout` names every slice. The
    clips of one call have one length (any length; one clip per call in extraction).
    """
    spec = frontend_of(config)
    clips = keras.Input((None,), name="waveform")
    vectors, described = [], []
    for s, scale in enumerate(spec.scales(config)):
        window_model = scale.build(seed, fast)
        selected = list(scale.selected)
        taps_model = frozen_model(window_model.inputs, [window_model.outputs[i] for i in selected],
                                  name=f"scale_{s}")
        windows = SlidingWindows(scale.window, scale.hop, config.fix_length_by,
                                 name=f"windows_{s}")(clips)
        taps = taps_model(windows)
        taps = list(taps) if isinstance(taps, (list, tuple)) else [taps]
        per_window = TapPooling([scale.taps[i] for i in selected], selected,
                                [int(window_model.outputs[i].shape[-1]) for i in selected],
                                name=f"taps_{s}")
        pooling = WindowPooling(config.window_pooling, name=f"window_pooling_{s}")
        vectors.append(pooling([per_window(taps), clips]))
        described.append({"name": scale.name, "model": taps_model.name, "window": scale.window,
                          "hop": scale.hop, "pooling": list(pooling.pooling),
                          "taps": per_window.layout()})
    features = WindowedFeatures(described, config.fix_length_by, name="features")(vectors)
    return frozen_model(clips, features, f"{spec.name}_extractor")


def input_layers(config, seed: int = 0) -> list:
    """How a whole 12 kHz clip ``(batch, n)`` becomes a spectrogram front-end's input ``(batch,
    n_frames, n_mels)``: the config's ``input_representation`` of the whole clip
    (:func:`elmarc_tf.frontends.filterbank.representation`: the authors' log-mel, or a LEAF-family
    representation with the same ``1 + n // 256`` frames; a random filterbank drawn from
    ``seed``), then :class:`~elmarc_tf.frontends.melspec.FixLength` to ``n_frames`` by ``fix_length_by``.

    The one definition of that step: extraction runs these layers per clip in its tf.data
    pipeline (:data:`elmarc_tf.extraction.pipeline.INPUTS`), :func:`build_extractor` with
    ``inputs="waveform"`` in the model's graph (exports).
    """
    return [representation(config, seed),
            FixLength(config.n_frames, config.fix_length_by, name="fix_frames")]


def channel_parts(tap) -> list:
    """The inputs of ``tap`` if a Keras ``Concatenate`` along channels made it, else ``[tap]``."""
    return concatenated_parts(tap) or [tap]


def feature_layout(model: keras.Model) -> list[dict]:
    """The feature layout of an extractor from :func:`build_extractor` (see :meth:`TapPooling.layout`;
    windowed front-ends: :meth:`~elmarc_tf.frontends.windows.WindowedFeatures.layout`, which
    adds each slice's scale, window, hop and pooling)."""
    return model.get_layer("features").layout()


@dataclass(frozen=True)
class CompiledExtractor:
    """A frozen extractor and its compiled forward pass (:func:`compile_extractor`).

    ``extractor(x)``: ``(batch, *input_shape)`` float32 -> ``(batch, feature_length)`` float32
    (a ``tf.Tensor``).
    """

    model: keras.Model
    function: Callable

    @property
    def input_shape(self) -> tuple:
        """Per-clip input shape, e.g. ``(n_frames, n_mels)``, ``(n_samples, 1)``, or ``(None,)``:
        whole clips of any length (windowed front-ends)."""
        return tuple(self.model.input_shape[1:])

    @property
    def feature_length(self) -> int:
        return int(self.model.output.shape[-1])

    @property
    def layout(self) -> list[dict]:
        return feature_layout(self.model)

    def __call__(self, x):
        return self.function(x)


def compile_extractor(config, seed: int = 0, fast: bool = True, jit_compile: bool = False,
                      model: keras.Model | None = None) -> CompiledExtractor:
    """The extractor of ``config`` (``inputs="logmel"``: the front-end's own input) and one
    compiled ``tf.function`` of its forward pass over any batch size — what extraction, the
    benchmarks, the ablation and the profiler run. ``model``: an extractor already built."""
    model = model if model is not None else build_extractor(config, seed, inputs="logmel", fast=fast)
    signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature,
                           jit_compile=jit_compile)
    return CompiledExtractor(model, function)
