"""Dataset adapters on miniature copies of the real layouts: GTZAN (.au and .wav, the
fault-filtered split lists), BallroomData, Extended Ballroom (mp3), UrbanSound8K (folds, metadata
CSV, 24-bit WAVE_FORMAT_EXTENSIBLE stereo), a user CSV, the registry and items_from_config, and
datasets assembled from symbolic links (loops, broken links)."""

from __future__ import annotations

import shutil
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from elmarc_tf import Config
from elmarc_tf.io.audio import load_audio
from elmarc_tf.datasets import (BALLROOM_CLASSES, DATASETS, EXTENDED_BALLROOM_CLASSES, GTZAN_GENRES,
                                Item, ballroom, csv_list, extended_ballroom, folder_per_class, gtzan,
                                items_from_config, load_dataset, urbansound8k)
from elmarc_tf.cli import main
from elmarc_tf.errors import ConfigError, ElmarcWarning

SR = 22050
TONE_HZ = 440.0


def tone(seconds: float = 0.2, sr: int = SR, channels: int = 1) -> np.ndarray:
    """A 440 Hz sine, ``(n,)`` or ``(n, channels)``."""
    y = 0.5 * np.sin(2 * np.pi * TONE_HZ * np.arange(int(seconds * sr)) / sr)
    return y if channels == 1 else np.stack([y] * channels, axis=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One file per format, written once and copied into every layout."""
    d = tmp_path_factory.mktemp("clips")
    out = {"au": d / "c.au", "wav": d / "c.wav", "mp3": d / "c.mp3",
           "wavex24": d / "c24.wav", "wav44": d / "c44.wav"}
    sf.write(out["au"], tone(), SR, format="AU")
    sf.write(out["wav"], tone(), SR)
    sf.write(out["mp3"], tone(), SR, format="MP3")
    sf.write(out["wavex24"], tone(channels=2), SR, format="WAVEX", subtype="PCM_24")
    sf.write(out["wav44"], tone(sr=44100), 44100)
    return out


def put(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def dominant_hz(y: np.ndarray, sr: int = 12000) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(spectrum) * sr / y.size)


# ------------------------------------------------------------------------------------------ GTZAN
@pytest.fixture
def gtzan_au(tmp_path, clips) -> Path:
    """The original archive: ``genres/<genre>/<genre>.0000N.au``, 2 clips per genre."""
    root = tmp_path / "genres"
    for genre in GTZAN_GENRES:
        for i in range(2):
            put(clips["au"], root / genre / f"{genre}.{i:05d}.au")
    (root / "input.mf").write_text("not audio, at the top level of the real archive\n")
    return root


@pytest.fixture
def gtzan_wav(tmp_path, clips) -> Path:
    """``genres_original/<genre>/<genre>.0000N.wav`` with one clip only as .au, and the lists."""
    root = tmp_path / "genres_original"
    for genre in ("blues", "jazz", "rock"):
        for i in range(3):
            put(clips["wav"], root / genre / f"{genre}.{i:05d}.wav")
    (root / "jazz" / "jazz.00002.wav").unlink()
    put(clips["au"], root / "jazz" / "jazz.00002.au")
    splits = tmp_path / "GTZAN_split"
    write_lines(splits / "train_filtered.txt", ["blues/blues.00000.wav", "jazz/jazz.00000.wav  ",
                                                "", "rock/rock.00000.wav"])
    write_lines(splits / "valid_filtered.txt", ["blues/blues.00001.wav", "jazz/jazz.00002.wav"])
    write_lines(splits / "test_filtered.txt", ["rock/rock.00001.au", "rock/rock.00002.wav", ""])
    return root


def test_gtzan_plain_au_layout(gtzan_au):
    items = gtzan(gtzan_au)
    assert len(items) == 20
    assert Counter(it.label for it in items) == {g: 2 for g in GTZAN_GENRES}
    assert items[0] == Item(path=str(gtzan_au / "blues" / "blues.00000.au"), label="blues",
                            id="blues/blues.00000.au")
    assert {it.split for it in items} == {None} and {it.fold for it in items} == {None}


def test_gtzan_split_lists_with_au_wav_fallback(gtzan_wav):
    items = gtzan(gtzan_wav, splits=gtzan_wav.parent / "GTZAN_split")
    assert [(it.split, it.id, it.label) for it in items] == [
        ("train", "blues/blues.00000.wav", "blues"),
        ("train", "jazz/jazz.00000.wav", "jazz"),
        ("train", "rock/rock.00000.wav", "rock"),
        ("val", "blues/blues.00001.wav", "blues"),
        ("val", "jazz/jazz.00002.wav", "jazz"),
        ("test", "rock/rock.00001.au", "rock"),
        ("test", "rock/rock.00002.wav", "rock"),
    ]
    by_id = {it.id: it for it in items}
    assert by_id["jazz/jazz.00002.wav"].path == str(gtzan_wav / "jazz" / "jazz.00002.au")  # .wav -> .au
    assert by_id["rock/rock.00001.au"].path == str(gtzan_wav / "rock" / "rock.00001.wav")  # .au -> .wav


def test_gtzan_missing_listed_file(gtzan_wav):
    splits = gtzan_wav.parent / "GTZAN_split"
    write_lines(splits / "valid_filtered.txt", ["blues/blues.00001.wav", "blues/blues.00099.wav"])
    with pytest.raises(ConfigError,
                       match=r"valid_filtered\.txt:2: listed file blues/blues\.00099\.wav not found"):
        gtzan(gtzan_wav, splits)


def test_gtzan_unknown_label(gtzan_wav, clips):
    splits = gtzan_wav.parent / "GTZAN_split"
    put(clips["wav"], gtzan_wav / "polka" / "polka.00000.wav")
    write_lines(splits / "test_filtered.txt", ["rock/rock.00001.wav", "", "polka/polka.00000.wav"])
    with pytest.raises(ConfigError, match=r"test_filtered\.txt:3: unknown GTZAN genre 'polka'") as e:
        gtzan(gtzan_wav, splits)
    assert "\n" not in str(e.value)


def test_gtzan_clip_listed_in_two_splits(gtzan_wav):
    splits = gtzan_wav.parent / "GTZAN_split"
    write_lines(splits / "test_filtered.txt", ["blues/blues.00000.wav"])
    with pytest.raises(ConfigError, match=r"blues/blues\.00000\.wav is listed twice \(train and test\)"):
        gtzan(gtzan_wav, splits)


def test_gtzan_plain_layout_errors(gtzan_au, clips):
    with pytest.raises(ConfigError, match=r"genres: not a GTZAN genre folder .*did you mean .*genres\?"):
        gtzan(gtzan_au.parent)  # one level too high
    put(clips["au"], gtzan_au / "rock" / "blues.00007.au")
    with pytest.raises(ConfigError,
                       match=r"blues\.00007\.au: genre 'blues' of the file name differs from "
                             r"its folder 'rock'"):
        gtzan(gtzan_au)


# --------------------------------------------------------------------------------------- Ballroom
BALLROOM_FOLDERS = ("ChaCha", "Jive", "Quickstep", "Rumba-American", "Rumba-International",
                    "Rumba-Misc", "Samba", "Tango", "Viennese waltz", "Waltz")


@pytest.fixture
def ballroom_root(tmp_path, clips) -> Path:
    root = tmp_path / "BallroomData"
    for k, folder in enumerate(BALLROOM_FOLDERS):
        put(clips["wav"], root / folder / f"Media-1034{k:02d}.wav")
    (root / "allBallroomFiles").write_text("./ChaCha/Media-103400.wav\n")
    (root / "Jive" / ".DS_Store").write_bytes(b"\0")
    put(clips["wav"], root / "Jive" / "._Media-103401.wav")  # macOS resource fork: skipped
    return root


def test_ballroom_maps_real_folders_to_8_classes(ballroom_root):
    items = ballroom(ballroom_root)
    assert len(items) == 10
    assert Counter(it.label for it in items) == {**{c: 1 for c in BALLROOM_CLASSES}, "Rumba": 3}
    by_id = {it.id: it.label for it in items}
    assert by_id["ChaCha/Media-103400.wav"] == "ChaChaCha"
    assert by_id["Rumba-Misc/Media-103405.wav"] == "Rumba"
    assert by_id["Viennese waltz/Media-103408.wav"] == "VienneseWaltz"
    assert by_id["Waltz/Media-103409.wav"] == "Waltz"


def test_ballroom_unknown_folder(ballroom_root, clips):
    put(clips["wav"], ballroom_root / "Polka" / "Media-1.wav")
    with pytest.raises(ConfigError, match=r"BallroomData/Polka: 'Polka' is not a Ballroom class folder"):
        ballroom(ballroom_root)


@pytest.fixture
def extended_root(tmp_path, clips) -> Path:
    root = tmp_path / "extended_ballroom"
    for k, cls in enumerate(EXTENDED_BALLROOM_CLASSES):
        put(clips["mp3"], root / cls / f"{100700 + k}.mp3")
    put(clips["mp3"], root / "Jive" / "100799.mp3")
    return root


def test_extended_ballroom(extended_root):
    items = extended_ballroom(extended_root)
    assert len(items) == 14
    assert sorted({it.label for it in items}) == list(EXTENDED_BALLROOM_CLASSES)  # the order is alphabetical
    assert Counter(it.label for it in items)["Jive"] == 2
    assert items[0] == Item(path=str(extended_root / "Chacha" / "100700.mp3"), label="Chacha",
                            id="Chacha/100700.mp3")


def test_extended_ballroom_unknown_folder(extended_root, clips):
    put(clips["mp3"], extended_root / "Disco" / "1.mp3")
    with pytest.raises(ConfigError,
                       match=r"extended_ballroom/Disco: 'Disco' is not an Extended Ballroom class folder"):
        extended_ballroom(extended_root)


# ----------------------------------------------------------------------------------- UrbanSound8K
US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"
US8K_ROWS = [  # (file, fold, classID, class, clip kind)
    ("100032-3-0-0.wav", 5, 3, "dog_bark", "wav"),
    ("100263-2-0-117.wav", 5, 2, "children_playing", "wavex24"),
    ("101415-3-0-2.wav", 1, 3, "dog_bark", "wav44"),
    ("102305-6-0-0.wav", 10, 6, "gun_shot", "wav"),
]


def write_us8k_csv(root: Path, rows=US8K_ROWS, header=US8K_HEADER) -> Path:
    lines = [header] + [f"{name},{name.split('-')[0]},0.0,0.2,1,{fold},{cid},{cls}"
                        for name, fold, cid, cls, _ in rows]
    return write_lines(root / "metadata" / "UrbanSound8K.csv", lines)


@pytest.fixture
def us8k_root(tmp_path, clips) -> Path:
    root = tmp_path / "UrbanSound8K"
    for name, fold, _, _, kind in US8K_ROWS:
        put(clips[kind], root / "audio" / f"fold{fold}" / name)
    (root / "audio" / "fold5" / ".DS_Store").write_bytes(b"\0")
    write_us8k_csv(root)
    return root


def test_urbansound8k(us8k_root):
    items = urbansound8k(us8k_root)
    assert [(it.id, it.label, it.fold) for it in items] == [
        ("fold5/100032-3-0-0.wav", "dog_bark", 5),
        ("fold5/100263-2-0-117.wav", "children_playing", 5),
        ("fold1/101415-3-0-2.wav", "dog_bark", 1),
        ("fold10/102305-6-0-0.wav", "gun_shot", 10),
    ]
    assert items[3].path == str(us8k_root / "audio" / "fold10" / "102305-6-0-0.wav")
    assert urbansound8k(us8k_root / "audio") == items  # the audio/ folder is accepted too


def test_urbansound8k_errors(us8k_root, tmp_path):
    with pytest.raises(ConfigError, match=r"metadata/UrbanSound8K\.csv: UrbanSound8K metadata CSV not found"):
        urbansound8k(tmp_path / "nowhere")
    (us8k_root / "audio" / "fold1" / "101415-3-0-2.wav").unlink()
    with pytest.raises(ConfigError,
                       match=r"UrbanSound8K\.csv:4: listed file audio/fold1/101415-3-0-2\.wav not found"):
        urbansound8k(us8k_root)
    write_us8k_csv(us8k_root, header=US8K_HEADER.replace(",class", ",category"))
    with pytest.raises(ConfigError, match=r"UrbanSound8K\.csv: column 'class' missing from the header"):
        urbansound8k(us8k_root)


def test_adapters_items_decode(us8k_root, extended_root, gtzan_au):
    """The 24-bit extensible stereo WAV, the 44.1 kHz WAV, mp3 and AU decode to 12 kHz mono 440 Hz."""
    header = (us8k_root / "audio" / "fold5" / "100263-2-0-117.wav").read_bytes()[:36]
    assert struct.unpack("<HHIIHH", header[20:36])[0] == 0xFFFE  # WAVE_FORMAT_EXTENSIBLE
    assert sf.info(us8k_root / "audio" / "fold5" / "100263-2-0-117.wav").subtype == "PCM_24"
    paths = [it.path for it in urbansound8k(us8k_root)[1:3]]
    paths += [extended_ballroom(extended_root)[0].path, gtzan(gtzan_au)[0].path]
    for path in paths:
        y = load_audio(path)
        # 0.2 s at 12 kHz = 2400 samples; the mp3 decoder adds up to a frame of padding
        assert y.ndim == 1 and 2400 <= y.size <= 2400 + 1152, path
        assert abs(dominant_hz(y) - TONE_HZ) < 12000 / y.size, path  # within one FFT bin
        assert 0.2 < np.sqrt(np.mean(y[200:-200] ** 2)) < 0.5, path  # 0.5 amplitude sine: rms 0.354


# ---------------------------------------------------------------------------------------- CSV list
def test_csv_list(tmp_path, clips):
    audio = tmp_path / "my_audio"
    put(clips["wav"], audio / "x" / "a.wav")
    put(clips["mp3"], audio / "b.mp3")
    elsewhere = put(clips["au"], tmp_path / "other" / "c.au")
    csv_path = write_lines(tmp_path / "meta" / "list.csv",
                           ["path,label,fold", "x/a.wav,cat,1", f"{elsewhere},dog,2", "b.mp3 , dog ,3"])
    items = csv_list(csv_path, audio_root=audio)
    assert items == [
        Item(path=str(audio / "x" / "a.wav"), label="cat", id="x/a.wav", fold=1),
        Item(path=str(elsewhere), label="dog", id=elsewhere.as_posix(), fold=2),
        Item(path=str(audio / "b.mp3"), label="dog", id="b.mp3", fold=3),
    ]
    local = write_lines(audio / "list.csv", ["path,label", "x/a.wav,cat"])  # default root: CSV folder
    assert csv_list(local) == [Item(path=str(audio / "x" / "a.wav"), label="cat", id="x/a.wav")]


def test_csv_list_errors(tmp_path, clips):
    put(clips["wav"], tmp_path / "a.wav")
    missing = write_lines(tmp_path / "l1.csv", ["path,label", "a.wav,cat", "", "gone.wav,dog"])
    with pytest.raises(ConfigError, match=r"l1\.csv:4: listed file gone\.wav not found"):
        csv_list(missing)
    no_label = write_lines(tmp_path / "l2.csv", ["path,fold", "a.wav,1"])
    with pytest.raises(ConfigError, match=r"l2\.csv: column 'label' missing from the header"):
        csv_list(no_label)
    bad_fold = write_lines(tmp_path / "l3.csv", ["path,label,fold", "a.wav,cat,one"])
    with pytest.raises(ConfigError, match=r"l3\.csv:2: 'fold' must be a positive integer, got 'one'"):
        csv_list(bad_fold)
    with pytest.raises(ConfigError, match=r"l4\.csv: dataset CSV not found"):
        csv_list(tmp_path / "l4.csv")


# --------------------------------------------------------------------------- registry and config
@pytest.mark.parametrize("name,key", [("GTZAN", "gtzan"), ("gtzan", "gtzan"), ("Ballroom", "ballroom"),
                                      ("ExtendedBallroom", "extended_ballroom"),
                                      ("extended_ballroom", "extended_ballroom"),
                                      ("UrbanSound8K", "urbansound8k"), ("FOLDER", "folder")])
def test_load_dataset_names(name, key, gtzan_au, ballroom_root, extended_root, us8k_root):
    roots = {"gtzan": gtzan_au, "ballroom": ballroom_root, "extended_ballroom": extended_root,
             "urbansound8k": us8k_root, "folder": gtzan_au}
    assert load_dataset(name, roots[key]) == DATASETS[key](roots[key])


def test_load_dataset_errors(us8k_root, gtzan_wav):
    with pytest.raises(ConfigError, match=r"unknown dataset 'MagnaTagATune' \(valid: gtzan, ballroom, "
                                          r"extended_ballroom, urbansound8k, folder, csv\)"):
        load_dataset("MagnaTagATune", us8k_root)
    with pytest.raises(ConfigError, match=r"splits are for gtzan only"):
        load_dataset("UrbanSound8K", us8k_root, splits=us8k_root)
    assert len(load_dataset("GTZAN", gtzan_wav, splits=gtzan_wav.parent / "GTZAN_split")) == 7


def config(**kw) -> Config:
    return Config(architecture="vgg", n_frames=1376, **kw)


def test_items_from_config_uses_the_dataset_adapter(us8k_root, gtzan_au, ballroom_root):
    by_us8k = items_from_config(config(dataset="UrbanSound8K", audio_path=str(us8k_root)))
    assert by_us8k == urbansound8k(us8k_root)
    assert items_from_config(config(dataset="GTZAN", audio_path=str(gtzan_au))) == gtzan(gtzan_au)
    by_ballroom = items_from_config(config(dataset="Ballroom", audio_path=str(ballroom_root)))
    assert {it.label for it in by_ballroom} == set(BALLROOM_CLASSES)
    by_folder = items_from_config(config(dataset="demo", audio_path=str(ballroom_root)))  # unknown: folders
    assert {it.label for it in by_folder} == set(BALLROOM_FOLDERS)


def test_items_from_config_gtzan_lists(gtzan_wav):
    splits = gtzan_wav.parent / "GTZAN_split"
    cfg = config(dataset="GTZAN", audio_path=str(gtzan_wav),
                 train_set_list=str(splits / "train_filtered.txt"),
                 val_set_list=str(splits / "valid_filtered.txt"),
                 test_set_list=str(splits / "test_filtered.txt"))
    assert items_from_config(cfg) == gtzan(gtzan_wav, splits)
    one = items_from_config(cfg.replace(train_set_list=None, val_set_list=None, test_set_list=None,
                                        audios_list=str(splits / "valid_filtered.txt")))
    assert [(it.id, it.label, it.split, Path(it.path).name) for it in one] == [
        ("blues/blues.00001.wav", "blues", None, "blues.00001.wav"),
        ("jazz/jazz.00002.wav", "jazz", None, "jazz.00002.au")]
    # without a dataset name the list is read as before: exact files, label = parent folder
    with pytest.raises(ConfigError,
                       match=r"valid_filtered\.txt:2: listed file jazz/jazz\.00002\.wav not found"):
        items_from_config(cfg.replace(dataset=None))


def test_items_from_config_urbansound8k_list(us8k_root, tmp_path):
    """The original's US8K list: paths relative to audio/, class and fold from the metadata CSV."""
    listing = write_lines(tmp_path / "us8k.txt", ["fold10/102305-6-0-0.wav", "fold5/100032-3-0-0.wav"])
    cfg = config(dataset="UrbanSound8K", audio_path=str(us8k_root / "audio"), audios_list=str(listing))
    assert [(it.id, it.label, it.fold) for it in items_from_config(cfg)] == [
        ("fold10/102305-6-0-0.wav", "gun_shot", 10), ("fold5/100032-3-0-0.wav", "dog_bark", 5)]
    put(us8k_root / "audio" / "fold1" / "101415-3-0-2.wav", us8k_root / "audio" / "fold2" / "stray.wav")
    write_lines(listing, ["fold2/stray.wav"])
    with pytest.raises(ConfigError, match=r"us8k\.txt:1: stray\.wav is not in .*UrbanSound8K\.csv"):
        items_from_config(cfg)


# ------------------------------------------------------------------------------ symbolic links
@pytest.fixture
def linked_root(tmp_path, clips) -> tuple[Path, Path]:
    """A dataset assembled from links: ``xb/Chacha -> archive/ChaChaCha``, ``xb/Jive ->
    archive/Jive`` (which holds a sub-folder with a link back to ``archive/Jive``: a loop), and a
    real ``xb/Tango`` holding one real file and one link to a file elsewhere. Returns
    ``(root, archive)``."""
    archive = tmp_path / "archive" / "ballroom"
    put(clips["mp3"], archive / "ChaChaCha" / "b.mp3")
    put(clips["mp3"], archive / "ChaChaCha" / "a.mp3")
    put(clips["mp3"], archive / "Jive" / "c.mp3")
    put(clips["mp3"], archive / "Jive" / "extra" / "d.mp3")
    (archive / "Jive" / "extra" / "loop").symlink_to(archive / "Jive", target_is_directory=True)
    put(clips["mp3"], tmp_path / "elsewhere" / "e.mp3")
    root = tmp_path / "xb"
    root.mkdir()
    (root / "Chacha").symlink_to(archive / "ChaChaCha", target_is_directory=True)
    (root / "Jive").symlink_to(Path("..") / "archive" / "ballroom" / "Jive")  # relative link
    put(clips["mp3"], root / "Tango" / "t1.mp3")
    (root / "Tango" / "t2.mp3").symlink_to(tmp_path / "elsewhere" / "e.mp3")
    (root / "Tango" / ".t3.mp3").symlink_to(tmp_path / "elsewhere" / "e.mp3")  # hidden: skipped
    (root / ".hidden").symlink_to(archive / "ChaChaCha", target_is_directory=True)  # hidden: skipped
    return root, archive


EXPECTED_LINKED = [  # (id, label), by hand; the same as a copy of the folders would give
    ("Chacha/a.mp3", "Chacha"), ("Chacha/b.mp3", "Chacha"), ("Jive/c.mp3", "Jive"),
    ("Jive/extra/d.mp3", "Jive"), ("Tango/t1.mp3", "Tango"), ("Tango/t2.mp3", "Tango"),
]


def test_symlinked_class_folders_and_files_are_followed(linked_root):
    root, archive = linked_root
    with pytest.warns(ElmarcWarning, match=r"Jive/extra/loop: links to .*xb/Jive, which is already listed"):
        items = extended_ballroom(root)
    assert [(it.id, it.label) for it in items] == EXPECTED_LINKED
    # paths keep the links (ids relative to the root given) and reach the real files
    assert [it.path for it in items] == [str(root / rel) for rel, _ in EXPECTED_LINKED]
    assert Path(items[0].path).resolve() == (archive / "ChaChaCha" / "a.mp3").resolve()
    assert Path(items[-1].path).resolve() == (root.parent / "elsewhere" / "e.mp3").resolve()
    assert dominant_hz(load_audio(items[-1].path, 12000)) == pytest.approx(TONE_HZ, abs=10)

    # the root itself given through a link: same ids, paths under the link
    (root.parent / "xb_link").symlink_to(root, target_is_directory=True)
    with pytest.warns(ElmarcWarning):
        via_link = folder_per_class(root.parent / "xb_link")
    assert [it.id for it in via_link] == [rel for rel, _ in EXPECTED_LINKED]
    assert via_link[0].path == str(root.parent / "xb_link" / "Chacha" / "a.mp3")


def test_symlink_loop_warning_is_one_line_from_the_command(linked_root, tmp_path, capsys):
    root, _ = linked_root
    config = tmp_path / "mfcc.yaml"
    config.write_text(f"features_type: MFCC\naudio_path: {root}\n")
    main(["extract", str(config), "--out", str(tmp_path / "features"), "--quiet"])
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "loop" in line] == [
        f"elmarc: warning: {root / 'Jive' / 'extra' / 'loop'}: links to {root / 'Jive'}, which "
        f"is already listed; skipped"]
    assert not [line for line in err if "warn" in line and not line.startswith("elmarc: warning:")]


