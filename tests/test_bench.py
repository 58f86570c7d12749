"""`elmarc bench` end to end in its quick mode on one small configuration (no files: --no-e2e).

Timings are reported, never asserted; what is checked is that both reports are written, that the
counted work is the configuration's (FLOPs and automatic batch size by hand) and that the derived
columns follow from the measured ones. About 30 s on 2 busy cores: TensorFlow starts in the
command, in the worker process and in the two allocator probes, around ~8 s of timing.
"""

from __future__ import annotations

import json
import math

import pytest

from elmarc_tf.extraction.batching import search_candidates
from elmarc_tf.cli import main
from elmarc_tf.models.extractor import build_extractor
from elmarc_tf.studies.paper import paper_config


def test_quick_bench_of_one_configuration_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--arch", "7x96-160", "--no-e2e", "--out", str(out)]) == 0
    result = json.loads((out / "bench.json").read_text())
    [row] = result["rows"]
    assert row["name"] == "7x96-160" and result["quick"] is True
    # one clip: a 7 x 96 valid convolution over 1376 x 96 frames, 160 filters: 1370 x 160 outputs
    # of 7 * 96 multiply-adds, 2 FLOPs each
    assert row["flops"] == 2 * 7 * 96 * 160 * 1370
    # the automatic batch: ~4 GFLOP per call, largest map (1370 x 160 float32) x batch <= 32 MiB
    assert row["auto_batch_size"] == min(math.ceil(4e9 / row["flops"]), 32 * 2**20 // (1370 * 160 * 4)) == 14
    # the batch a long extraction's timed search picks (which one depends on the machine): one of
    # the search's candidates, timed in the sweep too
    assert row["searched_batch_size"] in search_candidates(build_extractor(paper_config("7x96-160")), 14)
    assert set(row["rates"]) == {"1", "4", "14", str(row["searched_batch_size"])}
    assert all(r > 0 for r in row["rates"].values())
    assert row["searched_clips_per_s"] == row["rates"][str(row["searched_batch_size"])]
    assert row["clips_per_s"] == max(row["rates"].values()) == row["rates"][str(row["batch_size"])]
    assert row["gflops"] == pytest.approx(row["flops"] * row["clips_per_s"] / 1e9)
    assert row["ratio"] == pytest.approx(row["gflops"] / row["peak_gflops"])
    assert row["peak_gflops"] >= result["peak_gflops"] > 0
    assert result["decode_clips_per_s"] == {} and result["studies"] == []  # --no-e2e: no files
    faults = result["allocator_page_faults"]  # each allocator probed in its own process
    assert set(faults) == {"pages", "bfc", "default"} and faults["pages"] == 64 * 2**20 // 4096
    markdown = (out / "bench.md").read_text()
    # how often each allocator faults depends on the machine; each figure is the faults of the
    # probe's 5 calls (a whole number) over 5, and the table states both
    for name in ("bfc", "default"):
        assert isinstance(faults[name], float) and 5 * faults[name] == pytest.approx(
            round(5 * faults[name]), abs=1e-6), name
    assert (f"page-faults {faults['bfc']:.0f} times per call with TensorFlow's BFC allocator"
            in markdown) and f"and {faults['default']:.0f} times with its default one" in markdown
    searched = 100 * row["searched_clips_per_s"] / row["clips_per_s"]
    assert (f"| 7x96-160 | {row['flops'] / 1e9:.2f} | 14 | {row['auto_clips_per_s']:.2f} | "
            f"{row['searched_batch_size']} ({searched:.0f} %) |") in markdown
    assert "CPU allocator: a computation with a 64 MiB intermediate (16384 pages)" in markdown
    assert markdown in capsys.readouterr().out
