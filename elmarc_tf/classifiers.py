"""Classifiers of the original ``main.py``, as sklearn estimators and hyper-parameter grids."""

from __future__ import annotations

# The original's SVM grid: rbf with gamma in {2^-3, ..., 2^-13, 'auto'} x C, and linear x C.
SVM_C = [0.1, 2.0, 8.0, 32.0]
SVM_GAMMA = [1 / 2**3, 1 / 2**5, 1 / 2**7, 1 / 2**9, 1 / 2**11, 1 / 2**13, "auto"]
SVM_PARAM_GRID = [
    {"kernel": ["rbf"], "gamma": SVM_GAMMA, "C": SVM_C},
    {"kernel": ["linear"], "C": SVM_C},
]
