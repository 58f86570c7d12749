"""The ``elmarc`` command: ``parse_args(argv)`` -> ``run(args)``; ``main()`` is the console script.

Every verb is a thin layer over a Python function of the package (named in its help). The exit
status says how it ended (:data:`EXIT_STATUS`, the README's table).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import sys
import traceback
import warnings
from pathlib import Path

VERBOSE = "--verbose" in sys.argv[1:]


@contextlib.contextmanager
def _native_stderr_quiet(quiet: bool):
    """Send what native libraries write to the process's stderr to /dev/null meanwhile."""
    if not quiet:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# TensorFlow's native libraries print start-up lines straight to stderr while they load and while
# they look for devices (oneDNN, CUDA drivers, "failed call to cuInit" on a machine without a
# GPU), whatever TF_CPP_MIN_LOG_LEVEL says: the command keeps its output clean — TensorFlow is
# loaded and its devices listed here, quietly — and shows them, and TensorFlow's logs, with
# --verbose.
if VERBOSE:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
with _native_stderr_quiet(not VERBOSE):
    import tensorflow  # noqa: E402  (loaded here, before the modules below need it)

    tensorflow.config.list_physical_devices()

from .studies.ablation import AblationModel, run_ablation_study  # noqa: E402
from .bench.forward import (REPRESENTATION_CNN, run_bench,  # noqa: E402
                    run_representation_bench)
from .bench.classifiers import run_classifier_bench  # noqa: E402
from .config import Config, shared_fields  # noqa: E402
from .datasets import BUILD_TASKS, items_from_config  # noqa: E402
from .datasets import build as build_dataset  # noqa: E402
from .studies.demo import run_demo  # noqa: E402
from .errors import ConfigError, DamagedFileError, ElmarcError, ElmarcWarning  # noqa: E402
from .models.export import describe_export, export_frontend  # noqa: E402
from .extraction.extract import ENGINES, extract  # noqa: E402
from .io.fileio import FolderBusy  # noqa: E402
from .frontends import frontend_of  # noqa: E402
from .studies.families import DEFAULT_FAMILIES, FAMILIES  # noqa: E402
from .studies.matrix import (DEFAULT_FIX_LENGTH, KINDS, STANDARDIZE, matrix_dataset,  # noqa: E402
                             parse_families, run_matrix)
from .studies.paper import CLASSIFIERS, DATASETS, SIZES, paper_frontends, reproduce  # noqa: E402
from .vocabulary import FIX_LENGTH_MODES  # noqa: E402
from .bench.profile import run_profile  # noqa: E402
from .studies.random_vs_trained import (N_BOOT, Bootstrap, default_architectures,  # noqa: E402
                                       paper_architectures, read_architectures,
                                       read_training_overrides, run_demo_study,
                                       run_random_vs_trained, select_architectures, source_base,
                                       study_base)
from .extraction.options import RunOptions  # noqa: E402
from .extraction.ray_cluster import RayOptions  # noqa: E402
from .studies.report import compare, load_results  # noqa: E402
from .extraction.store import describe_store  # noqa: E402
from .studies.study import read_original_config, results_name, run_experiment  # noqa: E402
from .studies.train import (CLASSIFIER, TrainingOptions, check_trainable,  # noqa: E402
                            train_experiment)
from .studies.fit import fit  # noqa: E402
from .studies.model_dir import (check_model_out, is_model_dir, load_model,  # noqa: E402
                                read_description, save_model)
from .studies.predictions import files_to_predict, write_predictions  # noqa: E402
from .models.trained_weights import read_trained_weights  # noqa: E402

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT, EXIT_IO, EXIT_BUSY, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
EXIT_STATUS = {
    EXIT_OK: "finished",
    EXIT_FAILURES: "finished, but some clips could not be used (listed; the rest is stored)",
    EXIT_BAD_INPUT: "bad input: config, data, arguments (found before any work; with --strict, the "
                    "first clip that cannot be used)",
    EXIT_IO: "a file or folder could not be read or written (permissions, disk full, a damaged "
             "file, ...)",
    EXIT_BUSY: "another process is writing the same store (rerun later, or with --wait)",
    EXIT_INTERNAL: "an internal error (a bug: rerun with --verbose for the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): rerun the same command to resume",
}


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


# --- where the work runs: --engine and the Ray flags of extract, run, reproduce and
# random-vs-trained ------------------------------------------------------------------------------
def add_engine_arguments(p) -> None:
    g = p.add_argument_group("engine", "where extraction and grid searches run")
    g.add_argument("--engine", choices=list(ENGINES), default="local",
                   help="local (this process, default) or ray (a Ray cluster; "
                        "pip install elmarc_tf[ray])")
    g.add_argument("--address", help="ray: 'auto', HOST:PORT or ray://HOST:10001 (default: start "
                                     "Ray on this machine, loopback only)")
    g.add_argument("--actors", type=int, help="ray: actors (default: the cluster's CPUs, or GPUs, "
                                              "divided by the per-actor share)")
    g.add_argument("--cpus-per-actor", type=float, default=1.0,
                   help="ray: CPUs (TensorFlow threads) per actor (default 1)")
    g.add_argument("--gpus-per-actor", type=float, default=0.0, help="ray: GPUs per actor (default 0)")
    g.add_argument("--local-cpus", type=int, help="ray without --address: the CPUs the Ray started "
                                                  "here offers (default: the machine's)")


