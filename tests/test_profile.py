"""The per-layer profile of `elmarc bench --profile`: it replays the real graph and counts right.

Timings are reported, never asserted; what is checked is that the layer-by-layer replay computes
the model's own features (so the timed layers are the ones extraction runs, fused layers and
per-part tap means included) and that the table's FLOPs are the model's.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL, random_input, small_config

from elmarc_tf.models.extractor import build_extractor
from elmarc_tf.models.flops import model_flops
from elmarc_tf.bench import profile as profile_module
from elmarc_tf.bench.profile import markdown, profile_layers, replay


@pytest.mark.parametrize("name", sorted(SMALL))
def test_replay_layer_by_layer_gives_the_model_output(name):
    cfg = small_config(name)
    model = build_extractor(cfg, seed=3)
    x = random_input(cfg, batch=2, seed=4)
    seen = []
    got = replay(model, x, lambda path, layer, args, kwargs, outputs: seen.append(path))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(model(x)))
    assert seen[-1] == "features"  # the tap means, after every layer of the nested front-end
    weighted = {layer.name for layer in model.get_layer(index=1).layers if layer.weights}
    assert weighted <= {path.split("/")[-1] for path in seen}


def test_profile_counts_every_convolution_once_and_renders_a_table(monkeypatch):
    timed = []  # seconds of each timed call, in order: the layers', then the whole model's

    def fake_best_call_seconds(fn, args, seconds):
        fn(*args)  # the real call on the layer's real inputs
        timed.append(1e-3 * (len(timed) + 1))
        return timed[-1]

    monkeypatch.setattr(profile_module, "best_call_seconds", fake_best_call_seconds)
    cfg = small_config("cnn_music")
    profile = profile_layers(cfg, batch_size=2, seconds=0.01)
    model = build_extractor(cfg)
    assert profile["batch_size"] == 2
    assert sum(r["flops"] or 0 for r in profile["layers"]) == profile["flops"] == model_flops(model)
    convs = [r for r in profile["layers"] if r["flops"] is not None]
    assert {r["type"] for r in convs} == {"FrequencyMaxConv2D", "Conv1D"} and len(convs) == 10
    # each layer's time per clip: its timed call over the batch of 2, in ms; the model's last
    assert [r["ms"] for r in profile["layers"]] == pytest.approx([1e3 * t / 2 for t in timed[:-1]])
    assert profile["model_ms"] == pytest.approx(1e3 * timed[-1] / 2)
    assert all(r["gflops"] == pytest.approx(r["flops"] / r["ms"] / 1e6) for r in convs)
    band_mean = next(r for r in profile["layers"] if r["layer"].endswith("/band_mean"))
    assert band_mean["input_shape"] == [cfg.n_frames, cfg.n_mels]
    assert band_mean["output_shape"] == [cfg.n_frames]

    table = markdown("cnn_music-6", profile, peak_gflops=100.0)
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(profile["layers"])
    assert len({line.count("|") for line in rows}) == 1  # every row has the header's columns
    assert rows[-1].startswith("| features | TapPooling |")


def test_bench_profile_command_writes_tables_and_rejects_unknown_names(tmp_path, capsys):
    import json

    from elmarc_tf.cli import main

    assert main(["bench", "--profile", "--arch", "temporal-9", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elmarc: error: unknown bench configuration 'temporal-9'") and "\n" not in err
    assert main(["profile", "--arch", "temporal-9", "--out", str(tmp_path)]) == 2  # the same verb
    assert capsys.readouterr().err.strip() == err
    assert not (tmp_path / "profile.json").exists()

    assert main(["bench", "--profile", "--quick", "--arch", "temporal-8", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "profile.json").read_text())
    profile = result["profiles"]["temporal-8"]
    assert [r["type"] for r in profile["layers"]].count("Conv1D") == 4  # the four temporal filters
    assert result["matmul_gflops"]["peak"] > 0
    assert "**temporal-8**" in (tmp_path / "profile.md").read_text()
