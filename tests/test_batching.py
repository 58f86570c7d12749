"""``batch_size: auto``: sized from the model's FLOPs and its largest map (counted by hand here),
or for long jobs measured on this machine (with a stand-in measurement: no timing is asserted)."""

from __future__ import annotations

import math

import numpy as np
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
    calls, budgets = [], []

    def measure(extractor, sizes, seconds):
        calls.append(list(sizes))
        budgets.append(seconds)
        return {b: rates[b] for b in sizes if b in rates}

    measure.budgets = budgets
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
    monkeypatch.setattr(batching, "SEARCH_VERSION", batching.SEARCH_VERSION + 1)
    assert batching.choose_batch_size(cfg, extractor, long_job, folder=tmp_path,
                                      measure=measure).how == "measured"  # another search
    assert len(calls) == 4


def test_the_search_budget_scales_with_the_job():
    """2 % of the job's estimated compute, at least 8 s and at most 5 minutes."""
    budget = batching.search_budget
    assert budget(batching.SEARCH_ABOVE_SECONDS) == 8.0  # 2.4 s: the floor
    assert budget(400.0) == 8.0 and budget(1000.0) == pytest.approx(20.0)
    assert budget(3600.0) == pytest.approx(72.0)  # an hour's job: 72 s
    assert budget(10 * 3600.0) == 300.0  # ten hours: 720 s, the ceiling


def test_choose_batch_size_gives_the_search_its_share_of_the_job(tmp_path, monkeypatch):
    from elmarc_tf.models.extractor import compile_extractor

    cfg = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1))
    extractor = compile_extractor(cfg)
    flops = 2 * 34 * 7 * 96 * 6  # a clip's 34 x 6 outputs of 7 x 96 multiply-adds
    assert model_flops(extractor.model) == flops
    monkeypatch.setattr(batching, "NOMINAL_FLOPS_PER_SECOND", float(flops))  # a clip a second
    measure, _ = _fake_rates({1: 1.0})
    for n_clips, seconds in [(200, 8.0), (2000, 40.0), (5000, 100.0), (10**6, 300.0)]:
        batching.choose_batch_size(cfg, extractor, n_clips, folder=tmp_path / str(n_clips),
                                   measure=measure)
        assert measure.budgets[-1] == pytest.approx(seconds), n_clips


def test_whole_clip_front_ends_never_search(tmp_path):
    """samplecnn takes one whole clip (any length) per call: however long the job, ``auto`` is 1
    by the rule, and no batch of random fixed-size inputs is ever timed."""
    from elmarc_tf.frontends import takes_whole_clip
    from elmarc_tf.models.extractor import compile_extractor

    cfg = Config.from_dict(dict(architecture="samplecnn", levels=3, num_filters=2,
                                sampling_rate=22050))
    assert takes_whole_clip(cfg)

    def measure(extractor, sizes, seconds):
        raise AssertionError(f"searched {sizes}")

    choice = batching.choose_batch_size(cfg, compile_extractor(cfg), 10**9, folder=tmp_path,
                                        measure=measure)
    assert choice.to_dict() == {"size": 1, "how": "rule", "rates": {}}
    assert not (tmp_path / batching.CACHE_FILE).exists()


def test_the_search_candidates_fit_the_memory_it_is_given(monkeypatch):
    """VGG-717's first map is 1376 x 96 x 717 float32 per clip; a candidate batch may take half the
    available memory less the store's features, at 3 such maps per clip."""
    model = build_extractor(Config.from_dict(dict(architecture="vgg", num_filters=717,
                                                  n_frames=1376)))
    per_clip = 3 * 1376 * 96 * 717 * 4  # 1.06 GiB
    assert largest_map_bytes(model) == 1376 * 96 * 717 * 4
    candidates = batching.search_candidates
    assert candidates(model, 1, memory=24 * 2**30) == [1, 2, 4, 8]  # 12 GiB: 11.3 clips
    assert candidates(model, 1, memory=24 * 2**30, reserved=4 * 2**30) == [1, 2, 4]  # 7.6 clips
    assert candidates(model, 1, memory=64 * 2**30) == [1, 2, 4, 8, 16]  # 30.2 clips
    assert candidates(model, 1, memory=2 * 2 * per_clip) == [1, 2]  # exactly 2 clips
    assert candidates(model, 1, memory=2 * 2 * per_clip - 1) == [1]
    assert candidates(model, 3, memory=2**30) == [1, 3]  # the rule's size is always timed
    monkeypatch.setattr(batching, "available_memory", lambda: 48 * 2**30)
    assert candidates(model, 1) == [1, 2, 4, 8, 16]  # the machine's figure by default: 22.7 clips
    monkeypatch.setattr(batching, "available_memory", lambda: None)
    assert candidates(model, 1) == [1]  # the machine does not say: 2 GiB assumed