def run_options(args, **changes) -> RunOptions:
    """The :class:`~elmarc_tf.extraction.options.RunOptions` of a verb's arguments: ``--quiet``,
    ``--jobs``, ``--audio-cache``, ``--wait`` and the flags of :func:`add_engine_arguments`, those
    the verb has (the others: their defaults); ``changes`` replace fields."""
    engine = getattr(args, "engine", "local")
    options = RayOptions(getattr(args, "address", None), getattr(args, "actors", None),
                         getattr(args, "cpus_per_actor", 1.0), getattr(args, "gpus_per_actor", 0.0),
                         getattr(args, "local_cpus", None))
    if engine != "ray" and options != RayOptions():
        raise ElmarcError("--address, --actors, --cpus-per-actor, --gpus-per-actor and --local-cpus "
                          "need --engine ray")
    run = RunOptions(progress=not getattr(args, "quiet", False), jobs=getattr(args, "jobs", None),
                     audio_cache=getattr(args, "audio_cache", None),
                     wait=getattr(args, "wait", False), engine=engine,
                     ray=options if engine == "ray" else None)
    return dataclasses.replace(run, **changes)


# -------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="elmarc", description="Randomly weighted CNN features for audio classification "
                                   "(Pons & Serra, ICASSP 2019).",
        epilog="exit status: " + "; ".join(f"{k} {v}" for k, v in EXIT_STATUS.items()))
    verbose = argparse.ArgumentParser(add_help=False)  # accepted before or after the verb
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show TensorFlow's start-up lines and logs, and tracebacks")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up lines and logs, and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    verb = functools.partial(sub.add_parser, parents=[verbose])

    p = verb("extract", help="extract features of a config's audio into a feature store "
                                       "(elmarc_tf.extraction.extract.extract)")
    p.add_argument("config", type=Path, help="YAML/JSON config (keys of the original config_main)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="random-weights seed (default 0; with --weights: the training's seed)")
    p.add_argument("--weights", type=Path, metavar="TRAINED_CHECKPOINT",
                   help="extract with trained weights (a best.weights.npz of 'elmarc train') "
                        "instead of random ones; the store's key includes their digest")
    p.add_argument("--out", type=Path, help="store root (default: save_extracted_features_folder "
                                            "or elmarc_out/features)")
    p.add_argument("--batch-size", type=int, help="clips per forward pass (default: the config's batch_size; "
                                                   "'auto' sizes it from the model's cost and memory)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable clip")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio, shared "
                                                    "by configurations and seeds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--wait", action="store_true",
                   help="if another process is writing the same store, wait for it (default: fail)")
    add_engine_arguments(p)

    p = verb("run", help="extract + evaluate a config for several seeds "
                                   "(elmarc_tf.studies.study.run_experiment)")
    p.add_argument("config", type=Path, nargs="?", help="YAML/JSON config")
    p.add_argument("--original-config", type=Path, metavar="CONFIG_FILE_PY",
                   help="the original repository's src/config_file.py (parsed, not executed)")
    p.add_argument("--seeds", type=int, default=3, help="number of random-weight seeds (0..N-1)")
    p.add_argument("--out", type=Path, help="results root (default: results_folder or "
                                            "elmarc_out/results)")
    p.add_argument("--features-out", type=Path, help="feature store root")
    p.add_argument("--jobs", type=int, default=None, help="parallel grid-search jobs")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--wait", action="store_true", help="wait for stores another process writes")
    add_engine_arguments(p)

    p = verb("compare", help="table, t-tests against the baseline and between models, "
                                       "bar chart (elmarc_tf.studies.report.compare)")
    p.add_argument("results", nargs="+", type=Path, help="results.json files or folders "
                                                         "(a file reached twice counts once)")
    p.add_argument("--chart", type=Path, default=Path("elmarc_out") / "compare.png")
    p.add_argument("--title", default=None)
    p.add_argument("--table", type=Path, help="also write the table as Markdown (.md) or CSV (.csv)")

    p = verb("reproduce", help="run a whole figure's matrix of the paper "
                                         "(elmarc_tf.studies.paper.reproduce), or the matrix of "
                                         "front-end families on any dataset with --data "
                                         "(elmarc_tf.studies.matrix.run_matrix)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="gtzan, extended_ballroom or urbansound8k")
    source.add_argument("--data", type=Path, help="any dataset: a path,label[,fold][,split] CSV or "
                                                  "a folder with one sub-folder per class")
    p.add_argument("--audio-root", type=Path, help="the paper dataset's root (with --dataset)")
    p.add_argument("--splits", type=Path, help="GTZAN: folder with {train,valid,test}_filtered.txt")
    p.add_argument("--families",
                   help="with --data: comma list of families (" + ", ".join(FAMILIES) + ") or "
                        f"front-end names such as 7x96 (default {','.join(DEFAULT_FAMILIES)})")
    p.add_argument("--standardize", choices=[*STANDARDIZE, "both"],
                   help="with --data: raw features (default), z-scored (standardize: true), or both")
    p.add_argument("--kind", choices=list(KINDS),
                   help="with --data: music (the paper's cnn_music, default) or audio (cnn_audio)")
    p.add_argument("--fix-length-by", choices=list(FIX_LENGTH_MODES),
                   help=f"with --data: clips shorter than the input (default {DEFAULT_FIX_LENGTH})")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--size", choices=["small", "large", "both"], default="both",
                   help="feature size: ~120 (small), ~3500 (large)")
    p.add_argument("--classifier", choices=["SVM", "ELM", "both"], default="both")
    p.add_argument("--only", nargs="*", help="run only experiments whose name contains one of these")
    p.add_argument("--out", type=Path, help="default elmarc_out/paper (--dataset) or "
                                            "elmarc_out/matrix (--data)")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--audio-cache", type=Path, help="decoded-audio cache folder "
                                                    "(default: OUT/DATASET/audio_cache)")
    p.add_argument("--no-audio-cache", action="store_true", help="decode every clip per configuration")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--wait", action="store_true", help="wait for stores another process writes")
    add_engine_arguments(p)

    p = verb("fit", help="fit a config's classifier (its grid search and protocol, as 'run') "
                         "and refit it on all labelled clips into a model folder "
                         "(elmarc_tf.studies.fit.fit)")
    p.add_argument("config", type=Path, help="YAML/JSON config")
    p.add_argument("--seed", type=_seed, default=0, help="random-weights seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="model folder")
    p.add_argument("--features-out", type=Path, help="feature store root")
    p.add_argument("--jobs", type=int, default=None, help="parallel grid-search jobs")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--wait", action="store_true", help="wait for stores another process writes")

    p = verb("predict", help="label audio files with a fitted model: a CSV of path, label and "
                             "one score per class (elmarc_tf.studies.fit.FittedModel)")
    p.add_argument("model", type=Path, help="model folder of 'elmarc fit'")
    p.add_argument("inputs", type=Path, nargs="+", help="audio files or folders")
    p.add_argument("--out", type=Path, required=True, help="predictions CSV")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = verb("export", help="SavedModel (+ .keras) of a frozen front-end: raw waveforms at its "
                            "rate (12 kHz for the paper's) -> features "
                            "(elmarc_tf.models.export.export_frontend); of a model folder: "
                            "waveform -> labels and scores (elmarc_tf.models.tagger)")
    p.add_argument("config", type=Path, help="YAML/JSON config, or a model folder of 'elmarc fit'")
    p.add_argument("--seed", type=_seed, default=None, help="with a config: the seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="export folder")
    p.add_argument("--input-samples", type=int, default=None,
                   help="spectrogram front-ends: fix the input length (default: any length)")

    p = verb("bench", help="FLOPs, forward and end-to-end speed vs the machine's matmul "
                                     "peak, memory (elmarc_tf.bench.forward.run_bench)")
    p.add_argument("--arch", nargs="*", help="configurations to measure (default: all paper ones)")
    p.add_argument("--quick", action="store_true", help="a few configurations, short timings "
                                                         "(with --profile: short timings only)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end extraction from files")
    p.add_argument("--profile", action="store_true",
                   help="instead: time every layer of each configuration alone, against the matmul "
                        "peak (elmarc_tf.bench.profile.run_profile; writes profile.json / profile.md)")
    p.add_argument("--representations", nargs="*", metavar="NAME",
                   help="instead: the input representations (default: all) on a 30 s clip, alone "
                        "and under the first --arch (default vgg-32): FLOPs and clips/s "
                        "(elmarc_tf.bench.forward.run_representation_bench; writes representations.json / .md)")
    p.add_argument("--classifier", nargs="*", metavar="DATASET",
                   help="instead: the SVM grid (precomputed kernels vs GridSearchCV) and the ELM "
                        "on real-like features at the paper's sizes (default: all of GTZAN, "
                        "'Extended Ballroom', UrbanSound8K; elmarc_tf.bench.classifiers; writes "
                        "classifier_bench.json)")
    p.add_argument("--jobs", type=int, default=1, help="with --classifier: fits at a time")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "bench")

    p = verb("profile", help="time every layer of each configuration alone, against the "
                                       "matmul peak (elmarc_tf.bench.profile.run_profile; the same as "
                                       "'elmarc bench --profile')")
    p.add_argument("--arch", nargs="*", help="configurations to profile (default: all paper ones)")
    p.add_argument("--quick", action="store_true", help="short timings")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "bench")

    p = verb("ablation", help="the batch-normalisation ablation of the paper's Section 3.4 "
                                        "/ Figure 5 (elmarc_tf.studies.ablation.run_ablation_study; also "
                                        "scripts/batchnorm_ablation.py)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--demo", action="store_true", help="generate and use the embedded demo data")
    src.add_argument("--dataset", help="gtzan, ballroom, extended_ballroom, urbansound8k, folder or csv")
    p.add_argument("--audio-root", type=Path, help="dataset root (or the CSV for --dataset csv)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100])
    p.add_argument("--order", nargs="+", choices=["sorted", "shuffled"], default=["sorted", "shuffled"])
    p.add_argument("--runs", type=int, default=3, help="random-weight seeds per condition")
    p.add_argument("--num-filters", type=int, default=32)
    p.add_argument("--bn-position", choices=["before_elu", "after_elu"], default="before_elu",
                   help="conv -> BN -> ELU (Choi et al., default) or conv -> ELU -> BN")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--res-type", default="soxr_hq", help="resampler (kaiser_best: the authors')")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: elmarc_out/batchnorm_ablation, its demo/ "
                        "sub-folder with --demo)")
    p.add_argument("--quiet", action="store_true")

    p = verb("info", help="summary of a feature store, an export or a model folder "
                                    "(elmarc_tf.extraction.store.describe_store, elmarc_tf.models.export.describe_export)")
    p.add_argument("path", type=Path)

    p = verb("demo", help="generate a small dataset, extract, classify, rank "
                                    "(elmarc_tf.studies.demo.run_demo)")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "demo")
    p.add_argument("--clips-per-class", type=int, default=8)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_datasets_parser(verb, verbose)
    _add_training_parsers(verb)
    return parser.parse_args(argv)


