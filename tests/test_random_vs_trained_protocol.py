"""The random-vs-trained study's protocol and statistics: every column scored on the same clips,
the rank statistics against scipy by hand, and the study on a CSV or a folder of any data."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
from scipy import stats

import elmarc_tf.studies.random_vs_trained as study
import elmarc_tf.studies.train as train
from elmarc_tf.cli import main
from elmarc_tf.studies.rank_agreement import correlations, spearman_permutation, top1
from test_reliability import clips

# Two tiny spectrogram models; one epoch on 10-frame patches of 30-frame inputs, 3 stratified
# folds of 3 classes x 6 clips (per fold: 9 training, 3 validation, 6 test clips).
ARCHITECTURES = ("tiny-4: {architecture: 7x96, num_filters: 4}\n"
                 "tiny-6: {architecture: 7x96, num_filters: 6}\n")
TRAINING = ("n_frames: 30\nfix_length_by: repeat-pad\nbatch_size: 2\ntrain_patch_frames: 10\n"
            "epochs: 1\ntrain_batch_size: 4\nn_folds: 3\nval_fraction: 0.25\n")
CLASSES = ("a", "b", "c")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """``(audio folder, architectures file, training file)``: 3 classes x 6 clips of 1 s."""
    root = tmp_path_factory.mktemp("rvt")
    audio = clips(root / "audio", 6, classes=CLASSES)
    (root / "arch.yaml").write_text(ARCHITECTURES)
    (root / "train.yaml").write_text(TRAINING)
    return audio, root / "arch.yaml", root / "train.yaml"


def _study(source, data, out, *more) -> int:
    _, architectures, training = data
    return main(["random-vs-trained", str(source), "--architectures", str(architectures),
                 "--train-config", str(training), "--seeds", "1", "--bootstrap", "20",
                 "--out", str(out), "--quiet", *more])


def _sets(parts: dict) -> dict:
    """``{clip id: part}`` -> ``{part: frozenset of ids}``."""
    return {p: frozenset(i for i, q in parts.items() if q == p) for p in ("train", "val", "test")}


def test_every_column_is_scored_on_the_same_clips_with_the_grid_chosen_on_validation(
        data, tmp_path, monkeypatch):
    """Spies on the scoring calls record the clips each column fits on, selects on and is scored
    on; the three columns must see identical sets per split."""
    seen = {"random": [], "transfer": [], "trained": []}
    state = {}
    extract, load_store, evaluate = study.extract, study.load_store, study.evaluate

    def spy_extract(cfg, items, **kwargs):
        state["column"] = "random" if kwargs.get("weights") is None else "transfer"
        return extract(cfg, items, **kwargs)

    def spy_load_store(folder):
        X, y, ids, manifest = load_store(folder)
        state["ids"] = [str(i) for i in ids]
        return X, y, ids, manifest

    def spy_evaluate(X, y, estimator, grid, splits=None, **kwargs):
        assert len(X) == len(state["ids"])  # every stored clip is in the split
        seen[state["column"]].append(dict(zip(state["ids"], splits)))
        return evaluate(X, y, estimator, grid, splits=splits, **kwargs)

    train_split = train.train_split

    def spy_train_split(cfg, seed, data, split, *args, **kwargs):
        seen["trained"].append({str(data.ids[i]): part for part in ("train", "val", "test")
                                for i in getattr(split, part)})
        return train_split(cfg, seed, data, split, *args, **kwargs)

    monkeypatch.setattr(study, "extract", spy_extract)
    monkeypatch.setattr(study, "load_store", spy_load_store)
    monkeypatch.setattr(study, "evaluate", spy_evaluate)
    monkeypatch.setattr(train, "train_split", spy_train_split)

    audio = data[0]
    assert _study(audio, data, tmp_path) == 0
    # 2 architectures x 3 folds for each column
    assert {column: len(calls) for column, calls in seen.items()} == {
        "random": 6, "trained": 6, "transfer": 6}
    for k in range(6):
        random, trained, transfer = (_sets(seen[c][k]) for c in ("random", "trained", "transfer"))
        assert random == trained == transfer, k
        assert all(random.values())  # each part has clips: a grid chosen on validation clips
    # Folds: the test parts partition the 18 clips, the same for both architectures.
    tests = [_sets(parts)["test"] for parts in seen["random"][:3]]
    assert sorted(i for t in tests for i in t) == sorted(
        f"{c}/{c}{k:02d}.wav" for c in CLASSES for k in range(6))
    assert [_sets(p) for p in seen["random"][:3]] == [_sets(p) for p in seen["random"][3:]]

    # study.json records each split's clips (those the spies saw) and says they are identical.
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["identical_clip_sets"] is True
    recorded = [{p: frozenset(ids) for p, ids in parts.items()}
                for parts in saved["splits"].values()]
    assert recorded == [_sets(p) for p in seen["random"][:3]]
    row = saved["rows"][0]
    assert row["clip_sets"]["random"] == row["clip_sets"]["trained"] == row["clip_sets"]["transfer"]
    # The paper's best_score_ stays as its own, labelled column.
    assert row["protocol"]["paper"] == "stratified_kfold"
    assert "(train/val/test splits)" in row["protocol"]["random"]
    assert "paper protocol (optimistic)" in (tmp_path / "table.md").read_text()
    assert saved["correlations"] is None  # 2 architectures: no statistics across them


def test_a_csv_with_folds_runs_the_study(data, tmp_path):
    audio = data[0]
    listing = tmp_path / "data.csv"
    with listing.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "fold"])
        for c in CLASSES:
            for k in range(6):
                writer.writerow([str(audio / c / f"{c}{k:02d}.wav"), c, 1 + k % 2])
    assert _study(listing, data, tmp_path / "out") == 0
    saved = json.loads((tmp_path / "out" / "study.json").read_text())
    assert list(saved["splits"]) == ["fold1", "fold2"]  # the CSV's folds
    assert saved["rows"][0]["protocol"]["paper"] == "predefined_folds"
    assert saved["identical_clip_sets"] is True


@pytest.mark.parametrize("text, message", [
    ("- tiny\n", "must be a mapping of architecture names to config keys"),
    ("tiny: 7x96\n", "architecture 'tiny' must be a mapping of config keys to values"),
    ("tiny: {architecture: 7x96, num_filter: 4}\n",
     "architecture 'tiny': unknown config key 'num_filter' (did you mean 'num_filters'?)"),
    ("tiny: [unclosed\n", "not valid YAML/JSON"),
])
def test_a_bad_architectures_file_is_one_line_naming_it(tmp_path, capsys, text, message):
    bad = tmp_path / "arch.yaml"
    bad.write_text(text)
    folder = tmp_path / "audio"
    folder.mkdir()
    assert main(["random-vs-trained", str(folder), "--architectures", str(bad),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"elmarc: error: {bad}: ") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_source_that_is_no_data_is_one_line(tmp_path, capsys):
    other = tmp_path / "notes.txt"
    other.write_text("x")
    for source, message in ((other, "not a config (.yaml, .yml, .json), a CSV (.csv) or a folder"),
                            (tmp_path / "missing.csv", "no such file or folder")):
        assert main(["random-vs-trained", str(source)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"elmarc: error: {source}: {message}") and "\n" not in err


# ------------------------------------------------------------------------------ statistics
# 4 architectures x 2 seeds x 3 splits; random picks 'b', trained is best for 'c'.
RANDOM = {"a": [[0.50, 0.52, 0.48], [0.51, 0.49, 0.50]],
          "b": [[0.80, 0.70, 0.90], [0.82, 0.72, 0.88]],
          "c": [[0.70, 0.75, 0.65], [0.72, 0.74, 0.69]],
          "d": [[0.60, 0.55, 0.65], [0.61, 0.58, 0.60]]}
TRAINED = {"a": [[0.60, 0.65, 0.55], [0.62, 0.61, 0.60]],
           "b": [[0.78, 0.74, 0.80], [0.77, 0.79, 0.75]],
           "c": [[0.85, 0.80, 0.90], [0.88, 0.83, 0.86]],
           "d": [[0.70, 0.66, 0.72], [0.69, 0.71, 0.70]]}


def test_correlations_are_scipys_on_the_means_over_seeds_and_splits():
    c = correlations(RANDOM, TRAINED, n_boot=300, seed=2)
    mx = [np.mean(v) for v in RANDOM.values()]
    my = [np.mean(v) for v in TRAINED.values()]
    for name, test in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau),
                       ("pearson", stats.pearsonr)):
        assert c[name]["r"] == pytest.approx(test(mx, my).statistic)
        assert c[name]["p"] == pytest.approx(test(mx, my).pvalue)
        assert c[name]["ci_low"] <= c[name]["ci_high"]
    assert (c["n_architectures"], c["n_seeds"], c["n_splits"]) == (4, 2, 3)
    # Permutation p by hand: every ordering of the trained means, scipy's rho of each.
    rho = abs(stats.spearmanr(mx, my).statistic)
    rhos = [abs(stats.spearmanr(mx, [my[i] for i in order]).statistic)
            for order in itertools.permutations(range(4))]
    assert c["spearman"]["permutation_p"] == pytest.approx(np.mean(np.array(rhos) >= rho - 1e-12))
    assert c["spearman"]["exact"] and c["spearman"]["n_permutations"] == 24
    # Top-1 and regret by hand: random picks b (0.805), trained is best for c (0.8617).
    t = c["top1"]
    assert (t["pick"], t["best"], t["agree"]) == ("b", "c", False)
    assert t["regret"] == pytest.approx(np.mean(TRAINED["c"]) - np.mean(TRAINED["b"]))
    assert t["regret_ci_low"] <= t["regret"] <= t["regret_ci_high"]
    assert 0 <= t["agreement_rate"] < 1


def test_the_bootstrap_resamples_splits_as_well_as_seeds():
    # Identical seeds: only resampling the splits can move the means.
    same_seeds = lambda table: {k: [v[0], v[0]] for k, v in table.items()}
    c = correlations(same_seeds(RANDOM), same_seeds(TRAINED), n_boot=300)
    assert c["pearson"]["ci_low"] < c["pearson"]["r"] < c["pearson"]["ci_high"]
    # Constant over seeds and splits: every resample is the point estimate.
    flat = lambda table: {k: np.full((2, 3), np.mean(v)) for k, v in table.items()}
    c = correlations(flat(RANDOM), flat(TRAINED), n_boot=50)
    assert c["pearson"]["ci_low"] == pytest.approx(c["pearson"]["r"])
    assert c["pearson"]["ci_high"] == pytest.approx(c["pearson"]["r"])
    assert c["top1"]["regret_ci_low"] == c["top1"]["regret_ci_high"] == c["top1"]["regret"]


def test_top1_agreement_regret_and_the_permutation_test_by_hand():
    assert top1([0.9, 0.5, 0.7], [0.8, 0.6, 0.7]) == {"pick": 0, "best": 0, "agree": True,
                                                      "regret": 0.0}
    t = top1([0.5, 0.9, 0.7], [0.8, 0.6, 0.7])
    assert (t["pick"], t["best"], t["agree"]) == (1, 0, False)
    assert t["regret"] == pytest.approx(0.2)
    # Ties in the random accuracies: the first listed is picked.
    assert top1([0.9, 0.9, 0.1], [0.2, 0.8, 0.5])["pick"] == 0
    # Perfect agreement of 5: only the identity and its reverse reach |rho| = 1 (2 of 120).
    exact = spearman_permutation([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert exact == {"p": pytest.approx(2 / 120), "n_permutations": 120, "exact": True}
    # Beyond max_exact orderings: random ones, (1 + hits) / (1 + n).
    sampled = spearman_permutation([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_perm=600,
                                   max_exact=100)
    assert not sampled["exact"] and sampled["n_permutations"] == 600
    assert sampled["p"] == pytest.approx(2 / 120, abs=0.02)
