"""The feature store's identity (``store_key``): what changes it, what does not, and that it stays
what it was for the stores already on users' disks; the audio cache's key."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from elmarc_tf import Config
from elmarc_tf.io import audio_cache
from elmarc_tf.io.audio_cache import AudioCache
from elmarc_tf.config import feature_fields
from elmarc_tf.datasets import Item
from elmarc_tf.extraction.store import store_dir, store_key

ITEMS = [Item("a/x.wav", "a", "a/x.wav"), Item("b/y.wav", "b", "b/y.wav", fold=3)]


@pytest.mark.parametrize("fields, key", [
    # computed with elmarc_tf 0.1.0 as first released: a store written then must still be found
    (dict(architecture="vgg", num_filters=32, n_frames=1376), "1e4c667f"),
    (dict(features_type="MFCC"), "68df7a80"),
    (dict(architecture="sample_level", num_filters=23, n_samples=350000, res_type="kaiser_best"),
     "f57ea4a8"),
    (dict(architecture="cnn_music", num_filters=4, n_frames=1376, selected_features_list=[1],
          fix_length_by="repeat-pad", batch_size=3, model_type="ELM"), "287b4695"),
])
def test_keys_of_stores_written_by_earlier_versions_are_unchanged(fields, key):
    assert store_key(Config(**fields), ITEMS) == key


def test_a_fix_that_changes_features_changes_the_key():
    # MFCC with repeat-pad: 0.1 cut the repeats of a short clip (key 34483272); the authors'
    # code repeats it whole, and so do we now: such a store is recomputed, not reused
    assert store_key(Config(features_type="MFCC", fix_length_by="repeat-pad"), ITEMS) != "34483272"
    # zero-pad is unchanged: its stores keep their 0.1 key
    assert store_key(Config(features_type="MFCC", fix_length_by="zero-pad"), ITEMS) == "b6e388de"
    # SincNet+'s taps in leaf-audio's order of operations: its features moved (up to 2e-2 of their
    # maximum), alone or as a CNN's input; stores of the old arithmetic are recomputed
    assert store_key(Config(architecture="sincnet_plus"), ITEMS) != "becb36fe"
    assert store_key(Config(architecture="7x96", num_filters=160, n_frames=1376,
                            input_representation="sincnet_plus"), ITEMS) != "21cf29d2"
    # SincNet shares the taps (a float32 rounding change): its stores are recomputed too
    assert store_key(Config(architecture="vgg", num_filters=32, n_frames=1376,
                            input_representation="sincnet"), ITEMS) != "c8622582"
    # the rest of the family is unchanged: its stores keep their keys
    assert store_key(Config(architecture="leaf"), ITEMS) == "f766bdf9"
    assert store_key(Config(architecture="vgg", num_filters=32, n_frames=1376,
                            input_representation="tdfbanks"), ITEMS) == "30f47084"


# ------------------------------------------------------------------------------ sensitivity
# Bases, each where the fields below matter (building a Config only; nothing is computed).
BASES = {
    "spec": dict(architecture="cnn_music", num_filters=4, n_frames=1376, selected_features_list=[0, 1]),
    "single": dict(architecture="cnn_single", num_filters=160, n_frames=1376, filter_shape=[7, 96],
                   pool_shape=[1, 1], selected_features_list=[1]),
    "wave": dict(architecture="frame_level", num_filters=40, n_samples=350000),
    "vgg": dict(architecture="vgg", num_filters=32, n_frames=1376),
    "mfcc": dict(features_type="MFCC"),
    "lists": dict(architecture="vgg", num_filters=32, n_frames=1376, train_set_list="train.txt",
                  val_set_list="valid.txt", test_set_list="test.txt"),
    "samplecnn": dict(architecture="samplecnn", sizes="3-3-2-2", num_filters=8),
    "samplecnn_mn": dict(architecture="samplecnn", m=3, n=3, num_filters=8),
    "samplecnn_default": dict(architecture="samplecnn", num_filters=8),
    "leaf": dict(architecture="vgg", num_filters=32, n_frames=1376, input_representation="leaf"),
}
# Every Config field: a base and another valid value for it. A field added to Config fails
# test_every_config_field_is_covered until it is listed here (or in DETERMINED).
OTHER_VALUE = {
    "experiment_name": ("spec", "other"),
    "features_type": ("spec", "MFCC"),
    "model_type": ("spec", "ELM"),
    "SVM_verbose": ("spec", 2),
    "load_extracted_features": ("spec", "features.pkl"),
    "sampling_rate": ("spec", 16000),
    "dataset": ("spec", "GTZAN"),
    "audio_path": ("spec", "data/audio"),
    "save_extracted_features_folder": ("spec", "features"),
    "results_folder": ("spec", "results"),
    "train_set_list": ("lists", "train_other.txt"),
    "val_set_list": ("lists", "valid_other.txt"),
    "test_set_list": ("lists", "test_other.txt"),
    "audios_list": ("spec", "all_files.txt"),
    "fix_length_by": ("spec", "repeat-pad"),
    "architecture": ("spec", "cnn_audio"),
    "num_filters": ("spec", 8),
    "selected_features_list": ("spec", [1]),
    "filter_shape": ("single", [7, 86]),
    "pool_shape": ("single", [2, 1]),
    "n_frames": ("spec", 1375),
    "n_mels": ("spec", 128),
    "n_samples": ("wave", 349999),
    "batch_size": ("spec", 3),
    "mfcc_number": ("mfcc", 13),
    "mfcc_fixed_length": ("mfcc", 4096),
    "res_type": ("spec", "kaiser_best"),
    "pad_mode": ("spec", "constant"),
    "backend_taps": ("wave", "per_channel"),
    "batch_norm": ("vgg", True),
    "batch_norm_position": ("vgg", "after_elu"),
    "protocol": ("spec", "stratified_kfold"),
    "n_folds": ("spec", 5),
    "standardize": ("spec", True),
    "nested_cv": ("spec", True),
    # SampleCNN (windowed front-ends)
    "sizes": ("samplecnn", "3-3-3-2"),
    "m": ("samplecnn_mn", 2),
    "n": ("samplecnn_mn", 4),
    "levels": ("samplecnn", 2),
    "window_hop": ("samplecnn", 18),
    "window_pooling": ("samplecnn", ["max"]),
    "scales": ("samplecnn_default", ["3-3-2-2", "3-2-2"]),
    # the LEAF family
    "input_representation": ("spec", "pcen_mel"),
    "filterbank_init": ("leaf", "random"),
    "trainable": ("leaf", True),
    # training (elmarc train): no effect on random features
    "train_patch_frames": ("spec", 128),
    "train_patch_samples": ("wave", 36000),
    "train_patches_per_clip": ("spec", 3),
    "epochs": ("spec", 7),
    "patience": ("spec", 2),
    "learning_rate": ("spec", 0.01),
    "train_batch_size": ("spec", 4),
    "dropout": ("spec", 0.1),
    "head_standardize": ("spec", False),
    "head_batch_norm": ("spec", True),
    "val_fraction": ("spec", 0.3),
    "trained_weights": ("spec", "ab" * 32),
    # the SVM grid search: no effect on features
    "svm_max_iter": ("spec", 1000),
    "svm_precompute_max_n": ("spec", 0),
}
DETERMINED = {"signal": "follows the architecture (a different one is a ConfigError)"}

# The fields the features depend on, written out here rather than read from the Config field
# metadata that store_key reads: the original ones, always part of the key ...
ORIGINAL_FEATURE_FIELDS = {
    "features_type", "sampling_rate", "dataset", "audio_path", "train_set_list", "val_set_list",
    "test_set_list", "audios_list", "fix_length_by", "signal", "architecture", "num_filters",
    "selected_features_list", "filter_shape", "pool_shape", "n_frames", "n_mels", "n_samples",
    "mfcc_number", "mfcc_fixed_length", "res_type", "pad_mode", "backend_taps", "batch_norm",
    "batch_norm_position"}
# ... and those added after the store format was fixed: part of the key away from their default.
ADDED_FEATURE_FIELDS = {"sizes", "m", "n", "levels", "window_hop", "window_pooling", "scales",
                        "input_representation", "filterbank_init", "trained_weights"}
FEATURE_FIELDS = ORIGINAL_FEATURE_FIELDS | ADDED_FEATURE_FIELDS

# The explicit lists: what changes the features, and what does not.
CHANGE_FEATURES = ["res_type", "pad_mode", "fix_length_by", "backend_taps", "n_frames", "n_samples",
                   "selected_features_list", "num_filters", "architecture", "mfcc_number",
                   "mfcc_fixed_length", "batch_norm", "sampling_rate"]
KEEP_FEATURES = ["batch_size", "model_type", "experiment_name", "SVM_verbose", "n_folds",
                 "standardize", "nested_cv", "protocol", "results_folder",
                 "save_extracted_features_folder", "load_extracted_features"]


def folder(fields, seed=0):
    return store_dir("out", Config(**fields), ITEMS, seed)


def test_every_config_field_is_covered():
    assert {f.name for f in dataclasses.fields(Config)} == set(OTHER_VALUE) | set(DETERMINED)


def test_the_config_marks_exactly_the_feature_fields_listed_here():
    marked = {f.name for f in dataclasses.fields(Config) if f.metadata.get("features", True)}
    added = {f.name for f in dataclasses.fields(Config) if f.metadata.get("added")}
    assert marked == FEATURE_FIELDS and added == ADDED_FEATURE_FIELDS
    for base in BASES.values():  # added fields at their default are left out
        cfg = Config(**base)
        expected = ORIGINAL_FEATURE_FIELDS | {
            f.name for f in dataclasses.fields(Config)
            if f.name in ADDED_FEATURE_FIELDS and getattr(cfg, f.name) != f.default}
        assert set(feature_fields(cfg)) == expected


@pytest.mark.parametrize("name", sorted(OTHER_VALUE))
def test_a_field_changes_the_store_exactly_when_it_changes_the_features(name):
    """A field of FEATURE_FIELDS changes the store's folder (its key), any other field leaves it
    where it was."""
    base_name, value = OTHER_VALUE[name]
    base = BASES[base_name]
    a, b = Config(**base), Config(**{**base, name: value})
    assert getattr(a, name) != getattr(b, name)
    field = next(f for f in dataclasses.fields(Config) if f.name == name)
    if name in FEATURE_FIELDS:
        assert store_key(b, ITEMS) != store_key(a, ITEMS) and folder({**base, name: value}) != folder(base)
        if name in ADDED_FEATURE_FIELDS:  # left out at its default: old stores keep their key
            assert name in feature_fields(b)
            assert (name in feature_fields(a)) == (getattr(a, name) != field.default)
    else:
        assert folder({**base, name: value}) == folder(base)


def test_the_documented_feature_fields_change_the_store_and_the_others_do_not():
    assert set(CHANGE_FEATURES) <= FEATURE_FIELDS and not set(KEEP_FEATURES) & FEATURE_FIELDS
    for name in CHANGE_FEATURES:
        base_name, value = OTHER_VALUE[name]
        assert folder({**BASES[base_name], name: value}) != folder(BASES[base_name]), name
    for name in KEEP_FEATURES:
        base_name, value = OTHER_VALUE[name]
        assert folder({**BASES[base_name], name: value}) == folder(BASES[base_name]), name


def test_seed_and_batch_size_with_batch_norm_change_the_store():
    base = BASES["vgg"]
    assert folder(base, seed=1) != folder(base, seed=0)
    assert folder({**base, "batch_size": 10}) == folder({**base, "batch_size": 1})  # without BN
    bn = {**base, "batch_norm": True}
    assert folder({**bn, "batch_size": 10}) != folder({**bn, "batch_size": 1})  # batch statistics


def test_the_file_list_changes_the_store():
    cfg = Config(**BASES["spec"])
    relabelled = [Item("a/x.wav", "b", "a/x.wav"), ITEMS[1]]
    refolded = [ITEMS[0], Item("b/y.wav", "b", "b/y.wav", fold=4)]
    keys = {store_key(cfg, items) for items in (ITEMS, ITEMS[:1], relabelled, refolded)}
    assert len(keys) == 4


def test_audio_cache_key_follows_its_format_version_and_every_decoder_version(tmp_path, monkeypatch):
    path = tmp_path / "clip.wav"
    sf.write(path, np.zeros(1200, np.float32), 12000)
    key = AudioCache(tmp_path / "cache").key(path)
    assert {"librosa", "soundfile", "libsndfile", "soxr", "resampy", "audioread", "numpy",
            "scipy"} <= set(audio_cache.DECODER_PACKAGES)
    installed = audio_cache.versions(audio_cache.DECODER_PACKAGES)
    for package in audio_cache.DECODER_PACKAGES:
        upgraded = {**installed, package: f"{installed[package]}+1"}
        monkeypatch.setattr(audio_cache, "versions", lambda packages, v=upgraded: dict(v))
        assert AudioCache(tmp_path / "cache").key(path) != key, package
    monkeypatch.setattr(audio_cache, "versions", lambda packages: dict(installed))
    assert AudioCache(tmp_path / "cache").key(path) == key
    monkeypatch.setattr(audio_cache, "FORMAT_VERSION", audio_cache.FORMAT_VERSION + 1)
    assert AudioCache(tmp_path / "cache").key(path) != key
