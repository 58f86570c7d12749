"""The paper's experiment matrix (Figures 6-11) as data, and ``reproduce`` to run a whole figure.

Per dataset: every front-end at the two feature sizes (~120 and ~3500), the MFCC baseline, each
with an SVM and an ELM. ``configs/`` holds the same matrix as editable YAML files
(``scripts/make_configs.py`` writes them from here).

Beyond the paper, the same study for Lee et al. 2018's 3⁹-SampleCNN (:func:`samplecnn_configs`,
``configs/samplecnn/``), and the configurations ``elmarc bench`` measures
(:func:`bench_frontends`: the paper's and SampleCNN's).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..extraction.options import RunOptions
from ..io.audio_cache import as_audio_cache
from ..config import Config
from ..errors import ConfigError
from ..frontends import frontend_of
from .families import (SAMPLECNN_BATCH, SAMPLECNN_FULL, SAMPLECNN_MATRIX, SIZES,
                       mfcc_family, paper_family, sized)
from .report import compare
from .study import run_experiment

CLASSIFIERS = ("SVM", "ELM")

DATASETS = {
    "gtzan": dict(fields=dict(dataset="GTZAN", audio_path="data/GTZAN/genres",
                              train_set_list="data/GTZAN/splits/train_filtered.txt",
                              val_set_list="data/GTZAN/splits/valid_filtered.txt",
                              test_set_list="data/GTZAN/splits/test_filtered.txt",
                              fix_length_by="crop"),
                  music="cnn_music", temporal="temporal", figures={"small": 6, "large": 7}),
    "extended_ballroom": dict(fields=dict(dataset="ExtendedBallroom",
                                          audio_path="data/extended_ballroom", fix_length_by="crop"),
                              music="cnn_music", temporal="temporal", figures={"small": 8, "large": 9}),
    "urbansound8k": dict(fields=dict(dataset="UrbanSound8K", audio_path="data/UrbanSound8K",
                                     fix_length_by="repeat-pad"),
                         music="cnn_audio", temporal="time", figures={"small": 10, "large": 11}),
}


def paper_configs(dataset: str) -> dict[str, dict]:
    """``{experiment name: flat config dict}`` of one dataset's figures, e.g. ``vgg-717_SVM``."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown paper dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    d = DATASETS[dataset]
    out = {}
    for size in SIZES:
        for name, frontend in paper_family(d, size).items():
            for clf in CLASSIFIERS:
                exp = f"{name}_{clf}"
                out[exp] = {"experiment_name": f"{dataset}_{exp}", **d["fields"], **frontend,
                            "model_type": clf, "figure": d["figures"][size]}
    for name, frontend in mfcc_family(d, "small").items():
        for clf in CLASSIFIERS:
            out[f"{name}_{clf}"] = {"experiment_name": f"{dataset}_{name}_{clf}", **d["fields"],
                                    **frontend, "model_type": clf,
                                    "figure": list(d["figures"].values())}
    return out


_DATA_FIELDS = ("figure", "experiment_name", "dataset", "audio_path", "train_set_list",
                "val_set_list", "test_set_list", "model_type")


def paper_frontends() -> dict[str, dict]:
    """The paper's front-end configurations (Figures 6-7 matrix, without data and classifier):
    ``{"vgg-717": {config fields}, ...}``."""
    out = {}
    for exp, fields in paper_configs("gtzan").items():
        frontend = {k: v for k, v in fields.items() if k not in _DATA_FIELDS}
        if exp.endswith("_SVM") and frontend_of(Config.from_dict(frontend)).seeded:
            out[exp.removesuffix("_SVM")] = frontend
    return out


def paper_config(name: str) -> Config:
    """The :class:`~elmarc_tf.config.Config` of one of :func:`bench_frontends`, e.g. ``vgg-717``
    or ``samplecnn-3^9``."""
    frontends = bench_frontends()
    if name not in frontends:
        raise ConfigError(f"unknown bench configuration {name!r}; valid: {', '.join(frontends)}")
    return Config.from_dict(frontends[name])


