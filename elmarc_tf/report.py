"""Tables and plots of results people compare."""

from __future__ import annotations

from pathlib import Path


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Plain-text table; ``columns`` = ``[(key, header), ...]``; values are shown with ``str``."""
    cells = [[str(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, (_, h) in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    return "\n".join([line([h for _, h in columns]), line(["-" * w for w in widths]),
                      *(line(c) for c in cells)])


def bar_chart(names, means, path, stds=None, ylabel="accuracy", title=None) -> Path:
    """Bars (with std error bars when given) in the style of the paper's figures; saves a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6))
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_results(paths) -> list[dict]:
    """Result summaries (``results.json`` of :func:`elmarc_tf.study.run_experiment`) from files or
    folders searched recursively."""
    import json

    from .errors import ElmarcError

    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.rglob("results.json")))
        elif p.is_file():
            files.append(p)
        else:
            raise ElmarcError(f"{p}: no such results file or folder")
    if not files:
        raise ElmarcError(f"no results.json found in {', '.join(map(str, paths))}")
    out = []
    for f in files:
        data = json.loads(f.read_text())
        if "accuracies" not in data:
            raise ElmarcError(f"{f}: not a results file of 'elmarc run' (no 'accuracies')")
        out.append(data)
    return out


def pairwise_ttests(summaries: list[dict]) -> list[dict]:
    """Welch's two-sample t-test (``scipy.stats.ttest_ind(equal_var=False)``) on per-seed
    accuracies for every pair of models; H0: equal means."""
    import warnings

    from scipy import stats

    tests = []
    for i, a in enumerate(summaries):
        for b in summaries[i + 1:]:
            with warnings.catch_warnings():  # identical per-seed values (e.g. MFCCs): t is nan
                warnings.simplefilter("ignore", RuntimeWarning)
                t, p = stats.ttest_ind(a["accuracies"], b["accuracies"], equal_var=False)
            tests.append({"a": a["label"], "b": b["label"], "t": float(t), "p": float(p)})
    return tests


def compare(summaries: list[dict], chart=None, title=None) -> dict:
    """Table of models (mean ± std over seeds, feature length), pairwise t-tests, bar chart."""
    summaries = sorted(summaries, key=lambda s: -s["mean"])
    for s in summaries:
        s["label"] = f"{s['model']} {s['classifier']}"
    labels = [s["label"] for s in summaries]
    if len(set(labels)) < len(labels):  # same model twice (e.g. two datasets): use run names
        for s in summaries:
            s["label"] = f"{s['name']}: {s['label']}"
    rows = [{"rank": k, "model": s["label"], "dim": s["feature_length"],
             "acc": f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}", "n": len(s["accuracies"]),
             "protocol": s["protocol"] + (" +std" if s.get("standardize") else "")
                         + (" nested" if s.get("nested_cv") else "")}
            for k, s in enumerate(summaries, start=1)]
    table = format_table(rows, [("rank", "#"), ("model", "model"), ("dim", "dim"),
                                ("acc", "accuracy % (mean ± std)"), ("n", "seeds"),
                                ("protocol", "protocol")])
    tests = pairwise_ttests(summaries)
    test_rows = [{**t, "t": f"{t['t']:.3f}", "p": f"{t['p']:.4g}",
                  "sig": "*" if t["p"] < 0.05 else ""} for t in tests]
    test_table = format_table(test_rows, [("a", "model A"), ("b", "model B"), ("t", "t"),
                                          ("p", "p-value"), ("sig", "p<0.05")])
    path = None
    if chart is not None:
        path = bar_chart([s["label"] for s in summaries], [100 * s["mean"] for s in summaries], chart,
                         stds=[100 * s["std"] for s in summaries], ylabel="accuracy (%)", title=title)
    return {"table": table, "ttests": tests, "ttest_table": test_table, "chart": path,
            "models": summaries}