def test_symlinked_layout_lists_like_a_copy(linked_root, tmp_path, clips):
    root, archive = linked_root
    copy = tmp_path / "copy"
    for rel, _ in EXPECTED_LINKED:
        put(clips["mp3"], copy / rel)
    with pytest.warns(ElmarcWarning):
        linked = extended_ballroom(root)
    assert [(it.id, it.label) for it in linked] == [(it.id, it.label) for it in extended_ballroom(copy)]


def test_two_links_to_one_folder_list_its_clips_once(linked_root):
    root, archive = linked_root
    (root / "Chacha").unlink()
    (root / "Chacha").mkdir()
    (root / "Chacha" / "one").symlink_to(archive / "ChaChaCha", target_is_directory=True)
    (root / "Chacha" / "two").symlink_to(archive / "ChaChaCha", target_is_directory=True)
    with pytest.warns(ElmarcWarning) as record:
        items = folder_per_class(root)
    assert [it.id for it in items if it.label == "Chacha"] == ["Chacha/one/a.mp3", "Chacha/one/b.mp3"]
    assert any("Chacha/two: links to" in str(w.message) for w in record)


@pytest.mark.filterwarnings("ignore::elmarc_tf.errors.ElmarcWarning")  # the loop
def test_broken_links_are_named(linked_root, gtzan_wav):
    root, archive = linked_root
    (root / "Waltz").symlink_to(archive / "Waltz", target_is_directory=True)  # never existed
    with pytest.raises(ConfigError, match=r"xb/Waltz: the class folder is a broken symbolic link to "
                                          r".*archive/ballroom/Waltz$"):
        extended_ballroom(root)
    (root / "Waltz").unlink()
    (root / "Tango" / "t3.mp3").symlink_to("gone.mp3")  # a broken link to one clip
    with pytest.raises(ConfigError, match=r"xb/Tango/t3.mp3: broken symbolic link to gone.mp3$"):
        extended_ballroom(root)
    (root / "Tango" / "t3.mp3").unlink()
    (root / "Tango" / "self").symlink_to("self")  # a link to itself: a loop of links, never a folder
    with pytest.raises(ConfigError, match=r"xb/Tango/self: broken symbolic link to self$"):
        extended_ballroom(root)
    # the root itself
    (root.parent / "dangling").symlink_to(root.parent / "nowhere")
    with pytest.raises(ConfigError, match=r"dangling: broken symbolic link to .*nowhere$"):
        folder_per_class(root.parent / "dangling")

    # list files: a listed clip whose genre folder is a broken link
    shutil.rmtree(gtzan_wav / "jazz")
    (gtzan_wav / "jazz").symlink_to(gtzan_wav.parent / "moved" / "jazz", target_is_directory=True)
    with pytest.raises(ConfigError, match=r"train_filtered\.txt:2: listed file jazz/jazz\.00000\.wav: "
                                          r".*genres_original/jazz is a broken symbolic link to "
                                          r".*moved/jazz$"):
        gtzan(gtzan_wav, splits=gtzan_wav.parent / "GTZAN_split")
