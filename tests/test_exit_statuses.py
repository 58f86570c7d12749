"""`elmarc`'s exit statuses: the README's table, cli.EXIT_STATUS, and a case of every verb
producing each documented status (the faults themselves are in tests/test_reliability.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import elmarc_tf.cli
from conftest import music_like
from elmarc_tf import Config
from elmarc_tf.cli import COMMANDS, EXIT_STATUS, main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.extract import extract
from elmarc_tf.io.fileio import FolderLock
from elmarc_tf.errors import ElmarcError
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.store import StoreWriter, describe_store, load_store, store_dir

README = Path(__file__).resolve().parents[1] / "README.md"
SPEC = dict(architecture="7x96", num_filters=4, n_frames=30, fix_length_by="repeat-pad",
            batch_size=2, n_folds=2)


def readme_exit_statuses() -> dict[int, str]:
    """The table under "The `elmarc` command" in README.md: {status: meaning}."""
    text = README.read_text()
    section = text[text.index("## The `elmarc` command"):]
    table = section[section.index("| exit status | meaning |"):].split("\n\n")[0]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {int(status): meaning.strip() for status, meaning in rows}


def lead(meaning: str) -> str:
    """The words before the first parenthesis, colon, semicolon or comma, lower case."""
    return re.split(r"[(:;,]", meaning)[0].strip().lower()


def test_the_readme_table_and_exit_status_say_the_same():
    table = readme_exit_statuses()
    assert set(table) == set(EXIT_STATUS) == {0, 1, 2, 3, 4, 5, 130}
    for status, meaning in table.items():
        assert lead(meaning) == lead(EXIT_STATUS[status]), status


# ----------------------------------------------------------------------------- the cases
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two classes of two 1 s clips, the same with an undecodable file, configs for both, and a
    finished store of the first."""
    root = tmp_path_factory.mktemp("exit")
    for name in ("good", "bad"):
        for c, label in enumerate("ab"):
            for k in range(2):
                path = root / name / label / f"{label}{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, music_like(1.0, 12000, 10 * c + k) * (0.2 + 0.6 * c), 12000)
    (root / "bad" / "a" / "a9.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    configs = {}
    for name in ("good", "bad"):
        configs[name] = root / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump({**SPEC, "audio_path": str(root / name)}))
    cfg = Config.from_file(configs["good"])
    store = extract(cfg, folder_per_class(cfg.audio_path), out=root / "stores",
                    run=RunOptions(progress=False)).folder
    return root, configs, store


def interrupted_store(config: Path, tmp: Path, damaged: bool) -> Path:
    """A store of the config's clips with one batch written and no manifest (as after a kill);
    ``damaged``: and a second batch whose file is empty."""
    cfg = Config.from_file(config)
    items = folder_per_class(cfg.audio_path)
    folder = tmp / ("damaged" if damaged else "interrupted")
    writer = StoreWriter(folder, cfg, items, 0)
    writer.begin()
    writer.write_chunk(np.array([0, 1]), np.ones((2, 4), np.float32), ["", ""], 0.1)
    if damaged:
        writer.write_chunk(np.array([2, 3]), np.ones((2, 4), np.float32), ["", ""], 0.1)
        sorted(writer.chunks.glob("*.npz"))[-1].write_bytes(b"")
    return folder


def raising(exception):
    def run(*args, **kwargs):
        raise exception
    return run


def case_extract_busy(root, configs, store, tmp, monkeypatch):
    cfg = Config.from_file(configs["good"])
    lock = FolderLock(store_dir(tmp / "out", cfg, folder_per_class(cfg.audio_path), 0))
    lock.__enter__()
    monkeypatch.setattr(elmarc_tf.cli, "extract", _released_after(elmarc_tf.cli.extract, lock))
    return ["extract", str(configs["good"]), "--out", str(tmp / "out"), "--quiet"]


def _released_after(extract_fn, lock):
    def run(*args, **kwargs):
        try:
            return extract_fn(*args, **kwargs)
        finally:
            lock.__exit__(None, None, None)
    return run


