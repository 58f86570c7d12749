"""Real-audio datasets built from Debian packages (elmarc_tf.datasets.build), from fake package trees.

Each task is built from a tiny tree laid out as its packages install (OGG/WAV noise made here),
so no apt is needed; the SoundFont renderer is replaced by a stand-in (a real fluidsynth render
is tested only where fluidsynth and the SoundFont are installed).
"""

from __future__ import annotations

import csv
import io
import shutil
import struct
import zipfile
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from elmarc_tf.datasets import build, csv_list
from elmarc_tf.datasets.debian import TASKS, instruments, soundtracks, speakers
from elmarc_tf.datasets.debian.folds import grouped_folds
from elmarc_tf.datasets.debian.midi import fluidsynth_render, notes_midi
from elmarc_tf.datasets.debian.soundtracks import _deal
from elmarc_tf.errors import ConfigError

SILENT_PROGRAM = 5  # the stand-in renderer gives this program silence: its notes must be dropped


def _noise(seconds: float, sr: int, seed: int, level: float = 0.3) -> np.ndarray:
    return level * np.random.default_rng(seed).uniform(-1, 1, int(seconds * sr)).astype(np.float32)


def _touch(root: Path, package) -> Path:
    path = package.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _fake_render(soundfont, midi: bytes, sample_rate: int, seconds: float) -> np.ndarray:
    """Noise seeded by the MIDI bytes; silence for :data:`SILENT_PROGRAM` (byte 24: the program
    change right after the 22-byte header and the first delta time)."""
    assert Path(soundfont).is_file()
    if midi[23:25] == bytes([0xC0, SILENT_PROGRAM]):
        return np.zeros(int(seconds * sample_rate), np.float32)
    return _noise(seconds, sample_rate, int.from_bytes(midi[-40:], "little") % 2**32)


def instruments_tree(root: Path) -> dict:
    for package in instruments.TASK.packages:
        _touch(root, package).write_bytes(b"stand-in")
    return {"render": _fake_render}


TRACKS = 4  # per game; each 21 s: two 10 s slots; one game has a short track and a silent slot
CLIPS_PER_CLASS = 5  # of 8 slots: dealt 2, 1, 1, 1, so which slots are taken depends on the seed


def soundtracks_tree(root: Path) -> dict:
    sr = 8000
    for k, (label, source) in enumerate(sorted(soundtracks.SOURCES.items())):
        tracks = {f"Track {t}": _noise(21, sr, 100 * k + t) for t in range(TRACKS)}
        if label == "drascula":
            tracks["short"] = _noise(6, sr, 7)  # shorter than a clip: left out
            tracks["Track 0"][:10 * sr] = 0  # a silent slot: skipped
        if isinstance(source, soundtracks.ZipMembers):
            with zipfile.ZipFile(_touch(root, source.package), "w") as z:
                for name, y in tracks.items():
                    buffer = io.BytesIO()
                    sf.write(buffer, y, sr, format="OGG", subtype="VORBIS")
                    z.writestr(f"sound/cdtracks/{name}.ogg", buffer.getvalue())
                z.writestr("sound/readme.txt", "not audio")
        else:
            folder = source.package.path(root)
            folder.mkdir(parents=True)
            for name, y in tracks.items():
                sf.write(folder / f"{name}.ogg", y, sr, format="OGG", subtype="VORBIS")
            (folder / "notes.txt").write_text("not audio")
    return {}


VOICES, PHRASES = ("Default", "British", "Pirate", "Robot", "Default_es"), \
    ("Hello", "Incoming", "Ow1", "Ow2", "Oops", "Byebye", "Traitor")


def speakers_tree(root: Path) -> dict:
    packs = speakers.VOICES.path(root)
    for v, voice in enumerate(VOICES):
        (packs / voice).mkdir(parents=True, exist_ok=True)
        for p, phrase in enumerate(PHRASES):
            sf.write(packs / voice / f"{phrase}.ogg", _noise(0.4 + 0.1 * p, 22050, 10 * v + p),
                     22050, format="OGG", subtype="VORBIS")
    return {}


TREES = {"instruments": instruments_tree, "soundtracks": soundtracks_tree, "speakers": speakers_tree}


