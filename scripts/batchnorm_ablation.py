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
``elmarc ablation`` is the same command (same options); ``--help`` lists them.
"""

import sys

from elmarc_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["ablation", *sys.argv[1:]]))
