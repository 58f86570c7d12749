"""Faults a careful user meets, each reproduced and shown fixed: stale results after the data
change, data a protocol cannot evaluate, audio too loud for float32, exit statuses, two writers
of one store, damaged stores, file permissions, config errors and the command's clean output."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import elmarc_tf.io.fileio
import elmarc_tf.extraction.pipeline
from conftest import music_like
from elmarc_tf import Config, ConfigError
from elmarc_tf.cli import EXIT_BUSY, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_IO, main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.io.fileio import FolderLock
from elmarc_tf.frontends.melspec import LogMelSpectrogram
from elmarc_tf.extraction.store import load_store, store_dir
from elmarc_tf.studies.study import run_experiment

SPEC = dict(architecture="7x96", num_filters=4, n_frames=30, fix_length_by="repeat-pad", batch_size=2)


def clips(root: Path, per_class: int, start: int = 0, classes=("a", "b"), seconds=1.0) -> Path:
    for c, label in enumerate(classes):
        for k in range(start, start + per_class):
            path = root / label / f"{label}{k:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, music_like(seconds, 12000, 100 * c + k) * (0.2 + 0.6 * c), 12000)
    return root


@pytest.fixture
def decoded(monkeypatch):
    """The paths the pipeline decodes, in order."""
    seen = []
    load = elmarc_tf.extraction.pipeline.load_audio

    def counting(path, *args, **kwargs):
        seen.append(Path(path).name)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(elmarc_tf.extraction.pipeline, "load_audio", counting)
    return seen


def config_file(path: Path, **fields) -> Path:
    path.write_text(yaml.safe_dump(fields))
    return path


# --------------------------------------------------------------------- 1. stale results
def test_added_clips_extend_the_store_and_the_evaluation_is_redone(tmp_path, decoded):
    root = clips(tmp_path / "audio", 3)
    cfg = Config(audio_path=str(root), n_folds=2, **SPEC)
    first = run_experiment(cfg, seeds=[0], out=tmp_path / "res", features_out=tmp_path / "feat",
                           run=RunOptions(progress=False, log=lambda *a: None))
    assert first["per_seed"][0]["n_samples"] == 6 and len(decoded) == 6
    assert first["name"] == cfg.experiment_name  # no name given: the config's, as its folder
    assert (tmp_path / "res" / cfg.experiment_name / "results.json").is_file()
    clips(root, 2, start=3)  # the dataset grows: two clips per class
    del decoded[:]
    second = run_experiment(cfg, seeds=[0], out=tmp_path / "res", features_out=tmp_path / "feat",
                            run=RunOptions(progress=False, log=lambda *a: None))
    assert second["per_seed"][0]["n_samples"] == 10  # not the stale 6
    assert sorted(decoded) == ["a03.wav", "a04.wav", "b03.wav", "b04.wav"]  # only the new clips
    grown = load_store(second["per_seed"][0]["store"])
    clean = extract(cfg, folder_per_class(root), seed=0, out=tmp_path / "clean",
                    run=RunOptions(progress=False))
    np.testing.assert_array_equal(grown.X, load_store(clean.folder).X)  # the same as from scratch
    del decoded[:]
    again = run_experiment(cfg, seeds=[0], out=tmp_path / "res", features_out=tmp_path / "feat",
                           run=RunOptions(progress=False, log=lambda *a: None))
    assert decoded == [] and again["per_seed"] == second["per_seed"]  # nothing changed: reused


def test_a_rewritten_file_is_recomputed_alone(tmp_path, decoded):
    root = clips(tmp_path / "audio", 3)
    cfg = Config(audio_path=str(root), **SPEC)
    items = folder_per_class(root)
    first = load_store(extract(cfg, items, out=tmp_path / "feat",
                               run=RunOptions(progress=False)).folder)
    changed = root / "b" / "b01.wav"
    sf.write(changed, music_like(1.0, 12000, 999), 12000)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later modification time
    del decoded[:]
    result = extract(cfg, items, out=tmp_path / "feat", run=RunOptions(progress=False))
    assert result.n_computed == 1 and decoded == ["b01.wav"]
    second = load_store(result.folder)
    row = list(second.ids).index("b/b01.wav")
    assert not np.array_equal(first.X[row], second.X[row])
    np.testing.assert_array_equal(np.delete(first.X, row, 0), np.delete(second.X, row, 0))
    fresh = extract(cfg, items, out=tmp_path / "fresh", run=RunOptions(progress=False))
    np.testing.assert_array_equal(second.X, load_store(fresh.folder).X)


# --------------------------------------------------------------------- 2. data a protocol cannot use
@pytest.mark.parametrize("per_class, classes, fields, message", [
    (4, ("a",), {}, r"only one class \('a': 4 clips\): a classifier needs at least two classes"),
    (3, ("a", "b"), {}, r"10-fold stratified cross-validation needs at least 10 clips per class, "
                        r"but 'a' has 3, 'b' has 3; set n_folds: 3 or fewer"),
    (4, ("a", "b"), {"n_folds": 3, "nested_cv": True},
     r"nested 3-fold .* needs at least 5 clips per class, but 'a' has 4, 'b' has 4; "
     r"set n_folds: 2 or fewer"),
    (3, ("a", "b"), {"n_folds": 2, "nested_cv": True},
     r"nested 2-fold .* needs at least 4 clips per class, .*; add clips to the small classes"),
])
def test_data_the_protocol_cannot_evaluate_fails_before_any_work(tmp_path, decoded, per_class,
                                                                 classes, fields, message):
    root = clips(tmp_path / "audio", per_class, classes=classes)
    cfg = config_file(tmp_path / "exp.yaml", audio_path=str(root), **SPEC, **fields)
    with pytest.raises(ConfigError, match=message):
        run_experiment(Config.from_file(cfg), seeds=[0], out=tmp_path / "res",
                       features_out=tmp_path / "feat", run=RunOptions(progress=False))
    assert decoded == [] and not (tmp_path / "feat").exists()


def test_predefined_folds_each_leave_two_classes_for_training():
    from elmarc_tf.evaluation.protocols import check_evaluable

    labels = ["a", "a", "b", "b"]
    with pytest.raises(ConfigError, match=r"without fold 1 the training clips have only one class \('b'\)"):
        check_evaluable(labels, folds=[1, 1, 2, 2])
    assert check_evaluable(labels, folds=[1, 2, 1, 2]) == "predefined_folds"
    with pytest.raises(ConfigError, match="the 'val' split has no clips"):
        check_evaluable(labels, splits=["train", "train", "test", "test"])


# --------------------------------------------------------------------- 4. loud audio
def test_loud_float_audio_is_a_recorded_failure_or_exact_never_zeros(tmp_path):
    root = clips(tmp_path / "audio", 2)
    quiet = music_like(1.0, 12000, 7)
    sf.write(root / "a" / "loud.wav", quiet * np.float32(1e30), 12000, subtype="FLOAT")
    sf.write(root / "a" / "huge.wav", np.resize(np.float32([3e38, -3e38]), 12000), 12000,
             subtype="FLOAT")
    items = folder_per_class(root)
    spec = extract(Config(audio_path=str(root), **SPEC), items, out=tmp_path / "s",
                   run=RunOptions(progress=False))
    mfcc = extract(Config(audio_path=str(root), features_type="MFCC", fix_length_by="repeat-pad"),
                   items, out=tmp_path / "m", run=RunOptions(progress=False))
    # the log-mel of a 1e30 clip is exact: 600 dB above the same clip at unit scale
    a, b = (LogMelSpectrogram()(y[None]).numpy() for y in (quiet, quiet * np.float32(1e30)))
    np.testing.assert_allclose(b - a, 600.0, atol=2e-3)
    failures = {f["id"]: f["error"] for f in spec.manifest["failures"]}
    assert list(failures) == ["a/huge.wav"] and "input is not finite" in failures["a/huge.wav"]
    assert {f["id"] for f in mfcc.manifest["failures"]} == {"a/loud.wav", "a/huge.wav"}
    X, _, ids, _ = load_store(spec.folder)
    assert np.isfinite(X).all() and np.abs(X[list(ids).index("a/loud.wav")]).max() > 0
    # finite inputs whose features overflow in the network: a recorded failure too
    sf.write(root / "b" / "dc.wav", np.full(12000, 3e38, np.float32), 12000, subtype="FLOAT")
    wave = extract(Config(audio_path=str(root), architecture="sample_level", num_filters=5,
                          n_samples=4400), folder_per_class(root), out=tmp_path / "w",
                          run=RunOptions(progress=False))
    wave_failures = {f["id"]: f["error"] for f in wave.manifest["failures"]}
    assert "features are not finite" in wave_failures["b/dc.wav"]
    (root / "b" / "dc.wav").unlink()
    # the neighbours' features are what they are without the loud clips
    others = [it for it in items if it.id not in ("a/loud.wav", "a/huge.wav")]
    alone = extract(Config(audio_path=str(root), **SPEC), others, out=tmp_path / "o",
                    run=RunOptions(progress=False))
    keep = [list(ids).index(it.id) for it in others]
    np.testing.assert_array_equal(X[keep], load_store(alone.folder).X)


# --------------------------------------------------------------------- 5. exit statuses
@pytest.fixture
def small_study(tmp_path):
    root = clips(tmp_path / "audio", 2)
    return config_file(tmp_path / "exp.yaml", audio_path=str(root), **SPEC)


def test_an_output_folder_under_a_regular_file_exits_3_naming_it(small_study, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    code = main(["extract", str(small_study), "--out", str(tmp_path / "file" / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_IO and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"elmarc: error: {tmp_path / 'file'}")


def test_disk_full_exits_3_naming_the_file_and_keeps_finished_batches(small_study, tmp_path,
                                                                      capsys, monkeypatch):
    calls = []
    fsync = os.fsync

    def full_after_two(fd):
        calls.append(fd)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(elmarc_tf.io.fileio.os, "fsync", full_after_two)
    code = main(["extract", str(small_study), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_IO and err.count("\n") == 1 and "No space left on device" in err
    assert ".npz" in err or ".json" in err  # the file it could not write
    monkeypatch.setattr(elmarc_tf.io.fileio.os, "fsync", fsync)
    assert main(["extract", str(small_study), "--out", str(tmp_path / "out"), "--quiet"]) == 0


def test_ctrl_c_exits_130_without_a_traceback(small_study, tmp_path):
    script = tmp_path / "interrupt.py"
    # As at a terminal: a shell that runs the suite as a background job starts it with SIGINT
    # ignored, Python then installs no KeyboardInterrupt handler, and the signal would do nothing.
    script.write_text(
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from elmarc_tf.cli import main\n"
        "from elmarc_tf.extraction.store import StoreWriter\n"
        "write = StoreWriter.write_chunk\n"
        "def write_then_ctrl_c(self, *a, **k):\n"
        "    write(self, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "StoreWriter.write_chunk = write_then_ctrl_c\n"
        "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(script), "extract", str(small_study), "--out",
                           str(out), "--quiet"], capture_output=True, text=True)
    assert done.returncode == EXIT_INTERRUPTED
    assert done.stderr == "elmarc: interrupted; rerun the same command to resume\n"
    assert len(list(out.rglob("chunks/*.npz"))) == 1  # the finished batch is kept
    resumed = subprocess.run([sys.executable, "-m", "elmarc_tf", "extract", str(small_study),
                              "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert resumed.returncode == 0 and "(2 computed now, 0 failed)" in resumed.stdout
    assert resumed.stderr == ""  # no TensorFlow start-up lines either


def test_an_internal_error_exits_5_in_one_line(small_study, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something impossible\nwith a second line")

    monkeypatch.setattr(elmarc_tf.extraction.extract.StoreWriter, "finish", broken)
    code = main(["extract", str(small_study), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL and err == ("elmarc: internal error: RuntimeError: something "
                                             "impossible (rerun with --verbose for the traceback)\n")


# --------------------------------------------------------------------- 6. two writers
def test_a_second_writer_fails_at_once_naming_the_holder_or_waits(small_study, tmp_path, capsys):
    cfg = Config.from_file(small_study)
    folder = store_dir(tmp_path / "out", cfg, folder_per_class(cfg.audio_path), 0)
    with FolderLock(folder):
        code = main(["extract", str(small_study), "--out", str(tmp_path / "out"), "--quiet"])
        err = capsys.readouterr().err
    assert code == EXIT_BUSY and f"in use by another process (pid {os.getpid()})" in err
    assert not (folder / "manifest.json").exists()

    lock = FolderLock(folder).__enter__()
    threading.Timer(1.0, lock.__exit__, (None, None, None)).start()
    assert main(["extract", str(small_study), "--out", str(tmp_path / "out"), "--quiet",
                 "--wait"]) == 0
    assert (folder / "manifest.json").is_file()


# --------------------------------------------------------------------- 7. damaged stores
KILL = """
import os, signal, sys
from elmarc_tf.extraction.extract import extract
from elmarc_tf import Config
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.store import StoreWriter
from elmarc_tf.extraction.options import RunOptions
write = StoreWriter.write_chunk
def write_then_die(self, *args, **kwargs):
    write(self, *args, **kwargs)
    if len(list(self.chunks.glob("*.npz"))) >= 3:
        os.kill(os.getpid(), signal.SIGKILL)
