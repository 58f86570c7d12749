"""Running a task's jobs and writing the dataset: ``audio/<label>/<name>.wav``, ``metadata.csv``
(``path,label,fold,group``, read by :func:`elmarc_tf.datasets.csv_list`) and ``README.md``."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...errors import ConfigError
from .audio import write_clip
from .folds import grouped_folds
from .packages import package_licences, package_version
from .task import Task

CSV_COLUMNS = ("path", "label", "fold", "group")


def write_dataset(task: Task, out, seed: int, root, progress: bool = True, **options) -> dict:
    """Build ``task`` into the empty or new folder ``out``; returns a summary
    (``n_clips``, ``classes``: clips per label, ``folds``: clips per fold)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder; give a new --out")
    jobs = task.plan(Path(root), seed, **options)
    rows, lengths = [], []
    with tqdm(total=len(jobs), desc=f"building {task.name}", unit="source", file=sys.stderr,
              disable=not progress) as bar:
        for job in jobs:
            for clip in job():
                rel = f"audio/{clip.label}/{clip.name}.wav"
                write_clip(out / rel, clip.audio, task.sample_rate)
                rows.append({"path": rel, "label": clip.label, "group": clip.group})
                lengths.append(clip.audio.size / task.sample_rate)
            bar.update(1)
    if len({row["path"] for row in rows}) != len(rows):
        raise ConfigError(f"dataset {task.name!r}: two clips share a file name")  # a builder bug
    folds = grouped_folds([r["label"] for r in rows], [r["group"] for r in rows], task.n_folds, seed)
    for row, fold in zip(rows, folds):
        row["fold"] = fold
    rows.sort(key=lambda r: r["path"])
    (out / "metadata.csv").write_text(_csv_text(rows), encoding="utf-8")
    (out / "README.md").write_text(readme(task, rows, lengths, seed, root), encoding="utf-8")
    return {"name": task.name, "out": str(out), "n_clips": len(rows),
            "classes": dict(sorted(Counter(r["label"] for r in rows).items())),
            "folds": dict(sorted(Counter(r["fold"] for r in rows).items()))}


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def readme(task: Task, rows: list[dict], lengths: list[float], seed: int, root) -> str:
    """The dataset's README.md: sources, versions, licences, class counts, clip lengths, folds."""
    per_label = Counter(r["label"] for r in rows)
    groups_of: dict[str, set] = {}
    for r in rows:
        groups_of.setdefault(r["label"], set()).add(r["group"])
    per_fold = Counter(r["fold"] for r in rows)
    secs = np.asarray(lengths)
    lines = [
        f"# {task.name}", "", task.summary, "",
        f"Built with `elmarc datasets build {task.name} --out DIR --seed {seed}` "
        f"(Python: `elmarc_tf.datasets.build({task.name!r}, DIR, seed={seed})`); the same seed "
        f"and package versions give the same files.", "",
        "## What it is", "", task.about, "",
        "## Sources", "", "| package | version | licence |", "|---|---|---|",
        *(f"| {p.name} | {package_version(p.name, root)} | {package_licences(p.name, root)} |"
          for p in task.packages), "",
        "The audio keeps its packages' licences; see each package's copyright file.", "",
        "## Classes", "", "| label | clips | groups |", "|---|---|---|",
        *(f"| {label} | {n} | {len(groups_of[label])} |" for label, n in sorted(per_label.items())),
        f"| **all** | {len(rows)} | {len({r['group'] for r in rows})} |", "",
        "## Clips", "",
        f"16-bit mono WAV at {task.sample_rate} Hz; lengths {secs.min():.2f} s (shortest), "
        f"{np.median(secs):.2f} s (median), {secs.max():.2f} s (longest).", "",
        "## Folds", "",
        f"`metadata.csv` has `path,label,fold,group`. The {task.n_folds} folds never split a "
        f"group: groups are dealt to folds by scikit-learn's StratifiedGroupKFold (shuffled, "
        f"seed {seed}), which keeps class proportions close to the whole's. Clips per fold: "
        + ", ".join(f"{fold}: {n}" for fold, n in sorted(per_fold.items())) + ".", "",
        "## Baseline", "",
        "An MFCC + SVM baseline on these folds: a config with `dataset: csv`, "
        "`audio_path: DIR/metadata.csv`, `features_type: MFCC`, `model_type: SVM`, then "
        "`elmarc run CONFIG --seeds 1` (MFCCs have no random weights). Measured numbers are in "
        "the package's docs/datasets_real.md.", "",
    ]
    return "\n".join(lines)
