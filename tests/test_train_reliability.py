"""Faults of `elmarc train` and the verbs around it, each reproduced: data no classifier can be
evaluated on, results of two configs under one name, damaged training files and weights, two
trainings of one folder, an output folder that cannot be written, and the empty store folder a
failed extraction left behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from elmarc_tf import Config, ConfigError, build_extractor
from elmarc_tf.cli import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_IO, main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.io.fileio import FolderLock
from elmarc_tf.models.trained_weights import save_trained_weights
from elmarc_tf.studies.ablation import run_ablation
from elmarc_tf.studies.random_vs_trained import run_random_vs_trained
from elmarc_tf.studies.train import TrainingData, TrainingSplit, train_split, training_dir
from test_reliability import SPEC, clips, config_file

# Whole 30-frame inputs, one epoch, 2 folds of 4 clips per class: a training takes seconds.
TRAIN = dict(SPEC, epochs=1, train_batch_size=4, n_folds=2, val_fraction=0.5)
QUIET = RunOptions(progress=False, log=lambda line: None)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("elmarc: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def train(config, tmp_path, *more) -> int:
    return main(["train", str(config), "--out", str(tmp_path / "res"), "--checkpoints",
                 str(tmp_path / "training"), "--quiet", *more])


# --------------------------------------------------------------------- 1. one class
ONE_CLASS = r"only one class \('a': 4 clips\): a classifier needs at least two classes"


def test_train_refuses_one_class_before_any_work(tmp_path, capsys):
    root = clips(tmp_path / "audio", 4, classes=("a",))
    cfg = config_file(tmp_path / "exp.yaml", audio_path=str(root), **TRAIN)
    assert train(cfg, tmp_path) == EXIT_BAD_INPUT
    assert "only one class ('a': 4 clips)" in one_line_error(capsys)
    assert not (tmp_path / "training").exists() and not (tmp_path / "res").exists()


def test_random_vs_trained_refuses_one_class_before_any_work(tmp_path):
    root = clips(tmp_path / "audio", 4, classes=("a",))
    architectures = {name: dict(architecture="7x96", num_filters=n)
                     for name, n in (("x4", 4), ("x5", 5), ("x6", 6))}
    base = {k: v for k, v in TRAIN.items() if k not in ("architecture", "num_filters")}
    with pytest.raises(ConfigError, match=ONE_CLASS):
        run_random_vs_trained({**base, "audio_path": str(root)}, architectures, seeds=(0,),
                              out=tmp_path / "study", run=QUIET)
    assert not (tmp_path / "study" / "features").exists()
    assert not (tmp_path / "study" / "training").exists()


def test_the_ablation_refuses_one_class_before_any_work(tmp_path):
    items = folder_per_class(clips(tmp_path / "audio", 4, classes=("a",)))
    with pytest.raises(ConfigError, match=ONE_CLASS):
        run_ablation(items, tmp_path / "ablation", batch_sizes=(1,), runs=1, folds=2, run=QUIET)
    assert not (tmp_path / "ablation").exists()


# --------------------------------------------------------------------- 2. results names
@pytest.mark.parametrize("verb", ["train", "run"])
def test_two_configs_of_one_name_never_share_a_results_folder(tmp_path, capsys, verb):
    root = clips(tmp_path / "audio", 4)
    first = config_file((tmp_path / "one").mkdir() or tmp_path / "one" / "exp.yaml",
                        audio_path=str(root), **TRAIN)
    second = config_file((tmp_path / "two").mkdir() or tmp_path / "two" / "exp.yaml",
                         audio_path=str(root), **{**TRAIN, "num_filters": 5})
    argv = {"train": lambda c, *more: train(c, tmp_path, *more),
            "run": lambda c, *more: main(["run", str(c), "--seeds", "1", "--out",
                                          str(tmp_path / "res"), "--features-out",
                                          str(tmp_path / "feat"), "--quiet", *more])}[verb]
    suffix = "_end-to-end" if verb == "train" else ""
    assert argv(first) == 0
    results = tmp_path / "res" / f"exp{suffix}" / "results.json"
    before = results.read_bytes()
    capsys.readouterr()
    assert argv(second) == EXIT_BAD_INPUT
    err = one_line_error(capsys)
    assert str(first) in err and "experiment_name" in err
    assert results.read_bytes() == before  # not overwritten
    # Named in the config, it gets a folder of its own; the first one's is kept.
    config_file(second, audio_path=str(root), experiment_name="wider",
                **{**TRAIN, "num_filters": 5})
    assert argv(second) == 0
    assert results.read_bytes() == before
    summary = json.loads((tmp_path / "res" / f"wider{suffix}" / "results.json").read_text())
    assert summary["config"]["num_filters"] == 5 and summary["name"] == f"wider{suffix}"
    # The same config file again reuses its own folder.
    assert argv(first) == 0 and results.read_bytes() == before


# --------------------------------------------------------------------- 3. damaged files
@pytest.fixture(scope="module")
def finished_training(tmp_path_factory):
    """A finished two-epoch training of a tiny waveform model on random data: its folder, the
    data and the result."""
    tmp = tmp_path_factory.mktemp("trained")
    cfg = Config(architecture="frame_level", num_filters=4, n_samples=3000,
                 train_patch_samples=1500, dropout=0.5, train_batch_size=4, epochs=2, patience=2,
                 learning_rate=1e-3)
    rng = np.random.default_rng(0)
    y = np.arange(12) % 4
    x = (rng.standard_normal((12, 3000, 1)) * (1 + y[:, None, None])).astype(np.float32)
    data = TrainingData(x, y, list("abcd"))
    split = TrainingSplit("fold1", np.arange(8), np.arange(8, 10), np.arange(10, 12))
    result = train_split(cfg, 5, data, split, tmp / "whole", run=QUIET)
    return cfg, data, split, tmp / "whole", result


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("name, damage, says", [
    ("checkpoint.npz", empty, "starts over"),
    ("checkpoint.npz", truncated, "starts over"),
    ("checkpoint.npz", random_bytes, "starts over"),
    ("best.weights.npz", truncated, "starts over"),
    ("result.json", empty, "computed again"),
])
def test_a_damaged_training_file_is_recomputed_saying_so(finished_training, tmp_path, name,
                                                         damage, says):
    cfg, data, split, whole, expected = finished_training
    folder = shutil.copytree(whole, tmp_path / "copy")
    if name != "result.json":
        (folder / "result.json").unlink()  # an interrupted training: it resumes from the files
    damage(folder / name)
    lines = []
    result = train_split(cfg, 5, data, split, folder, run=RunOptions(progress=False,
                                                                     log=lines.append))
    noted = [line for line in lines if name in line]
    assert len(noted) == 1 and says in noted[0] and "\n" not in noted[0], lines
    assert "allow_pickle" not in noted[0]
    assert result["weights_digest"] == expected["weights_digest"]
    assert result["accuracy"] == expected["accuracy"]
    assert result["curves"]["loss"] == expected["curves"]["loss"]
    assert json.loads((folder / "result.json").read_text())["result"]["weights_digest"] == \
        expected["weights_digest"]


@pytest.mark.parametrize("damage", [empty, truncated, random_bytes])
def test_a_damaged_weights_file_exits_3_naming_it(finished_training, tmp_path, capsys, damage):
    root = clips(tmp_path / "audio", 2)
    cfg = config_file(tmp_path / "exp.yaml", audio_path=str(root), **SPEC)
    weights = tmp_path / "best.weights.npz"
    shutil.copy(finished_training[3] / "best.weights.npz", weights)
    damage(weights)
    assert main(["extract", str(cfg), "--weights", str(weights), "--out",
                 str(tmp_path / "feat"), "--quiet"]) == EXIT_IO
    err = one_line_error(capsys)
    assert err.startswith(f"elmarc: error: {weights}: ") and "allow_pickle" not in err


# --------------------------------------------------------------------- 4. two trainings
def test_a_second_training_of_one_folder_fails_at_once_naming_the_holder(tmp_path, capsys):
    root = clips(tmp_path / "audio", 4)
    config = config_file(tmp_path / "exp.yaml", audio_path=str(root), **TRAIN)
    folder = training_dir(tmp_path / "training", Config.from_file(config), folder_per_class(root))
    with FolderLock(folder):
        assert train(config, tmp_path) == EXIT_BUSY
        assert f"in use by another process (pid {os.getpid()})" in one_line_error(capsys)
    assert not list(folder.rglob("*.npz")) and not (tmp_path / "res").exists()


# --------------------------------------------------------------------- 5. unwritable --out
def test_an_unwritable_results_folder_is_found_before_training(tmp_path, capsys):
    root = clips(tmp_path / "audio", 4)
    config = config_file(tmp_path / "exp.yaml", audio_path=str(root), **TRAIN)
    (tmp_path / "file").write_text("not a folder")
    assert main(["train", str(config), "--out", str(tmp_path / "file" / "res"), "--checkpoints",
                 str(tmp_path / "training"), "--quiet"]) == EXIT_IO
    assert one_line_error(capsys).startswith(f"elmarc: error: {tmp_path / 'file'}")
    assert not (tmp_path / "training").exists()


# --------------------------------------------------------------------- 6. failed extraction
def test_a_failed_extraction_leaves_no_folder_holding_only_its_lock(tmp_path, capsys):
    root = clips(tmp_path / "audio", 2)
    config = config_file(tmp_path / "exp.yaml", audio_path=str(root), **SPEC)
    other = Config(architecture="frame_level", num_filters=4, n_samples=3000)
    weights = tmp_path / "other.weights.npz"
    save_trained_weights(weights, build_extractor(other, 0), {"seed": 0})
    assert main(["extract", str(config), "--weights", str(weights), "--out",
                 str(tmp_path / "feat"), "--quiet"]) == EXIT_BAD_INPUT
    assert "is missing" in one_line_error(capsys)
    assert [p for p in (tmp_path / "feat").rglob("*") if p.is_file()] == []
    assert [p for p in (tmp_path / "feat").rglob("*") if p.is_dir()] == []
    # A store that holds something is left alone.
    assert main(["extract", str(config), "--out", str(tmp_path / "feat"), "--quiet"]) == 0
    assert len(list((tmp_path / "feat").rglob("manifest.json"))) == 1
