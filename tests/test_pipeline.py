"""tf.data pipeline and extraction into the feature store: real file formats, bad files, resume."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import music_like
from elmarc_tf import Config, build_extractor
from elmarc_tf.io.audio import load_audio
from elmarc_tf.io.fix_length import fix_length_np as fix_length
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.errors import ConfigError
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.frontends.melspec import LogMelSpectrogram
from elmarc_tf.extraction.store import load_store

WAVE = dict(architecture="sample_level", num_filters=4, n_samples=12000, fix_length_by="zero-pad",
            batch_size=3)
SPEC = dict(architecture="7x96", num_filters=8, n_frames=40, fix_length_by="repeat-pad", batch_size=3)


def write(path, y, sr, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kw)
    return path


@pytest.fixture
def mixed_folder(tmp_path):
    """Class folders holding every kind of file a user may have, good and bad."""
    root = tmp_path / "audio"
    write(root / "a" / "mono_12k.wav", music_like(1.5, 12000, 1), 12000)
    write(root / "a" / "stereo_44k.wav", np.stack([music_like(1.2, 44100, 2)] * 2, 1), 44100,
          subtype="PCM_24")
    write(root / "a" / "low_8k.wav", music_like(2.0, 8000, 3), 8000)
    write(root / "b" / "song.flac", music_like(1.0, 22050, 4), 22050)
    write(root / "b" / "song.ogg", music_like(1.0, 22050, 5), 22050)
    write(root / "b" / "song.mp3", music_like(1.0, 44100, 6), 44100)
    write(root / "b" / "very_short.wav", music_like(1.0, 12000, 7)[:120], 12000)  # 10 ms
    (root / "b" / "corrupt.wav").write_bytes(b"RIFF$\x00\x00\x00WAVEfmt " + os.urandom(200))
    (root / "b" / "empty.wav").write_bytes(b"")
    return root


def direct_inputs(cfg, paths):
    """What the pipeline should feed the model, computed clip by clip without tf.data."""
    out = []
    for p in paths:
        y = load_audio(p, cfg.sampling_rate, cfg.res_type)
        if cfg.signal == "waveform":
            out.append(fix_length(y, cfg.n_samples, cfg.fix_length_by)[:, None])
        else:
            logmel = LogMelSpectrogram(pad_mode=cfg.pad_mode)(y[None]).numpy()[0]
            out.append(fix_length(logmel, cfg.n_frames, cfg.fix_length_by))
    return np.stack(out)


@pytest.mark.parametrize("fields", [WAVE, SPEC], ids=["waveform", "spectrogram"])
def test_every_format_decodes_and_bad_files_are_recorded(mixed_folder, tmp_path, fields):
    cfg = Config(**fields)
    items = folder_per_class(mixed_folder)
    result = extract(cfg, items, seed=0, out=tmp_path / "store", run=RunOptions(progress=False))
    X, y, ids, manifest = load_store(result.folder)
    failures = {Path(f["path"]).name: f["error"] for f in manifest["failures"]}
    expected_failed = {"corrupt.wav", "empty.wav"} | ({"very_short.wav"} if cfg.signal == "spectrogram" else set())
    assert set(failures) == expected_failed
    assert "cannot decode audio" in failures["corrupt.wav"] and "corrupt.wav" in failures["corrupt.wav"]
    assert "empty file" in failures["empty.wav"]
    if cfg.signal == "spectrogram":
        assert "too short for a 512-point STFT" in failures["very_short.wav"]
    assert all("\n" not in e for e in failures.values())
    good = [it for it in items if Path(it.path).name not in expected_failed]
    assert list(ids) == [it.id for it in good] and list(y) == [it.label for it in good]
    # Features from the pipeline equal the model called directly on the same arrays.
    model = build_extractor(cfg, seed=0, inputs="logmel")
    expected = model(direct_inputs(cfg, [it.path for it in good])).numpy()
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert manifest["n_failed"] == len(expected_failed) and X.shape == (len(good), manifest["feature_length"])
    assert manifest["layout"][0]["name"] == ("conv0" if cfg.signal == "waveform" else "pool")


def test_crop_refuses_short_clips_with_a_clear_error(mixed_folder, tmp_path):
    cfg = Config(**{**WAVE, "fix_length_by": "crop"})
    result = extract(cfg, folder_per_class(mixed_folder), out=tmp_path,
                     run=RunOptions(progress=False))
    failures = {Path(f["path"]).name: f["error"] for f in result.manifest["failures"]}
    assert set(failures) == {"very_short.wav", "corrupt.wav", "empty.wav"}
    assert failures["very_short.wav"].endswith(
        "very_short.wav: has 120 steps, fewer than the required 12000; "
        "use fix_length_by 'zero-pad' or 'repeat-pad' for short clips")


def test_strict_stops_at_the_first_failure_and_keeps_finished_batches(mixed_folder, tmp_path):
    from elmarc_tf import AudioError

    cfg = Config(**{**WAVE, "batch_size": 1})
    items = folder_per_class(mixed_folder)
    names = [Path(it.path).name for it in items]
    first_bad = names.index("corrupt.wav")  # the files before it decode
    assert names[:first_bad] == ["low_8k.wav", "mono_12k.wav", "stereo_44k.wav"]
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode audio"):
        extract(cfg, items, out=tmp_path / "strict", strict=True, run=RunOptions(progress=False))
    # kept: one batch per clip up to and including the failed one (recorded as failed)
    assert len(list((tmp_path / "strict").rglob("chunks/*.npz"))) == first_bad + 1
    result = extract(cfg, items, out=tmp_path / "strict",
                     run=RunOptions(progress=False))  # resumes: the rest
    assert result.n_computed == len(items) - (first_bad + 1) == 5
    failures = sorted(Path(f["path"]).name for f in result.manifest["failures"])
    assert result.n_failed == result.manifest["n_failed"] == 2
    assert failures == ["corrupt.wav", "empty.wav"]  # the one before the stop, one after it
    # the resumed store holds what one uninterrupted run computes
    clean = extract(cfg, items, out=tmp_path / "clean", run=RunOptions(progress=False))
    assert clean.n_computed == len(items) and clean.manifest["failures"] == result.manifest["failures"]
    a, b = load_store(result.folder), load_store(clean.folder)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.X, b.X)


def test_pipeline_is_independent_of_batch_size(mixed_folder, tmp_path):
    items = [it for it in folder_per_class(mixed_folder) if it.path.endswith((".flac", ".ogg", "mono_12k.wav"))]
    a = extract(Config(**{**SPEC, "batch_size": 1}), items, out=tmp_path / "a",
                run=RunOptions(progress=False))
    b = extract(Config(**{**SPEC, "batch_size": 4}), items, out=tmp_path / "b",
                run=RunOptions(progress=False))
    np.testing.assert_allclose(load_store(a.folder).X, load_store(b.folder).X, rtol=1e-5, atol=1e-6)
    auto = extract(Config(**{**SPEC, "batch_size": "auto"}), items, out=tmp_path / "c",
                   run=RunOptions(progress=False))
    assert [n for n, _ in auto.batch_seconds] == [len(items)]  # a tiny model: one batch of all
    np.testing.assert_allclose(load_store(auto.folder).X, load_store(a.folder).X, rtol=1e-5, atol=1e-6)


def test_batch_norm_with_auto_batch_size_fails_before_any_work(mixed_folder, tmp_path):
    items = folder_per_class(mixed_folder)
    cfg = Config(architecture="vgg", num_filters=4, n_frames=1280, batch_norm=True)
    with pytest.raises(ConfigError, match="batch_size 'auto' with batch_norm"):
        extract(cfg, items, out=tmp_path, run=RunOptions(progress=False))
    assert not any(tmp_path.rglob("*.npy"))


KILL_SCRIPT = """
import json, os, signal, sys
import elmarc_tf.extraction.pipeline as pipeline
from elmarc_tf import Config
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.store import StoreWriter
from elmarc_tf.extraction.options import RunOptions
decoded, load_audio = [], pipeline.load_audio
def counting_load(path, *args, **kwargs):  # the files this process decodes
    decoded.append(os.path.basename(path))
    return load_audio(path, *args, **kwargs)
