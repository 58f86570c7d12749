"""The decoded-audio cache: same arrays as load_audio, each clip decoded once per study."""

import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import elmarc_tf.io.audio
import elmarc_tf.extraction.pipeline
from conftest import music_like
from elmarc_tf import AudioError, Config
from elmarc_tf.io.audio import load_audio
from elmarc_tf.io.audio_cache import AudioCache, as_audio_cache
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.store import load_store
from elmarc_tf.extraction.options import RunOptions

WAVE = dict(architecture="sample_level", num_filters=4, n_samples=12000, fix_length_by="zero-pad",
            batch_size=2)
SPEC = dict(architecture="7x96", num_filters=8, n_frames=40, fix_length_by="repeat-pad", batch_size=2)


def stereo_44k(seconds, seed):
    y = music_like(seconds, 44100, seed)
    return np.stack([y, 0.7 * y], axis=1)


@pytest.fixture(scope="module")
def audio_root(tmp_path_factory):
    """WAV (24-bit), FLAC and MP3 files, 44.1 kHz stereo, in two class folders."""
    root = tmp_path_factory.mktemp("cache_audio") / "audio"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    sf.write(root / "a" / "one.wav", stereo_44k(1.5, 1), 44100, subtype="PCM_24")
    sf.write(root / "a" / "two.flac", stereo_44k(1.2, 2), 44100)
    sf.write(root / "b" / "three.mp3", stereo_44k(1.3, 3), 44100)
    return root


@pytest.fixture
def count_decodes(monkeypatch):
    """Counts decodes: calls of ``load_audio`` by the cache (``elmarc_tf.io.audio.load_audio``) or by
    the uncached pipeline (its own binding). They come from tf.data threads: list.append."""
    calls = []
    original = elmarc_tf.io.audio.load_audio

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(elmarc_tf.io.audio, "load_audio", counting)
    monkeypatch.setattr(elmarc_tf.extraction.pipeline, "load_audio", counting)
    return calls


def test_cached_load_equals_load_audio_exactly(audio_root, tmp_path):
    cache = AudioCache(tmp_path / "cache")
    paths = sorted(str(p) for p in audio_root.rglob("*.*"))
    for res_type in ("soxr_hq", "kaiser_best"):
        for path in paths:
            expected = load_audio(path, 12000, res_type)
            for _ in range(2):  # a miss, then a hit
                got = cache.load(path, 12000, res_type)
                assert got.dtype == np.float32 and np.array_equal(got, expected), (path, res_type)
    assert cache.stats() == {"hits": 6, "misses": 6, "failures": 0, "unwritten": 0}
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 6
    # another object (another process) on the same folder: all hits
    other = AudioCache(tmp_path / "cache")
    assert all(np.array_equal(other.load(p), load_audio(p)) for p in paths)
    assert other.stats()["hits"] == 3 and other.stats()["misses"] == 0


def test_second_config_decodes_nothing_and_features_are_identical(audio_root, tmp_path, count_decodes):
    items = folder_per_class(audio_root)
    wave, spec = Config(**WAVE), Config(**SPEC)
    plain = {name: extract(cfg, items, out=tmp_path / "plain", run=RunOptions(progress=False))
             for name, cfg in (("wave", wave), ("spec", spec))}
    assert len(count_decodes) == 6  # uncached: every config decodes every clip

    cache = AudioCache(tmp_path / "cache")
    del count_decodes[:]
    first = extract(wave, items, out=tmp_path / "cached", run=RunOptions(progress=False,
                    audio_cache=cache))
    assert sorted(count_decodes) == sorted(it.path for it in items)
    assert cache.stats()["misses"] == 3

    del count_decodes[:]
    second = extract(spec, items, out=tmp_path / "cached", run=RunOptions(progress=False,
                     audio_cache=cache))
    assert count_decodes == [] and cache.stats()["hits"] == 3 and cache.stats()["misses"] == 3
    # a new process given only the folder: hits too (content hashed, nothing decoded)
    third = extract(wave, items, seed=1, out=tmp_path / "cached", run=RunOptions(progress=False,
                    audio_cache=str(tmp_path / "cache")))
    assert count_decodes == []
    plain_seed1 = extract(wave, items, seed=1, out=tmp_path / "plain",
                          run=RunOptions(progress=False))

    for cached, uncached in ((first, plain["wave"]), (second, plain["spec"]), (third, plain_seed1)):
        # the cache does not change the store's identity, only the work done
        assert cached.folder.relative_to(tmp_path / "cached") == uncached.folder.relative_to(tmp_path / "plain")
        a, b = load_store(cached.folder), load_store(uncached.folder)
        assert a.X.shape == b.X.shape == (3, a.manifest["feature_length"])
        np.testing.assert_allclose(a.X, b.X, rtol=1e-5, atol=1e-5 * np.abs(b.X).max())
        assert list(a.ids) == list(b.ids)


