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
from ..errors import ConfigError, DamagedFileError, ElmarcError, WeightsError
from ..models.extractor import build_extractor
from ..io.fileio import FolderLock, atomic_save, atomic_write_json, read_npz, versions
from ..frontends import frontend_of
from ..frontends.common import layer_seed
from ..extraction.inputs_cache import load_inputs
from ..evaluation.protocols import check_items_evaluable, choose_protocol
from ..extraction.options import RunOptions
from .results import Described, model_label, summarize, summary_line, write_summary
from .study import claim_results_folder, results_name
from ..models.trained_weights import apply_trained_weights, read_trained_weights, save_trained_weights

CLASSIFIER = "end-to-end"  # the `classifier` of a training's results (elmarc compare's column)
DEFAULT_CHECKPOINTS = Path("elmarc_out") / "training"
# Config fields that change a training but not the random features.
TRAINING_FIELDS = ("train_patch_frames", "train_patch_samples", "train_patches_per_clip", "epochs",
                   "learning_rate", "train_batch_size", "patience", "dropout", "head_standardize",
                   "head_batch_norm", "val_fraction", "protocol", "n_folds")
# Input kind -> (the config's length key, its patch key).
PATCH_KEYS = {"logmel": ("n_frames", "train_patch_frames"),
              "waveform": ("n_samples", "train_patch_samples")}
MIXED_POLICY = "mixed_float16"


# ------------------------------------------------------------------------------ patches
def check_trainable(cfg) -> None:
    """Raise :class:`ConfigError` if ``cfg``'s front-end cannot be trained as configured."""
    spec = frontend_of(cfg)
    if spec.input not in PATCH_KEYS:
        raise ConfigError(f"front-end '{spec.name}' cannot be trained: training takes a front-end "
                          f"with a fixed-size input ({' or '.join(PATCH_KEYS)}), and "
                          f"'{spec.name}' takes {spec.input} input")
    if cfg.batch_norm:
        raise ConfigError("'batch_norm': true normalises with the current batch's statistics (the "
                          "Section 3.4 ablation of frozen features); it cannot be trained: set it "
                          "to false")
    if cfg.trained_weights is not None:
        raise ConfigError("'trained_weights' is set: training starts from the seeded random weights")
    patch_config(cfg)


def patch_length(cfg) -> int:
    """Frames or samples per training patch: the patch key, else the whole input."""
    length_key, patch_key = PATCH_KEYS[frontend_of(cfg).input]
    return getattr(cfg, patch_key) or getattr(cfg, length_key)


def patch_config(cfg) -> Config:
    """``cfg`` with its input length set to the patch length: the config of the trained model.

    The front-ends' per-layer seeds come from layer names, so this model has the random
    extractor's weights; an architecture that cannot take so short an input raises naming the
    patch key."""
    length_key, patch_key = PATCH_KEYS[frontend_of(cfg).input]
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


def clip_probabilities(predict: Callable, x, clips, patch: int, batch_size: int) -> np.ndarray:
    """Class probabilities ``(len(clips), n_classes)`` of clips ``x[clips]`` (``x``:
    ``(n, length, ...)``): the mean over each clip's :func:`patch_starts` patches of
    ``predict(patches)`` (``(b, patch, ...) -> (b, n_classes)``), run ``batch_size`` patches at
    a time."""
    clips = np.asarray(clips, dtype=np.int64)
    starts = patch_starts(x.shape[1], patch)
    pairs = [(c, s) for c in clips for s in starts]
    out = []
    for i in range(0, len(pairs), batch_size):
        batch = np.stack([x[c, s:s + patch] for c, s in pairs[i:i + batch_size]])
        out.append(np.asarray(predict(batch), dtype=np.float64))
    probs = np.concatenate(out) if out else np.zeros((0, 0))
    return probs.reshape(len(clips), len(starts), -1).mean(axis=1)


# ------------------------------------------------------------------------------ the model
def extractor_name(cfg) -> str:
    """The name of the extractor inside a :func:`build_classifier` model."""
    return f"{frontend_of(cfg).name}_extractor"


def build_classifier(cfg, seed: int, n_classes: int, mixed_precision: bool = False,
                     fast: bool = False) -> keras.Model:
    """The trainable model of ``cfg``: ``(batch, *patch_input) -> (batch, n_classes)`` softmax.

    Patch input: ``(batch, train_patch_frames, n_mels)`` log-mel or ``(batch,
    train_patch_samples, 1)`` waveforms (whole inputs without patch keys). The extractor of
    :func:`patch_config` (same seeded weights as the random one, trainable) -> feature vector
    ``(batch, d)`` -> [BatchNormalization ``head_bn``] -> Dropout ``head_dropout`` -> Dense
    softmax ``head_dense``; the head is seeded from ``seed`` and its layer names.
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
        extractor = build_extractor(patch_config(cfg), seed, inputs="logmel", fast=fast)
        extractor.trainable = True
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
    """What a training depends on in ``cfg``: its feature fields and :data:`TRAINING_FIELDS`."""
    values = cfg.to_dict()
    return {**feature_fields(cfg), **{k: values[k] for k in TRAINING_FIELDS}}


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
    starts = patch_starts(x.shape[1], patch)
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

    patch = patch_length(cfg)
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
            "mixed_precision": bool(mixed_precision), "versions": versions()}
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
            clip_probabilities(predict, x, split.val, patch, cfg.train_batch_size), y[split.val])
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
    probs = clip_probabilities(predict, x, split.test, patch, cfg.train_batch_size)
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
    x, errors = load_inputs(cfg, items, root / "inputs", run)
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
    feature_length = int(build_extractor(patch_config(cfg), 0).output.shape[-1])
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