pipeline.load_audio = counting_load
if len(sys.argv) > 3:  # SIGKILL this process right after its n-th batch is written
    kill_after, write_chunk = int(sys.argv[3]), StoreWriter.write_chunk
    def write_then_die(self, *args, **kwargs):
        write_chunk(self, *args, **kwargs)
        if len(list(self.chunks.glob("*.npz"))) >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    StoreWriter.write_chunk = write_then_die
cfg = Config(architecture="sample_level", num_filters=16, n_samples=60000, batch_size=1)
r = extract(cfg, folder_per_class(sys.argv[1]), seed=5, out=sys.argv[2],
            run=RunOptions(progress=False))
print("computed", r.n_computed)
print("decoded", json.dumps(decoded))
"""


def decoded_files(stdout: str) -> list:
    """The file names the KILL_SCRIPT run decoded, in order."""
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("decoded "))[8:])


def test_killed_extraction_resumes_to_the_same_store(tmp_path):
    root = tmp_path / "audio"
    for k in range(40):
        write(root / f"c{k % 2}" / f"clip{k:02d}.wav", music_like(5.0, 12000, k), 12000)
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    cmd = [sys.executable, str(script), str(root)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    killed = subprocess.run(cmd + [str(tmp_path / "killed"), "3"], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    chunks = sorted((tmp_path / "killed").rglob("chunks/*.npz"))
    assert len(chunks) == 3  # killed after its third batch, as arranged
    assert not list((tmp_path / "killed").rglob("manifest.json"))
    names = [Path(it.path).name for it in folder_per_class(root)]  # the store's clip order
    kept = {names[i] for chunk in chunks for i in np.load(chunk)["indices"]}
    assert len(kept) == 3

    resumed = subprocess.run(cmd + [str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # the clips decoded again are exactly those no kept batch holds, each once
    assert sorted(decoded_files(resumed.stdout)) == sorted(set(names) - kept)
    assert "computed 37" in resumed.stdout
    clean = subprocess.run(cmd + [str(tmp_path / "clean")], env=env, capture_output=True, text=True)
    assert "computed 40" in clean.stdout and sorted(decoded_files(clean.stdout)) == sorted(names)

    [killed_store] = list((tmp_path / "killed").rglob("manifest.json"))
    [clean_store] = list((tmp_path / "clean").rglob("manifest.json"))
    a, b = load_store(killed_store.parent), load_store(clean_store.parent)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.y, b.y)
    assert not (killed_store.parent / "chunks").exists()
    again = subprocess.run(cmd + [str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert "computed 0" in again.stdout  # a finished store is not recomputed
    assert decoded_files(again.stdout) == []


def test_store_refuses_a_different_file_list(tmp_path, mixed_folder):
    from elmarc_tf import ElmarcError
    from elmarc_tf.extraction.store import StoreWriter

    cfg = Config(**WAVE)
    items = folder_per_class(mixed_folder)
    StoreWriter(tmp_path, cfg, items, 0).begin()
    with pytest.raises(ElmarcError, match="different file list"):
        StoreWriter(tmp_path, cfg, items[:-1], 0).begin()