def test_choose_batch_size_sets_the_store_aside_from_the_machine_memory(tmp_path, monkeypatch):
    from elmarc_tf.models.extractor import compile_extractor

    cfg = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1))
    extractor = compile_extractor(cfg)
    per_clip = 3 * 34 * 6 * 4  # 3 maps of 34 x 6 float32
    n_clips = 10**8  # 274 s by the estimate: a search
    store = 3 * 4 * n_clips * extractor.feature_length  # the features, 3 copies while written
    measure, calls = _fake_rates({1: 1.0})
    for clips, want in [(5, [1, 2, 4, 64]), (12, [1, 2, 4, 8, 64]),
                        (1000, [1, 2, 4, 8, 16, 32, 64])]:
        monkeypatch.setattr(batching, "available_memory",
                            lambda c=clips: 2 * (store + c * per_clip))
        batching.choose_batch_size(cfg, extractor, n_clips, folder=tmp_path / str(clips),
                                   measure=measure)
        assert calls[-1] == want, clips  # and the rule's 64 (its own 32 MiB bound)
        # a resumed job: fewer clips to compute, the same store to hold
        batching.choose_batch_size(cfg, extractor, n_clips // 2, folder=tmp_path / f"r{clips}",
                                   measure=measure, store_clips=n_clips)
        assert calls[-1] == want, clips


def test_the_search_measures_real_calls():
    from elmarc_tf.models.extractor import compile_extractor

    tiny = compile_extractor(_single(nf=6, n_frames=40))
    calls = []

    class Recorded:  # the extractor, the batch size of each call recorded
        input_shape = tiny.input_shape

        def __call__(self, x):
            calls.append(len(x))
            return tiny(x)

    rates = batching.measure_rates(Recorded(), [1, 2, 4], seconds=1.0)
    # how many sizes fit the second depends on the machine; those timed come in order, each
    # called on a batch of its size (one warm-up and three timed calls), the others never
    assert list(rates) == list(dict.fromkeys(calls)) == [1, 2, 4][:len(rates)]
    assert calls == [size for size in rates for _ in range(4)]
    assert all(r > 0 for r in rates.values())


class _Simulated:
    """An extractor on a simulated clock: each call of a batch of ``b`` clips advances
    :meth:`clock` by ``seconds[b]`` times the next of ``noise`` (in turn), its first call
    (tracing, warm-up) by ``warm_up`` times ``seconds[b]``."""

    input_shape = (3, 2)

    def __init__(self, seconds, warm_up=10.0, noise=(1.0,)):
        self.seconds, self.warm_up, self.noise = seconds, warm_up, noise
        self.now, self.calls = 0.0, []

    def clock(self):
        return self.now

    def __call__(self, x):
        size = len(x)
        timed = self.calls.count(size) - 1  # the timed calls of this size so far (-1: warm-up)
        self.now += self.seconds[size] * (self.warm_up if timed < 0
                                          else self.noise[timed % len(self.noise)])
        self.calls.append(size)
        return np.zeros((size, 4), np.float32)


def test_every_candidate_is_timed_alike_after_its_warm_up():
    """One untimed call, then the same number of timed calls for every size; the rate is the
    size over its fastest timed call (the warm-up, 10x slower here, never counts; the others
    1.5x, 2x, 1x), and two sizes in a row slower than the best end the search (clock steps are
    exact binary fractions)."""
    machine = _Simulated({1: 1.0, 2: 1.0, 4: 1.25, 8: 5.0, 16: 4.0, 32: 16.0},
                         noise=(1.5, 2.0, 1.0))
    rates = batching.measure_rates(machine, [1, 2, 4, 8, 16, 32], seconds=1000.0,
                                   clock=machine.clock)
    assert rates == {1: 1.0, 2: 2.0, 4: 3.2, 8: 1.6, 16: 4.0, 32: 2.0}  # one slower size goes on
    assert machine.calls == [size for size in rates for _ in range(1 + batching.TIMED_CALLS)]
    machine = _Simulated({1: 1.0, 2: 1.0, 4: 2.0, 8: 5.0, 16: 1.0})
    rates = batching.measure_rates(machine, [1, 2, 4, 8, 16], seconds=1000.0, clock=machine.clock)
    assert rates == {1: 1.0, 2: 2.0, 4: 2.0, 8: 1.6} and 16 not in machine.calls


def test_the_search_stops_at_the_first_size_whose_calls_would_not_fit():
    """Each size's warm-up and timed calls at the best rate so far must fit the time left: here
    every size takes 4 calls of 1 s (rates 1, 2, 4, 8, 16 clips/s)."""
    for seconds, timed in [(16.0, [1, 2, 4]),  # 8 clips at 4 clips/s: 4 x 2 s > the 4 s left
                           (20.0, [1, 2, 4, 8]),  # 8: 4 x 2 s in the 8 s left; 16: 8 s > 4 s
                           (24.0, [1, 2, 4, 8, 16])]:
        machine = _Simulated({1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0}, warm_up=1.0)
        rates = batching.measure_rates(machine, [1, 2, 4, 8, 16], seconds=seconds,
                                       clock=machine.clock)
        assert rates == {b: float(b) for b in timed} and set(machine.calls) == set(timed), seconds


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
