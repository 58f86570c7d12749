"""Tables, statistics and charts of results people compare (``elmarc compare``).

A result is the ``results.json`` summary of :func:`elmarc_tf.studies.study.run_experiment`: per-seed
accuracies of one front-end + classifier. :func:`compare` ranks them, tests each against its
baseline and every pair against each other, draws the chart and writes the table.

Which test (two-sided, H0: equal means; p-values are not corrected for multiple comparisons):

- A **deterministic** result (:func:`is_deterministic`, e.g. MFCCs + SVM) is one exact value, not
  a sample: against it, the other model's per-seed accuracies get a one-sample t-test
  (``scipy.stats.ttest_1samp`` arithmetic, n - 1 degrees of freedom) and the difference a
  t-based confidence interval. Welch's test would be undefined (one value has no variance).
- Two seeded results: Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)`` arithmetic,
  Welch-Satterthwaite degrees of freedom) and the matching confidence interval.
- Fewer than two seeds on a seeded side, or no spread on either side: no test; the table says why.

The family of a result (waveform / spectrogram / filterbank / baseline) is its front-end's
(:attr:`elmarc_tf.frontends.FrontEndSpec.family`), and sets its colour in the chart
(:data:`FAMILY_COLOURS`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from ..config import Config
from ..errors import ElmarcError
from ..io.fileio import atomic_write_text
from ..frontends import FrontEndSpec, frontend_of
from .results import read_summary

CONFIDENCE = 0.95
ONE_SAMPLE = "one-sample t vs deterministic"
WELCH = "Welch"

OTHER_FAMILY = "other"
BASELINE_FAMILY = "baseline"
FAMILY_COLOURS = {"waveform": "#d9822b", "spectrogram": "#3b6fb6", "filterbank": "#3a9e5c",
                  "baseline": "#333333", OTHER_FAMILY: "#8c8c8c"}

# Classifiers whose accuracy depends on the features alone (they draw no random numbers), so a
# single run of them on features without random weights is exact.
DETERMINISTIC_CLASSIFIERS = frozenset({"SVM", "KNN"})
# How a classifier is drawn: bars side by side within a front-end, baseline lines.
CLASSIFIER_STYLES = {"SVM": dict(hatch="", alpha=1.0, linestyle="-"),
                     "ELM": dict(hatch="////", alpha=0.55, linestyle="--")}
OTHER_CLASSIFIER_STYLES = [dict(hatch="..", alpha=0.75, linestyle=":"),
                           dict(hatch="xx", alpha=0.4, linestyle="-.")]


# ------------------------------------------------------------------------------ plain helpers
def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Plain-text table; ``columns`` = ``[(key, header), ...]``; values are shown with ``str``."""
    cells = [[str(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, (_, h) in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    return "\n".join([line([h for _, h in columns]), line(["-" * w for w in widths]),
                      *(line(c) for c in cells)])


def bar_chart(names, means, path, stds=None, ylabel="accuracy", title=None) -> Path:
    """Vertical bars (with std error bars when given) of a few named values; saves a PNG."""
    fig = Figure(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6), layout="tight")
    ax = fig.subplots()
    x = range(len(names))
    ax.bar(x, means, yerr=stds, capsize=3, color="#4c72b0", edgecolor="black", linewidth=0.6)
    for i, m in zip(x, means):
        ax.text(i, m / 2, f"{m:.2f}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05 if max(means, default=0) <= 1 else 105)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


# ------------------------------------------------------------------------------ loading
def load_results(paths) -> list[dict]:
    """Result summaries (``results.json`` of :func:`elmarc_tf.studies.study.run_experiment`) from files or
    folders searched recursively; one file reached twice (two paths to one folder, a folder and
    its sub-folder) is read once. Each summary gets ``results_file`` (the resolved path). A
    folder without any ``results.json`` raises :class:`ElmarcError` naming it."""
    files: dict[Path, None] = {}  # resolved path -> None, in the order given
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("results.json"))
            if not found:
                raise ElmarcError(f"{p}: no results.json in this folder or below it")
        elif p.is_file():
            found = [p]
        else:
            raise ElmarcError(f"{p}: no such results file or folder")
        files.update((f.resolve(), None) for f in found)
    if not files:
        raise ElmarcError("no results files or folders given")
    return [{**read_summary(f), "results_file": str(f)} for f in files]


# ------------------------------------------------------------------------------ what a result is
def _frontend(summary: dict) -> Optional[FrontEndSpec]:
    """The front-end of a result's ``config``; None without one, or one this version cannot read."""
    try:
        return frontend_of(Config.from_dict(summary["config"]))
    except (KeyError, TypeError, ElmarcError):
        return None


def family_of(summary: dict) -> str:
    """``'waveform'``, ``'spectrogram'``, ``'baseline'`` ...: the family of the result's front-end
    (:attr:`~elmarc_tf.frontends.FrontEndSpec.family`); ``'other'`` without a readable config."""
    spec = _frontend(summary)
    return spec.family if spec is not None else OTHER_FAMILY


def is_deterministic(summary: dict) -> bool:
    """Whether a result is one exact value rather than a sample over random draws.

    True when its features have no random weights — its front-end is not seeded (the MFCC
    baseline, a mel-initialised filterbank: study.py stores it under seed 0 for every seed,
    :meth:`~elmarc_tf.frontends.FrontEndSpec.is_seeded`), or every seed read the same
    feature store — and nothing else drew random numbers: with two or more seeds, all accuracies are
    equal (an ELM on MFCCs, or nested CV's shuffled folds, vary with the seed: those are
    samples); with one seed, the classifier is in :data:`DETERMINISTIC_CLASSIFIERS` and nested CV
    is off. A single run of a random-weight front-end is a sample of one, never deterministic.
    """
    config = summary.get("config") or {}
    stores = {r.get("store") for r in summary.get("per_seed") or []}
    spec = _frontend(summary)
    fixed_features = (spec is not None and not spec.is_seeded(Config.from_dict(config))) or (
        len(summary.get("per_seed") or []) > 1 and len(stores) == 1 and None not in stores)
    if not fixed_features:
        return False
    accuracies = summary["accuracies"]
    if len(accuracies) > 1:
        return len(set(accuracies)) == 1
    classifier = summary.get("classifier") or config.get("model_type")
    return classifier in DETERMINISTIC_CLASSIFIERS and not (summary.get("nested_cv")
                                                            or config.get("nested_cv"))


# ------------------------------------------------------------------------------ statistics
def _no_test(result: dict, note: str) -> dict:
    return {**result, "test": None, "t": None, "dof": None, "p": None, "ci_low": None,
            "ci_high": None, "note": note}


def _t_result(result: dict, test: str, diff: float, se: float, dof: float, confidence: float) -> dict:
    """t, two-sided p and the t-based confidence interval of ``diff`` with standard error ``se``."""
    t = diff / se
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return {**result, "test": test, "t": float(t), "dof": float(dof),
            "p": float(2 * stats.t.sf(abs(t), dof)), "ci_low": float(diff - half),
            "ci_high": float(diff + half), "note": ""}


def difference_test(a: dict, b: dict, confidence: float = CONFIDENCE) -> dict:
    """Test of mean accuracy ``a`` - ``b`` (two summaries with ``label`` and ``accuracies``).

    One of them deterministic (:func:`is_deterministic`): one-sample t-test of the other's
    per-seed accuracies against its value; both seeded: Welch's t-test. Returns ``a``, ``b``,
    ``test`` (:data:`ONE_SAMPLE`, :data:`WELCH` or None), ``n_a``, ``n_b``, ``diff`` (fraction of
    1), ``ci_low``, ``ci_high`` (``confidence`` interval of ``diff``), ``t``, ``dof``, ``p``
    (two-sided) and ``note`` (why there is no test, when there is none; then the numbers are None).
    """
    xa, xb = np.asarray(a["accuracies"], float), np.asarray(b["accuracies"], float)
    result = {"a": a["label"], "b": b["label"], "n_a": int(xa.size), "n_b": int(xb.size),
              "diff": float(xa.mean() - xb.mean()), "confidence": confidence}
    det_a, det_b = is_deterministic(a), is_deterministic(b)
    if det_a and det_b:
        return _no_test(result, "both deterministic: the difference is exact")
    if det_a or det_b:
        seeded, value, sign = (b, xa.mean(), -1.0) if det_a else (a, xb.mean(), 1.0)
        x = np.asarray(seeded["accuracies"], float)
        if x.size < 2:
            return _no_test(result, f"too few seeds: {seeded['label']} has {x.size} (a test needs 2)")
        sd = x.std(ddof=1)
        if sd == 0:
            return _no_test(result, f"no spread: all {x.size} seeds of {seeded['label']} "
                                    f"give the same accuracy")
        out = _t_result(result, ONE_SAMPLE, x.mean() - value, sd / math.sqrt(x.size), x.size - 1,
                        confidence)
        if sign < 0:  # the test is of seeded - value; report a - b
            out.update(t=-out["t"], ci_low=-out["ci_high"], ci_high=-out["ci_low"])
        return out
    few = [f"{s['label']} has {len(s['accuracies'])}" for s in (a, b) if len(s["accuracies"]) < 2]
    if few:
        return _no_test(result, f"too few seeds: {' and '.join(few)} (a test needs 2 each)")
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    if va + vb == 0:
        return _no_test(result, "no spread: every seed of both gives the same accuracy")
    dof = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
    return _t_result(result, WELCH, result["diff"], math.sqrt(va + vb), dof, confidence)


def pairwise_ttests(summaries: list[dict], confidence: float = CONFIDENCE) -> list[dict]:
    """:func:`difference_test` of every pair (``a`` before ``b`` in the given order)."""
    return [difference_test(a, b, confidence)
            for i, a in enumerate(summaries) for b in summaries[i + 1:]]


# ------------------------------------------------------------------------------ the comparison
def _experiment(summary: dict) -> str:
    """The experiment name without its classifier (``vgg-717_SVM`` -> ``vgg-717``)."""
    name = str(summary.get("name") or Path(summary.get("results_file", "?")).parent.name)
    clf = str(summary.get("classifier") or "")
    return re.sub(rf"([_\-. ]{re.escape(clf)})$|^({re.escape(clf)}[_\-. ])", "", name) if clf else name


def _disambiguators(summaries: list[dict]) -> list[str]:
    """Per summary, what tells it apart from another result of the same model and classifier —
    its dataset, else its experiment name (without the classifier), else that name with its
    results folder — or ``''`` where the model alone is unambiguous."""
    out = [""] * len(summaries)
    by_model: dict[str, list[int]] = {}
    for i, s in enumerate(summaries):
        by_model.setdefault(s["model"], []).append(i)
    for indices in by_model.values():
        classifiers = [summaries[i].get("classifier") for i in indices]
        if len(set(classifiers)) == len(classifiers):
            continue
        candidates = (
            lambda s: str(s.get("dataset")),
            _experiment,
            lambda s: f"{Path(s.get('results_file', '?')).parent.parent.name}/{_experiment(s)}",
        )
        for extra in candidates:
            names = [extra(summaries[i]) for i in indices]
            if len(set(zip(names, classifiers))) == len(indices):
                break
        for i, name in zip(indices, names):
            out[i] = name
    return out


def _reference(model: dict, baselines: list[dict]) -> Optional[dict]:
    """The baseline a model is tested against: the one of its dataset (and of its features'
    scaling, where both are there) with its classifier, else the paper's MFCCs + SVM of its
    dataset, else the only baseline of its dataset; None if none."""
    same = [b for b in baselines if b.get("dataset") == model.get("dataset") and b is not model]
    scaled = [b for b in same if bool(b.get("standardize")) == bool(model.get("standardize"))]
    same = scaled or same
    for pick in ([b for b in same if b.get("classifier") == model.get("classifier")],
                 [b for b in same if b.get("classifier") == "SVM"], same):
        if len(pick) == 1:
            return pick[0]
    return None


def _prepare(summaries: list[dict], confidence: float) -> list[dict]:
    """Copies sorted by mean accuracy with ``label``, ``row`` (chart label), ``family``,
    ``deterministic`` and ``vs`` (the :func:`difference_test` against its baseline, or None)."""
    seen: dict[str, None] = {}
    unique = []
    for s in summaries:  # the same results file given twice counts once
        key = s.get("results_file")
        if key is None or key not in seen:
            seen[key] = None
            unique.append(dict(s))
    for s in unique:  # as study.py computes them, unless given
        s.setdefault("mean", float(np.mean(s["accuracies"])))
        s.setdefault("std", float(np.std(s["accuracies"])))
    models = sorted(unique, key=lambda s: -s["mean"])
    for s, extra in zip(models, _disambiguators(models)):
        s["label"] = f"{s['model']} {s.get('classifier', '')}".rstrip() + (f" [{extra}]" if extra else "")
        s["row"] = s["model"] + (f"\n{extra}" if extra else "")
        s["family"] = family_of(s)
        s["deterministic"] = is_deterministic(s)
    baselines = [s for s in models if s["family"] == BASELINE_FAMILY]
    for s in models:
        ref = None if s["family"] == BASELINE_FAMILY else _reference(s, baselines)
        s["vs"] = difference_test(s, ref, confidence) if ref is not None else None
    return models


def _pct(x: Optional[float], digits: int = 2) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}"


def _p(p: Optional[float], star: bool = False) -> str:
    """``p`` to 3 significant digits, with `` *`` below 0.05 when ``star``."""
    return "" if p is None else f"{p:.3g}" + (" *" if star and p < 0.05 else "")


def _rows(models: list[dict]) -> list[dict]:
    """One formatted row per model (the text and Markdown tables)."""
    rows = []
    for rank, s in enumerate(models, start=1):
        vs = s["vs"]
        if s["family"] == BASELINE_FAMILY:
            test = "baseline" + (" (deterministic)" if s["deterministic"] else "")
        else:
            test = (vs["test"] or vs["note"]) if vs else ""
        delta = ""
        if vs:
            delta = f"{100 * vs['diff']:+.2f}"
            if vs["ci_low"] is not None:
                delta += f" [{100 * vs['ci_low']:+.2f}, {100 * vs['ci_high']:+.2f}]"
        acc = _pct(s["mean"]) + (f" ± {_pct(s['std'])}" if len(s["accuracies"]) > 1 else "")
        rows.append({"rank": rank, "model": s["label"], "family": s["family"],
                     "dim": s.get("feature_length", ""), "acc": acc,
                     "n": len(s["accuracies"]), "vs": vs["b"] if vs else "", "delta": delta,
                     "p": _p(vs["p"], star=True) if vs else "", "test": test,
                     "protocol": (s.get("protocol") or "") + (" +std" if s.get("standardize") else "")
                                 + (" nested" if s.get("nested_cv") else "")})
    return rows


def _columns(rows: list[dict], confidence: float) -> list[tuple[str, str]]:
    """The table's columns; ``vs`` and ``protocol`` only where they differ between rows."""
    columns = [("rank", "#"), ("model", "model"), ("family", "family"), ("dim", "dim"),
               ("acc", "accuracy % (mean ± std)"), ("n", "seeds")]
    if len({r["vs"] for r in rows if r["vs"]}) > 1:
        columns.append(("vs", "vs baseline"))
    if any(r["delta"] for r in rows):
        columns += [("delta", f"Δ vs baseline, pp [{confidence:.0%} CI]"), ("p", "p (* < 0.05)"),
                    ("test", "test")]
    if len({r["protocol"] for r in rows}) > 1:
        columns.append(("protocol", "protocol"))
    return columns


def _notes(models: list[dict], rows: list[dict], confidence: float) -> list[str]:
    """Sentences under the table: the baseline, the tests, the protocol."""
    notes = []
    refs = sorted({r["vs"] for r in rows if r["vs"]})
    if refs:
        notes.append(f"Δ: accuracy minus the baseline ({', '.join(refs)}) in percentage points, "
                     f"with its {confidence:.0%} confidence interval; two-sided p, H0: equal means, "
                     f"not corrected for multiple comparisons.")
        notes.append(f"Tests: '{ONE_SAMPLE}' = one-sample t-test of the model's per-seed "
                     f"accuracies against a baseline that has one exact value (no random weights, "
                     f"deterministic classifier); '{WELCH}' = Welch's t-test between two seeded "
                     f"results. Accuracies: mean ± std (ddof 0) over seeds.")
    protocols = {r["protocol"] for r in rows}
    if len(protocols) == 1:
        notes.append(f"Protocol: {protocols.pop()}.")
    return notes


def _csv_table(models: list[dict]) -> str:
    """Every number of the table unformatted (accuracies in %, differences in points)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["rank", "model", "classifier", "name", "dataset", "family", "feature_length",
                     "accuracy_mean_pct", "accuracy_std_pct", "n_seeds", "deterministic", "protocol",
                     "baseline", "test", "diff_pp", "ci_low_pp", "ci_high_pp", "confidence", "t",
                     "dof", "p", "note", "results_file"])
    num = lambda x, scale=1.0: "" if x is None else repr(float(x) * scale)
    for rank, s in enumerate(models, start=1):
        vs = s["vs"] or {}
        writer.writerow([rank, s["label"], s.get("classifier", ""), s.get("name", ""),
                         s.get("dataset", ""), s["family"], s.get("feature_length", ""),
                         num(s["mean"], 100), num(s["std"], 100), len(s["accuracies"]),
                         s["deterministic"], s.get("protocol", ""), vs.get("b", ""),
                         vs.get("test") or "", num(vs.get("diff"), 100), num(vs.get("ci_low"), 100),
                         num(vs.get("ci_high"), 100), num(vs.get("confidence")), num(vs.get("t")),
                         num(vs.get("dof")), num(vs.get("p")), vs.get("note", ""),
                         s.get("results_file", "")])
    return buf.getvalue()


def _markdown_table(models: list[dict], confidence: float) -> str:
    """A GitHub-flavoured Markdown table with its notes below, one paragraph each."""
    rows = _rows(models)
    columns = _columns(rows, confidence)
    esc = lambda v: str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---:" if k in ("rank", "dim", "n") else "---" for k, _ in columns) + "|"]
    lines += ["| " + " | ".join(esc(r.get(k, "")) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n\n" + "\n\n".join(_notes(models, rows, confidence)) + "\n"  # paragraphs


# Table file formats by suffix: writer(models, confidence) -> text.
TABLE_FORMATS: dict[str, Callable[[list[dict], float], str]] = {
    ".md": _markdown_table,
    ".csv": lambda models, confidence: _csv_table(models),
}


def _check_table_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in TABLE_FORMATS:
        raise ElmarcError(f"{path}: table format must be one of {', '.join(TABLE_FORMATS)} "
                          f"(by file suffix)")
    return path


def _check_chart_path(path) -> Path:
    """``path``, if its suffix names a format matplotlib saves (``.png``, ``.pdf``, ``.svg``
    ...); else :class:`ElmarcError` listing them."""
    path = Path(path)
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise ElmarcError(f"{path}: chart format must be one of "
                          f"{', '.join('.' + f for f in sorted(formats))} (by file suffix)")
    return path


def write_table(models: list[dict], path, confidence: float = CONFIDENCE) -> Path:
    """The comparison table of :func:`compare`'s ``models`` as Markdown (``.md``) or CSV (``.csv``)."""
    path = _check_table_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, TABLE_FORMATS[path.suffix.lower()](models, confidence))
    return path


