"""End-to-end training of a front-end: the trained counterpart of the random extractor.

The model (:func:`build_classifier`) is the config's front-end with the same layers and the same
seeded initial weights as the random extractor (:func:`elmarc_tf.models.extractor.build_extractor`, made
trainable), its taps averaged into the same feature vector (``TapPooling``), then dropout and a
dense softmax over the classes (the head of Choi et al.'s convnets; ``head_batch_norm: true`` adds
a BatchNormalization before the dropout). Before the first update its feature vector is the
random extractor's: "random" is epoch 0 of the trained model. With the frame-level models'
original layout (``backend_taps: original``) the back-end taps' zero padding stays zero, a
constant input to the head. The batch-statistics normalisation of the Section 3.4 ablation
(``batch_norm: true``) is refused: it is a property of frozen features, not a training layer.

Patches (as these models are trained in the literature): each epoch, every training clip gives
``train_patches_per_clip`` patches of ``train_patch_frames`` frames (spectrogram front-ends) or
``train_patch_samples`` samples (waveform front-ends) at random offsets, drawn from a generator
seeded by (seed, split, epoch); unset, the whole input. A clip's prediction is the mean of the
class probabilities of non-overlapping patches covering it (:func:`patch_starts`: the last one
ends at the clip's end and may overlap its neighbour); with whole inputs, the clip itself.

Two more kinds of front-end train on waveforms (:data:`TRAINING_KINDS`, :func:`training_kind`):

- ``windows`` (``samplecnn``, as Lee et al. train it): one window of the window model
  (``prod(sizes)`` samples) is a patch; the model is the window model with the random
  extractor's seeded weights, its selected taps averaged per window (``TapPooling``), then the
  head. Training patches are windows at random offsets; a clip's prediction is the mean over its
  windows every ``window_hop`` samples (the windows extraction takes). The clips are fixed to one
  length first (:func:`clip_length`): the shortest clip's with ``crop``, the longest's with the
  padding modes, cut to whole windows.
- ``representation`` (a spectrogram CNN on a LEAF-family ``input_representation`` with
  ``trainable: true``): the representation is part of the model and learns with the CNN (those of
  its variables leaf-audio learns). A patch is ``train_patch_frames * 256`` samples of waveform,
  whose representation is cut to ``train_patch_frames`` frames (the authors' hop: patches of
  consecutive frames of the clip's frame grid); clips are fixed to ``n_frames * 256`` samples.
  With ``trainable: false`` the representation is fixed and the CNN trains on the frames of the
  whole clip's representation, as on log-mel. The trained weights file then holds the
  representation's variables too (its meta names it: ``trained_representation``), and extraction
  with it computes the inputs with them.

Training: Adam (``learning_rate``), ``train_batch_size`` patches per step, at most ``epochs``
epochs; early stopping on the validation clips' accuracy (ties: lower validation loss), stopping
after ``patience`` epochs without improvement; the best epoch's weights are the result. Each epoch
ends with an atomic checkpoint (weights, optimizer state, epoch, early-stopping state, curves);
the random draws are a function of (seed, split, epoch) and the dropout generator's state is in
the weights, so a training interrupted at any point resumes from its last checkpoint to the
numbers of an uninterrupted one. ``tf.config.experimental.enable_op_determinism()`` is switched on,
so that a rerun gives the same numbers on a CPU.

Protocols, as for the SVM (:mod:`elmarc_tf.evaluation.protocols`): with train/val/test splits (GTZAN), one
model, early stopping on val, accuracy on test; with folds (the dataset's own, or
``n_folds`` stratified folds as ``StratifiedKFold`` gives them to the SVM), one model per fold,
tested on that fold, early-stopped on a stratified ``val_fraction`` of the other folds (the same
clips for every seed); the accuracy is the mean over folds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm import tqdm

from ..config import Config, feature_fields
from ..datasets import items_from_config
from ..errors import AudioError, ConfigError, DamagedFileError, ElmarcError, WeightsError
from ..models.extractor import TapPooling, build_extractor, input_layers
from ..models.keras_graph import weighted_layers
from ..io.audio import load_audio
from ..io.audio_cache import as_audio_cache
from ..io.fileio import FolderLock, atomic_save, atomic_write_json, read_npz, versions
from ..io.fix_length import fix_length_np
from ..frontends import frontend_of
from ..frontends.common import layer_seed
from ..frontends.melspec import HOP_LENGTH
from ..frontends.windows import window_count
from ..extraction.inputs_cache import load_inputs
from ..evaluation.protocols import check_items_evaluable, choose_protocol
from ..extraction.options import RunOptions
from .results import Described, model_label, summarize, summary_line, write_summary
from .study import claim_results_folder, results_name
from ..models.trained_weights import (TRAINED_REPRESENTATION, apply_trained_weights,
                                      read_trained_weights, save_trained_weights)

CLASSIFIER = "end-to-end"  # the `classifier` of a training's results (elmarc compare's column)
DEFAULT_CHECKPOINTS = Path("elmarc_out") / "training"
# Config fields that change a training but not the random features.
TRAINING_FIELDS = ("train_patch_frames", "train_patch_samples", "train_patches_per_clip", "epochs",
                   "learning_rate", "train_batch_size", "patience", "dropout", "head_standardize",
                   "head_batch_norm", "val_fraction", "protocol", "n_folds")
# Training kind -> (the config's length key, its patch key); `windows` has neither (a window is
# a patch).
PATCH_KEYS = {"logmel": ("n_frames", "train_patch_frames"),
              "waveform": ("n_samples", "train_patch_samples"),
              "representation": ("n_frames", "train_patch_frames")}
MIXED_POLICY = "mixed_float16"


# ------------------------------------------------------------------------------ kinds of training
def training_kind(cfg) -> str | None:
    """How ``cfg``'s front-end is trained, a key of :data:`TRAINING_KINDS` (None: it cannot be):
    ``windows`` for a windowed front-end (samplecnn); ``representation`` for a spectrogram
    front-end whose input representation learns with it (``trainable: true``); else its input
    kind (``logmel``, ``waveform``) where that has a fixed size."""
    spec = frontend_of(cfg)
    if spec.scales is not None:
        return "windows"
    if spec.input == "logmel" and cfg.trainable:  # the config allows it on LEAF-family inputs
        return "representation"
    return spec.input if spec.input in PATCH_KEYS else None


def check_trainable(cfg) -> None:
    """Raise :class:`ConfigError` if ``cfg``'s front-end cannot be trained as configured."""
    spec = frontend_of(cfg)
    kind = training_kind(cfg)
    if kind is None:
        raise ConfigError(f"front-end '{spec.name}' cannot be trained: training takes a front-end "
                          f"with a fixed-size input (logmel or waveform) or a window model "
                          f"(samplecnn), and '{spec.name}' takes {spec.input} input")
    if cfg.batch_norm:
        raise ConfigError("'batch_norm': true normalises with the current batch's statistics (the "
                          "Section 3.4 ablation of frozen features); it cannot be trained: set it "
                          "to false")
    if cfg.trained_weights is not None:
        raise ConfigError("'trained_weights' is set: training starts from the seeded random weights")
    TRAINING_KINDS[kind].check(cfg)
    patch_config(cfg)