def _add_datasets_parser(verb, verbose) -> None:
    """``elmarc datasets build NAME --out DIR`` / ``elmarc datasets build --list``."""
    p = verb("datasets", help="real-audio development datasets from Debian packages "
                              "(elmarc_tf.datasets.build)")
    sub = p.add_subparsers(dest="datasets_command", required=True)
    b = sub.add_parser("build", parents=[verbose], help="build task NAME into DIR, or --list the tasks")
    b.add_argument("name", nargs="?", metavar="NAME", help="the task (see --list)")
    b.add_argument("--list", action="store_true", help="list the tasks and their packages")
    b.add_argument("--out", type=Path, help="a new folder for audio/, metadata.csv, README.md")
    b.add_argument("--seed", type=_seed, default=0, help="seed of clip choice and folds (default 0)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def _items(cfg, config_file):
    """The clips of a config read from ``config_file``; a problem names the file (before any work)."""
    try:
        return items_from_config(cfg)
    except ConfigError as e:
        raise ConfigError(f"{config_file}: {e}") from None


# ------------------------------------------------------------------------------ training
def _add_training_parsers(verb) -> None:
    """``train`` and ``random-vs-trained`` (elmarc_tf.studies.train, elmarc_tf.studies.random_vs_trained)."""
    p = verb("train", help="train a config's front-end end to end (same initial weights "
                                     "as its random extractor) under the dataset's protocol "
                                     "(elmarc_tf.studies.train.train_experiment)")
    p.add_argument("config", type=Path, help="YAML/JSON config (training keys: train_patch_frames, "
                                             "epochs, learning_rate, ...)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_seed, nargs="+",
                       help="seed(s) of the initial weights (default 0)")
    seeds.add_argument("--seeds", type=int, help="seeds 0..N-1")
    p.add_argument("--out", type=Path, help="results root (default: results_folder or "
                                            "elmarc_out/results)")
    p.add_argument("--checkpoints", type=Path, help="checkpoints, trained weights and decoded "
                                                    "inputs (default elmarc_out/training)")
    p.add_argument("--name", help="results folder name (default: the config's experiment_name, "
                                  "else CONFIG's stem, + _end-to-end)")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 computations, float32 weights (for GPUs; slow on CPUs)")
    p.add_argument("--nondeterministic", action="store_true",
                   help="do not enable TensorFlow's op determinism (for a GPU op without a "
                        "deterministic kernel; reruns may then differ)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (epoch lines remain)")

    p = verb("random-vs-trained", help="random + SVM vs trained end to end vs trained "
                                                 "features + SVM, correlations across "
                                                 "architectures, scatter plot "
                                                 "(elmarc_tf.studies.random_vs_trained)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("source", nargs="?", type=Path, metavar="CONFIG_OR_CSV_OR_FOLDER",
                     help="the data: a YAML/JSON config, a path,label[,fold][,split] CSV or a "
                          "folder of class folders (protocol as 'elmarc run')")
    src.add_argument("--demo", action="store_true", help="the embedded demo data, small "
                                                         "architectures, few epochs")
    src.add_argument("--dataset", choices=list(DATASETS), help="a paper dataset")
    p.add_argument("--architectures", type=Path, metavar="FILE",
                   help="YAML/JSON: architecture name -> config keys (replaces the default set: "
                        "the demo's six ~120-feature front-ends, or the paper's with --dataset)")
    p.add_argument("--audio-root", type=Path, help="the dataset's root (with --dataset)")
    p.add_argument("--splits", type=Path, help="GTZAN: folder with {train,valid,test}_filtered.txt")
    p.add_argument("--size", choices=list(SIZES), default=None,
                   help="with --dataset: feature size ~120 (small, default) or ~3500 (large)")
    p.add_argument("--only", nargs="*", help="architectures whose name contains one of these")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--train-config", type=Path, help="YAML/JSON of config keys for every "
                                                     "architecture (e.g. epochs, train_patch_frames)")
    p.add_argument("--bootstrap", type=int, default=N_BOOT, help=f"bootstrap resamples (default {N_BOOT})")
    p.add_argument("--out", type=Path, help="study folder (default elmarc_out/random_vs_trained"
                                            "[/demo])")
    p.add_argument("--jobs", type=int, default=None, help="parallel grid-search jobs")
    p.add_argument("--mixed-precision", action="store_true", help="float16 training (GPUs)")
    p.add_argument("--nondeterministic", action="store_true",
                   help="do not enable TensorFlow's op determinism (see 'elmarc train')")
    p.add_argument("--quiet", action="store_true")
    add_engine_arguments(p)


