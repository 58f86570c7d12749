"""Features -> accuracy: classifiers and their grids (``classifiers``), the SVM grid on precomputed
kernels (``svm_grid``), the datasets' protocols (``protocols``), grid searches on Ray (``ray``).
"""