def _check_windows(cfg) -> None:
    """One window model, and no patch keys: its window is the patch."""
    scales = frontend_of(cfg).scales(cfg)
    if len(scales) > 1:
        raise ConfigError(f"'scales': training takes one window model (one window is a patch), "
                          f"got {len(scales)} ({', '.join(s.name for s in scales)})")
    for key in ("train_patch_frames", "train_patch_samples"):
        if getattr(cfg, key) is not None:
            raise ConfigError(f"'{key}' does not apply to '{cfg.frontend}': one window of "
                              f"{scales[0].window} samples is a patch; leave it unset")


def _no_check(cfg) -> None:
    return None


def patch_length(cfg) -> int:
    """Frames or samples per training patch: the patch key, else the whole input (a window
    model's window for ``windows``). In frames for ``representation``: see :func:`patch_rows`."""
    kind = training_kind(cfg)
    if kind == "windows":
        return frontend_of(cfg).scales(cfg)[0].window
    length_key, patch_key = PATCH_KEYS[kind]
    return getattr(cfg, patch_key) or getattr(cfg, length_key)


def patch_rows(cfg) -> int:
    """Rows of the training inputs per patch: :func:`patch_length`, in samples
    (``frames * 256``) for ``representation``."""
    return patch_length(cfg) * TRAINING_KINDS[training_kind(cfg)].samples_per_row


def patch_config(cfg) -> Config:
    """``cfg`` with its input length set to the patch length: the config of the trained model
    (a windowed front-end's config as it is).

    The front-ends' per-layer seeds come from layer names, so this model has the random
    extractor's weights; an architecture that cannot take so short an input raises naming the
    patch key."""
    kind = training_kind(cfg)
    if kind == "windows":
        return cfg
    length_key, patch_key = PATCH_KEYS[kind]
    try:
        return cfg.replace(**{length_key: patch_length(cfg)})
    except ConfigError as e:
        raise ConfigError(f"'{patch_key}'={getattr(cfg, patch_key)}: {e}") from None


def patch_starts(length: int, patch: int) -> list[int]:
    """Offsets of the non-overlapping patches covering ``length`` frames/samples: ``0, patch,
    2 patch, ...``, and, where the length is not a multiple of ``patch``, a last one ending at
    the end (``length - patch``)."""
    if not 1 <= patch <= length:
        raise ValueError(f"patch {patch} does not fit in {length}")
    starts = list(range(0, length - patch + 1, patch))
    if starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def _window_starts(cfg, length: int) -> list[int]:
    """Offsets of the windows extraction takes from a clip of ``length`` samples (whole windows
    every ``window_hop`` samples; :func:`clip_length` makes the clips hold whole windows)."""
    scale = frontend_of(cfg).scales(cfg)[0]
    return list(range(0, length - scale.window + 1, scale.hop))


def evaluation_starts(cfg, length: int) -> list[int]:
    """Offsets of the patches whose mean probability is a clip's prediction, for training
    inputs of ``length`` rows: :func:`patch_starts`, or a windowed front-end's windows."""
    if training_kind(cfg) == "windows":
        return _window_starts(cfg, length)
    return patch_starts(length, patch_rows(cfg))


def clip_probabilities(predict: Callable, x, clips, patch: int, batch_size: int,
                       starts=None) -> np.ndarray:
    """Class probabilities ``(len(clips), n_classes)`` of clips ``x[clips]`` (``x``:
    ``(n, length, ...)``): the mean over each clip's patches at ``starts`` (default
    :func:`patch_starts`) of ``predict(patches)`` (``(b, patch, ...) -> (b, n_classes)``), run
    ``batch_size`` patches at a time."""
    clips = np.asarray(clips, dtype=np.int64)
    starts = patch_starts(x.shape[1], patch) if starts is None else list(starts)
    pairs = [(c, s) for c in clips for s in starts]
    out = []
    for i in range(0, len(pairs), batch_size):
        batch = np.stack([x[c, s:s + patch] for c, s in pairs[i:i + batch_size]])
        out.append(np.asarray(predict(batch), dtype=np.float64))
    probs = np.concatenate(out) if out else np.zeros((0, 0))
    return probs.reshape(len(clips), len(starts), -1).mean(axis=1)