# ------------------------------------------------------------------------------ the chart
def _classifier_styles(classifiers: list[str]) -> dict[str, dict]:
    others = iter(OTHER_CLASSIFIER_STYLES * len(classifiers))
    return {c: CLASSIFIER_STYLES.get(c) or next(others) for c in classifiers}


def _family_order(family: str) -> tuple:
    """Legend order: the families of :data:`FAMILY_COLOURS` as listed there, then the others."""
    known = list(FAMILY_COLOURS)
    return (known.index(family) if family in known else len(known), family)


def results_chart(models: list[dict], title: Optional[str] = None) -> Figure:
    """Horizontal bars of :func:`compare`'s ``models`` in the manner of the paper's Figures 6-11.

    One row per front-end (best on top), its classifiers side by side (SVM solid, ELM hatched),
    coloured by family; error bars = std over seeds, the bar's text gives mean ± std (n) and a
    ``*`` where the model differs from its baseline at p < 0.05. Baseline results are vertical
    reference lines (when there are other results). Returns the figure (not saved).
    """
    baselines = [m for m in models if m["family"] == BASELINE_FAMILY]
    bars = [m for m in models if m["family"] != BASELINE_FAMILY] or models
    if bars is models:
        baselines = []
    order = {"SVM": 0, "ELM": 1}
    classifiers = sorted({str(m.get("classifier")) for m in bars}, key=lambda c: (order.get(c, 2), c))
    styles = _classifier_styles(sorted({str(m.get("classifier")) for m in models},
                                       key=lambda c: (order.get(c, 2), c)))
    rows: dict[str, list[dict]] = {}
    for m in bars:  # models are sorted by mean: rows come out sorted by their best bar
        rows.setdefault(m["row"], []).append(m)
    k = len(classifiers)
    height = 0.8 / k
    fig = Figure(figsize=(7.2, 1.5 + len(rows) * (0.2 * k + 0.14)), layout="constrained")
    ax = fig.subplots()
    top = max([m["mean"] + m["std"] for m in models] + [0.0])
    for y, members in enumerate(rows.values()):
        for m in members:
            j = classifiers.index(str(m.get("classifier")))
            style = styles[str(m.get("classifier"))]
            pos = y - 0.4 + height * (j + 0.5)
            n = len(m["accuracies"])
            ax.barh([pos], [100 * m["mean"]], height=height * 0.92,
                    xerr=[100 * m["std"]] if n > 1 else None, error_kw=dict(capsize=2, lw=0.8),
                    color=FAMILY_COLOURS.get(m["family"], FAMILY_COLOURS[OTHER_FAMILY]),
                    alpha=style["alpha"], hatch=style["hatch"], edgecolor="black", linewidth=0.5)
            vs = m.get("vs")
            star = " *" if vs and vs["p"] is not None and vs["p"] < 0.05 else ""
            text = (f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f} (n={n}){star}" if n > 1
                    else f"{100 * m['mean']:.1f} (n=1){star}")
            ax.text(0.8, pos, text, va="center", fontsize=8, zorder=4,  # at the base: always room
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=0.6))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(list(rows), fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # best on top
    handles = [Patch(facecolor=FAMILY_COLOURS.get(f, FAMILY_COLOURS[OTHER_FAMILY]), edgecolor="black",
                     linewidth=0.5, label=f)
               for f in sorted({m["family"] for m in bars}, key=_family_order)]
    if k > 1:
        handles += [Patch(facecolor="#bbbbbb", edgecolor="black", linewidth=0.5,
                          hatch=styles[c]["hatch"], alpha=styles[c]["alpha"], label=c)
                    for c in classifiers]
    for b in baselines:
        style = styles[str(b.get("classifier"))]
        ax.axvline(100 * b["mean"], color=FAMILY_COLOURS[BASELINE_FAMILY], lw=1.3,
                   linestyle=style["linestyle"], gid="baseline", zorder=3)
        if len(b["accuracies"]) > 1 and b["std"] > 0:
            ax.axvspan(100 * (b["mean"] - b["std"]), 100 * (b["mean"] + b["std"]),
                       color=FAMILY_COLOURS[BASELINE_FAMILY], alpha=0.08, lw=0)
        handles.append(Line2D([], [], color=FAMILY_COLOURS[BASELINE_FAMILY], lw=1.3,
                              linestyle=style["linestyle"],
                              label=f"{b['label']}: {100 * b['mean']:.1f}"
                                    + (" (deterministic)" if b["deterministic"] else
                                       f" ± {100 * b['std']:.1f} (n={len(b['accuracies'])})")))
    ax.set_xlim(0, min(100.0, 5 * math.ceil((100 * top + 3) / 5)))
    ax.set_xlabel("accuracy (%): mean ± std over seeds (n);  * p < 0.05 vs baseline", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=min(len(handles), 4),
               frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def count_bars(fig: Figure) -> int:
    """Bars drawn in a :func:`results_chart` figure (one per non-baseline result)."""
    return sum(len(c) for ax in fig.axes for c in ax.containers if isinstance(c, BarContainer))


# ------------------------------------------------------------------------------ compare
def compare(summaries: list[dict], chart=None, title=None, table=None,
            confidence: float = CONFIDENCE) -> dict:
    """Rank results, test them against their baseline and pairwise, draw and tabulate.

    ``chart``: an image path for :func:`results_chart` (PNG, PDF, SVG ...: a suffix matplotlib
    saves, checked before any work); ``table``: a ``.md`` or ``.csv`` path for
    :func:`write_table`. The same ``results_file`` given twice counts once. Returns ``table``
    (text), ``notes`` (the sentences under it), ``ttests`` (:func:`pairwise_ttests`),
    ``ttest_table`` (text), ``chart`` and ``table_file`` (paths or None) and ``models`` (copies
    of the summaries, best first, with ``label``, ``family``, ``deterministic``, ``vs``).
    """
    if table is not None:
        _check_table_path(table)  # before any work
    if chart is not None:
        _check_chart_path(chart)
    models = _prepare(summaries, confidence)
    rows = _rows(models)
    text = format_table(rows, _columns(rows, confidence))
    tests = pairwise_ttests(models, confidence)
    test_rows = [{"a": t["a"], "b": t["b"], "test": t["test"] or t["note"],
                  "delta": f"{100 * t['diff']:+.2f}" + (f" [{100 * t['ci_low']:+.2f}, "
                                                         f"{100 * t['ci_high']:+.2f}]"
                                                         if t["ci_low"] is not None else ""),
                  "t": "" if t["t"] is None else f"{t['t']:.3f}",
                  "dof": "" if t["dof"] is None else f"{t['dof']:.1f}", "p": _p(t["p"]),
                  "sig": "*" if t["p"] is not None and t["p"] < 0.05 else ""} for t in tests]
    test_table = format_table(test_rows, [("a", "model A"), ("b", "model B"), ("test", "test"),
                                          ("delta", f"A - B, pp [{confidence:.0%} CI]"), ("t", "t"),
                                          ("dof", "dof"), ("p", "p-value"), ("sig", "p<0.05")])
    path = None
    if chart is not None:
        path = Path(chart)
        path.parent.mkdir(parents=True, exist_ok=True)
        results_chart(models, title=title).savefig(path, dpi=110)
    table_file = write_table(models, table, confidence) if table is not None else None
    return {"table": text, "notes": _notes(models, rows, confidence), "ttests": tests,
            "ttest_table": test_table, "chart": path, "table_file": table_file, "models": models}
