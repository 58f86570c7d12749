"""The paper's matrix on any dataset: front-end families x sizes x classifiers x standardisation,
each over several seeds, on a CSV list or a folder per class; then one comparison of everything.

The front-ends come from the families' registry (:data:`~elmarc_tf.studies.families.FAMILIES`),
the same one the paper's figures are built from; the data follows the rules of ``elmarc run``
for a CSV (``dataset: csv``: the CSV's folds or split when it has them) or a folder
(``dataset: folder``), else stratified k-fold. Experiments are named
``<front-end>_<classifier>`` (``vgg-32_SVM``), with ``_z`` when the features are standardised
(``standardize: true``).
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..datasets import items_from_config
from ..errors import ConfigError
from ..extraction.options import RunOptions
from .families import DEFAULT_FAMILIES, FAMILIES, SIZES, base_name
from .paper import CLASSIFIERS, compare_and_log, study_run
from .study import run_experiment

# what a dataset's sounds are -> the paper's timbral/temporal model for them (cnn_music on
# GTZAN and Ballroom, cnn_audio on UrbanSound8K)
KINDS = {"music": dict(music="cnn_music", temporal="temporal"),
         "audio": dict(music="cnn_audio", temporal="time")}
STANDARDIZE = {"raw": False, "z": True}  # --standardize's words
DEFAULT_FIX_LENGTH = "repeat-pad"  # clips shorter than the input are repeated (UrbanSound8K's rule)


def matrix_dataset(path, fix_length_by: str = DEFAULT_FIX_LENGTH, kind: str = "music") -> dict:
    """The dataset entry (as :data:`~elmarc_tf.studies.paper.DATASETS`'s, with a ``name``) of a
    ``path,label[,fold][,split]`` CSV or a folder with one sub-folder per class."""
    path = Path(path)
    if kind not in KINDS:
        raise ConfigError(f"unknown kind of sounds {kind!r}; valid: {', '.join(KINDS)}")
    if not path.exists():
        raise ConfigError(f"{path}: no such dataset CSV or folder")
    dataset = "folder" if path.is_dir() else "csv"
    named = path.resolve()  # '.', '..' and 'data/' name their folder
    return dict(name=named.name if path.is_dir() else named.stem, **KINDS[kind],
                fields=dict(dataset=dataset, audio_path=str(path), fix_length_by=fix_length_by))


def parse_families(text: str) -> tuple[str, ...]:
    """``"paper,7x96, mfcc"`` -> ``("paper", "7x96", "mfcc")``."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def frontend_names(dataset: dict) -> list[str]:
    """Every front-end name that ``--families`` accepts besides the families (any size)."""
    names = {base_name(name): None for size in SIZES for family in FAMILIES.values()
             for name in family(dataset, size)}
    return list(names)


def check_families(families, dataset: dict) -> None:
    """One-line :class:`ConfigError` for an empty selection or an unknown name."""
    valid = frontend_names(dataset)
    unknown = [name for name in families if name not in FAMILIES and name not in valid]
    if unknown or not families:
        what = f"unknown family or front-end {unknown[0]!r}" if unknown else "no family given"
        raise ConfigError(f"{what}; valid: families {', '.join(FAMILIES)}; front-ends "
                          f"{', '.join(valid)}")


def matrix_configs(dataset: dict, families=DEFAULT_FAMILIES, sizes=tuple(SIZES),
                   classifiers=CLASSIFIERS, standardize=(False,)) -> dict[str, dict]:
    """``{experiment name: flat config dict}``: the front-ends of ``families`` (family names or
    front-end names, e.g. ``7x96``, ``samplecnn_last``) at ``sizes``, each with every classifier
    and standardisation (``_z``: ``standardize: true``), on ``dataset`` (:func:`matrix_dataset`)."""
    check_families(families, dataset)
    out = {}
    for size in sizes:
        for family_name, family in FAMILIES.items():
            for name, frontend in family(dataset, size).items():
                if family_name not in families and base_name(name) not in families:
                    continue
                for std in standardize:
                    for clf in classifiers:
                        exp = f"{name}_{clf}" + ("_z" if std else "")
                        out[exp] = {"experiment_name": f"{dataset['name']}_{exp}",
                                    **dataset["fields"], **frontend, "model_type": clf,
                                    "standardize": std}
    return out


def run_matrix(data, families=DEFAULT_FAMILIES, sizes=tuple(SIZES), classifiers=CLASSIFIERS,
               seeds=(0, 1, 2), standardize=(False,), out="elmarc_out/matrix",
               run: RunOptions = RunOptions()) -> dict:
    """Run :func:`matrix_configs` on ``data`` (a CSV or folder path, or a :func:`matrix_dataset`
    entry) under ``<out>/<data name>/``: results in ``results/<experiment>/``, stores in
    ``features/``, then :func:`~elmarc_tf.studies.report.compare` of everything (``matrix.png``,
    ``matrix.md``), whose result it returns.

    Every config is validated and the clips read once before any work. Stores and finished seeds
    are reused, so an interrupted run resumes and a rerun computes nothing. ``run`` as for
    :func:`~elmarc_tf.studies.paper.reproduce` (one decoded-audio cache,
    ``<out>/<name>/audio_cache`` by default).
    """
    dataset = data if isinstance(data, dict) else matrix_dataset(data)
    configs = {exp: Config.from_dict(fields) for exp, fields in
               matrix_configs(dataset, families, sizes, classifiers, standardize).items()}
    if not configs:
        raise ConfigError(f"nothing to run: no front-end of {', '.join(families)} at size "
                          f"{', '.join(sizes) or '(none)'} with "
                          f"{', '.join(classifiers) or 'no classifier'}")
    items = items_from_config(next(iter(configs.values())))  # the same clips for every config
    out = Path(out) / dataset["name"]
    run = study_run(run, out)
    summaries = [run_experiment(cfg, seeds=seeds, out=out / "results", name=exp, items=items,
                                features_out=out / "features", run=run)
                 for exp, cfg in configs.items()]
    return compare_and_log(summaries, f"{dataset['name']}: {len(summaries)} experiments", run.log,
                           chart=out / "matrix.png", table=out / "matrix.md",
                           title=f"{dataset['name']} (mean ± std over {len(seeds)} seeds)")