# ------------------------------------------------------------------------------ training inputs
def clip_length(cfg, lengths) -> int:
    """The one length (samples) every clip is fixed to for training on waveforms, given the
    decoded clips' ``lengths``: ``n_frames * 256`` for ``representation`` (the frames the
    extractor keeps); for ``windows``, the shortest clip with ``crop`` (every window whole) or
    the longest with the padding modes, then cut to whole windows at ``window_hop``
    (:func:`~elmarc_tf.frontends.windows.window_count`). :class:`AudioError` if no clip gives a
    window."""
    if training_kind(cfg) == "representation":
        return cfg.n_frames * HOP_LENGTH
    scale = frontend_of(cfg).scales(cfg)[0]
    n = min(lengths) if cfg.fix_length_by == "crop" else max(lengths)
    count = window_count(int(n), scale.window, scale.hop, cfg.fix_length_by)
    return (count - 1) * scale.hop + scale.window


def load_clips(cfg, items, folder, run: RunOptions = RunOptions()) -> tuple:
    """The decoded clips of ``items`` fixed to :func:`clip_length` by ``fix_length_by``, cached in
    ``folder``: ``(x (n, length, 1) float32, errors)`` as
    :func:`~elmarc_tf.extraction.inputs_cache.load_inputs` (rows of failed clips are zeros)."""
    folder = Path(folder)
    stem = "clips-" + _digest([training_kind(cfg), cfg.sampling_rate, cfg.res_type,
                               cfg.fix_length_by, cfg.n_frames,
                               [(s.window, s.hop) for s in _scales(cfg)],
                               [it.to_dict() for it in items]])[:12]
    data_path, meta_path = folder / f"{stem}.npy", folder / f"{stem}.json"
    if data_path.is_file() and meta_path.is_file():
        return np.load(data_path, mmap_mode="r"), json.loads(meta_path.read_text())["errors"]
    cache = as_audio_cache(run.audio_cache)
    load = cache.load if cache is not None else load_audio
    clips, errors = [], []
    for it in tqdm(items, unit="clip", desc="decode (clips)", file=sys.stderr,
                   disable=not run.progress, dynamic_ncols=True):
        try:
            clips.append(load(it.path, cfg.sampling_rate, cfg.res_type))
            errors.append("")
        except AudioError as e:
            clips.append(None)
            errors.append(str(e))
    lengths = [len(c) for c in clips if c is not None and len(c)]
    if not lengths:
        raise AudioError(f"no clip of {len(items)} could be decoded (first: {errors[0]})")
    length = clip_length(cfg, lengths)
    x = np.zeros((len(items), length, 1), np.float32)
    for i, (clip, path) in enumerate(zip(clips, [it.path for it in items])):
        if clip is None:
            continue
        try:
            x[i, :, 0] = fix_length_np(clip, length, cfg.fix_length_by, name=str(path))
        except AudioError as e:
            errors[i] = str(e)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save(data_path, np.save, x)
    atomic_write_json(meta_path, {"kind": training_kind(cfg), "length": length, "errors": errors})
    return np.load(data_path, mmap_mode="r"), errors


def _scales(cfg) -> list:
    spec = frontend_of(cfg)
    return spec.scales(cfg) if spec.scales is not None else []


# ------------------------------------------------------------------------------ the model
def extractor_name(cfg) -> str:
    """The name of the extractor inside a :func:`build_classifier` model."""
    return f"{frontend_of(cfg).name}_extractor"


def _unfrozen(model: keras.Model) -> keras.Model:
    """``model`` with it and every layer with weights in it trainable (Keras' ``trainable``
    setter leaves the layers alone where the model's own flag is already set)."""
    model.trainable = True
    for layer in weighted_layers(model):
        layer.trainable = True
    return model


def _input_extractor(cfg, seed: int, fast: bool) -> keras.Model:
    """``logmel`` / ``waveform``: the random extractor of :func:`patch_config`, trainable:
    ``(batch, patch, n_mels)`` or ``(batch, patch, 1)`` -> ``(batch, d)``."""
    return _unfrozen(build_extractor(patch_config(cfg), seed, inputs="logmel", fast=fast))


def _window_extractor(cfg, seed: int, fast: bool) -> keras.Model:
    """``windows``: one window ``(batch, window, 1)`` -> the window model (the random extractor's
    seeded weights, trainable) pruned to its selected taps -> each tap's mean over the window,
    concatenated ``(batch, d)`` (the per-window vector the extractor pools over a clip)."""
    scale = frontend_of(cfg).scales(cfg)[0]
    window_model = scale.build(seed, fast)
    selected = list(scale.selected)
    taps_model = _unfrozen(keras.Model(window_model.inputs,
                                       [window_model.outputs[i] for i in selected], name="scale_0"))
    x = keras.Input((scale.window, 1), name="waveform")
    taps = taps_model(x)
    taps = list(taps) if isinstance(taps, (list, tuple)) else [taps]
    features = TapPooling([scale.taps[i] for i in selected], selected,
                          [int(window_model.outputs[i].shape[-1]) for i in selected],
                          name="features")(taps)
    return keras.Model(x, features, name=extractor_name(cfg))


