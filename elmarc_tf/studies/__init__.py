"""Experiments and their results: one experiment (``study``), the paper's matrix (``paper``), the
demo (``demo``), the batch-norm ablation (``ablation``), training (``train``), random vs trained
(``random_vs_trained``), tables, charts and tests (``report``).
"""