def test_key_follows_content_resampler_and_rate_not_the_name(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, stereo_44k(1.0, 10), 44100)
    cache = AudioCache(tmp_path / "cache")
    key = cache.key(path, 12000, "soxr_hq")
    first = cache.load(path)
    assert cache.key(path, 12000, "kaiser_best") != key and cache.key(path, 16000, "soxr_hq") != key

    sf.write(path, stereo_44k(1.0, 11), 44100)  # same name, same size, other audio, right away
    assert cache.key(path, 12000, "soxr_hq") != key
    second = cache.load(path)
    assert np.array_equal(second, load_audio(path)) and not np.array_equal(second, first)
    assert cache.stats()["misses"] == 2

    copy = tmp_path / "elsewhere" / "renamed.wav"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    assert cache.key(copy) == cache.key(path)
    assert np.array_equal(cache.load(copy), second) and cache.stats()["hits"] == 1


def test_decoding_errors_are_not_cached_and_read_the_same(audio_root, tmp_path, count_decodes):
    bad = tmp_path / "audio"
    (bad / "x").mkdir(parents=True)
    shutil.copy(audio_root / "a" / "one.wav", bad / "x" / "good.wav")
    (bad / "x" / "corrupt.wav").write_bytes(b"RIFF$\x00\x00\x00WAVEfmt " + bytes(range(200)))
    (bad / "x" / "empty.wav").write_bytes(b"")
    cache = AudioCache(tmp_path / "cache")
    for name in ("corrupt.wav", "empty.wav", "missing.wav"):
        path = str(bad / "x" / name)
        with pytest.raises(AudioError) as direct:
            load_audio(path)
        for _ in range(2):
            with pytest.raises(AudioError) as cached:
                cache.load(path)
            assert str(cached.value) == str(direct.value)
    assert cache.stats() == {"hits": 0, "misses": 0, "failures": 6, "unwritten": 0}
    assert not list((tmp_path / "cache").rglob("*.npy"))

    items = folder_per_class(bad)
    cfg = Config(**SPEC)
    plain = extract(cfg, items, out=tmp_path / "plain", run=RunOptions(progress=False))
    runs = [extract(cfg, items, seed=s, out=tmp_path / "cached", run=RunOptions(progress=False,
                    audio_cache=cache))
            for s in (0, 1)]
    expected = plain.manifest["failures"]
    assert [f["path"] for f in expected] == [str(bad / "x" / "corrupt.wav"), str(bad / "x" / "empty.wav")]
    assert all(r.manifest["failures"] == expected and r.n_failed == 2 for r in runs)
    np.testing.assert_array_equal(load_store(runs[0].folder).X, load_store(plain.folder).X)


def test_concurrent_loads_and_a_damaged_entry(audio_root, tmp_path):
    paths = sorted(str(p) for p in audio_root.rglob("*.*"))
    expected = {p: load_audio(p) for p in paths}
    cache = AudioCache(tmp_path / "cache")
    results, errors = [], []

    def work(k):
        try:
            for p in paths[k % 3:] + paths[:k % 3]:
                results.append((p, cache.load(p)))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 18
    assert all(np.array_equal(y, expected[p]) for p, y in results)
    assert sum(cache.stats()[k] for k in ("hits", "misses")) == 18
    assert sorted(f.suffix for f in (tmp_path / "cache").rglob("*") if f.is_file()) == [".npy"] * 3

    entry = cache.entry(cache.key(paths[0]))
    entry.write_bytes(entry.read_bytes()[:100])  # damaged (not by us: writes are atomic)
    assert np.array_equal(cache.load(paths[0]), expected[paths[0]])
    assert np.array_equal(np.load(entry), expected[paths[0]])  # rewritten


def test_audio_cache_argument_forms(tmp_path, monkeypatch):
    import elmarc_tf.studies.paper
    from elmarc_tf.studies.paper import reproduce

    assert as_audio_cache(None) is None and as_audio_cache(False) is None
    cache = AudioCache(tmp_path)
    assert as_audio_cache(cache) is cache and as_audio_cache(str(tmp_path)).folder == tmp_path
    with pytest.raises(TypeError, match="audio_cache must be"):
        as_audio_cache(3)

    seen = []

    def fake_run(cfg, run=None, **kwargs):
        seen.append(run.audio_cache)
        return {}

    monkeypatch.setattr(elmarc_tf.studies.paper, "run_experiment", fake_run)
    monkeypatch.setattr(elmarc_tf.studies.paper, "compare",
                        lambda summaries, **kw: {"table": "", "ttest_table": "", "chart": ""})
    common = dict(audio_root=tmp_path, seeds=(0,), sizes=("small",), only=["7x86", "mfcc"],
                  out=tmp_path / "paper")
    quiet = RunOptions(log=lambda *a: None)
    reproduce("urbansound8k", **common, run=quiet)
    assert len(seen) == 4 and all(c is seen[0] for c in seen)  # one cache for the whole figure
    assert seen[0].folder == Path(tmp_path / "paper" / "urbansound8k" / "audio_cache")
    del seen[:]
    reproduce("urbansound8k", **common, run=replace(quiet, audio_cache=False))
    assert seen == [None] * 4
    del seen[:]
    reproduce("urbansound8k", **common, run=replace(quiet, audio_cache=tmp_path / "mine"))
    assert all(c.folder == tmp_path / "mine" for c in seen)