StoreWriter.write_chunk = write_then_die
cfg = Config(audio_path=sys.argv[1], architecture="7x96", num_filters=4, n_frames=30,
             fix_length_by="repeat-pad", batch_size=1)
extract(cfg, folder_per_class(sys.argv[1]), out=sys.argv[2], run=RunOptions(progress=False))
"""


def test_a_zeroed_chunk_is_recomputed_on_resume(tmp_path, capsys, decoded):
    root = clips(tmp_path / "audio", 3)
    script = tmp_path / "kill.py"
    script.write_text(KILL)
    killed = subprocess.run([sys.executable, str(script), str(root), str(tmp_path / "out")])
    assert killed.returncode == -signal.SIGKILL
    [first, *intact] = sorted((tmp_path / "out").rglob("chunks/*.npz"))
    names = [Path(it.path).name for it in folder_per_class(root)]  # the store's clip order
    kept = {names[i] for chunk in intact for i in np.load(chunk)["indices"]}
    assert len(intact) == len(kept) == 2  # batch_size 1: one clip per chunk
    first.write_bytes(b"")  # a chunk left empty (disk full, a crash of the file system, ...)
    folder = first.parent.parent
    assert main(["info", str(folder)]) == EXIT_IO
    out = capsys.readouterr().out
    assert "2 of 6 clips in 2 batches" in out and f"damaged: {first.name}: unreadable chunk" in out

    cfg = Config(audio_path=str(root), **{**SPEC, "batch_size": 1})
    items = folder_per_class(root)
    lines = []
    resumed = extract(cfg, items, out=tmp_path / "out", run=RunOptions(progress=False,
                      log=lines.append))
    assert resumed.n_computed == 4 and len(lines) == 1 and "unreadable chunk" in lines[0]
    assert sorted(decoded) == sorted(set(names) - kept)  # the zeroed chunk's clip and the rest
    clean = extract(cfg, items, out=tmp_path / "clean", run=RunOptions(progress=False))
    a, b = load_store(resumed.folder), load_store(clean.folder)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_a_truncated_manifest_is_reported_as_damage_and_recomputed(small_study, tmp_path, capsys,
                                                                   decoded):
    cfg = Config.from_file(small_study)
    items = folder_per_class(cfg.audio_path)
    done = extract(cfg, items, out=tmp_path / "out", run=RunOptions(progress=False))
    manifest = done.folder / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    assert main(["info", str(done.folder)]) == EXIT_IO
    assert "damaged store (JSONDecodeError" in capsys.readouterr().out
    del decoded[:]
    again = extract(cfg, items, out=tmp_path / "out", run=RunOptions(progress=False,
                    log=lambda line: None))
    assert again.n_computed == 4
    assert sorted(decoded) == sorted(Path(it.path).name for it in items)  # every clip again
    np.testing.assert_array_equal(load_store(again.folder).X, load_store(done.folder).X)


# --------------------------------------------------------------------- smaller ones
UMASK_WRITER = """
import os, sys
os.umask(0o077)  # the user's umask, set before the package is imported
from elmarc_tf.io.fileio import FolderLock, atomic_write_text
atomic_write_text(os.path.join(sys.argv[1], "x.txt"), "x")
with FolderLock(sys.argv[1]):
    pass
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_honour_the_umask(tmp_path):
    """Written files and lock files get 0o666 less the process umask of the moment they are
    created: one set after the package was imported (a program that imports it, then sets its
    umask) and one a new process starts with."""
    for umask in (0o027, 0o002):
        folder = tmp_path / f"umask{umask:03o}"
        folder.mkdir()
        old = os.umask(umask)
        try:
            elmarc_tf.io.fileio.atomic_write_json(folder / "x.json", {"a": 1})
            with FolderLock(folder):
                pass
        finally:
            os.umask(old)
        assert _mode(folder / "x.json") == _mode(folder / ".lock") == 0o666 & ~umask
        assert not list(folder.glob(".x.json.*"))  # no temporary file left behind
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    subprocess.run([sys.executable, "-c", UMASK_WRITER, str(fresh)], check=True)
    assert _mode(fresh / "x.txt") == _mode(fresh / ".lock") == 0o600


