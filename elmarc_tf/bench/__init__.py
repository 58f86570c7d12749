"""Measurements: timing helpers (``timing``), the forward / end-to-end / representation bench
(``forward``), the classifier bench (``classifiers``), the per-layer profile (``profile``).
"""