def _representation_extractor(cfg, seed: int, fast: bool) -> keras.Model:
    """``representation``: a waveform patch ``(batch, frames * 256, 1)`` -> the input
    representation (seeded as in extraction; its variables keep their own trainable flags) ->
    its first ``frames`` frames -> the random extractor of :func:`patch_config`, trainable ->
    ``(batch, d)``."""
    patched = patch_config(cfg)
    cnn = _input_extractor(cfg, seed, fast)  # named "<front-end>_cnn" below: this one is the whole
    cnn.name = f"{frontend_of(cfg).name}_cnn"
    x = keras.Input((patch_rows(cfg), 1), name="waveform")
    frames = keras.layers.Reshape((patch_rows(cfg),), name="samples")(x)
    for layer in input_layers(patched, seed):
        frames = layer(frames)
    return keras.Model(x, cnn(frames), name=extractor_name(cfg))


@dataclass(frozen=True)
class TrainingKind:
    """How one kind of front-end is trained (:data:`TRAINING_KINDS`).

    ``extractor(cfg, seed, fast)``: the trainable feature extractor of a patch, ``(batch,
    patch_rows, ...) -> (batch, d)``, named :func:`extractor_name`, its weights the random
    extractor's; ``load(cfg, items, folder, run) -> (x, errors)``: the training inputs, ``x``
    ``(n, length, ...)``; ``check(cfg)``: what else the config must satisfy;
    ``samples_per_row``: rows of ``x`` per unit of :func:`patch_length`."""

    extractor: Callable
    load: Callable
    check: Callable = _no_check
    samples_per_row: int = 1


TRAINING_KINDS = {
    "logmel": TrainingKind(_input_extractor, load_inputs),
    "waveform": TrainingKind(_input_extractor, load_inputs),
    "windows": TrainingKind(_window_extractor, load_clips, _check_windows),
    "representation": TrainingKind(_representation_extractor, load_clips,
                                   samples_per_row=HOP_LENGTH),
}


def representation_meta(cfg) -> dict:
    """What a trained weights file says of the input representation: ``{TRAINED_REPRESENTATION:
    name}`` where it is part of the trained model (``representation``), else nothing."""
    if training_kind(cfg) == "representation":
        return {TRAINED_REPRESENTATION: cfg.input_representation}
    return {}


def build_classifier(cfg, seed: int, n_classes: int, mixed_precision: bool = False,
                     fast: bool = False) -> keras.Model:
    """The trainable model of ``cfg``: ``(batch, *patch_input) -> (batch, n_classes)`` softmax.

    Patch input: ``(batch, train_patch_frames, n_mels)`` log-mel or ``(batch,
    train_patch_samples, 1)`` waveforms (whole inputs without patch keys); ``(batch, window, 1)``
    for a windowed front-end; ``(batch, train_patch_frames * 256, 1)`` for a trainable input
    representation. The patch's extractor (:data:`TRAINING_KINDS`: same seeded weights as the
    random one, trainable) -> feature vector ``(batch, d)`` -> [BatchNormalization ``head_bn``]
    -> Dropout ``head_dropout`` -> Dense softmax ``head_dense``; the head is seeded from ``seed``
    and its layer names.
    ``mixed_precision``: float16 computations, float32 variables and softmax (for GPUs).
    ``fast``: as :func:`~elmarc_tf.models.extractor.build_extractor` (same weights either way). Off
    by default: the fused frequency-max layer saves memory on whole 1376-frame inputs, but on
    3 s patches it is no faster per step and its gradient traces ~10x slower (a Python loop
    over frequency positions); trained weights load into the fast extractor by name.
    """
    check_trainable(cfg)
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy(MIXED_POLICY)
    try:
        extractor = TRAINING_KINDS[training_kind(cfg)].extractor(cfg, seed, fast)
        x = keras.Input(extractor.input_shape[1:], name=extractor.inputs[0].name)
        h = extractor(x)
        if cfg.head_standardize:
            h = keras.layers.Normalization(axis=-1, name="head_standardize")(h)
        if cfg.head_batch_norm:
            h = keras.layers.BatchNormalization(name="head_bn")(h)
        h = keras.layers.Dropout(cfg.dropout, seed=layer_seed(seed, "head_dropout"),
                                 name="head_dropout")(h)
        out = keras.layers.Dense(
            n_classes, activation="softmax", dtype="float32", name="head_dense",
            kernel_initializer=keras.initializers.GlorotUniform(layer_seed(seed, "head_dense")))(h)
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(x, out, name=f"{frontend_of(cfg).name}_classifier")


# ------------------------------------------------------------------------------ protocols
@dataclass(frozen=True, eq=False)
class TrainingData:
    """What a model is trained on: inputs ``x`` ``(n, *input_shape)``, labels ``y`` ``(n,)`` (ints
    indexing ``labels``, the class names) and ``ids``, the clips' ids (one per row of ``x``, or
    ``None``)."""

    x: object
    y: object
    labels: list
    ids: Optional[list] = None


@dataclass(frozen=True)
class TrainingOptions:
    """How models are trained beyond the config. ``mixed_precision``: float16 computations,
    float32 weights (part of a training's key). ``deterministic``: switch on
    ``tf.config.experimental.enable_op_determinism()`` (for the rest of the process: TensorFlow
    cannot switch it off); False leaves it as it is, for a GPU op without a deterministic
    kernel. ``on_epoch_end(epoch, state)``: called after each epoch's checkpoint."""

    mixed_precision: bool = False
    deterministic: bool = True
    on_epoch_end: Optional[Callable[[int, dict], None]] = None


