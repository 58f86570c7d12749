"""The batch-normalisation ablation of Pons & Serra (ICASSP 2019), Section 3.4 / Figure 5.

A random VGG front-end with batch normalisation computed from the current batch makes a clip's
features depend on the other clips in its batch, so the accuracy depends on the batch size and on
the data order; without BN it does not. This script shows it on your data:

    python scripts/batchnorm_ablation.py --demo                       # embedded data, a few minutes
    python scripts/batchnorm_ablation.py --dataset gtzan --audio-root GTZAN/genres
    python scripts/batchnorm_ablation.py --dataset folder --audio-root my_data   # class folders

It prints a direct check (one clip, two batches), a table (condition x batch size: mean ± std
accuracy over runs, SVM under 10-fold stratified CV), a one-way ANOVA across batch sizes per
condition, and saves a Figure-5 style PNG. Results are resumable: rerun to continue.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    p.add_argument("--out", type=Path, default=Path("elmarc_out") / "batchnorm_ablation")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from elmarc_tf import ElmarcError
    from elmarc_tf.ablation import run_ablation
    from elmarc_tf.datasets import load_dataset

    try:
        if args.demo:
            from elmarc_tf.demo import make_demo_dataset

            out = args.out / "demo" if args.out == parse_args(["--demo"]).out else args.out
            items = load_dataset("folder", make_demo_dataset(out / "audio", clips_per_class=10))
        else:
            if args.audio_root is None:
                raise ElmarcError("--audio-root is required with --dataset")
            out = args.out
            items = load_dataset(args.dataset, args.audio_root)
        if any(b < 1 for b in args.batch_sizes) or args.runs < 1:
            raise ElmarcError("--batch-sizes and --runs must be positive")
        run_ablation(items, out, batch_sizes=args.batch_sizes, orders=args.order, runs=args.runs,
                     num_filters=args.num_filters, position=args.bn_position, folds=args.folds,
                     res_type=args.res_type, progress=not args.quiet)
    except ElmarcError as e:
        print(f"batchnorm_ablation: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