def cmd_train(args) -> int:
    cfg = Config.from_file(args.config)
    seeds = list(range(args.seeds)) if args.seeds is not None else (args.seed or [0])
    if args.seeds is not None and args.seeds < 1:
        raise ElmarcError(f"--seeds must be at least 1, got {args.seeds}")
    check_trainable(cfg)  # before the clips are listed
    summary = train_experiment(cfg, seeds=seeds, out=args.out,
                               name=args.name or results_name(cfg, args.config, CLASSIFIER),
                               items=_items(cfg, args.config), checkpoints_out=args.checkpoints,
                               training=_training(args), run=run_options(args),
                               config_file=args.config)
    for entry in summary["per_seed"]:
        for split in entry["splits"]:
            print(f"seed {entry['seed']} {split['name']}: trained weights {split['weights']}")
    return EXIT_OK


def _training(args) -> TrainingOptions:
    return TrainingOptions(mixed_precision=args.mixed_precision,
                           deterministic=not args.nondeterministic)


def cmd_random_vs_trained(args) -> int:
    if args.seeds < 1:
        raise ElmarcError(f"--seeds must be at least 1, got {args.seeds}")
    if args.bootstrap < 1:
        raise ElmarcError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    overrides = read_training_overrides(args.train_config) if args.train_config else {}
    seeds = range(args.seeds)
    common = dict(bootstrap=Bootstrap(args.bootstrap), training=_training(args),
                  run=run_options(args))
    if args.demo:
        if args.architectures:
            raise ElmarcError("--architectures needs CONFIG_OR_CSV_OR_FOLDER or --dataset, not "
                              "--demo")
        run_demo_study(**({"out": args.out} if args.out else {}), seeds=seeds,
                       overrides=overrides, only=args.only, **common)
        return EXIT_OK
    own = read_architectures(args.architectures) if args.architectures else None
    if args.source is not None:
        for flag, value in (("--audio-root", args.audio_root), ("--splits", args.splits),
                            ("--size", args.size)):
            if value is not None:
                raise ElmarcError(f"{flag} is for --dataset; with DATA choose the architectures "
                                  f"with --architectures")
        base = source_base(args.source)
        architectures = select_architectures(own or default_architectures(), args.only)
        base = study_base(base, overrides, architectures)
        first = next(iter(architectures.values()))
        items = _items(Config.from_dict(shared_fields(base, first)), args.source)
        name = args.source.resolve().stem
    else:
        if args.audio_root is None:
            raise ElmarcError("--audio-root is required with --dataset")
        base, architectures = paper_architectures(args.dataset, args.audio_root,
                                                  splits=args.splits, size=args.size or "small",
                                                  only=None if own else args.only)
        architectures = select_architectures(own, args.only) if own else architectures
        base, items, name = study_base(base, overrides, architectures), None, args.dataset
    run_random_vs_trained(base, architectures, seeds=seeds, items=items,
                          out=args.out or Path("elmarc_out") / "random_vs_trained" / name,
                          **common)
    return EXIT_OK