@dataclass(frozen=True)
class TrainingSplit:
    """One model's clips (indices): trained on ``train``, early-stopped on ``val``, tested on
    ``test``. ``name``: ``split`` (train/val/test lists) or ``fold<k>``."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _hold_out(rest, y, fraction: float, random_state: int, name: str):
    """``rest`` split into (train, val) with a stratified ``fraction`` as val."""
    n_val = math.ceil(fraction * len(rest))
    try:
        train, val = train_test_split(rest, test_size=n_val, stratify=y[rest],
                                      random_state=random_state)
    except ValueError as e:
        raise ConfigError(f"'val_fraction'={fraction}: cannot hold out a stratified validation "
                          f"part of {name}'s {len(rest)} training clips ({e})") from None
    return np.sort(train), np.sort(val)


def training_splits(cfg, items, y) -> tuple[str, list[TrainingSplit]]:
    """``(protocol, splits)`` of clips ``items`` (labels ``y``, ints) under ``cfg.protocol``
    (default: from the items, as :func:`elmarc_tf.evaluation.protocols.choose_protocol`)."""
    y = np.asarray(y)
    splits, folds = [it.split for it in items], [it.fold for it in items]
    protocol = cfg.protocol or choose_protocol(splits, folds)
    index = np.arange(len(items))
    if protocol == "predefined_split":
        splits = np.asarray(splits, dtype=object)
        parts = {s: index[splits == s] for s in ("train", "val", "test")}
        empty = [s for s, idx in parts.items() if not len(idx)]
        if empty:
            raise ConfigError(f"predefined_split needs 'train', 'val' and 'test' clips "
                              f"(none in {', '.join(empty)})")
        return protocol, [TrainingSplit("split", parts["train"], parts["val"], parts["test"])]
    if protocol == "predefined_folds":
        folds = np.asarray(folds)
        values = sorted(set(folds.tolist()))
        if len(values) < 2:
            raise ConfigError("predefined_folds needs at least two different folds")
        pairs = [(f"fold{f}", index[folds != f], index[folds == f]) for f in values]
    else:
        cv = StratifiedKFold(n_splits=cfg.n_folds)  # the SVM's folds (elmarc_tf.evaluation.protocols)
        try:
            pairs = [(f"fold{k}", rest, test)
                     for k, (rest, test) in enumerate(cv.split(index, y), start=1)]
        except ValueError as e:
            raise ConfigError(f"'n_folds'={cfg.n_folds}: {e}") from None
    out = []
    for k, (name, rest, test) in enumerate(pairs):
        train, val = _hold_out(rest, y, cfg.val_fraction, k, name)
        out.append(TrainingSplit(name, train, val, test))
    return protocol, out


# ------------------------------------------------------------------------------ one training
def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def training_fields(cfg) -> dict:
    """What a training depends on in ``cfg``: its feature fields and :data:`TRAINING_FIELDS`,
    and ``trainable`` where it is set (a representation that learns: another training)."""
    values = cfg.to_dict()
    learns = {"trainable": True} if cfg.trainable else {}
    return {**feature_fields(cfg), **{k: values[k] for k in TRAINING_FIELDS}, **learns}


def _epoch_examples(train, length: int, patch: int, per_clip: int, rng) -> tuple:
    """(clip, offset) of every training patch of an epoch, in a random order."""
    clips = np.repeat(np.asarray(train, dtype=np.int64), per_clip)
    offsets = rng.integers(0, length - patch + 1, size=len(clips))
    order = rng.permutation(len(clips))
    return clips[order], offsets[order]


def step_functions(model, optimizer, patch_shape, scaled: bool = False):
    """Compiled ``train(x, y) -> (loss, n_correct)`` and ``predict(x) -> probabilities``."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    x_spec = tf.TensorSpec((None, *patch_shape), tf.float32)

    @tf.function(input_signature=[x_spec, tf.TensorSpec((None,), tf.int32)])
    def train(x, y):
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            loss = loss_fn(y, probs)
            target = optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(target, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y),
                                        tf.int32))
        return loss, correct

    @tf.function(input_signature=[x_spec])
    def predict(x):
        return model(x, training=False)

    return train, predict