def expected(name: str) -> tuple[Counter, dict]:
    """Clips per label and the group of each clip file stem's label, worked out from the trees."""
    if name == "instruments":
        counts = Counter({family: 8 * instruments.NOTES_PER_PROGRAM for family in instruments.FAMILIES})
        counts["piano"] -= instruments.NOTES_PER_PROGRAM  # program 5 is a piano, rendered silent
        return counts, {}
    if name == "soundtracks":
        counts = Counter({label: CLIPS_PER_CLASS for label in soundtracks.SOURCES})
        counts["drascula"] -= 1  # its first track's second slot is silent
        return counts, {}
    return Counter({voice.lower().replace("_", "-"): len(PHRASES) for voice in VOICES}), {}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each task built twice with seed 0 and once with seed 1, from its fake tree."""
    out = {}
    for name, make_tree in TREES.items():
        root = tmp_path_factory.mktemp(f"{name}_root")
        options = make_tree(root)
        dirs = [tmp_path_factory.mktemp(f"{name}_{k}") / "ds" for k in range(3)]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(soundtracks, "CLIPS_PER_CLASS", CLIPS_PER_CLASS)
            summaries = [build(name, d, seed=s, root=root, progress=False, **options)
                         for d, s in zip(dirs, (0, 0, 1))]
        out[name] = (root, options, dirs, summaries)
    return out


def _rows(folder: Path) -> list[dict]:
    with open(folder / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", sorted(TREES))
def test_counts_labels_and_files(built, name):
    _, _, (first, _, _), (summary, _, _) = built[name]
    rows = _rows(first)
    assert list(rows[0]) == ["path", "label", "fold", "group"]
    counts, _ = expected(name)
    assert Counter(r["label"] for r in rows) == counts
    assert summary["n_clips"] == len(rows) and summary["classes"] == dict(sorted(counts.items()))
    for r in rows:
        assert r["path"].startswith(f"audio/{r['label']}/") and (first / r["path"]).is_file()
    listed = {r["path"] for r in rows}
    on_disk = {p.relative_to(first).as_posix() for p in (first / "audio").rglob("*.wav")}
    assert listed == on_disk and len(listed) == len(rows)


@pytest.mark.parametrize("name", sorted(TREES))
def test_no_group_in_two_folds(built, name):
    _, _, (first, _, third), _ = built[name]
    for folder in (first, third):
        rows = _rows(folder)
        folds_of = {}
        for r in rows:
            folds_of.setdefault(r["group"], set()).add(r["fold"])
        assert all(len(f) == 1 for f in folds_of.values()), folds_of
        assert {r["fold"] for r in rows} == {str(k) for k in range(1, TASKS[name].n_folds + 1)}


def test_groups_are_what_the_task_says(built):
    """Instruments: a program's notes; soundtracks: a track's excerpts; speakers: a phrase,
    its takes ('Ow1', 'Ow2') one group, across voice packs."""
    inst = _rows(built["instruments"][2][0])
    assert {r["group"] for r in inst} == {f"program-{p:03d}" for p in range(80)
                                         if p // 8 in (0, 1, 2, 3, 4, 5, 7, 8, 9)
                                         and p != SILENT_PROGRAM}
    for r in inst:
        program = int(r["group"].split("-")[1])
        assert Path(r["path"]).name.startswith(f"p{program:03d}-")
        first_of_family = instruments.FAMILIES[r["label"]][0]
        assert first_of_family <= program < first_of_family + 8
    tracks = _rows(built["soundtracks"][2][0])
    assert {r["group"] for r in tracks if r["label"] == "nexuiz"} == {
        f"nexuiz/track-{t}" for t in range(TRACKS)}
    assert not any("short" in r["path"] for r in tracks)
    assert "audio/drascula/track-0-000.wav" not in {r["path"] for r in tracks}  # the silent slot
    voices = _rows(built["speakers"][2][0])
    ow = {r["path"] for r in voices if r["group"] == "phrase-ow"}
    assert len(ow) == 2 * len(VOICES)
    assert len({r["group"] for r in voices}) == len(PHRASES) - 1


@pytest.mark.parametrize("name", sorted(TREES))
def test_same_seed_same_bytes(built, name):
    _, _, (first, second, third), _ = built[name]
    if name != "speakers":  # its seed only places phrases in folds
        assert _rows(first) != _rows(third)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


@pytest.mark.parametrize("name", sorted(TREES))
def test_clips_match_their_sources(built, name):
    """Written clips: 16-bit mono at the task's rate; a soundtrack clip is its track's slot."""
    _, _, (first, _, _), _ = built[name]
    task = TASKS[name]
    for r in _rows(first)[:5]:
        info = sf.info(first / r["path"])
        assert (info.samplerate, info.channels, info.subtype) == (task.sample_rate, 1, "PCM_16")
    if name == "soundtracks":
        root = built[name][0]
        source = soundtracks.SOURCES["colobot"].package.path(root) / "Track 2.ogg"
        y, sr = sf.read(source, dtype="float32")
        [taken] = (first / "audio/colobot").glob("track-2-*.wav")
        slot = int(taken.stem.rsplit("-", 1)[1])
        clip, _ = sf.read(taken, dtype="float32")
        reference = librosa.resample(y[slot * 10 * sr:(slot + 1) * 10 * sr], orig_sr=sr, target_sr=task.sample_rate,
                                     res_type="soxr_hq")
        np.testing.assert_allclose(clip, reference, atol=1 / 32768 + 1e-6)  # 16-bit rounding


@pytest.mark.parametrize("name", sorted(TREES))
def test_metadata_is_read_by_the_csv_dataset(built, name):
    _, _, (first, _, _), _ = built[name]
    items = csv_list(first / "metadata.csv")
    rows = _rows(first)
    assert [(it.label, it.fold) for it in items] == [(r["label"], int(r["fold"])) for r in rows]


@pytest.mark.parametrize("name", sorted(TREES))
def test_readme_states_sources_counts_and_folds(built, name):
    _, _, (first, _, _), (summary, _, _) = built[name]
    text = (first / "README.md").read_text()
    for package in TASKS[name].packages:
        assert f"| {package.name} |" in text
    for label, n in summary["classes"].items():
        assert f"| {label} | {n} |" in text
    assert "StratifiedGroupKFold" in text and "elmarc run" in text


@pytest.mark.parametrize("name", sorted(TREES))
def test_missing_package_names_the_install(tmp_path, name):
    with pytest.raises(ConfigError) as e:
        build(name, tmp_path / "out", root=tmp_path, progress=False)
    message = str(e.value)
    assert "\n" not in message and f"apt-get install {TASKS[name].packages[0].name}" in message
    assert not (tmp_path / "out").exists()


def test_refuses_a_folder_that_is_not_empty(built, tmp_path):
    root, options, _, _ = built["speakers"]
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an empty folder"):
        build("speakers", tmp_path, root=root, progress=False, **options)
    with pytest.raises(ConfigError, match="valid: instruments, soundtracks, speakers"):
        build("drums", tmp_path / "x", root=root)


def test_grouped_folds_balance_and_never_split():
    labels = [c for c in "abc" for _ in range(40)]
    groups = [f"{c}{i // 4}" for c in "abc" for i in range(40)]  # 10 groups of 4 per class
    folds = grouped_folds(labels, groups, 5, seed=3)
    assert folds == grouped_folds(labels, groups, 5, seed=3)
    by_group = {}
    for g, f in zip(groups, folds):
        by_group.setdefault(g, set()).add(f)
    assert all(len(f) == 1 for f in by_group.values())
    assert Counter(folds) == Counter({k: 24 for k in range(1, 6)})  # 2 groups per class per fold
    with pytest.raises(ConfigError, match="3 groups cannot fill 5 folds"):
        grouped_folds(["a"] * 3, ["x", "y", "z"], 5, seed=0)


def test_deal_round_robin():
    assert _deal(5, [1, 10, 10]) == [1, 2, 2]
    assert _deal(10, [2, 3]) == [2, 3]  # fewer slots than wanted: all of them


def test_notes_midi_bytes():
    """Decoded by hand: header, program change, note-on/off pairs with their delta times."""
    midi = notes_midi(24, [(60, 100), (64, 90)], spacing=4.0, held=2.0)
    assert midi[:14] == b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    assert midi[14:18] == b"MTrk" and struct.unpack(">I", midi[18:22])[0] == len(midi) - 22
    # 2 s = 1920 ticks = varlen 0x8F 0x00
    assert midi[22:] == bytes([0, 0xC0, 24, 0, 0x90, 60, 100, 0x8F, 0x00, 0x80, 60, 0,
                               0x8F, 0x00, 0x90, 64, 90, 0x8F, 0x00, 0x80, 64, 0,
                               0x8F, 0x00, 0xFF, 0x2F, 0x00])


SOUNDFONT = instruments.SOUNDFONT.path("/")


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
                    reason="needs fluidsynth and timgm6mb-soundfont")
def test_fluidsynth_renders_notes_where_they_are():
    midi = notes_midi(0, [(60, 100), (72, 100)], spacing=2.0, held=1.0)
    y = fluidsynth_render(SOUNDFONT, midi, 16000, 4.0)
    assert y.shape == (64000,) and np.array_equal(y, fluidsynth_render(SOUNDFONT, midi, 16000, 4.0))
    loud = [float(np.sqrt(np.mean(y[k * 8000:(k + 1) * 8000] ** 2))) for k in range(8)]
    assert loud[0] > 1e-3 and loud[4] > 1e-3  # each note sounds at its start
    assert loud[3] < loud[0] / 10  # and has died away before the next (reverb off)


def test_cli_lists_tasks_and_refuses_bad_input(capsys):
    from elmarc_tf import cli  # loads TensorFlow: only here

    assert cli.run(cli.parse_args(["datasets", "build", "--list"])) == cli.EXIT_OK
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in listed] == list(TASKS)
    assert "apt-get install timgm6mb-soundfont fluidsynth" in listed[0]
    assert cli.run(cli.parse_args(["datasets", "build", "drums", "--out", "x"])) == cli.EXIT_BAD_INPUT
    assert cli.run(cli.parse_args(["datasets", "build", "speakers"])) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert err == ["elmarc: error: unknown dataset task 'drums' (valid: instruments, soundtracks, speakers)",
                   "elmarc: error: datasets build: give NAME and --out DIR (or --list)"]
