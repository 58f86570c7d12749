"""The LEAF family on the demo data: log-mel vs LEAF vs PCEN-mel vs a random filterbank under the
same CNN front-ends, and the LEAF family alone, against the MFCCs; then ``compare``.

Runs :func:`elmarc_tf.studies.study.run_experiment` on the synthetic demo data
(:func:`elmarc_tf.studies.demo.make_demo_dataset`: 4 classes, 8 clips per class, 30 s) with the paper's
SVM grid under 5-fold stratified cross-validation, 3 seeds:

- :data:`CNNS` (VGG-32 and 7x96-160) on each of :data:`REPRESENTATIONS` (``input_representation``
  logmel, leaf, pcen_mel, and leaf with ``filterbank_init: random``, drawn from each seed);
- :data:`ALONE`: each LEAF-family front-end alone (mean and std of its 96 filters over the whole
  clip, 192 features; seeded only when random), and the MFCC baseline.

Then :func:`elmarc_tf.studies.report.compare` writes ``docs/leaf_study.png`` and ``docs/leaf_study.md``;
the tests of the pairs that answer the study's questions (:data:`PAIRS`: each representation
against the log-mel under the same CNN, random against mel initialisation) go to
``docs/leaf_study_pairs.md``, and the extraction time of each store (from its manifest) to
``docs/leaf_study_times.md``.
Decoded audio, stores and finished seeds are kept under ``--out``: a rerun only redraws.

    python scripts/leaf_demo_study.py [--out elmarc_out/leaf_study] [--docs docs]
"""

from __future__ import annotations

import json
from pathlib import Path

from elmarc_tf.studies.demo import demo_study, demo_study_arguments
from elmarc_tf.io.fileio import atomic_write_text
from elmarc_tf.studies.report import difference_test

DOCS = Path(__file__).resolve().parents[1] / "docs"
CNNS = {"vgg-32": dict(architecture="vgg", num_filters=32, n_frames=1376),
        "7x96-160": dict(architecture="7x96", num_filters=160, n_frames=1376)}
REPRESENTATIONS = {"logmel": {}, "leaf": dict(input_representation="leaf"),
                   "pcen_mel": dict(input_representation="pcen_mel"),
                   "leaf-random": dict(input_representation="leaf", filterbank_init="random")}
ALONE = {"leaf": dict(architecture="leaf"),
         "leaf-random": dict(architecture="leaf", filterbank_init="random"),
         "pcen_mel": dict(architecture="pcen_mel"), "mel_tf": dict(architecture="mel_tf"),
         "sincnet": dict(architecture="sincnet"), "sincnet_plus": dict(architecture="sincnet_plus"),
         "tdfbanks": dict(architecture="tdfbanks"), "mfcc": dict(features_type="MFCC")}


# (a, b): the experiments whose difference a - b is tested (Welch, or one-sample against a
# deterministic one), named as in experiments().
PAIRS = [*((f"{cnn}+{rep}", f"{cnn}+{base}") for cnn in CNNS
           for rep, base in (("leaf", "logmel"), ("pcen_mel", "logmel"), ("leaf-random", "logmel"),
                             ("leaf-random", "leaf"))),
         ("leaf-random-alone", "leaf-alone"), ("leaf-alone", "mfcc-alone")]


def experiments() -> dict[str, dict]:
    """name -> config fields of every experiment of the study."""
    out = {f"{cnn}+{rep}": {**fields, **changes} for cnn, fields in CNNS.items()
           for rep, changes in REPRESENTATIONS.items()}
    out.update({f"{name}-alone": fields for name, fields in ALONE.items()})
    return out


def pair_tests(models: list[dict]) -> str:
    """A Markdown table of :data:`PAIRS` (``models``: ``compare``'s labelled copies)."""
    by_name = {m["name"].removesuffix("_SVM"): m for m in models}
    lines = ["| a | b | a - b, pp [95% CI] | p | test |", "|---|---|---|---:|---|"]
    for a, b in PAIRS:
        t = difference_test(by_name[a], by_name[b])
        ci = (f" [{100 * t['ci_low']:+.2f}, {100 * t['ci_high']:+.2f}]"
              if t["ci_low"] is not None else "")
        p = f"{t['p']:.3g}" if t["p"] is not None else ""
        lines.append(f"| {t['a']} | {t['b']} | {100 * t['diff']:+.2f}{ci} | {p} | "
                     f"{t['test'] or t['note']} |")
    return "\n".join(lines) + "\n"


def extraction_times(folders: list[Path]) -> str:
    """A Markdown table: each experiment's stores, seconds of extraction per clip (manifests)."""
    lines = ["| experiment | stores | clips | extraction s per clip (mean over stores) |",
             "|---|---:|---:|---:|"]
    for folder in folders:
        summary = json.loads((folder / "results.json").read_text())
        stores = sorted({r["store"] for r in summary["per_seed"]})
        manifests = [json.loads((Path(s) / "manifest.json").read_text()) for s in stores]
        per_clip = sum(m["seconds"] / m["n_items"] for m in manifests) / len(manifests)
        lines.append(f"| {summary['name']} | {len(stores)} | {manifests[0]['n_items']} | "
                     f"{per_clip:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = demo_study_arguments(__doc__.splitlines()[0], "leaf_study", DOCS, argv)
    folders, result = demo_study(list(experiments().items()), args, "leaf_study",
                                 "LEAF family on the demo data: SVM", classifiers=("SVM",))
    atomic_write_text(args.docs / "leaf_study_times.md", extraction_times(folders))
    pairs = pair_tests(result["models"])
    atomic_write_text(args.docs / "leaf_study_pairs.md", pairs)
    print(result["table"], "", *result["notes"], "", pairs, f"chart: {result['chart']}",
          f"table: {result['table_file']}", sep="\n")


if __name__ == "__main__":
    main()
