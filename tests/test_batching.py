"""``batch_size: auto``: sized from the model's FLOPs and its largest map (counted by hand here),
or for long jobs measured on this machine (with a stand-in measurement: no timing is asserted)."""

from __future__ import annotations

import math

import pytest

from elmarc_tf import Config
from elmarc_tf.extraction import batching
from elmarc_tf.extraction.batching import (MAX_BATCH, MEMORY_PER_BATCH, WORK_PER_BATCH, auto_batch_size,
                                largest_map_bytes, resolve_batch_size)
from elmarc_tf.errors import ConfigError
from elmarc_tf.models.extractor import build_extractor
from elmarc_tf.models.flops import model_flops
from elmarc_tf.extraction.options import RunOptions


def _single(nf, n_frames, shape=(7, 86), pool=(1, 11)):
    return Config.from_dict(dict(architecture="cnn_single", filter_shape=shape, pool_shape=pool,
                                 num_filters=nf, n_frames=n_frames, selected_features_list=[1]))


def test_largest_map_is_the_full_convolution_output():
    cfg = _single(nf=6, n_frames=40)
    # (40 - 7 + 1) frames x (96 - 86 + 1) bands x 6 filters, float32: the full map, although the
    # fast model fuses the 1x11 max-pool into the convolution (an upper bound)
    assert largest_map_bytes(build_extractor(cfg)) == 4 * 34 * 11 * 6


@pytest.mark.parametrize("nf, n_frames", [(6, 40), (160, 1376), (3585, 1376)])
def test_auto_batch_size_by_work_and_memory(nf, n_frames):
    cfg = _single(nf, n_frames, shape=(7, 96), pool=(1, 1))
    flops = 2 * (n_frames - 6) * 7 * 96 * nf
    map_bytes = 4 * (n_frames - 6) * nf
    want = max(1, min(math.ceil(WORK_PER_BATCH / flops), MEMORY_PER_BATCH // map_bytes, MAX_BATCH))
    assert auto_batch_size(build_extractor(cfg)) == want
    assert resolve_batch_size(cfg, build_extractor(cfg)) == want


def test_auto_batch_size_of_the_paper_sizes():
    tiny = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1))
    assert auto_batch_size(build_extractor(tiny)) == MAX_BATCH  # ~3 MFLOP per clip
    big = _single(nf=3585, n_frames=1376, shape=(7, 96), pool=(1, 1))
    assert auto_batch_size(build_extractor(big)) == 1  # 6.6 GFLOP per clip
    vgg = Config.from_dict(dict(architecture="vgg", num_filters=717, n_frames=1376))
    # 169 GFLOP per clip and a 1376x96x717 first map (379 MB): one clip per pass
    assert auto_batch_size(build_extractor(vgg)) == 1


def test_explicit_batch_sizes_win():
    cfg = _single(nf=6, n_frames=40).replace(batch_size=7)
    assert resolve_batch_size(cfg, build_extractor(cfg)) == 7
    assert resolve_batch_size(cfg, build_extractor(cfg), requested=3) == 3
    mfcc = Config.from_dict(dict(features_type="MFCC"))  # no convolution: the largest batch
    assert resolve_batch_size(mfcc, build_extractor(mfcc)) == MAX_BATCH


def test_batch_norm_needs_an_explicit_batch_size():
    cfg = Config.from_dict(dict(architecture="vgg", num_filters=4, n_frames=1280, batch_norm=True))
    with pytest.raises(ConfigError, match="batch_size 'auto' with batch_norm"):
        resolve_batch_size(cfg, build_extractor(cfg))
    assert resolve_batch_size(cfg.replace(batch_size=10), None) == 10


@pytest.mark.parametrize("value", [0, -3, "banana", 2.5, True])
def test_batch_size_must_be_auto_or_positive(value):
    with pytest.raises(ConfigError, match="'batch_size' must be a positive integer"):
        Config.from_dict(dict(architecture="vgg", batch_size=value))


# ------------------------------------------------------------------ measured on this machine
def _fake_rates(rates):
    calls = []

    def measure(extractor, sizes):
        calls.append(list(sizes))
        return {b: rates[b] for b in sizes if b in rates}

    return measure, calls