def cmd_extract(args) -> int:
    cfg = Config.from_file(args.config)
    if args.batch_size is not None and args.batch_size < 1:
        raise ElmarcError(f"--batch-size must be a positive integer, got {args.batch_size}")
    run = run_options(args)
    items = _items(cfg, args.config)
    weights = read_trained_weights(args.weights) if args.weights is not None else None
    seed = args.seed if args.seed is not None else weights.meta.get("seed", 0) if weights else 0
    result = extract(cfg, items, seed=seed, out=args.out, batch_size=args.batch_size,
                     strict=args.strict, weights=weights, run=run)
    m = result.manifest
    print(f"{result.folder}: {m['n_ok']} clips x {m['feature_length']} features "
          f"({result.n_computed} computed now, {m['n_failed']} failed)"
          + (f"; trained weights {weights.digest[:12]} ({weights.path})" if weights else ""))
    for failure in m["failures"]:
        print(f"  failed: {failure['error']}")
    return EXIT_FAILURES if m["n_failed"] else EXIT_OK


def cmd_fit(args) -> int:
    cfg = Config.from_file(args.config)
    check_model_out(args.out)  # before any work
    model = fit(cfg, seed=args.seed, items=_items(cfg, args.config),
                features_out=args.features_out, run=run_options(args))
    save_model(model, args.out)
    a = model.about
    print(f"{args.out}: {cfg.model_type} {a['best_params']} on {a['n_clips']} clips, "
          f"{len(model.classes)} classes; cross-validated accuracy {a['cv_accuracy']:.4f} "
          f"({a['protocol']})" + (f"; {a['n_failed']} clip(s) could not be used (see the "
                                  f"store's manifest)" if a.get("n_failed") else ""))
    return EXIT_FAILURES if a.get("n_failed") else EXIT_OK