def case_damaged_manifest(root, configs, store, tmp, monkeypatch):
    copy = tmp / "store"
    shutil.copytree(store, copy)
    manifest = copy / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    return ["info", str(copy)]


def case_file_in_the_way(verb_args):
    def case(root, configs, store, tmp, monkeypatch):
        (tmp / "file").write_text("not a folder")
        return [arg.format(config=configs["good"], blocked=tmp / "file" / "out") for arg in verb_args]
    return case


def simple(*args, patch=None):
    """A case: argv with {good}, {bad}, {store}, {out} filled in; ``patch``: (name in
    elmarc_tf.cli, replacement) set for the call."""
    def case(root, configs, store, tmp, monkeypatch):
        if patch is not None:
            monkeypatch.setattr(elmarc_tf.cli, patch[0], patch[1])
        fill = dict(good=configs["good"], bad=configs["bad"], store=store, out=tmp / "out")
        return [a.format(**fill) for a in args]
    return case


def case_info_interrupted(damaged):
    def case(root, configs, store, tmp, monkeypatch):
        return ["info", str(interrupted_store(configs["good"], tmp, damaged))]
    return case


def case_info(root, configs, store, tmp, monkeypatch):
    return ["info", str(store)]


CASES = [  # (verb, what happens, case, status, what it says)
    ("extract", "finished", simple("extract", "{good}", "--out", "{out}", "--quiet"), 0,
     "(4 computed now, 0 failed)"),
    ("extract", "a clip cannot be decoded", simple("extract", "{bad}", "--out", "{out}", "--quiet"),
     1, "failed: "),
    ("extract", "--strict meets a clip that cannot be decoded",
     simple("extract", "{bad}", "--out", "{out}", "--quiet", "--strict"), 2,
     "a9.wav: cannot decode audio"),
    ("extract", "config error", simple("extract", "{out}/missing.yaml", "--out", "{out}"), 2,
     "missing.yaml: cannot read config file"),
    ("extract", "--batch-size 0", simple("extract", "{good}", "--out", "{out}", "--batch-size", "0"),
     2, "--batch-size must be a positive integer, got 0"),
    ("extract", "output folder under a regular file",
     case_file_in_the_way(["extract", "{config}", "--out", "{blocked}", "--quiet"]), 3,
     "Not a directory"),
    ("extract", "another process writes the store", case_extract_busy, 4,
     "in use by another process"),
    ("extract", "internal error", simple("extract", "{good}", "--out", "{out}", "--quiet",
                                         patch=("extract", raising(RuntimeError("bug")))), 5,
     "internal error: RuntimeError: bug"),
    ("extract", "Ctrl-C", simple("extract", "{good}", "--out", "{out}", "--quiet",
                                 patch=("extract", raising(KeyboardInterrupt()))), 130,
     "interrupted; rerun the same command to resume"),
    ("info", "finished store", case_info, 0, "4 clips x 4"),
    ("info", "interrupted store", case_info_interrupted(damaged=False), 0,
     "extraction in progress or interrupted, 2 of 4 clips"),
    ("info", "interrupted store with a damaged batch", case_info_interrupted(damaged=True), 3,
     "damaged: "),
    ("info", "finished store with a truncated manifest", case_damaged_manifest, 3,
     "rerun the same command to recompute it"),
    ("info", "not a store", simple("info", "{out}"), 2, "not a finished feature store"),
    ("run", "finished", simple("run", "{good}", "--seeds", "1", "--out", "{out}/r",
                               "--features-out", "{out}/f", "--quiet"), 0, "seed 0: accuracy"),
    ("run", "a clip cannot be decoded", simple("run", "{bad}", "--seeds", "1", "--out", "{out}/r",
                                               "--features-out", "{out}/f", "--quiet"), 1,
     "seed 0: accuracy"),
    ("run", "no config", simple("run", "--seeds", "1"), 2, "give either CONFIG or --original-config"),
    ("run", "--seeds 0", simple("run", "{good}", "--seeds", "0"), 2, "--seeds must be at least 1"),
    ("compare", "no results there", simple("compare", "{out}/nothing"), 2,
     "no such results file or folder"),
    ("reproduce", "unknown dataset", simple("reproduce", "--dataset", "nope", "--audio-root", "{out}"),
     2, "unknown paper dataset 'nope'"),
    ("export", "config error", simple("export", "{out}/missing.yaml", "--out", "{out}/e"), 2,
     "missing.yaml: cannot read config file"),
    ("bench", "unknown configuration", simple("bench", "--arch", "nope", "--out", "{out}/b"), 2,
     "unknown bench configuration 'nope'"),
    ("bench", "unknown classifier bench size",
     simple("bench", "--classifier", "nope", "--out", "{out}/b"), 2,
     "unknown classifier bench size 'nope'"),
    ("profile", "unknown configuration", simple("profile", "--arch", "nope", "--out", "{out}/p"), 2,
     "unknown bench configuration 'nope'"),
    ("ablation", "--runs 0", simple("ablation", "--demo", "--runs", "0", "--out", "{out}/a"), 2,
     "--batch-sizes and --runs must be positive"),
    ("demo", "output folder under a regular file",
     case_file_in_the_way(["demo", "--out", "{blocked}", "--quiet"]), 3, "Not a directory"),
    ("train", "config error", simple("train", "{out}/missing.yaml"), 2,
     "missing.yaml: cannot read config file"),
    ("fit", "config error", simple("fit", "{out}/missing.yaml", "--out", "{out}/m"), 2,
     "missing.yaml: cannot read config file"),
    ("predict", "not a model folder", simple("predict", "{out}", "{out}", "--out", "{out}/p.csv"), 2,
     "not an elmarc model folder"),
    ("datasets", "an unknown task", simple("datasets", "build", "nope", "--out", "{out}/d"), 2,
     "unknown dataset task 'nope'"),
    ("random-vs-trained", "a dataset without its audio",
     simple("random-vs-trained", "--dataset", "gtzan"), 2, "--audio-root is required with --dataset"),
]


