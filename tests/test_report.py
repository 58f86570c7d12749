"""`elmarc compare`: which test against which result (checked against scipy.stats), the table
files, de-duplication and the chart's content."""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from elmarc_tf.cli import parse_args, run
from elmarc_tf.errors import ElmarcError
from elmarc_tf.frontends import FRONTENDS
from elmarc_tf.studies.report import (ONE_SAMPLE, WELCH, compare, count_bars,
                              difference_test, family_of, is_deterministic, load_results,
                              pairwise_ttests, results_chart)

MFCC_VALUE = 0.5345
VGG = [0.601, 0.622, 0.648]
SAMPLE = [0.571, 0.566, 0.590]


FRONTEND_CONFIGS = {"spectrogram": dict(architecture="vgg", num_filters=32, n_frames=1376),
                    "waveform": dict(architecture="sample_level", num_filters=23, n_samples=350000)}


def summary(name, model, clf, accuracies, features_type="CNN", signal="spectrogram", same_store=False,
            dataset="GTZAN", nested_cv=False):
    """A results.json summary as study.run_experiment writes it (the fields compare reads)."""
    per_seed = [{"seed": k, "accuracy": a,
                 "store": f"features/{name}/seed{0 if features_type == 'MFCC' or same_store else k}"}
                for k, a in enumerate(accuracies)]
    return {"name": name, "model": model, "classifier": clf, "dataset": dataset, "feature_length": 160,
            "protocol": "stratified_kfold", "standardize": False, "nested_cv": nested_cv,
            "seeds": list(range(len(accuracies))), "accuracies": list(accuracies),
            "mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)),
            "config": {"features_type": features_type, "model_type": clf, "nested_cv": nested_cv,
                       **({} if features_type == "MFCC" else FRONTEND_CONFIGS[signal])},
            "per_seed": per_seed}


def mfcc(clf="SVM", accuracies=(MFCC_VALUE,), **kw):
    return summary(f"mfcc_{clf}", "MFCCs (120)", clf, list(accuracies), features_type="MFCC", **kw)


def labelled(s):
    return {**s, "label": f"{s['model']} {s['classifier']}"}


