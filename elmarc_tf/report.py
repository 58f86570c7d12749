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
    ax.set_ylim(0, 1.05 if max(means, default=0) <= 1 else None)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
