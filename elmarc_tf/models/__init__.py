"""Front-ends made into models: taps -> features (``extractor``), Keras internals (``keras_graph``),
FLOPs (``flops``), weights from the authors' TF1 graph (``tf1_weights``) or from training
(``trained_weights``), SavedModel export (``export``).
"""
