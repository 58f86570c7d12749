"""Finishing a feature store is atomic: an interruption at any step of ``StoreWriter.finish()``
(each write, rename and removal) or of reopening a store whose files changed leaves either the
finished store or one that resumes from its chunks; rerunning gives the rows of a fresh store, a
changed clip is recomputed wherever its old row lies, and ``load_store`` never reads a
half-finished store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import music_like
from elmarc_tf import Config
from elmarc_tf.cli import EXIT_INTERRUPTED, main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.errors import ElmarcError
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.store import StoreWriter, load_store, store_dir

# batch_size 1: one chunk per clip, so finishing removes several chunks
SPEC = dict(architecture="7x96", num_filters=4, n_frames=30, fix_length_by="repeat-pad",
            batch_size=1)
SR = 12000
QUIET = RunOptions(progress=False)
CHANGED = ("b", "b01.wav")  # the last clip: its row is in the last chunk
MTIME_A, MTIME_B = 1_600_000_000 * 10**9, 1_700_000_000 * 10**9


def set_clip(root: Path, version: str) -> None:
    """The changed clip as it was (``A``) or after the change (``B``): other audio, another
    modification time (each version always the same signature)."""
    path = root.joinpath(*CHANGED)
    sf.write(path, music_like(0.5, SR, 7 if version == "A" else 99), SR)
    mtime = MTIME_A if version == "A" else MTIME_B
    os.utime(path, ns=(mtime, mtime))


class Steps:
    """Counts the steps that change files on disk (each write's ``fsync``, each rename, each
    removal) and raises ``KeyboardInterrupt`` at step ``k`` (0-based), ``before`` doing it or
    after; ``names`` lists the steps seen, ``interrupted`` whether ``k`` was reached."""

    OPS = ("fsync", "replace", "unlink", "rmdir")

    def __init__(self, k: int, before: bool) -> None:
        self.k, self.before = k, before
        self.names, self.interrupted = [], False
        self.real = {op: getattr(os, op) for op in self.OPS}

    def __enter__(self):
        for op, real in self.real.items():
            setattr(os, op, self._counted(op, real))
        return self

    def __exit__(self, *exc) -> None:
        for op, real in self.real.items():
            setattr(os, op, real)

    def _counted(self, op, real):
        def step(*args, **kwargs):
            target = args[0] if op != "replace" else args[1]
            mine = not self.interrupted and len(self.names) == self.k
            self.names.append(f"{op} {Path(str(target)).name if op != 'fsync' else ''}")
            if mine and self.before:
                self.interrupted = True
                raise KeyboardInterrupt
            result = real(*args, **kwargs)
            if mine:
                self.interrupted = True
                raise KeyboardInterrupt
            return result
        return step


def same_store(folder: Path, reference: Path, manifest=True) -> None:
    a, b = load_store(folder), load_store(reference)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.y, b.y)
    if manifest:
        assert a.manifest == b.manifest


def finished_files(folder: Path) -> list[str]:
    """What a finished store's folder holds: no chunks, no temporary files."""
    return sorted(p.name for p in folder.iterdir())