def samplecnn_configs(dataset: str) -> dict[str, dict]:
    """``{experiment name: flat config dict}`` of the SampleCNN study on one dataset (beyond the
    paper): :data:`SAMPLECNN_MATRIX` at ~120 and ~3500 features, with an SVM and an ELM, on the
    dataset's clips and protocol as the paper's front-ends (e.g. ``samplecnn-5_SVM``)."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown paper dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    out = {}
    for size in SIZES:
        for name, frontend in sized(SAMPLECNN_MATRIX, size, SAMPLECNN_BATCH).items():
            for clf in CLASSIFIERS:
                exp = f"{name}_{clf}"
                out[exp] = {"experiment_name": f"{dataset}_{exp}", **DATASETS[dataset]["fields"],
                            **frontend, "model_type": clf}
    return out


def bench_frontends() -> dict[str, dict]:
    """What ``elmarc bench`` measures by default: :func:`paper_frontends`, then SampleCNN's
    full Table 1 model (``samplecnn-3^9``) and the SampleCNN study's two sizes (``samplecnn-5``,
    ``samplecnn-146``)."""
    out = {**paper_frontends(), **SAMPLECNN_FULL}
    for exp, fields in samplecnn_configs("gtzan").items():
        if exp.endswith("_SVM"):
            out[exp.removesuffix("_SVM")] = {k: v for k, v in fields.items() if k not in _DATA_FIELDS}
    return out


def figure_of(experiment: dict) -> list[int]:
    fig = experiment["figure"]
    return fig if isinstance(fig, list) else [fig]


def reproduce(dataset: str, audio_root, splits=None, seeds=(0, 1, 2), out="elmarc_out/paper",
              sizes=tuple(SIZES), classifiers=CLASSIFIERS, only=None,
              run: RunOptions = RunOptions()) -> dict:
    """Run every experiment of a dataset's figures on the user's copy, then compare per figure.

    ``audio_root`` replaces ``audio_path``; for GTZAN, ``splits`` is the folder with the
    fault-filtered lists (without it, the 1000-clip layout under 10-fold CV). Stores and finished
    seeds are reused, so an interrupted run resumes. ``only``: substrings of experiment names.
    ``run`` (a :class:`~elmarc_tf.extraction.options.RunOptions`) as for
    :func:`~elmarc_tf.studies.study.run_experiment`, but ``run.audio_cache``: where decoded clips
    are kept so that the whole figure decodes each clip once — ``None`` (default):
    ``<out>/<dataset>/audio_cache``; a folder or an :class:`~elmarc_tf.io.audio_cache.AudioCache`:
    that one; ``False``: no cache (decode per config). ``run.engine`` ``"ray"``: every extraction
    and grid search on a Ray cluster; the cache folder must then be readable and writable by
    every node.
    """
    out = Path(out) / dataset
    run = study_run(run, out)
    summaries_by_figure: dict[int, list] = {}
    for exp, fields in paper_configs(dataset).items():
        if fields.get("model_type") not in classifiers or (only and not any(o in exp for o in only)):
            continue
        figures = [f for f in figure_of(fields)
                   if any(DATASETS[dataset]["figures"][s] == f for s in sizes)]
        if not figures:
            continue
        fields = {k: v for k, v in fields.items() if k != "figure"}
        fields["audio_path"] = str(audio_root)
        for key in ("train_set_list", "val_set_list", "test_set_list"):
            if key in fields:
                fields[key] = (str(Path(splits) / Path(fields[key]).name) if splits else None)
        cfg = Config.from_dict(fields)
        summary = run_experiment(cfg, seeds=seeds, out=out / "results", name=exp,
                                 features_out=out / "features", run=run)
        for f in figures:
            summaries_by_figure.setdefault(f, []).append(summary)
    report = {}
    for figure, summaries in sorted(summaries_by_figure.items()):
        report[figure] = compare_and_log(
            summaries, f"Figure {figure} ({dataset})", run.log, chart=out / f"figure{figure}.png",
            title=f"{dataset}: Figure {figure} (mean ± std over {len(seeds)} seeds)")
    return report


def study_run(run: RunOptions, out: Path) -> RunOptions:
    """``run`` for a study writing under ``out``: its logger made explicit, and one decoded-audio
    cache for every experiment (``run.audio_cache`` ``None``: ``<out>/audio_cache``; a folder or
    an :class:`~elmarc_tf.io.audio_cache.AudioCache`: that one; ``False``: none)."""
    return replace(run, log=run.logger(), audio_cache=as_audio_cache(
        out / "audio_cache" if run.audio_cache is None else run.audio_cache))


def compare_and_log(summaries: list[dict], heading: str, log, **kwargs) -> dict:
    """:func:`~elmarc_tf.studies.report.compare` (``kwargs``: ``chart``, ``title``, ``table``),
    its table and t-tests logged under ``heading``."""
    result = compare(summaries, **kwargs)
    log(f"\n{heading}\n{result['table']}\n\nPairwise t-tests:\n"
        f"{result['ttest_table']}\nchart: {result['chart']}")
    return result