def test_config_problems_name_the_file_and_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("architecture: vgg\nnum_filters: [1, 2\nn_frames: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3:9: not valid YAML \(expected ','"):
        Config.from_file(bad)
    no_audio = config_file(tmp_path / "no_audio.yaml", **SPEC)
    assert main(["extract", str(no_audio), "--quiet"]) == 2
    assert capsys.readouterr().err == (f"elmarc: error: {no_audio}: 'audio_path' is required to "
                                       f"find the audio files\n")
    with pytest.raises(SystemExit) as exit_:
        main(["extract", str(no_audio), "--seed", "-1"])
    assert exit_.value.code == 2 and "must be 0 or more, got -1" in capsys.readouterr().err


def test_run_names_results_after_the_configs_experiment_name(tmp_path):
    root = clips(tmp_path / "audio", 2)
    named = config_file(tmp_path / "a.yaml", audio_path=str(root), experiment_name="my_study",
                        n_folds=2, **SPEC)
    unnamed = config_file(tmp_path / "b.yaml", audio_path=str(root), n_folds=2, **SPEC)
    for cfg in (named, unnamed):
        assert main(["run", str(cfg), "--seeds", "1", "--out", str(tmp_path / "res"),
                     "--features-out", str(tmp_path / "feat"), "--quiet"]) == 0
    assert sorted(p.parent.name for p in (tmp_path / "res").glob("*/results.json")) == \
        ["b", "my_study"]