def write_results(root: Path, s: dict) -> Path:
    folder = root / s["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(s))
    return folder / "results.json"


def pyplot_imports(root: Path) -> list[str]:
    """``file:line`` of every import of ``matplotlib.pyplot`` in the Python files under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                     if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(name == "matplotlib.pyplot" for name in names):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_charts_are_figure_objects_not_pyplot_state():
    """Every chart of the package and its scripts is drawn on a ``matplotlib.figure.Figure``
    (no pyplot: no global current figure, no backend to select, nothing to close)."""
    repository = Path(__file__).resolve().parents[1]
    assert pyplot_imports(repository / "elmarc_tf") + pyplot_imports(repository / "scripts") == []


# ------------------------------------------------------------------------------ what a result is
def test_deterministic_results():
    assert is_deterministic(mfcc())  # one SVM run on MFCCs: exact
    assert is_deterministic(mfcc(accuracies=[MFCC_VALUE] * 3))  # what study.py writes for 3 seeds
    assert not is_deterministic(mfcc("ELM", [0.50, 0.52, 0.49]))  # the ELM draws random weights
    assert not is_deterministic(mfcc("ELM"))  # one ELM run is a sample of one
    assert not is_deterministic(mfcc(nested_cv=True))  # nested CV shuffles folds by seed
    assert not is_deterministic(summary("v", "VGG (160)", "SVM", [0.6]))  # one random network
    assert not is_deterministic(summary("v", "VGG (160)", "SVM", [0.6, 0.6, 0.6]))  # equal by chance
    # every seed read one store (features without random weights, whatever the config says)
    assert is_deterministic(summary("x", "X", "SVM", [0.7, 0.7], same_store=True))
    assert not is_deterministic({"label": "A", "accuracies": [0.5]})  # nothing known: a sample


def test_family_is_the_front_ends(monkeypatch):
    assert family_of(mfcc()) == "baseline"
    assert family_of(summary("w", "sample-level (161)", "SVM", VGG, signal="waveform")) == "waveform"
    assert family_of(summary("s", "VGG (160)", "SVM", VGG)) == "spectrogram"
    assert family_of({"accuracies": [0.5]}) == "other"  # no config
    unreadable = summary("s", "VGG (160)", "SVM", VGG)
    unreadable["config"]["a_key_of_a_later_version"] = 1
    assert family_of(unreadable) == "other"
    spec = FRONTENDS["sample_level"]  # a front-end names its own family
    monkeypatch.setitem(FRONTENDS, "sample_level", dataclasses.replace(spec, family="SampleCNN"))
    assert family_of(summary("w", "sample-level (161)", "SVM", VGG, signal="waveform")) == "SampleCNN"


# ------------------------------------------------------------------------------ statistics
def test_one_sample_test_against_a_deterministic_baseline_matches_scipy():
    model, base = labelled(summary("v", "VGG (160)", "SVM", VGG)), labelled(mfcc())
    test = difference_test(model, base)
    ref = stats.ttest_1samp(VGG, MFCC_VALUE)
    assert test["test"] == ONE_SAMPLE
    assert test["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert test["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert test["dof"] == 2 and (test["n_a"], test["n_b"]) == (3, 1)
    half = stats.t.ppf(0.975, 2) * stats.sem(VGG)  # t-based 95% CI of mean(VGG) - value
    diff = np.mean(VGG) - MFCC_VALUE
    assert test["diff"] == pytest.approx(diff, rel=1e-12)
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((diff - half, diff + half), rel=1e-12)
    assert test["ci_low"] > 0 and test["p"] < 0.05  # this random CNN beats the MFCCs

    # the other way round: a - b is baseline - model
    back = difference_test(base, model)
    assert back["test"] == ONE_SAMPLE and back["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert back["t"] == pytest.approx(-ref.statistic, rel=1e-12)
    assert (back["ci_low"], back["ci_high"]) == pytest.approx((-diff - half, -diff + half), rel=1e-12)

    # a 99% interval is wider and uses t.ppf(0.995)
    wide = difference_test(model, base, confidence=0.99)
    assert wide["ci_high"] - wide["ci_low"] == pytest.approx(2 * stats.t.ppf(0.995, 2) * stats.sem(VGG))


def test_welch_between_two_seeded_models_matches_scipy():
    a = labelled(summary("v", "VGG (160)", "SVM", VGG))
    b = labelled(summary("s", "sample-level (161)", "SVM", SAMPLE, signal="waveform"))
    test = difference_test(a, b)
    ref = stats.ttest_ind(VGG, SAMPLE, equal_var=False)
    assert test["test"] == WELCH
    assert test["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert test["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    va, vb = np.var(VGG, ddof=1) / 3, np.var(SAMPLE, ddof=1) / 3
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    diff = np.mean(VGG) - np.mean(SAMPLE)
    assert test["dof"] == pytest.approx(dof, rel=1e-12)
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((diff - half, diff + half), rel=1e-12)
    # a seeded MFCC + ELM baseline is a sample too: Welch, as scipy
    elm = labelled(mfcc("ELM", [0.50, 0.52, 0.49]))
    vs_elm = difference_test(a, elm)
    assert vs_elm["test"] == WELCH
    assert vs_elm["p"] == pytest.approx(stats.ttest_ind(VGG, [0.50, 0.52, 0.49], equal_var=False).pvalue)


def test_no_test_says_why_instead_of_nan():
    base = labelled(mfcc())
    one = labelled(summary("v1", "VGG (160)", "SVM", [0.61]))
    three = labelled(summary("s", "sample-level (161)", "SVM", SAMPLE, signal="waveform"))
    test = difference_test(one, base)
    assert test["test"] is None and test["t"] is None and test["p"] is None
    assert test["note"] == "too few seeds: VGG (160) SVM has 1 (a test needs 2)"
    assert test["diff"] == pytest.approx(0.61 - MFCC_VALUE)
    assert difference_test(three, one)["note"] == "too few seeds: VGG (160) SVM has 1 (a test needs 2 each)"
    both = difference_test(base, labelled(mfcc("KNN")))
    assert both["note"] == "both deterministic: the difference is exact" and both["p"] is None
    flat = labelled(summary("f", "7x86 (160)", "SVM", [0.6, 0.6, 0.6]))
    assert difference_test(flat, base)["note"].startswith("no spread: all 3 seeds of 7x86 (160) SVM")

    result = compare([one, base, three])
    assert "nan" not in result["table"] and "nan" not in result["ttest_table"]
    row = next(line for line in result["table"].splitlines() if "VGG (160) SVM" in line)
    assert "too few seeds: VGG (160) SVM has 1" in row and "61.00 " in row and "±" not in row
    assert [t["test"] for t in pairwise_ttests(result["models"])].count(ONE_SAMPLE) == 1


# ------------------------------------------------------------------------------ loading, tables
@pytest.fixture
def study(tmp_path) -> Path:
    """The issue's study in miniature: 3 seeded front-ends (SVM), one ELM, the MFCC baseline (1 seed)."""
    root = tmp_path / "results"
    write_results(root, summary("vgg-160_SVM", "VGG (160)", "SVM", VGG))
    write_results(root, summary("sample_level-161_SVM", "sample-level (161)", "SVM", SAMPLE,
                                signal="waveform"))
    write_results(root, summary("7x86-160_SVM", "7x86 (160)", "SVM", [0.50, 0.53, 0.51]))
    write_results(root, summary("vgg-160_ELM", "VGG (160)", "ELM", [0.58, 0.55, 0.60]))
    write_results(root, mfcc())
    return root


def test_load_results_reads_each_file_once(study, tmp_path):
    (tmp_path / "link").symlink_to(study, target_is_directory=True)
    loaded = load_results([study, study / "vgg-160_SVM", study / "vgg-160_SVM" / "results.json",
                           tmp_path / "link" / "mfcc_SVM"])
    assert sorted(s["name"] for s in loaded) == sorted(
        ["vgg-160_SVM", "sample_level-161_SVM", "7x86-160_SVM", "vgg-160_ELM", "mfcc_SVM"])
    assert {s["results_file"] for s in loaded} == {str((p).resolve()) for p in study.rglob("results.json")}
    twice = loaded + [loaded[0]]  # the same file given twice to compare: one row
    assert len(compare(twice)["models"]) == 5
    with pytest.raises(ElmarcError, match=r"nowhere: no such results file or folder"):
        load_results([tmp_path / "nowhere"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{}")
    with pytest.raises(ElmarcError, match=r"bad/results.json: not a results file of 'elmarc run'"):
        load_results([tmp_path / "bad"])


def test_table_files_hold_the_rows(study, tmp_path):
    summaries = load_results([study])
    result = compare(summaries, table=tmp_path / "t.csv")
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    by_mean = sorted(summaries, key=lambda s: -np.mean(s["accuracies"]))
    assert [r["model"] for r in rows] == [f"{s['model']} {s['classifier']}" for s in by_mean]
    by_name = {r["name"]: r for r in rows}
    vgg = by_name["vgg-160_SVM"]
    ref = stats.ttest_1samp(VGG, MFCC_VALUE)
    assert (vgg["test"], vgg["baseline"], vgg["family"]) == (ONE_SAMPLE, "MFCCs (120) SVM", "spectrogram")
    assert float(vgg["accuracy_mean_pct"]) == pytest.approx(100 * np.mean(VGG))
    assert float(vgg["diff_pp"]) == pytest.approx(100 * (np.mean(VGG) - MFCC_VALUE))
    assert float(vgg["t"]) == pytest.approx(ref.statistic) and float(vgg["p"]) == pytest.approx(ref.pvalue)
    # the ELM has no MFCC + ELM to face: the paper's MFCCs + SVM baseline
    assert by_name["vgg-160_ELM"]["baseline"] == "MFCCs (120) SVM"
    mf = by_name["mfcc_SVM"]
    assert (mf["family"], mf["deterministic"], mf["test"], mf["n_seeds"]) == ("baseline", "True", "", "1")

    compare(summaries, table=tmp_path / "t.md")
    lines = (tmp_path / "t.md").read_text().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    table = [dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
             for line in lines[2:] if line.startswith("|")]
    assert len(table) == 5 and [r["model"] for r in table] == [r["model"] for r in rows]
    md_vgg = next(r for r in table if r["model"] == "VGG (160) SVM")
    assert md_vgg["accuracy % (mean ± std)"] == f"{100 * np.mean(VGG):.2f} ± {100 * np.std(VGG):.2f}"
    assert md_vgg["p (* < 0.05)"] == f"{ref.pvalue:.3g} *" and md_vgg["test"] == ONE_SAMPLE
    assert md_vgg["Δ vs baseline, pp [95% CI]"].startswith(f"{100 * (np.mean(VGG) - MFCC_VALUE):+.2f} [")
    assert any(line.startswith("Tests: 'one-sample t vs deterministic'") for line in lines)
    assert result["table_file"] == tmp_path / "t.csv"

    with pytest.raises(ElmarcError, match=r"t\.xlsx: table format must be one of \.md, \.csv"):
        compare(summaries, chart=tmp_path / "c.png", table=tmp_path / "t.xlsx")
    assert not (tmp_path / "c.png").exists()  # checked before any work


# ------------------------------------------------------------------------------ the chart
def test_chart_bars_rows_and_baseline_lines(study, tmp_path):
    models = compare(load_results([study]), chart=tmp_path / "c.png")["models"]
    assert (tmp_path / "c.png").stat().st_size > 5000
    fig = results_chart(models)
    ax = fig.axes[0]
    assert count_bars(fig) == 4  # every result but the baseline, which is a line
    assert len([line for line in ax.lines if line.get_gid() == "baseline"]) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["VGG (160)", "sample-level (161)", "7x86 (160)"]
    baseline = next(line for line in ax.lines if line.get_gid() == "baseline")
    assert baseline.get_xdata()[0] == pytest.approx(100 * MFCC_VALUE)
    # bar lengths are the mean accuracies (%), their error bars the std over seeds
    widths = sorted(p.get_width() for c in ax.containers if hasattr(c, "patches") for p in c.patches)
    assert widths == pytest.approx(sorted(100 * np.mean(s["accuracies"]) for s in models
                                          if s["family"] != "baseline"))
    # SVM and ELM of one front-end share its row; colours follow the family
    vgg_bars = [p for c in ax.containers if hasattr(c, "patches") for p in c.patches
                if abs(p.get_y() + p.get_height() / 2) < 0.5]
    assert len(vgg_bars) == 2
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["waveform", "spectrogram"] and "ELM" in legend
    assert f"MFCCs (120) SVM: {100 * MFCC_VALUE:.1f} (deterministic)" in legend


def test_same_model_twice_gets_the_experiment_name(tmp_path):
    a = summary("drums_frame_level_many_parity_SVM", "frame-level many-shapes (160)", "SVM", VGG,
                signal="waveform")
    b = summary("drums_frame_level_many_SVM", "frame-level many-shapes (160)", "SVM", SAMPLE,
                signal="waveform")
    c = summary("drums_frame_level_many_parity_ELM", "frame-level many-shapes (160)", "ELM", SAMPLE,
                signal="waveform")
    models = compare([a, b, c])["models"]  # b and c tie: they keep their order
    assert [m["label"] for m in models] == [
        "frame-level many-shapes (160) SVM [drums_frame_level_many_parity]",
        "frame-level many-shapes (160) SVM [drums_frame_level_many]",
        "frame-level many-shapes (160) ELM [drums_frame_level_many_parity]"]
    fig = results_chart(models)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "frame-level many-shapes (160)\ndrums_frame_level_many_parity",
        "frame-level many-shapes (160)\ndrums_frame_level_many"]
    assert count_bars(fig) == 3


# ------------------------------------------------------------------------------ the command
def test_cli_compare_writes_chart_and_table(study, tmp_path, capsys):
    chart, table = tmp_path / "out" / "c.png", tmp_path / "out" / "t.md"
    assert run(parse_args(["compare", str(study), str(study / "mfcc_SVM"), "--chart", str(chart),
                           "--table", str(table)])) == 0
    printed = capsys.readouterr().out
    assert chart.stat().st_size > 5000 and table.is_file()
    ranking = printed.split("\n\n")[0].splitlines()[2:]
    assert len(ranking) == 5 and sum("MFCCs (120) SVM" in line for line in ranking) == 1  # given twice
    assert ONE_SAMPLE in printed and "Welch" in printed and "nan" not in printed
    assert f"table: {table}" in printed
    assert run(parse_args(["compare", str(study), "--table", str(tmp_path / "t.txt")])) == 2
    assert "t.txt: table format must be one of .md, .csv" in capsys.readouterr().err


def test_cli_compare_refuses_a_chart_format_matplotlib_cannot_write(study, tmp_path, capsys):
    chart = tmp_path / "out" / "chart.xyz"
    assert run(parse_args(["compare", str(study), "--chart", str(chart)])) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1  # before any table is printed
    assert captured.err.startswith(f"elmarc: error: {chart}: chart format must be one of ")
    assert all(f".{fmt}," in captured.err or f".{fmt} " in captured.err
               for fmt in ("pdf", "png", "svg"))
    assert not chart.parent.exists()
    assert run(parse_args(["compare", str(study), "--chart", str(tmp_path / "c.svg")])) == 0
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_cli_compare_names_a_folder_given_without_results(study, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.json").write_text("{}")
    assert run(parse_args(["compare", str(study), str(empty), "--chart",
                           str(tmp_path / "c.png")])) == 2
    assert capsys.readouterr().err == (f"elmarc: error: {empty}: no results.json in this folder "
                                       f"or below it\n")
    assert not (tmp_path / "c.png").exists()


def test_a_model_is_tested_against_the_baseline_of_its_own_scaling():
    from elmarc_tf.studies.report import _reference

    def summary(name, classifier, standardize):
        return {"name": name, "dataset": "csv", "classifier": classifier,
                "standardize": standardize}

    baselines = [summary(f"mfcc_{c}{'_z' if z else ''}", c, z)
                 for c in ("SVM", "ELM") for z in (False, True)]
    for classifier in ("SVM", "ELM"):
        for z in (False, True):
            picked = _reference(summary("vgg", classifier, z), baselines)
            assert picked["name"] == f"mfcc_{classifier}{'_z' if z else ''}"
    # results written before `standardize` was recorded still find their one baseline
    assert _reference({"dataset": "csv", "classifier": "SVM"},
                      [{"name": "mfcc", "dataset": "csv", "classifier": "SVM"}])["name"] == "mfcc"