FINISHED = sorted([".lock", "all_items.json", "features.npy", "items.json", "manifest.json",
                   "sources.json"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four clips, and fresh stores of them with the changed clip as it was (``A``) and after the
    change (``B``), and an unfinished store of ``A`` (every chunk written, finish not run)."""
    tmp = tmp_path_factory.mktemp("finish")
    root = tmp / "audio"
    for c, label in enumerate("ab"):
        (root / label).mkdir(parents=True)
        for k in range(2):
            sf.write(root / label / f"{label}{k:02d}.wav", music_like(0.5, SR, 10 * c + k), SR)
    cfg = Config(audio_path=str(root), **SPEC)
    items = folder_per_class(root)
    set_clip(root, "B")
    fresh_b = extract(cfg, items, out=tmp / "fresh_b", run=QUIET).folder
    set_clip(root, "A")
    fresh_a = extract(cfg, items, out=tmp / "fresh_a", run=QUIET).folder
    assert not np.array_equal(load_store(fresh_a).X[3], load_store(fresh_b).X[3])

    unfinished = tmp / "unfinished"
    real = StoreWriter.finish

    def no_finish(self, *args, **kwargs):
        raise KeyboardInterrupt

    StoreWriter.finish = no_finish
    try:
        with pytest.raises(KeyboardInterrupt):
            extract(cfg, items, out=unfinished, run=QUIET)
    finally:
        StoreWriter.finish = real
    folder = store_dir(unfinished, cfg, items, 0)
    assert len(list((folder / "chunks").glob("*.npz"))) == 4
    data = dict(tmp=tmp, root=root, cfg=cfg, items=items, fresh_a=fresh_a, fresh_b=fresh_b,
                unfinished=unfinished, folder=folder)
    # the same chunks finished without interruption: the store every interrupted finish must give
    data["whole"] = store_dir(tmp / "whole", cfg, items, 0)
    shutil.copytree(unfinished, tmp / "whole")
    finish(data, data["whole"])
    same_store(data["whole"], fresh_a, manifest=False)
    return {**data, "out": tmp / "work"}


def start_from(data, template: Path) -> Path:
    """The working output folder as a copy of ``template``, the changed clip as it was."""
    shutil.rmtree(data["out"], ignore_errors=True)
    shutil.copytree(template, data["out"])
    set_clip(data["root"], "A")
    return store_dir(data["out"], data["cfg"], data["items"], 0)


def finish(data, folder: Path) -> dict:
    """``StoreWriter.finish`` as extraction calls it, with the reference store's layout."""
    m = load_store(data["fresh_a"]).manifest
    return StoreWriter(folder, data["cfg"], data["items"], 0).finish(
        m["layout"], m["feature_length"], batch=m["batch"])


def test_a_changed_clip_is_recomputed_after_a_finish_interrupted_while_removing_chunks(data):
    """The bug: a finish interrupted while removing chunks left them beside the manifest; after
    a clip's file changed, the rerun served its row from a leftover chunk (0 computed now)."""
    first_chunk = next(k for k, name in enumerate(_steps_of_finish(data))
                       if name.startswith("unlink") and name.endswith(".npz"))
    folder = start_from(data, data["unfinished"])
    with Steps(first_chunk, before=False):
        try:
            finish(data, folder)
        except KeyboardInterrupt:
            pass
    assert len(list((folder / "chunks").glob("*.npz"))) == 3  # the changed clip's among them
    set_clip(data["root"], "B")
    again = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
    assert again.n_computed == 1
    same_store(again.folder, data["fresh_b"], manifest=False)
    assert finished_files(again.folder) == FINISHED


def _steps_of_finish(data) -> list[str]:
    """The steps of an uninterrupted finish of the unfinished store."""
    folder = start_from(data, data["unfinished"])
    with Steps(-1, before=True) as steps:
        finish(data, folder)
    return steps.names


def test_steps_are_counted(data):
    names = _steps_of_finish(data)
    # three files written and renamed, four chunks and their folder removed
    assert [n.split()[0] for n in names] == ["fsync", "replace"] * 3 + ["unlink"] * 4 + ["rmdir"]
    assert [n.split()[1] for n in names if n.startswith("replace")] == [
        "features.npy", "items.json", "manifest.json"]


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_an_interruption_at_any_step_of_finish_leaves_a_correct_store(data, before):
    steps = _steps_of_finish(data)
    commit = steps.index("replace manifest.json")
    for k, name in enumerate(steps):
        folder = start_from(data, data["unfinished"])
        with Steps(k, before) as interrupt:
            try:
                finish(data, folder)
                raised = False
            except KeyboardInterrupt:
                raised = True
        where = f"interrupted {'before' if before else 'after'} step {k} ({name})"
        assert interrupt.interrupted, where
        committed = k > commit or (k == commit and not before)
        # finish raises the interruption exactly when the store is not finished
        assert raised != committed, where
        assert not list(folder.glob(".*.tmp")), where
        if committed:
            same_store(folder, data["whole"])
        else:
            with pytest.raises(ElmarcError, match="not a finished feature store.*rerun it to resume"):
                load_store(folder)
        # rerunning finishes it as an uninterrupted run would have, and removes the chunks
        again = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
        assert again.n_computed == 0, where
        same_store(folder, data["whole"])
        assert finished_files(folder) == FINISHED, where
        # a clip changed since: recomputed, wherever its old row was
        set_clip(data["root"], "B")
        changed = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
        assert changed.n_computed == 1, where
        same_store(folder, data["fresh_b"], manifest=False)
        assert finished_files(folder) == FINISHED, where


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_an_interruption_at_any_step_of_reopening_a_changed_store_serves_nothing_stale(
        data, before):
    """Reopening a finished store whose clip changed (its rows back to a chunk, the manifest
    removed, the new signatures recorded), interrupted at each step, then rerun."""
    def prepare_steps(k):
        folder = start_from(data, data["fresh_a"].parent.parent.parent)
        set_clip(data["root"], "B")
        writer = StoreWriter(folder, data["cfg"], data["items"], 0)
        with Steps(k, before) as steps:
            try:
                todo = writer.prepare()
            except KeyboardInterrupt:
                todo = None
        return folder, steps, todo

    _, steps, todo = prepare_steps(-1)
    assert todo == [3] and any(n.startswith("unlink manifest") for n in steps.names)
    for k, name in enumerate(steps.names):
        folder, interrupt, todo = prepare_steps(k)
        where = f"interrupted {'before' if before else 'after'} step {k} ({name})"
        assert interrupt.interrupted and todo is None, where
        if (folder / "manifest.json").is_file():  # still the old, whole store
            same_store(folder, data["fresh_a"])
        again = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
        assert again.n_computed == 1, where
        same_store(folder, data["fresh_b"], manifest=False)
        assert finished_files(folder) == FINISHED, where


def test_a_clip_changed_while_the_store_was_unfinished_is_recomputed(data):
    folder = start_from(data, data["unfinished"])
    set_clip(data["root"], "B")  # its row is in a chunk
    again = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
    assert again.n_computed == 1
    same_store(folder, data["fresh_b"], manifest=False)
    assert finished_files(folder) == FINISHED


def test_leftovers_beside_a_finished_store_are_removed_when_it_is_opened(data):
    folder = start_from(data, data["fresh_a"].parent.parent.parent)
    shutil.copytree(data["folder"] / "chunks", folder / "chunks")
    (folder / ".features.npy.x1.tmp").write_bytes(b"left by a killed process")
    again = extract(data["cfg"], data["items"], out=data["out"], run=QUIET)
    assert again.n_computed == 0 and finished_files(folder) == FINISHED
    same_store(folder, data["fresh_a"])


@pytest.mark.parametrize("step, code, computed", [("replace features.npy", EXIT_INTERRUPTED, None),
                                                   ("unlink 00000001.npz", 0, 4)])
def test_ctrl_c_while_finishing_exits_0_once_the_manifest_is_in_place(data, monkeypatch, capsys,
                                                                      step, code, computed):
    config = data["tmp"] / "exp.yaml"
    config.write_text(yaml.safe_dump({"audio_path": str(data["root"]), **SPEC}))
    shutil.rmtree(data["out"], ignore_errors=True)
    set_clip(data["root"], "A")
    k = _steps_of_finish(data).index(step)
    shutil.rmtree(data["out"])
    real = StoreWriter.finish

    def interrupted_finish(self, *args, **kwargs):
        with Steps(k, before=True):
            return real(self, *args, **kwargs)

    monkeypatch.setattr(StoreWriter, "finish", interrupted_finish)
    args = ["extract", str(config), "--out", str(data["out"]), "--quiet"]
    assert main(args) == code
    out, err = capsys.readouterr()
    if code == 0:
        assert f"({computed} computed now, 0 failed)" in out and err == ""
    else:
        assert err == "elmarc: interrupted; rerun the same command to resume\n"
    monkeypatch.setattr(StoreWriter, "finish", real)
    assert main(args) == 0
    assert "(0 computed now, 0 failed)" in capsys.readouterr().out
    folder = store_dir(data["out"], data["cfg"], data["items"], 0)
    same_store(folder, data["fresh_a"], manifest=False)
    assert finished_files(folder) == FINISHED