def _standardize_head(model, cfg, x, clips, patch: int) -> None:
    """Set the ``head_standardize`` layer to the mean and variance of the feature vectors of the
    training clips' patches (those of :func:`patch_starts`) under the model's current weights."""
    extractor = model.get_layer(extractor_name(cfg))  # called eagerly: once per training
    starts = evaluation_starts(cfg, x.shape[1])
    pairs = [(c, s) for c in clips for s in starts]
    rows = [np.asarray(extractor(np.stack([x[c, s:s + patch] for c, s in
                                           pairs[i:i + cfg.train_batch_size]]), training=False))
            for i in range(0, len(pairs), cfg.train_batch_size)]
    model.get_layer("head_standardize").adapt(np.concatenate(rows).astype(np.float32))


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: one model per fold and seed
    compiles its own functions by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def quiet_retracing():
    """While inside, TensorFlow's retracing warning is not shown (see :class:`_NoRetracingWarning`)."""
    logger, quiet = tf.get_logger(), _NoRetracingWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _save_checkpoint(path, model, optimizer, state: dict) -> None:
    arrays = {f"model_{i:05d}": v.numpy() for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer_{i:05d}": v.numpy() for i, v in enumerate(optimizer.variables)})
    atomic_save(path, np.savez, state=np.array(json.dumps(state)), **arrays)


def _read_checkpoint(path, best_path) -> tuple[dict, dict]:
    """``(state, arrays)`` of the checkpoint ``path``; :class:`DamagedFileError` naming the file
    if it, or the best epoch's weights file ``best_path`` it records, cannot be read."""
    arrays = read_npz(path, "checkpoint")
    try:
        state = json.loads(str(arrays.pop("state")))
    except (KeyError, ValueError) as e:
        raise DamagedFileError(f"{path}: cannot read checkpoint: no training state "
                               f"({type(e).__name__})") from None
    if state.get("digest") is not None:
        try:
            best = read_trained_weights(best_path).digest
        except WeightsError as e:  # missing or damaged
            raise DamagedFileError(str(e)) from None
        if best != state["digest"]:
            raise DamagedFileError(f"{best_path}: not the best epoch's weights {path} records")
    return state, arrays


def _restore_checkpoint(path, best_path, model, optimizer, key: str) -> dict:
    """Assign a checkpoint's variables to ``model`` and ``optimizer``; returns its state.
    :class:`DamagedFileError` (nothing assigned) as :func:`_read_checkpoint`."""
    state, arrays = _read_checkpoint(path, best_path)
    if state.get("key") != key:
        raise ElmarcError(f"{path}: checkpoint of a different training (config, clips or "
                          f"seed changed); use another output folder or delete it")
    for prefix, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
        names = sorted(n for n in arrays if n.startswith(prefix + "_"))
        if len(names) != len(variables):
            raise ElmarcError(f"{path}: {len(names)} {prefix} variables, expected "
                              f"{len(variables)}; delete the checkpoint to start again")
        for name, v in zip(names, variables):
            v.assign(arrays[name])
    return state


def _saved_result(path, key: str, log, tag: str) -> dict | None:
    """The result a finished training saved in ``path`` (``result.json``) for ``key``; None if
    there is none, or one of another training; a damaged one is said in one line (None: the
    result is computed again, from the checkpoint where there is one)."""
    try:
        saved = json.loads(Path(path).read_text())
        return saved["result"] if saved.get("key") == key else None
    except FileNotFoundError:
        return None
    except (ValueError, AttributeError, KeyError, TypeError) as e:
        log(f"{path}: damaged ({type(e).__name__}); {_who(tag)}result is computed again")
        return None


def _who(tag: str) -> str:
    return f"{tag}: " if tag else ""


def _clip_scores(probs, y) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of clip probabilities ``(n, C)`` for labels ``y``."""
    y = np.asarray(y)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y))
    nll = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))
    return accuracy, nll


def train_split(cfg, seed: int, data: TrainingData, split: TrainingSplit, folder,
                training: TrainingOptions = TrainingOptions(),
                run: RunOptions = RunOptions(progress=False), tag: str = "") -> dict:
    """Train one model on ``split`` of ``data`` (a :class:`TrainingData`: inputs ``x``
    ``(n, *input_shape)``, labels ``y`` indexing ``labels``); checkpoints and the best weights go
    to ``folder``.

    Resumes from ``folder/checkpoint.npz``; a finished training (``folder/result.json``) returns
    its result at once. ``training``: :class:`TrainingOptions` (``on_epoch_end(epoch, state)`` is
    called after each epoch's checkpoint). ``run``: its ``progress`` (bars per epoch) and ``log``
    (default ``print``) apply.
    Returns ``name``, ``accuracy`` (test clips, best epoch's weights), ``val_accuracy``,
    ``best_epoch``, ``epochs_run``, ``curves`` (per epoch: ``loss``, ``accuracy`` of the training
    patches, ``val_accuracy``, ``val_loss``, ``seconds``), ``weights`` (the best epoch's trained
    weights file), ``weights_digest``, ``n_train`` / ``n_val`` / ``n_test``, ``labels`` and
    ``confusion_matrix`` (test clips). With ``data.ids``, ``folder/clips.json`` lists the ids of
    each part and the result's ``clips`` names it.
    """
    folder = Path(folder)
    x, labels, ids = data.x, data.labels, data.ids
    y = np.asarray(data.y, dtype=np.int32)
    mixed_precision, on_epoch_end = training.mixed_precision, training.on_epoch_end
    progress, log = run.progress, run.logger()
    key = _digest([training_fields(cfg), int(seed), split.name, split.train.tolist(),
                   split.val.tolist(), split.test.tolist(), list(labels), bool(mixed_precision)])
    result_path, checkpoint_path = folder / "result.json", folder / "checkpoint.npz"
    best_path = folder / "best.weights.npz"
    saved = _saved_result(result_path, key, log, tag)
    if saved is not None:
        return saved
    folder.mkdir(parents=True, exist_ok=True)
    if ids is not None:
        atomic_write_json(folder / "clips.json", {part: [str(ids[i]) for i in getattr(split, part)]
                                                  for part in ("train", "val", "test")})
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()

    patch, starts = patch_rows(cfg), evaluation_starts(cfg, x.shape[1])
    model = build_classifier(cfg, seed, len(labels), mixed_precision=mixed_precision)
    optimizer = keras.optimizers.Adam(cfg.learning_rate)
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    if cfg.head_standardize:
        _standardize_head(model, cfg, x, split.train, patch)
    train_fn, predict_fn = step_functions(model, optimizer, model.input_shape[1:], mixed_precision)
    predict = lambda batch: predict_fn(tf.constant(batch, tf.float32)).numpy()

    state = {"key": key, "epoch": 0, "best_epoch": 0, "best_val_accuracy": -1.0,
             "best_val_loss": math.inf, "wait": 0, "digest": None,
             "curves": {"loss": [], "accuracy": [], "val_accuracy": [], "val_loss": [],
                        "seconds": []}}
    if checkpoint_path.is_file():
        try:
            state = _restore_checkpoint(checkpoint_path, best_path, model, optimizer, key)
            log(f"{tag}: resuming after epoch {state['epoch']} (best {state['best_epoch']})")
        except DamagedFileError as e:  # as a damaged feature-store chunk: set aside, recomputed
            checkpoint_path.unlink()
            log(f"{e}; {_who(tag)}the training starts over")
    meta = {"architecture": cfg.architecture, "num_filters": cfg.num_filters, "seed": int(seed),
            "split": split.name, "labels": list(labels), "config": cfg.to_dict(),
            "mixed_precision": bool(mixed_precision), "versions": versions(),
            **representation_meta(cfg)}
    length = x.shape[1]
    while state["epoch"] < cfg.epochs and state["wait"] < cfg.patience:
        epoch = state["epoch"] + 1
        start = time.perf_counter()
        rng = np.random.default_rng([int(seed), _split_number(split.name), epoch])
        clips, offsets = _epoch_examples(split.train, length, patch, cfg.train_patches_per_clip, rng)
        total_loss, correct = 0.0, 0
        bar = tqdm(total=len(clips), unit="patch", desc=f"{tag} epoch {epoch}", leave=False,
                   file=sys.stderr, disable=not progress, dynamic_ncols=True)
        for i in range(0, len(clips), cfg.train_batch_size):
            c, o = clips[i:i + cfg.train_batch_size], offsets[i:i + cfg.train_batch_size]
            batch = np.stack([x[ci, oi:oi + patch] for ci, oi in zip(c, o)])
            loss, n_correct = train_fn(tf.constant(batch, tf.float32), tf.constant(y[c]))
            total_loss += float(loss) * len(c)
            correct += int(n_correct)
            bar.update(len(c))
        bar.close()
        val_acc, val_loss = _clip_scores(
            clip_probabilities(predict, x, split.val, patch, cfg.train_batch_size, starts),
            y[split.val])
        improved = (val_acc > state["best_val_accuracy"]
                    or (val_acc == state["best_val_accuracy"] and val_loss < state["best_val_loss"]))
        if improved:
            state["digest"] = save_trained_weights(best_path, model, {**meta, "epoch": epoch})
            state.update(best_epoch=epoch, best_val_accuracy=val_acc, best_val_loss=val_loss, wait=0)
        else:
            state["wait"] += 1
        seconds = time.perf_counter() - start
        for name, value in (("loss", total_loss / len(clips)), ("accuracy", correct / len(clips)),
                            ("val_accuracy", val_acc), ("val_loss", val_loss), ("seconds", seconds)):
            state["curves"][name].append(float(value))
        state["epoch"] = epoch
        _save_checkpoint(checkpoint_path, model, optimizer, state)
        log(f"{tag} epoch {epoch}/{cfg.epochs}: loss {total_loss / len(clips):.4f}, "
            f"accuracy {correct / len(clips):.3f}, val accuracy {val_acc:.3f}, val loss "
            f"{val_loss:.4f}, {seconds:.1f} s" + (" (best)" if improved else ""))
        if on_epoch_end is not None:
            on_epoch_end(epoch, dict(state))

    trained = read_trained_weights(best_path)
    apply_trained_weights(model, trained)
    probs = clip_probabilities(predict, x, split.test, patch, cfg.train_batch_size, starts)
    test_acc, _ = _clip_scores(probs, y[split.test])
    result = {"name": split.name, "accuracy": test_acc, "val_accuracy": state["best_val_accuracy"],
              "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
              "stopped_early": state["epoch"] < cfg.epochs, "curves": state["curves"],
              "weights": str(best_path), "weights_digest": trained.digest,
              "n_train": int(len(split.train)), "n_val": int(len(split.val)),
              "n_test": int(len(split.test)), "labels": list(labels),
              "clips": str(folder / "clips.json") if ids is not None else None,
              "confusion_matrix": confusion_matrix(y[split.test], np.argmax(probs, axis=1),
                                                   labels=range(len(labels))).tolist()}
    atomic_write_json(result_path, {"key": key, "result": result})
    log(f"{tag}: test accuracy {test_acc:.4f} (best epoch {state['best_epoch']} of "
        f"{state['epoch']}, val accuracy {state['best_val_accuracy']:.3f})")
    return result


def _split_number(name: str) -> int:
    """A number for a split's name (``fold3`` -> 3, ``split`` -> 0): part of its random draws."""
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


# ------------------------------------------------------------------------------ an experiment
def training_dir(root, cfg, items, mixed_precision: bool = False) -> Path:
    """``<root>/<dataset>/<architecture>-<nf>-<key>``: the trainings of ``cfg`` on ``items``;
    the key covers :func:`training_fields`, the clips and the precision."""
    dataset = cfg.dataset or (Path(cfg.audio_path).name if cfg.audio_path else "audio")
    dataset = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in dataset) or "audio"
    key = _digest([training_fields(cfg), [it.to_dict() for it in items],
                   *(["mixed_float16"] if mixed_precision else [])])[:8]
    return Path(root) / dataset / f"{frontend_of(cfg).store_name(cfg)}-{key}"


def train_experiment(cfg, seeds=(0, 1, 2), out=None, name: str | None = None, items=None,
                     checkpoints_out=None, training: TrainingOptions = TrainingOptions(),
                     run: RunOptions = RunOptions(), config_file=None) -> dict:
    """Train ``cfg`` end to end for each seed under its protocol; write
    ``<out>/<name>/results.{json,csv}`` in the format of :func:`elmarc_tf.studies.study.run_experiment`
    (``classifier``: ``end-to-end``; each ``per_seed`` entry adds ``best_epoch`` (one per
    split/fold) and ``splits``: the :func:`train_split` results with their curves).

    Checkpoints, trained weights files and the decoded inputs go under ``checkpoints_out``
    (default ``elmarc_out/training``); everything resumes. ``name``: default
    ``<experiment_name>_end-to-end`` (:func:`~elmarc_tf.studies.study.results_name`;
    ``config_file``: the file ``cfg`` was read from, see
    :func:`~elmarc_tf.studies.study.claim_results_folder`). ``training``: see
    :class:`TrainingOptions`. ``run``: its ``progress``, ``log`` (default ``print``),
    ``audio_cache`` (decoding the inputs) and ``wait`` apply.

    Before any work: the clips are checked against the protocol
    (:func:`~elmarc_tf.evaluation.protocols.check_evaluable`), the trainings' folder is locked
    (another process training the same folder: :class:`~elmarc_tf.io.fileio.FolderBusy`, or
    with ``run.wait`` wait for it) and the results folder is checked (writable, not another
    config file's).
    """
    check_trainable(cfg)
    items = items if items is not None else items_from_config(cfg)
    check_items_evaluable(cfg, items, nested=False)
    name = name or results_name(cfg, classifier=CLASSIFIER)
    root = Path(checkpoints_out or DEFAULT_CHECKPOINTS)
    folder = training_dir(root, cfg, items, training.mixed_precision)
    with FolderLock(folder, wait=run.wait):
        results = claim_results_folder(out, cfg, name, config_file)
        return _train_locked(cfg, seeds, name, items, root, folder, results, training, run)


def _train_locked(cfg, seeds, name, items, root, folder, results_folder, training,
                  run) -> dict:
    """The trainings of :func:`train_experiment` (``folder`` locked), their summary written to
    ``results_folder``."""
    mixed_precision, log = training.mixed_precision, run.logger()
    x, errors = TRAINING_KINDS[training_kind(cfg)].load(cfg, items, root / "inputs", run)
    ok = np.array([i for i, e in enumerate(errors) if not e], dtype=np.int64)
    for i, e in enumerate(errors):
        if e:
            log(f"skipped: {e}")
    if len(ok) < len(items):
        x = x[ok]
    clips = [items[i] for i in ok]
    labels = sorted({it.label for it in clips})
    y = np.array([labels.index(it.label) for it in clips], dtype=np.int32)
    protocol, splits = training_splits(cfg, clips, y)
    feature_length = int(build_extractor(patch_config(cfg), 0).output.shape[-1])  # extraction's
    label = model_label(cfg, feature_length)
    per_seed = []
    for seed in seeds:
        with quiet_retracing():
            data = TrainingData(x, y, labels, [it.id for it in clips])
            results = [train_split(cfg, seed, data, split, folder / f"seed{seed}" / split.name,
                                   training, replace(run, log=log),
                                   tag=f"{label} seed {seed} {split.name}")
                       for split in splits]
        entry = {"seed": int(seed), "accuracy": float(np.mean([r["accuracy"] for r in results])),
                 "protocol": protocol, "best_params": {}, "feature_length": feature_length,
                 "best_epoch": [r["best_epoch"] for r in results],
                 "n_failed": int(len(items) - len(ok)), "checkpoints": str(folder / f"seed{seed}"),
                 "splits": results}
        if len(results) > 1:
            entry["fold_accuracies"] = [r["accuracy"] for r in results]
        per_seed.append(entry)
        log(f"{name} seed {seed}: accuracy {entry['accuracy']:.4f} ({protocol}, best epochs "
            f"{entry['best_epoch']})")
    summary = summarize(Described(name, label, CLASSIFIER, protocol, feature_length, False, False),
                        cfg, seeds, per_seed, extra={"mixed_precision": bool(mixed_precision)})
    write_summary(results_folder, summary)
    log(summary_line(summary, results_folder))
    return summary


# ------------------------------------------------------------------------------ more families
def extra_architectures(size: str = "small") -> dict:
    """Trainable architectures beyond the paper's seven, ``{name: config fields}``, at the
    paper's ~120-feature size (``size="small"``, the only one): SampleCNN (trained on its
    windows) at two depths — Table 3's 12 kHz model (3-3-3-3-3-2-4-4-2-2, 5 184-sample windows)
    and the shallower 3⁶ (2 187 samples), both ``num_filters: 5``, last three layers, mean and
    max over windows: 120 values — and 7x96 (160 filters, the pool tap: 160 values) and VGG
    (``num_filters: 24``, five taps: 120 values) on the LEAF representation, its filterbank
    learning with the CNN (``trainable: true``) or fixed (``trainable: false``)."""
    if size != "small":
        raise ConfigError(f"extra_architectures: size must be 'small', got {size!r}")
    samplecnn = dict(num_filters=5, levels=3)
    paper_input = dict(n_frames=1376)  # the paper's ~29 s log-mel input, as its 7x96 and VGG
    leaf_cnns = {"7x96-160": dict(architecture="7x96", num_filters=160, selected_features_list=[1],
                                  **paper_input),
                 "vgg-24": dict(architecture="vgg", num_filters=24, **paper_input)}
    return {
        "samplecnn_12k-5": dict(architecture="samplecnn_12k", **samplecnn),
        "samplecnn_3_6-5": dict(architecture="samplecnn", m=3, n=6, sampling_rate=12000,
                                **samplecnn),
        **{f"{name}+leaf-trainable": dict(fields, input_representation="leaf", trainable=True)
           for name, fields in leaf_cnns.items()},
        **{f"{name}+leaf-fixed": dict(fields, input_representation="leaf", trainable=False)
           for name, fields in leaf_cnns.items()},
    }
