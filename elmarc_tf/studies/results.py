"""The results of an experiment: one summary dict, written as ``results.json`` + ``results.csv``.

Every verb that evaluates a front-end over seeds — ``elmarc run`` (random features + a
classifier), ``elmarc train`` (end to end) and the trained-features experiments of
``elmarc random-vs-trained`` — builds its summary with :func:`summarize` and writes it with
:func:`write_summary`; ``elmarc compare`` reads it back with :func:`read_summary`. The keys every
summary holds are :data:`SUMMARY_KEYS`; those of each ``per_seed`` entry, :data:`SEED_KEYS`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ElmarcError
from ..frontends import frontend_of
from ..io.fileio import atomic_write_json, atomic_write_text

# The keys of every summary, in the order results.json holds them (``extra`` keys of
# :func:`summarize` come between ``std`` and ``config``; an SVM's iteration-cap totals last).
SUMMARY_KEYS = ("name", "model", "classifier", "dataset", "feature_length", "protocol",
                "standardize", "nested_cv", "seeds", "accuracies", "mean", "std", "config",
                "per_seed")
# The keys of every per-seed entry (each verb adds its own: ``store``, ``splits`` ...).
SEED_KEYS = ("seed", "accuracy", "protocol", "best_params", "feature_length")
CSV_HEADER = ["name", "model", "classifier", "seed", "accuracy", "feature_length", "protocol",
              "best_params"]


def model_label(cfg, feature_length: int | None = None) -> str:
    """The paper's legend name of a feature type, e.g. ``timbral+temporal (3584)``."""
    name = frontend_of(cfg).label(cfg)
    return f"{name} ({feature_length})" if feature_length else name


@dataclass(frozen=True)
class Described:
    """What a summary says its numbers are: the experiment's ``name``, the ``model`` (its
    legend label), the ``classifier``, the evaluation ``protocol``, the ``feature_length`` and
    whether features were ``standardize``-d and the CV ``nested_cv``."""

    name: str
    model: str
    classifier: str
    protocol: str
    feature_length: int
    standardize: bool
    nested_cv: bool


def summarize(described: Described, cfg, seeds, per_seed: list[dict],
              extra: Optional[dict] = None) -> dict:
    """The summary of ``per_seed`` results (one dict per seed of ``seeds``, with ``accuracy``)
    of ``cfg``: :data:`SUMMARY_KEYS` (``accuracies`` per seed, their ``mean`` and ``std``), then
    ``extra`` before ``config``. Per-seed results of an SVM with an iteration cap
    (``svm_max_iter``) add the cap and the fits it stopped, summed over seeds
    (``n_capped_fits`` of ``n_fits``)."""
    accuracies = [r["accuracy"] for r in per_seed]
    summary = {"name": described.name, "model": described.model,
               "classifier": described.classifier, "dataset": cfg.dataset,
               "feature_length": described.feature_length, "protocol": described.protocol,
               "standardize": described.standardize, "nested_cv": described.nested_cv,
               "seeds": [int(s) for s in seeds], "accuracies": accuracies,
               "mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)),
               **(extra or {}), "config": cfg.to_dict(), "per_seed": per_seed}
    if "svm_max_iter" in per_seed[0]:
        summary.update(svm_max_iter=per_seed[0]["svm_max_iter"],
                       n_capped_fits=sum(r["n_capped_fits"] for r in per_seed),
                       n_fits=sum(r["n_fits"] for r in per_seed))
    return summary


def write_summary(folder, summary: dict) -> None:
    """``results.json`` and ``results.csv`` of a :func:`summarize` summary in ``folder``
    (created if needed), both written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "results.json", summary)
    atomic_write_text(folder / "results.csv", _csv(summary))


def summary_line(summary: dict, folder) -> str:
    """``'<model> <classifier>: 81.20 ± 1.30 % over seeds [0, 1, 2] -> <folder>/results.json'``."""
    return (f"{summary['model']} {summary['classifier']}: {100 * summary['mean']:.2f} ± "
            f"{100 * summary['std']:.2f} % over seeds {summary['seeds']} -> "
            f"{Path(folder) / 'results.json'}")


def read_summary(path) -> dict:
    """The summary in ``results.json`` file ``path``; :class:`ElmarcError` naming it when it
    cannot be read or is not a results file (no ``accuracies``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ElmarcError(f"{path}: cannot read a results file ({e})") from None
    if not isinstance(data, dict) or "accuracies" not in data:
        raise ElmarcError(f"{path}: not a results file of 'elmarc run' (no 'accuracies')")
    return data


def _csv(summary: dict) -> str:
    """One row per seed, then the ``mean`` and ``std`` rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_HEADER)
    for r in summary["per_seed"]:
        writer.writerow([summary["name"], summary["model"], summary["classifier"], r["seed"],
                         f"{r['accuracy']:.6f}", r["feature_length"], r["protocol"],
                         json.dumps(r["best_params"], sort_keys=True)])
    for stat in ("mean", "std"):
        writer.writerow([summary["name"], summary["model"], summary["classifier"], stat,
                         f"{summary[stat]:.6f}", summary["feature_length"], summary["protocol"], ""])
    return buf.getvalue()
