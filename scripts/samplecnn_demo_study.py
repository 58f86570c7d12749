"""SampleCNN's aggregations on the demo data, beside the paper's sample-level model and the MFCCs.

Runs :func:`elmarc_tf.studies.study.run_experiment` on the synthetic demo data
(:func:`elmarc_tf.studies.demo.make_demo_dataset`: 4 classes, 8 clips per class, 30 s at 22 050 Hz) for
:data:`MODELS` — Lee et al. 2018's 3⁹-SampleCNN with random weights over whole clips (the last
layer only; the last three layers; the last three layers of three models with 0.7 s, 2.7 s and
3.5 s windows — at one width, and at about 120 values; Table 1's full size), the paper's sample-level model at its small size and the
MFCC baseline — with the SVM and the ELM, 3 random-weight seeds each, under 5-fold stratified
cross-validation, as ``scripts/make_demo_chart.py``. Then :func:`elmarc_tf.studies.report.compare`
writes ``docs/samplecnn_demo.png`` and ``docs/samplecnn_demo.md``.

A few minutes on 2 CPU cores. Decoded audio, feature stores and finished seeds are kept under
``--out`` (the same folder as ``make_demo_chart.py``'s, whose stores it reuses), so a rerun only
redraws.

    python scripts/samplecnn_demo_study.py [--out elmarc_out/demo_study] [--docs docs]
"""

from __future__ import annotations

from pathlib import Path

from elmarc_tf.studies.demo import demo_study, demo_study_arguments

# (name, config fields). The three aggregations at one width (num_filters 15: the last layer is
# 4 x 15 wide, x 2 statistics, mean and max), and at about the MFCCs' 120 values (num_filters
# scaling Table 1's filters down).
SCALES = ["5^5", "3^9", "5^6"]  # windows of 0.7, 2.7 and 3.5 s at 22 050 Hz
MODELS = [
    ("samplecnn-15-last", dict(architecture="samplecnn", num_filters=15, levels=1)),  # 120
    ("samplecnn-15", dict(architecture="samplecnn", num_filters=15)),  # 3 layers: 360
    ("samplecnn-15-scales", dict(architecture="samplecnn", num_filters=15, scales=SCALES)),  # 1080
    ("samplecnn-5", dict(architecture="samplecnn", num_filters=5)),  # 3 layers: 120
    ("samplecnn-2-scales", dict(architecture="samplecnn", num_filters=2, scales=SCALES)),  # 144
    ("samplecnn-3^9", dict(architecture="samplecnn")),  # Table 1's filters: 3072
    ("sample_level-23", dict(architecture="sample_level", num_filters=23, n_samples=350000)),
    ("mfcc", dict(features_type="MFCC")),
]

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv=None) -> None:
    args = demo_study_arguments(__doc__.splitlines()[0], "demo_study", DOCS, argv)
    _, result = demo_study(MODELS, args, "samplecnn_demo", "SampleCNN on the demo data")
    print(result["table"], "", *result["notes"], "", f"chart: {result['chart']}",
          f"table: {result['table_file']}", sep="\n")


if __name__ == "__main__":
    main()