@pytest.mark.parametrize("verb, what, case, status, says", CASES,
                         ids=[f"{verb}: {what}" for verb, what, *_ in CASES])
def test_exit_status(data, tmp_path, capsys, monkeypatch, verb, what, case, status, says):
    root, configs, store = data
    argv = case(root, configs, store, tmp_path, monkeypatch)
    assert argv[0] == verb
    assert main(argv) == status
    out, err = capsys.readouterr()
    assert says in out + err
    if status in (0, 1):
        assert err == ""
    elif verb == "info" and status == 3:  # info reports a damaged store as its output
        assert "rerun the same command" in out and err == ""
    else:  # one line on stderr, no traceback
        assert err.startswith("elmarc: ") and err.count("\n") == 1, err


def test_every_documented_status_and_every_verb_has_a_case():
    assert {status for *_, status, _ in CASES} == set(readme_exit_statuses())
    assert {verb for verb, *_ in CASES} == set(COMMANDS)


def test_describe_store_says_what_info_prints(data, tmp_path):
    """The store's states as data: what `elmarc info` prints is read by describe_store."""
    root, configs, store = data
    X, _, _, manifest = load_store(store)
    assert describe_store(store) == {"state": "finished", "n_clips": 4, "feature_length": 4,
                                     "manifest": manifest} and X.shape == (4, 4)
    assert describe_store(interrupted_store(configs["good"], tmp_path, damaged=False)) == {
        "state": "unfinished", "n_items": 4, "n_done": 2, "batches": 1, "damaged": []}
    damaged = describe_store(interrupted_store(configs["good"], tmp_path, damaged=True))
    assert (damaged["state"], damaged["n_done"], damaged["batches"]) == ("unfinished", 2, 1)
    assert damaged["damaged"] == ["00000002.npz: unreadable chunk (EOFError)"]
    copy = shutil.copytree(store, tmp_path / "short")
    np.save(copy / "features.npy", np.ones((3, 4), np.float32))
    assert describe_store(copy) == {"state": "damaged", "damage": "damaged store (features.npy has "
                                    "shape (3, 4), 4 items, manifest says 4)"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ElmarcError, match=r"empty: not a finished feature store, no manifest.json"):
        describe_store(tmp_path / "empty")
