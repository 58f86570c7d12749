"""One experiment of the paper over several random-weight seeds: extract (reusing stores),
evaluate under the dataset's protocol, write results (JSON + CSV). Also reads the authors'
``config_file.py`` without executing it.
"""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

from ..io.audio_cache import as_audio_cache
from ..evaluation.classifiers import classifier_grid
from ..config import Config
from ..datasets import items_from_config
from ..errors import ConfigError, ElmarcError
from ..extraction.extract import extract
from ..extraction.options import RunOptions
from ..io.fileio import atomic_write_json, check_writable
from ..frontends import frontend_of
from ..evaluation.protocols import Protocol, SVMSearchOptions, check_items_evaluable, evaluate
from ..extraction.store import data_digest, load_store
from .results import Described, model_label, summarize, summary_line, write_summary

DEFAULT_RESULTS = Path("elmarc_out") / "results"


def read_original_config(path) -> dict:
    """The ``config_main`` dict of the original ``src/config_file.py``, parsed, never executed."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid Python ({e.msg})") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "config_main" for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(f"{path}:{node.lineno}: config_main must be a literal dict "
                                  f"(no names or calls)") from None
    raise ConfigError(f"{path}: no 'config_main = {{...}}' assignment found")


def store_seed(cfg, seed: int) -> int:
    """The seed of the store ``cfg``'s features of ``seed`` are in: ``seed``, or 0 for a
    front-end without random weights (e.g. MFCCs or a mel-initialised filterbank: one store for
    every seed)."""
    return seed if frontend_of(cfg).is_seeded(cfg) else 0


def evaluate_stored(cfg, items, stored, seed: int, run: RunOptions) -> dict:
    """:func:`~elmarc_tf.evaluation.protocols.evaluate` of ``cfg``'s classifier grid and protocol
    on ``stored`` features (a :class:`~elmarc_tf.extraction.store.StoredFeatures` of ``items``)."""
    X, y, ids, _ = stored
    by_id = {it.id: it for it in items}
    splits = [by_id[i].split for i in ids]
    folds = [by_id[i].fold for i in ids]
    estimator, grid = classifier_grid(cfg.model_type, seed=seed, svm_max_iter=cfg.svm_max_iter)
    return evaluate(X, y, estimator, grid, splits=splits, folds=folds,
                    protocol=Protocol(cfg.protocol, cfg.n_folds, cfg.standardize, cfg.nested_cv,
                                      seed),
                    run=run, svm=SVMSearchOptions(cfg.svm_precompute_max_n,
                                                  f"seed {seed} {cfg.model_type} grid"))


def _evaluate_seed(cfg, items, seed, features_out, run: RunOptions) -> dict:
    extraction = extract(cfg, items, seed=store_seed(cfg, seed), out=features_out,
                         run=replace(run, log=None))
    stored = load_store(extraction.folder)
    result = evaluate_stored(cfg, items, stored, seed, run)
    result.update(seed=seed, store=str(extraction.folder), feature_length=int(stored.X.shape[1]),
                  n_failed=stored.manifest["n_failed"])
    return result


def run_experiment(cfg, seeds=(0, 1, 2), out=None, name: str | None = None, items=None,
                   features_out=None, run: RunOptions = RunOptions(), config_file=None) -> dict:
    """Extract + evaluate ``cfg`` for each seed; write ``<out>/<name>/results.{json,csv}``
    (``name``: default :func:`results_name`; ``config_file``: the file ``cfg`` was read from,
    which claims the folder, see :func:`claim_results_folder`).

    Before any work the clips are checked against the protocol (two classes, enough clips per
    class for the folds, ...: :func:`~elmarc_tf.evaluation.protocols.check_evaluable`). Finished seeds are
    kept in ``seed<k>.json`` and reused when the experiment is rerun with the same config on
    the same data — the same clips, labels, splits and folds, and files of the same size and
    modification time (:func:`~elmarc_tf.extraction.store.data_digest`); otherwise the seed is evaluated
    again (and its store brought up to date first), so an interrupted run resumes and a changed
    dataset is never reported with old numbers.
    ``run`` (a :class:`~elmarc_tf.extraction.options.RunOptions`): progress bars, ``log`` (default
    ``print``), grid-search ``jobs``, ``audio_cache`` (an
    :class:`~elmarc_tf.io.audio_cache.AudioCache` or a folder; ``None``: none: decoded clips
    shared by every seed and by other experiments given the same cache), ``wait`` for a store
    another process is writing (default: fail at once), and
    the ``engine``: ``"local"`` or ``"ray"`` — extraction
    (:func:`~elmarc_tf.extraction.extract.extract`) and the grid search
    (:func:`~elmarc_tf.evaluation.protocols.evaluate`) run on a Ray cluster, with ``run.ray`` (a
    :class:`~elmarc_tf.extraction.ray_cluster.RayOptions`); the same stores and results either way.
    """
    log = run.logger()
    run = replace(run, audio_cache=as_audio_cache(run.audio_cache))
    items = items if items is not None else items_from_config(cfg)
    check_items_evaluable(cfg, items)
    name = name or results_name(cfg)
    folder = claim_results_folder(out, cfg, name, config_file)
    data = data_digest(items)
    per_seed = []
    for seed in seeds:
        cache = folder / f"seed{seed}.json"
        result = saved_seed(cache, cfg, data=data)
        if result is not None:
            per_seed.append(result)
            continue
        result = _evaluate_seed(cfg, items, seed, features_out, run)
        save_seed(cache, cfg, result, data=data)
        per_seed.append(result)
        log(f"{name} seed {seed}: accuracy {result['accuracy']:.4f} ({result['protocol']}, "
            f"best {result['best_params']})" + capped_note(result))
    first = per_seed[0]
    summary = summarize(Described(name, model_label(cfg, first["feature_length"]), cfg.model_type,
                                  first["protocol"], first["feature_length"], cfg.standardize,
                                  cfg.nested_cv), cfg, seeds, per_seed)
    write_summary(folder, summary)
    log(summary_line(summary, folder))
    if summary.get("n_capped_fits"):
        log(f"{name}: {summary['n_capped_fits']} of {summary['n_fits']} SVM fits stopped at "
            f"svm_max_iter={summary['svm_max_iter']} iterations (per seed in results.json)")
    return summary


def sets_experiment_name(cfg) -> bool:
    """Whether ``cfg`` sets ``experiment_name`` (not the default)."""
    return cfg.experiment_name != Config.experiment_name


def results_name(cfg, config_file=None, classifier: str | None = None,
                 base: str | None = None) -> str:
    """The name of an experiment's results folder, for every verb that writes results:
    ``base`` if given, else the config's ``experiment_name`` if it sets one, else the stem of
    the ``config_file`` it was read from, else the default ``experiment_name``; then
    ``_<classifier>`` if given (``exp_end-to-end``)."""
    if base is None:
        use_file = config_file is not None and not sets_experiment_name(cfg)
        base = Path(config_file).stem if use_file else cfg.experiment_name
    return f"{base}_{classifier}" if classifier else base


CLAIM = "config_file.json"  # the config file whose results a folder holds


def claim_results_folder(out, cfg, name: str, config_file=None) -> Path:
    """``<out or cfg.results_folder or elmarc_out/results>/<name>``, checked before any work:
    created and writable (an ``OSError`` naming it), and, given the ``config_file`` the
    experiment was read from, not holding the results of another existing config file
    (:class:`ConfigError` saying how to name this one); the folder then records its file."""
    folder = check_writable(Path(out or cfg.results_folder or DEFAULT_RESULTS) / name)
    if config_file is None:
        return folder
    mine = str(Path(config_file).resolve())
    try:
        theirs = json.loads((folder / CLAIM).read_text())["config_file"]
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: claim it
        theirs = None
    if theirs not in (None, mine) and Path(theirs).is_file():
        raise ConfigError(f"{folder}: holds the results of {theirs}; give {config_file} its own "
                          f"name (its experiment_name) or another results folder")
    if theirs != mine:
        atomic_write_json(folder / CLAIM, {"config_file": mine})
    return folder


def saved_seed(path, cfg, **identity) -> dict | None:
    """The result saved by :func:`save_seed` in ``path``, if it was computed for ``cfg`` from the
    same ``identity`` (the data's digest, trained weights' digests, ...); else None."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError):  # none, or damaged (empty, truncated): computed again
        return None
    if isinstance(saved, dict) and same_config(saved.get("config"), cfg) and all(saved.get(k) == v for k, v in identity.items()):
        return saved["result"]
    return None


def save_seed(path, cfg, result: dict, **identity) -> None:
    """``result`` of one seed, with what it was computed from (atomically)."""
    atomic_write_json(path, {"config": cfg.to_dict(), **identity, "result": result})


def same_config(stored, cfg) -> bool:
    """Whether a config dict saved with a result describes ``cfg`` (a dict saved before a key
    was added reads with that key's default, so adding a key does not invalidate results)."""
    try:
        return isinstance(stored, dict) and Config.from_dict(stored) == cfg
    except ElmarcError:
        return False


def capped_note(result: dict) -> str:
    """``'; 3 of 320 fits capped at 10000000 iterations (C=32, kernel=linear: 3), not the
    best point'`` for an SVM result with capped fits; ``''`` otherwise."""
    if not result.get("n_capped_fits"):
        return ""
    where = "; ".join(f"{k}: {v}" for k, v in result["capped_grid_points"].items())
    best = "including the best point" if result["best_capped"] else "not the best point"
    return (f"; {result['n_capped_fits']} of {result['n_fits']} fits capped at "
            f"{result['svm_max_iter']} iterations ({where}), {best}")

