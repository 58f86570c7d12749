"""The analytic FLOP count of `elmarc bench`, checked by hand on small models."""

from types import SimpleNamespace

from conftest import small_config
from elmarc_tf import build_extractor
from elmarc_tf.bench import timing
from elmarc_tf.models.flops import model_flops


def test_sample_level_flops_by_hand():
    # nf=5, 4400 samples: conv0 k3 s3 valid -> 1466 steps, then 6 x [k3 'same' conv -> pool 3]
    cfg = small_config("sample_level")
    n = (4400 - 3) // 3 + 1
    expected = 2 * n * 3 * 1 * 5
    for _ in range(6):
        expected += 2 * n * 3 * 5 * 5  # 'same' conv keeps the length
        n //= 3
    assert model_flops(build_extractor(cfg)) == expected == 2 * 5 * (3 * 1466 + 15 * (1466 + 488 + 162 + 54 + 18 + 6))


def test_frame_level_and_pruned_cnn_music_flops_by_hand():
    cfg = small_config("frame_level")  # nf=6, 3000 samples
    t = (3000 - 512) // 32 + 1  # 78 frames
    expected = 2 * t * 512 * 6 + 2 * (t - 6) * 7 * 6 * 6 * 2 + 2 * ((t - 6) // 2) * 7 * 6 * 6
    assert model_flops(build_extractor(cfg)) == expected
    temporal = small_config("cnn_music", selected_features_list=[1])  # nf=4, r=1, 40 frames
    expected = sum(2 * 40 * k * 1 * (4 * m - 1) for k, m in zip((165, 128, 64, 32), (1, 2, 4, 8)))
    assert model_flops(build_extractor(temporal)) == expected
    full = model_flops(build_extractor(small_config("cnn_music")))
    assert full > 10 * expected  # the timbral branch dominates; it is not built when not selected


def test_fused_convolution_counts_its_whole_map():
    # 7x86 with its 1x11 pool fused into the convolution: still 11 frequency positions x 24 frames
    cfg = small_config("cnn_single_7x86", selected_features_list=[1])  # nf=6, 30 frames
    assert model_flops(build_extractor(cfg)) == 2 * 24 * 11 * 7 * 86 * 6
    assert model_flops(build_extractor(cfg, fast=False)) == 2 * 24 * 11 * 7 * 86 * 6


def test_bench_forward_rate_and_table_on_a_small_model():
    """A smoke test of the measuring code (timings are reported, never asserted)."""
    from elmarc_tf.bench.forward import markdown
    from elmarc_tf.bench.timing import forward_rate, steady_forward_rate

    from elmarc_tf.extraction.batching import auto_batch_size

    cfg = small_config("cnn_single_7x96")
    row = forward_rate(cfg, batch_sizes=(1, 2, "auto"), seconds=0.2)
    auto = auto_batch_size(build_extractor(cfg))
    assert row["flops"] == model_flops(build_extractor(cfg)) and set(row["rates"]) == {1, 2, auto}
    assert row["auto_batch_size"] == auto
    row.update(name="7x96-6", auto_clips_per_s=row["rates"][auto], peak_gflops=100.0,
               ratio=row["gflops"] / 100.0, tf_ratio=row["gflops"] / 50.0, peak_rss_mib=2.0, default_peak_rss_mib=1.0)
    steady = steady_forward_rate(cfg, batch_size=2, n_clips=6)
    e2e = dict(row, name="7x96-e2e", e2e_clips_per_s=steady / 2, e2e_batch_size=2,
               steady_forward_clips_per_s=steady, e2e_over_forward=0.5,
               e2e_over_best_forward=steady / 2 / row["rates"][2], e2e_kaiser_best_clips_per_s=1.25)
    table = markdown({"peak_gflops": 100.0, "machine": {"cpus": 2}, "versions": {"tensorflow": "x"},
                      "rows": [row, e2e], "decode_clips_per_s": {},
                      "allocator_page_faults": {"pages": 16384, "bfc": 0.2, "default": 16384.0}})
    assert f"| 7x96-6 | 0.00 | {auto} |" in table and "% of peak" in table
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in lines}) == 1  # every row has the header's columns
    assert f"| {steady / 2:.2f} (2) | {steady:.2f} | 50 % |" in lines[-1] and "| 1.25 |" in lines[-1]
    assert "page-faults 0 times per call with TensorFlow's BFC allocator" in table
    assert "16384 times with its default one." in table


def test_steady_rate_is_the_clips_of_every_batch_after_the_first_over_their_time(monkeypatch):
    """``steady_forward_rate`` on a stand-in clock that each extractor call advances: the first
    (slow, tracing) call is not timed, the rest are, and the rate is their clips over their
    seconds."""
    clock, calls = [0.0], []
    compile_real = timing.compile_extractor

    def compile_timed(cfg, seed=0):
        real = compile_real(cfg, seed=seed)

        class Timed:  # the real extractor; each call advances the clock
            def __getattr__(self, name):
                return getattr(real, name)

            def __call__(self, x):
                calls.append(len(x))
                clock[0] += 10.0 if len(calls) == 1 else 0.5
                return real(x)

        return Timed()

    monkeypatch.setattr(timing, "compile_extractor", compile_timed)
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    rate = timing.steady_forward_rate(small_config("cnn_single_7x96"), batch_size=2, n_clips=7)
    # 7 clips in batches of 2: 4 batches, the first untimed; 3 timed batches of 2 clips in 1.5 s
    assert calls == [2, 2, 2, 2] and rate == 6 / 1.5