def test_short_jobs_use_the_rule_and_long_ones_measure_once_per_machine(tmp_path, monkeypatch):
    from elmarc_tf.extraction import batching
    from elmarc_tf.models.extractor import compile_extractor

    cfg = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1))
    extractor = compile_extractor(cfg)
    rule = auto_batch_size(extractor.model)
    assert batching.choose_batch_size(cfg, extractor, 100, folder=tmp_path).to_dict() == \
        {"size": rule, "how": "rule", "rates": {}}
    assert batching.choose_batch_size(cfg.replace(batch_size=3), extractor, 10**9).how == "given"

    long_job = math.ceil(batching.SEARCH_ABOVE_SECONDS * batching.NOMINAL_FLOPS_PER_SECOND
                         / model_flops(extractor.model))
    measure, calls = _fake_rates({1: 10.0, 2: 30.0, 4: 31.0, 8: 31.0, 16: 5.0, rule: 12.0})
    first = batching.choose_batch_size(cfg, extractor, long_job, folder=tmp_path, measure=measure)
    assert first.how == "measured" and first.size == 4  # the fastest; a tie goes to the smaller
    assert calls == [batching.search_candidates(extractor.model, rule)]
    again = batching.choose_batch_size(cfg, extractor, long_job, folder=tmp_path, measure=measure)
    assert again.how == "cached" and again.size == 4 and len(calls) == 1  # not measured again
    other = cfg.replace(num_filters=7)  # another configuration: its own measurement
    batching.choose_batch_size(other, compile_extractor(other), 10 * long_job, folder=tmp_path,
                               measure=measure)
    assert len(calls) == 2
    monkeypatch.setattr(batching, "machine_key", lambda: {"cpu": "another one"})
    assert batching.choose_batch_size(cfg, extractor, long_job, folder=tmp_path,
                                      measure=measure).how == "measured"  # another machine
    assert len(calls) == 3


def test_the_search_stays_under_its_memory_cap_and_measures_real_calls():
    from elmarc_tf.extraction import batching
    from elmarc_tf.models.extractor import compile_extractor

    big = Config.from_dict(dict(architecture="vgg", num_filters=717, n_frames=1376))
    model = build_extractor(big)
    candidates = batching.search_candidates(model, auto_batch_size(model))
    assert candidates == [1, 2] and 2 * largest_map_bytes(model) <= batching.SEARCH_MEMORY
    tiny = compile_extractor(_single(nf=6, n_frames=40))
    calls = []

    class Recorded:  # the extractor, the batch size of each call recorded
        input_shape = tiny.input_shape

        def __call__(self, x):
            calls.append(len(x))
            return tiny(x)

    rates = batching.measure_rates(Recorded(), [1, 2, 4], seconds=1.0)
    # how many sizes fit the second depends on the machine; those timed come in order, each
    # called on a batch of its size (one warm-up and at least two timed calls), the others never
    assert list(rates) == list(dict.fromkeys(calls)) == [1, 2, 4][:len(rates)]
    assert all(calls.count(size) >= 3 for size in rates) and all(r > 0 for r in rates.values())


def test_the_search_stops_at_the_first_size_whose_one_call_would_not_fit(monkeypatch):
    """``measure_rates`` with calls timed by a stand-in: each size's rate is its size over its
    call's seconds, and a size whose one call at the best rate so far would take longer than the
    time left ends the search (here 10 s: 32 clips at 2 clips/s would take 16 s)."""
    call_seconds = {1: 0.5, 2: 1.0, 16: 8.0, 32: 1.0, 64: 1.0}  # 2 clips/s up to 16
    timed = []

    def fake_best_call_seconds(fn, args, seconds, min_calls=3):
        [x] = args
        timed.append((len(x), min_calls))
        return call_seconds[len(x)]

    monkeypatch.setattr(batching, "best_call_seconds", fake_best_call_seconds)
    extractor = type("Extractor", (), {"input_shape": (3, 2)})()
    rates = batching.measure_rates(extractor, [1, 2, 16, 32, 64], seconds=10.0)
    assert rates == {1: 2.0, 2: 2.0, 16: 2.0} and timed == [(1, 2), (2, 2), (16, 2)]


def test_the_manifest_says_which_batch_size_and_why(tmp_path):
    import soundfile as sf

    from conftest import music_like
    from elmarc_tf.datasets import folder_per_class
    from elmarc_tf.extraction.extract import extract

    for k in range(2):
        (tmp_path / "a").mkdir(exist_ok=True)
        sf.write(tmp_path / "a" / f"{k}.wav", music_like(1.0, 12000, k), 12000)
    items = folder_per_class(tmp_path)
    cfg = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1)).replace(fix_length_by="repeat-pad")
    auto = extract(cfg, items, out=tmp_path / "auto",
                   run=RunOptions(progress=False)).manifest["batch"]
    assert auto == {"size": auto_batch_size(build_extractor(cfg)), "how": "rule", "rates": {}}
    given = extract(cfg, items, out=tmp_path / "given", batch_size=1,
                    run=RunOptions(progress=False)).manifest
    assert given["batch"] == {"size": 1, "how": "given", "rates": {}}
