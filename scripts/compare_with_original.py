"""Side-by-side check against outputs of the authors' TF1 code.

Each case folder holds what the original graph was given and what it produced:
``config.json`` (with the original ``config`` dict), ``weights.npz`` (variables by TF1 name),
``input.npy`` and ``features.npy``. For every folder, this loads the weights into our extractor,
feeds the same input and prints the largest differences::

    python scripts/compare_with_original.py path/to/reference/original/*/

To go the other way (feed our seeded weights to the original graph), write them in TF1 naming::

    python scripts/compare_with_original.py --export-weights configs/some.yaml --seed 0 --out w.npz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def compare_case(folder: Path) -> dict:
    from elmarc_tf import Config, build_extractor, load_original_weights

    meta = json.loads((folder / "config.json").read_text())
    cfg = Config.from_original(meta["config"])
    model = build_extractor(cfg, seed=0)
    load_original_weights(model, folder / "weights.npz")
    expected = np.load(folder / "features.npy")
    got = model(np.load(folder / "input.npy")).numpy().astype(np.float64)
    if got.shape != expected.shape:
        return {"case": folder.name, "shape": f"{got.shape} vs {expected.shape}", "ok": False}
    diff = np.abs(got - expected)
    scale = np.abs(expected).max()
    return {"case": folder.name, "arch": cfg.architecture, "nf": cfg.num_filters,
            "length": got.shape[1], "max_abs": float(diff.max()),
            "max_abs_over_scale": float(diff.max() / scale) if scale else 0.0,
            "ok": bool(np.allclose(got, expected, rtol=1e-4, atol=1e-5 * scale))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", type=Path, help="reference folders")
    parser.add_argument("--export-weights", metavar="CONFIG", help="config file whose weights to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("weights.npz"))
    args = parser.parse_args(argv)

    from elmarc_tf import ElmarcError

    try:
        if args.export_weights:
            from elmarc_tf import Config, FRONTENDS, build_extractor, save_original_weights

            cfg = Config.from_file(args.export_weights)
            cfg = cfg.replace(selected_features_list=list(range(len(FRONTENDS[cfg.architecture].taps))))
            names = save_original_weights(build_extractor(cfg, seed=args.seed), args.out)
            print(f"wrote {len(names)} variables of {cfg.architecture} (seed {args.seed}) to {args.out}")
            return 0
        if not args.cases:
            parser.error("give reference folders or --export-weights CONFIG")
        rows = [compare_case(folder) for folder in args.cases]
    except ElmarcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'case':32} {'arch':18} {'nf':>5} {'len':>5} {'max |diff|':>11} {'/ max|f|':>10}  ok")
    for r in rows:
        if "arch" not in r:
            print(f"{r['case']:32} shape mismatch {r['shape']}  FAIL")
            continue
        print(f"{r['case']:32} {r['arch']:18} {r['nf']:>5} {r['length']:>5} {r['max_abs']:>11.3g} "
              f"{r['max_abs_over_scale']:>10.2g}  {'yes' if r['ok'] else 'FAIL'}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
