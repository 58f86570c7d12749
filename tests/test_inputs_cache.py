"""The decoded-inputs cache (elmarc_tf.extraction.inputs_cache) that training and the
batch-normalisation ablation read, and what a full disk while writing it gives."""

from __future__ import annotations

import errno
import io
import os
import resource
import signal
from pathlib import Path

import numpy as np
import pytest

import elmarc_tf.io.fileio
from elmarc_tf import Config
from elmarc_tf.cli import EXIT_IO, main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.inputs_cache import load_inputs
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.pipeline import make_dataset
from elmarc_tf.studies.ablation import decoded_inputs
from elmarc_tf.studies.demo import make_demo_dataset

QUIET = RunOptions(progress=False)
FIELDS = dict(architecture="7x96", num_filters=8, n_frames=80, train_patch_frames=20, epochs=1)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """8 demo clips (2 per class) of 2 s, and one file that is not audio."""
    root = make_demo_dataset(tmp_path_factory.mktemp("demo") / "audio", clips_per_class=2,
                             seconds=2.0)
    (Path(root) / sorted(os.listdir(root))[0] / "broken.wav").write_bytes(b"not audio")
    return Path(root)


def _config(root: Path) -> Config:
    return Config.from_dict({"dataset": "demo", "audio_path": str(root), **FIELDS})


def test_inputs_are_the_pipelines_cached_and_the_ablation_keeps_the_decoded(demo_root, tmp_path):
    cfg, items = _config(demo_root), folder_per_class(demo_root)
    x, errors = load_inputs(cfg, items, tmp_path / "inputs", QUIET)
    # reference: the pipeline one clip at a time
    rows = [(inputs.numpy()[0], err.numpy()[0].decode())
            for inputs, _, err in make_dataset([it.path for it in items], range(len(items)), cfg, 1)]
    assert x.shape == (len(items), 80, 96) and x.dtype == np.float32
    for (row, err), got, got_err in zip(rows, np.asarray(x), errors):
        np.testing.assert_array_equal(got, row)
        assert got_err == err
    broken = [i for i, it in enumerate(items) if it.id.endswith("broken.wav")]
    assert [i for i, e in enumerate(errors) if e] == broken and "broken.wav" in errors[broken[0]]
    assert not np.any(np.asarray(x)[broken])  # a failed clip's row is zeros

    # a second call reads the files written by the first
    (npy,) = (tmp_path / "inputs").glob("logmel-*.npy")
    written = npy.stat().st_mtime_ns
    again, again_errors = load_inputs(cfg, items, tmp_path / "inputs", QUIET)
    assert npy.stat().st_mtime_ns == written and again_errors == errors
    np.testing.assert_array_equal(np.asarray(again), np.asarray(x))

    # the ablation leaves the failed clip out before batching
    inputs, kept, failures = decoded_inputs(items, cfg, tmp_path / "inputs", QUIET)
    assert [it.id for it in kept] == [it.id for i, it in enumerate(items) if i not in broken]
    assert failures == [errors[broken[0]]]
    np.testing.assert_array_equal(inputs, np.stack([r for (r, e) in rows if not e]))


def test_a_short_write_while_caching_inputs_carries_the_systems_error_and_the_file(demo_root,
                                                                                   tmp_path):
    """A real short write (the file-size limit of the process, as a full disk would stop it):
    NumPy's own C write would give an OSError with neither errno nor strerror."""
    cfg, items = _config(demo_root), folder_per_class(demo_root)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, hard))  # the header fits, the data does not
    try:
        with pytest.raises(OSError) as raised:
            load_inputs(cfg, items, tmp_path / "inputs", QUIET)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    e = raised.value
    assert (e.errno, e.strerror) == (errno.EFBIG, os.strerror(errno.EFBIG))
    assert Path(e.filename).parent == tmp_path / "inputs" and e.filename.endswith(".npy")
    assert not list((tmp_path / "inputs").iterdir())  # no partial or temporary file is left


class _FullDisk(io.FileIO):
    """A file on a disk with 1000 bytes free."""

    def write(self, data) -> int:
        if self.tell() + len(memoryview(data)) > 1000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_full_disk_while_caching_inputs_is_one_line_naming_the_file(demo_root, tmp_path,
                                                                      monkeypatch, capsys):
    config = tmp_path / "train.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in
                              {"audio_path": str(demo_root), "n_folds": 2, **FIELDS}.items()))
    fdopen = os.fdopen

    def full_disk_fdopen(fd, mode="r", *args, **kwargs):
        return io.BufferedWriter(_FullDisk(fd, "wb")) if "w" in mode else fdopen(fd, mode, *args,
                                                                                  **kwargs)

    monkeypatch.setattr(elmarc_tf.io.fileio.os, "fdopen", full_disk_fdopen)
    code = main(["train", str(config), "--out", str(tmp_path / "results"), "--checkpoints",
                 str(tmp_path / "training"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_IO and err.count("\n") == 1, err
    assert err.startswith(f"elmarc: error: {tmp_path / 'training' / 'inputs'}")
    assert ".npy: No space left on device" in err


def test_the_cache_key_tells_every_input_apart():
    """Inputs that differ get their own files; the log-mel's keys are those of stores before."""
    from elmarc_tf.datasets import Item
    from elmarc_tf.extraction.inputs_cache import inputs_stem

    items = [Item("a/x.wav", "a", "a/x.wav")]
    leaf = dict(architecture="7x96", num_filters=8, n_frames=80, input_representation="leaf")
    stems = {inputs_stem(Config(**fields), items) for fields in (
        dict(leaf), dict(leaf, filterbank_init="random"), dict(leaf, input_representation="sincnet"),
        dict(leaf, input_representation="logmel"), dict(leaf, input_representation="logmel",
                                                        n_frames=40))}
    assert len(stems) == 5
