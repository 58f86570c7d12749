"""The ``elmarc`` command: ``parse_args(argv)`` -> ``run(args)``; ``main()`` is the console script.

Every verb is a thin layer over a Python function of the package (named in its help).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .ablation import run_ablation_study
from .bench import run_bench
from .config import Config
from .datasets import items_from_config
from .demo import run_demo
from .errors import ElmarcError
from .export import describe_export, export_frontend
from .extract import ENGINES, extract
from .frontends import frontend_of
from .paper import CLASSIFIERS, SIZES, paper_frontends, reproduce
from .profile import run_profile
from .ray_cluster import RayOptions
from .report import compare, load_results
from .store import load_store
from .study import read_original_config, run_experiment

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT = 0, 1, 2


# --- where the work runs: --engine and the Ray flags of extract, run and reproduce -------------
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


def engine_arguments(args) -> dict:
    """``engine=`` and ``ray_options=`` for the Python API, from :func:`add_engine_arguments`."""
    options = RayOptions(args.address, args.actors, args.cpus_per_actor, args.gpus_per_actor)
    if args.engine != "ray" and options != RayOptions():
        raise ElmarcError("--address, --actors, --cpus-per-actor and --gpus-per-actor need --engine ray")
    return {"engine": args.engine, "ray_options": options if args.engine == "ray" else None}
# -------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="elmarc", description="Randomly weighted CNN features for audio classification "
                                   "(Pons & Serra, ICASSP 2019).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="extract features of a config's audio into a feature store "
                                       "(elmarc_tf.extract.extract)")
    p.add_argument("config", type=Path, help="YAML/JSON config (keys of the original config_main)")
    p.add_argument("--seed", type=int, default=0, help="random-weights seed (default 0)")
    p.add_argument("--out", type=Path, help="store root (default: save_extracted_features_folder "
                                            "or elmarc_out/features)")
    p.add_argument("--batch-size", type=int, help="clips per forward pass (default: the config's batch_size; "
                                                   "'auto' sizes it from the model's cost and memory)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable clip")
    p.add_argument("--audio-cache", type=Path, help="folder caching decoded 12 kHz audio, shared "
                                                    "by configurations and seeds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_arguments(p)

    p = sub.add_parser("run", help="extract + evaluate a config for several seeds "
                                   "(elmarc_tf.study.run_experiment)")
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
    add_engine_arguments(p)

    p = sub.add_parser("compare", help="table, t-tests against the baseline and between models, "
                                       "bar chart (elmarc_tf.report.compare)")
    p.add_argument("results", nargs="+", type=Path, help="results.json files or folders "
                                                         "(a file reached twice counts once)")
    p.add_argument("--chart", type=Path, default=Path("elmarc_out") / "compare.png")
    p.add_argument("--title", default=None)
    p.add_argument("--table", type=Path, help="also write the table as Markdown (.md) or CSV (.csv)")

    p = sub.add_parser("reproduce", help="run a whole figure's matrix of the paper "
                                         "(elmarc_tf.paper.reproduce)")
    p.add_argument("--dataset", required=True, help="gtzan, extended_ballroom or urbansound8k")
    p.add_argument("--audio-root", required=True, type=Path)
    p.add_argument("--splits", type=Path, help="GTZAN: folder with {train,valid,test}_filtered.txt")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--size", choices=["small", "large", "both"], default="both",
                   help="feature size: ~120 (small), ~3500 (large)")
    p.add_argument("--classifier", choices=["SVM", "ELM", "both"], default="both")
    p.add_argument("--only", nargs="*", help="run only experiments whose name contains one of these")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "paper")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--audio-cache", type=Path, help="decoded-audio cache folder "
                                                    "(default: OUT/DATASET/audio_cache)")
    p.add_argument("--no-audio-cache", action="store_true", help="decode every clip per configuration")
    p.add_argument("--quiet", action="store_true")
    add_engine_arguments(p)

    p = sub.add_parser("export", help="SavedModel (+ .keras) of a frozen front-end: raw 12 kHz "
                                      "waveforms -> features (elmarc_tf.export.export_frontend)")
    p.add_argument("config", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="export folder")
    p.add_argument("--input-samples", type=int, default=None,
                   help="spectrogram front-ends: fix the input length (default: any length)")

    p = sub.add_parser("bench", help="FLOPs, forward and end-to-end speed vs the machine's matmul "
                                     "peak, memory (elmarc_tf.bench.run_bench)")
    p.add_argument("--arch", nargs="*", help="configurations to measure (default: all paper ones)")
    p.add_argument("--quick", action="store_true", help="a few configurations, short timings "
                                                         "(with --profile: short timings only)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end extraction from files")
    p.add_argument("--profile", action="store_true",
                   help="instead: time every layer of each configuration alone, against the matmul "
                        "peak (elmarc_tf.profile.run_profile; writes profile.json / profile.md)")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "bench")

    p = sub.add_parser("profile", help="time every layer of each configuration alone, against the "
                                       "matmul peak (elmarc_tf.profile.run_profile; the same as "
                                       "'elmarc bench --profile')")
    p.add_argument("--arch", nargs="*", help="configurations to profile (default: all paper ones)")
    p.add_argument("--quick", action="store_true", help="short timings")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "bench")

    p = sub.add_parser("ablation", help="the batch-normalisation ablation of the paper's Section 3.4 "
                                        "/ Figure 5 (elmarc_tf.ablation.run_ablation_study; also "
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

    p = sub.add_parser("info", help="summary of a feature store or an export "
                                    "(elmarc_tf.store.load_store, elmarc_tf.export.describe_export)")
    p.add_argument("path", type=Path)

    p = sub.add_parser("demo", help="generate a small dataset, extract, classify, rank "
                                    "(elmarc_tf.demo.run_demo)")
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "demo")
    p.add_argument("--clips-per-class", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def cmd_extract(args) -> int:
    cfg = Config.from_file(args.config)
    if args.batch_size is not None and args.batch_size < 1:
        raise ElmarcError(f"--batch-size must be a positive integer, got {args.batch_size}")
    engine = engine_arguments(args)
    items = items_from_config(cfg)  # missing lists / files fail here, before any work
    result = extract(cfg, items, seed=args.seed, out=args.out, batch_size=args.batch_size,
                     strict=args.strict, progress=not args.quiet, audio_cache=args.audio_cache,
                     **engine)
    m = result.manifest
    print(f"{result.folder}: {m['n_ok']} clips x {m['feature_length']} features "
          f"({result.n_computed} computed now, {m['n_failed']} failed)")
    for failure in m["failures"]:
        print(f"  failed: {failure['error']}")
    return EXIT_FAILURES if m["n_failed"] else EXIT_OK


def cmd_export(args) -> int:
    cfg = Config.from_file(args.config)
    path = export_frontend(cfg, args.seed, args.out, input_samples=args.input_samples)
    d = describe_export(path)
    print(f"{path}: SavedModel + model.keras of {d['architecture']} (seed {d['seed']}), "
          f"waveform {d['input']['shape']} at {d['sampling_rate']} Hz -> "
          f"features (batch, {d['feature_length']})")
    return EXIT_OK


def _describe(config_dict: dict) -> str:
    """One line naming the front-end of a stored config (``FrontEndSpec.describe``)."""
    config = Config.from_dict(config_dict)
    return frontend_of(config).describe(config)


def _layout_line(layout) -> str:
    return "layout:   " + ", ".join(f"{e['name']}[{e['offset']}:{e['offset'] + e['width']}]"
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


def cmd_info(args) -> int:
    path = args.path
    if (path / "assets" / "elmarc.json").is_file():
        return _info_export(path)
    if (path / "chunks").is_dir() and not (path / "manifest.json").is_file():
        total = len(json.loads((path / "all_items.json").read_text()))
        print(f"{path}: extraction in progress or interrupted, "
              f"{len(list((path / 'chunks').glob('*.npz')))} batches of {total} clips written; "
              f"rerun the same 'elmarc extract' to resume")
        return EXIT_OK
    X, y, _, m = load_store(path)
    cfg = m["config"]
    print(f"store:    {path}")
    print(f"features: {X.shape[0]} clips x {X.shape[1]} ({_describe(cfg)}, seed {m['seed']})")
    print(f"labels:   {len(m['labels'])} classes: {', '.join(m['labels'])}")
    print(f"input:    {cfg['signal']} {cfg['n_frames'] or cfg['n_samples']} "
          f"({cfg['fix_length_by']}, {cfg['sampling_rate']} Hz, res_type {cfg['res_type']})")
    print(f"time:     {m['seconds']:.1f} s; versions: "
          + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print(_layout_line(m["layout"]))
    print(f"failed:   {m['n_failed']} of {m['n_items']}")
    for failure in m["failures"]:
        print(f"  {failure['error']}")
    return EXIT_OK


def cmd_demo(args) -> int:
    run_demo(args.out, clips_per_class=args.clips_per_class, seed=args.seed, progress=not args.quiet)
    return EXIT_OK


def cmd_run(args) -> int:
    if (args.config is None) == (args.original_config is None):
        raise ElmarcError("give either CONFIG or --original-config CONFIG_FILE_PY")
    if args.seeds < 1:
        raise ElmarcError(f"--seeds must be at least 1, got {args.seeds}")
    if args.original_config is not None:
        cfg = Config.from_original(read_original_config(args.original_config))
        name = f"{cfg.experiment_name}"
    else:
        cfg = Config.from_file(args.config)
        name = args.config.stem
    run_experiment(cfg, seeds=range(args.seeds), out=args.out, name=name,
                   features_out=args.features_out, n_jobs=args.jobs, progress=not args.quiet,
                   audio_cache=args.audio_cache, **engine_arguments(args))
    return EXIT_OK


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
    reproduce(args.dataset, args.audio_root, splits=args.splits, seeds=range(args.seeds),
              out=args.out, sizes=tuple(SIZES) if args.size == "both" else (args.size,),
              classifiers=CLASSIFIERS if args.classifier == "both" else (args.classifier,),
              only=args.only, n_jobs=args.jobs, progress=not args.quiet,
              audio_cache=False if args.no_audio_cache else args.audio_cache,
              **engine_arguments(args))
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.profile:
        return cmd_profile(args)
    run_bench(args.arch, quick=args.quick, out=args.out, e2e=not args.no_e2e)
    return EXIT_OK


def cmd_profile(args) -> int:
    run_profile(args.arch or list(paper_frontends()), quick=args.quick, out=args.out)
    return EXIT_OK


def cmd_ablation(args) -> int:
    run_ablation_study(demo=args.demo, dataset=args.dataset, audio_root=args.audio_root,
                       out=args.out, batch_sizes=args.batch_sizes, orders=args.order,
                       runs=args.runs, num_filters=args.num_filters, position=args.bn_position,
                       folds=args.folds, res_type=args.res_type, progress=not args.quiet)
    return EXIT_OK


COMMANDS = {"bench": cmd_bench, "profile": cmd_profile, "extract": cmd_extract, "run": cmd_run,
            "compare": cmd_compare, "reproduce": cmd_reproduce, "export": cmd_export,
            "info": cmd_info, "demo": cmd_demo, "ablation": cmd_ablation}


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; bad input prints a one-line error and returns 2."""
    try:
        return COMMANDS[args.command](args)
    except ElmarcError as e:
        print(f"elmarc: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
