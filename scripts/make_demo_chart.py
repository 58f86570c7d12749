"""The demo study as ``elmarc run`` results, then ``elmarc compare``: the chart and table in the README.

Runs :func:`elmarc_tf.studies.study.run_experiment` on the synthetic demo data
(:func:`elmarc_tf.studies.demo.make_demo_dataset`: 4 classes, 8 clips per class, 30 s) for every model of
the demo (:data:`elmarc_tf.studies.demo.DEMO_MODELS`: six random-weight front-ends and the MFCC baseline)
with the SVM and the ELM, 3 random-weight seeds each, under 5-fold stratified cross-validation
(8 clips per class are too few for the default 10 folds). Then :func:`elmarc_tf.studies.report.compare`
writes ``docs/demo_compare.png`` and ``docs/demo_compare.md``.

About 1-2 minutes on 2 CPU cores (the full demo data: no clips left out). Decoded audio, feature
stores and finished seeds are kept under ``--out``, so a rerun only redraws.

    python scripts/make_demo_chart.py [--out elmarc_out/demo_study] [--docs docs]
"""

from __future__ import annotations

from pathlib import Path

from elmarc_tf.studies.demo import DEMO_MODELS, demo_study, demo_study_arguments

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv=None) -> None:
    args = demo_study_arguments(__doc__.splitlines()[0], "demo_study", DOCS, argv)
    _, result = demo_study(DEMO_MODELS, args, "demo_compare", "elmarc demo")
    print(result["table"], "", *result["notes"], "", f"chart: {result['chart']}",
          f"table: {result['table_file']}", sep="\n")


if __name__ == "__main__":
    main()