def cmd_predict(args) -> int:
    model = load_model(args.model)
    predictions = model.score_files(files_to_predict(args.inputs), run_options(args))
    write_predictions(args.out, predictions, model.classes)
    failed = [e for e in predictions.errors if e]
    print(f"{args.out}: {len(predictions.paths) - len(failed)} files labelled, "
          f"{len(failed)} failed")
    for error in failed:
        print(f"  failed: {error}")
    return EXIT_FAILURES if failed else EXIT_OK


def cmd_export(args) -> int:
    if is_model_dir(args.config):
        for flag, value in (("--seed", args.seed), ("--input-samples", args.input_samples)):
            if value is not None:
                raise ElmarcError(f"{flag} is for a config; a model folder has its own")
        path = load_model(args.config).export(args.out)
        d = read_description(args.config)
        print(f"{path}: SavedModel of {d['model_type']} on {d['config']['architecture']} "
              f"(seed {d['feature_seed']}): waveform -> labels and scores of "
              f"{len(d['classes'])} classes")
        return EXIT_OK
    cfg = Config.from_file(args.config)
    path = export_frontend(cfg, args.seed or 0, args.out, input_samples=args.input_samples)
    d = describe_export(path)
    print(f"{path}: SavedModel + model.keras of {d['architecture']} (seed {d['seed']}), "
          f"waveform {d['input']['shape']} at {d['sampling_rate']} Hz -> "
          f"features (batch, {d['feature_length']})")
    return EXIT_OK


def _describe(config_dict: dict) -> str:
    """One line naming the front-end of a stored config (``FrontEndSpec.describe``)."""
    config = Config.from_dict(config_dict)
    return frontend_of(config).describe(config)


def _slice_name(entry: dict) -> str:
    """A layout entry's name; windowed front-ends: ``scale/pooling/tap``, e.g. ``3^9/max/pool9``."""
    return "/".join(str(entry[k]) for k in ("scale", "pooling", "name") if k in entry)


def _layout_line(layout) -> str:
    return "layout:   " + ", ".join(f"{_slice_name(e)}[{e['offset']}:{e['offset'] + e['width']}]"
                                    + (f"+{e['padding']} zeros" if e["padding"] else "")
                                    for e in layout)


def _info_export(path) -> int:
    d = describe_export(path)
    print(f"export:   {path}")
    print(f"model:    {_describe(d['config'])} seed {d['seed']}")
    print(f"input:    waveform {d['input']['shape']} float32 at {d['sampling_rate']} Hz; "
          f"{d['input']['rule']}")
    print(f"output:   features (batch, {d['feature_length']})")
    print(_layout_line(d["layout"]))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in d["versions"].items()))
    print(f"usage:    {d['usage']}")
    return EXIT_OK


def _weights_line(manifest: dict) -> str:
    """Random (seeded) or trained weights, and where trained ones came from."""
    w = manifest.get("weights")
    if not w:
        return f"weights:  random (seed {manifest['seed']})"
    t = w.get("trained", {})
    return (f"weights:  trained {w['digest'][:12]} ({w['file']}; seed {t.get('seed')}, "
            f"{t.get('split')}, epoch {t.get('epoch')})")


def _info_damaged(path, store: dict) -> int:
    print(f"{path}: {store['damage']}; rerun the same command to recompute it")
    return EXIT_IO


def _info_unfinished(path, store: dict) -> int:
    print(f"{path}: extraction in progress or interrupted, {store['n_done']} of "
          f"{store['n_items']} clips in {store['batches']} batches written; rerun the same "
          f"command to resume")
    for line in store["damaged"]:
        print(f"  damaged: {line} (its clips are computed again on resume)")
    return EXIT_IO if store["damaged"] else EXIT_OK


def _info_finished(path, store: dict) -> int:
    m = store["manifest"]
    cfg = m["config"]
    print(f"store:    {path}")
    print(f"features: {store['n_clips']} clips x {store['feature_length']} ({_describe(cfg)}, "
          f"seed {m['seed']})")
    print(_weights_line(m))
    print(f"labels:   {len(m['labels'])} classes: {', '.join(m['labels'])}")
    print(f"input:    {cfg['signal']} {cfg['n_frames'] or cfg['n_samples'] or 'whole clips'} "
          f"({cfg['fix_length_by']}, {cfg['sampling_rate']} Hz, res_type {cfg['res_type']})")
    print(f"time:     {m['seconds']:.1f} s; versions: "
          + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print(_layout_line(m["layout"]))
    print(f"failed:   {m['n_failed']} of {m['n_items']}")
    for failure in m["failures"]:
        print(f"  {failure['error']}")
    return EXIT_OK


# describe_store's state -> how `elmarc info` prints it (and its exit status)
_INFO_OF_STORE = {"damaged": _info_damaged, "unfinished": _info_unfinished,
                  "finished": _info_finished}


def _info_model(path) -> int:
    d = read_description(path)
    print(f"model:    {path}")
    print(f"features: {_describe(d['config'])} seed {d['feature_seed']}"
          + (", standardized" if d["standardize"] else ""))
    print(f"classes:  {len(d['classes'])}: {', '.join(d['classes'])}")
    print(f"fit:      {d['model_type']} {d['best_params']} on {d['n_clips']} clips; "
          f"cross-validated accuracy {d['cv_accuracy']:.4f} ({d['protocol']}); data "
          f"{d['data_digest']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in d["versions"].items()))
    return EXIT_OK


def cmd_info(args) -> int:
    path = args.path
    if is_model_dir(path):
        return _info_model(path)
    if (path / "assets" / "elmarc.json").is_file():
        return _info_export(path)
    store = describe_store(path)
    return _INFO_OF_STORE[store["state"]](path, store)


def cmd_demo(args) -> int:
    run_demo(args.out, clips_per_class=args.clips_per_class, seed=args.seed, progress=not args.quiet)
    return EXIT_OK


def cmd_datasets(args) -> int:
    if args.list:
        for name, task in BUILD_TASKS.items():
            packages = " ".join(p.name for p in task.packages)
            print(f"{name}: {task.summary} (apt-get install {packages})")
        return EXIT_OK
    if args.name is None or args.out is None:
        raise ElmarcError("datasets build: give NAME and --out DIR (or --list)")
    summary = build_dataset(args.name, args.out, seed=args.seed, progress=not args.quiet)
    classes = ", ".join(f"{label} {n}" for label, n in summary["classes"].items())
    print(f"{summary['n_clips']} clips in {summary['out']} ({classes})")
    return EXIT_OK


def cmd_run(args) -> int:
    if (args.config is None) == (args.original_config is None):
        raise ElmarcError("give either CONFIG or --original-config CONFIG_FILE_PY")
    if args.seeds < 1:
        raise ElmarcError(f"--seeds must be at least 1, got {args.seeds}")
    if args.original_config is not None:
        cfg = Config.from_original(read_original_config(args.original_config))
    else:
        cfg = Config.from_file(args.config)
    source = args.original_config or args.config
    summary = run_experiment(cfg, seeds=range(args.seeds), out=args.out,
                             name=results_name(cfg, args.config), items=_items(cfg, source),
                             features_out=args.features_out, run=run_options(args),
                             config_file=source)
    return EXIT_FAILURES if any(r["n_failed"] for r in summary["per_seed"]) else EXIT_OK


def cmd_compare(args) -> int:
    result = compare(load_results(args.results), chart=args.chart, title=args.title,
                     table=args.table)
    print(result["table"])
    print("\n".join(["", *result["notes"]]))
    print("\nPairwise tests on per-seed accuracies (Welch's t-test between seeded models, one-sample "
          "t-test against a deterministic one; H0: equal means):")
    print(result["ttest_table"])
    print(f"\nchart: {result['chart']}")
    if result["table_file"]:
        print(f"table: {result['table_file']}")
    return EXIT_OK


def cmd_reproduce(args) -> int:
    if args.seeds < 1:
        raise ElmarcError(f"--seeds must be at least 1, got {args.seeds}")
    sizes = tuple(SIZES) if args.size == "both" else (args.size,)
    classifiers = CLASSIFIERS if args.classifier == "both" else (args.classifier,)
    run = run_options(args, **({"audio_cache": False} if args.no_audio_cache else {}))
    if args.data is not None:
        for flag, value in (("--audio-root", args.audio_root), ("--splits", args.splits),
                            ("--only", args.only)):
            if value is not None:
                raise ElmarcError(f"{flag} is for --dataset; with --data choose with --families")
        standardize = tuple(STANDARDIZE.values()) if args.standardize == "both" else (
            STANDARDIZE[args.standardize or "raw"],)
        dataset = matrix_dataset(args.data, args.fix_length_by or DEFAULT_FIX_LENGTH,
                                 args.kind or "music")
        result = run_matrix(dataset, families=parse_families(args.families
                                                             or ",".join(DEFAULT_FAMILIES)),
                            sizes=sizes,
                            classifiers=classifiers, seeds=range(args.seeds),
                            standardize=standardize,
                            out=args.out or Path("elmarc_out") / "matrix", run=run)
        reports = [result]
    else:
        for flag, value in (("--families", args.families), ("--standardize", args.standardize),
                            ("--kind", args.kind), ("--fix-length-by", args.fix_length_by)):
            if value is not None:
                raise ElmarcError(f"{flag} is for --data; with --dataset the paper's configs "
                                  f"decide (choose with --only)")
        if args.audio_root is None:
            raise ElmarcError("--audio-root is required with --dataset")
        reports = reproduce(args.dataset, args.audio_root, splits=args.splits,
                            seeds=range(args.seeds), out=args.out or Path("elmarc_out") / "paper",
                            sizes=sizes, classifiers=classifiers, only=args.only, run=run).values()
    failed = any(r.get("n_failed") for report in reports for m in report["models"]
                 for r in m.get("per_seed", []))
    return EXIT_FAILURES if failed else EXIT_OK


def cmd_bench(args) -> int:
    if args.profile:
        return cmd_profile(args)
    if args.classifier is not None:
        run_classifier_bench(args.classifier or None, out=args.out, n_jobs=args.jobs)
        return EXIT_OK
    if args.representations is not None:
        run_representation_bench(args.representations, cnn=(args.arch or [REPRESENTATION_CNN])[0],
                                 quick=args.quick, out=args.out)
        return EXIT_OK
    run_bench(args.arch, quick=args.quick, out=args.out, e2e=not args.no_e2e)
    return EXIT_OK


def cmd_profile(args) -> int:
    run_profile(args.arch or list(paper_frontends()), quick=args.quick, out=args.out)
    return EXIT_OK


def cmd_ablation(args) -> int:
    run_ablation_study(demo=args.demo, dataset=args.dataset, audio_root=args.audio_root,
                       out=args.out, batch_sizes=args.batch_sizes, orders=args.order,
                       runs=args.runs, model=AblationModel(num_filters=args.num_filters,
                                                           position=args.bn_position,
                                                           res_type=args.res_type),
                       folds=args.folds, run=run_options(args))
    return EXIT_OK


COMMANDS = {"bench": cmd_bench, "profile": cmd_profile, "extract": cmd_extract, "run": cmd_run,
            "compare": cmd_compare, "reproduce": cmd_reproduce, "export": cmd_export,
            "info": cmd_info, "demo": cmd_demo, "fit": cmd_fit, "predict": cmd_predict,
            "ablation": cmd_ablation, "train": cmd_train, "datasets": cmd_datasets,
            "random-vs-trained": cmd_random_vs_trained}


@contextlib.contextmanager
def _elmarc_warnings_as_lines():
    """Meanwhile an :class:`~elmarc_tf.errors.ElmarcWarning` is shown as one line on stderr,
    ``elmarc: warning: <message>`` (not Python's form: the warning's file and line number, then its
    source line); other warnings as Python shows them."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_warning(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ElmarcWarning):
                print(f"elmarc: warning: {message}", file=sys.stderr)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_warning
        yield


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; how it ended is its exit status (:data:`EXIT_STATUS`), any
    problem one line on stderr (with ``--verbose``, an internal error's traceback too); a
    warning about the input is one line too."""
    with _elmarc_warnings_as_lines():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except FolderBusy as e:
        return _fail(EXIT_BUSY, f"error: {e}")
    except DamagedFileError as e:  # a file that opens but cannot be read: as an unreadable one
        return _fail(EXIT_IO, f"error: {e}")
    except ElmarcError as e:
        return _fail(EXIT_BAD_INPUT, f"error: {e}")
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _fail(EXIT_IO, f"error: {where}{e.strerror or e}")
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted; rerun the same command to resume")
    except Exception as e:  # a bug: one line, and the traceback with --verbose
        if getattr(args, "verbose", False):
            traceback.print_exc()
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return _fail(EXIT_INTERNAL, f"internal error: {type(e).__name__}: {first} "
                                    f"(rerun with --verbose for the traceback)")


def _fail(status: int, line: str) -> int:
    print(f"elmarc: {line}", file=sys.stderr)
    return status


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
