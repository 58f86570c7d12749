"""elmarc_tf: randomly weighted CNN front-ends as audio feature extractors (Pons & Serra, 2019).

Quick use::

    from elmarc_tf import Config, build_extractor, load_original_weights
    cfg = Config.from_original(config_main)                 # the original nested dict
    model = build_extractor(cfg, seed=0, inputs="logmel")  # or inputs="waveform" (12 kHz)
    features = model(x)                                     # (batch, feature_len) float32

The package in folders, one per layer, lowest first; a module imports only its own layer and
those below it (``tests/test_structure.py`` checks it; ``docs/architecture.md`` draws it):

- ``errors``, ``vocabulary`` (the config's values)
- ``io/``: decode, resample, the audio cache, atomic files, locks and versions
- ``datasets/``: the dataset readers (folders, CSV lists, GTZAN, Ballroom, UrbanSound8K)
- ``frontends/``: the registry and one module per family (the paper's spectrogram and waveform
  CNNs, ``samplecnn`` + ``windows``, ``leaf/`` + ``filterbank``, ``mfcc``), the log-mel (``melspec``)
- ``config``: the one ``Config`` dataclass, loaded and checked at the edge
- ``models/``: taps -> features (``extractor``), FLOPs, TF1 and trained weights, export
- ``extraction/``: tf.data pipeline, batch sizes, the feature store, the local and Ray engines
- ``evaluation/``: classifiers, the SVM grid, protocols, grid searches on Ray
- ``studies/``: experiments, the paper's matrix, demo, ablation, training, random vs trained, reports
- ``bench/``: timing, benches, profiles
- ``cli``, ``__main__``: the ``elmarc`` command
"""

import importlib as _importlib
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
# On some machines TensorFlow's default CPU allocator hands every large tensor back to the operating
# system when it is freed, so each forward pass page-faults its feature maps in again (a 380 MB map:
# ~90 000 faults, longer than the convolution that fills it); its BFC allocator keeps and reuses
# them (`elmarc bench` measures both). TensorFlow reads this when it first allocates; set it to
# "false" beforehand to opt out.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from .errors import AudioError, ConfigError, ElmarcError, ElmarcWarning, WeightsError

__version__ = "0.1.0"

# The names below load TensorFlow; they are imported on first use (PEP 562), so that importing the
# package alone does not, and the command line can quiet TensorFlow's start-up lines first.
_LAZY = {"Config": "config", "build_extractor": "models.extractor",
         "compile_extractor": "models.extractor", "feature_layout": "models.extractor",
         "build_frontend": "frontends", "FRONTENDS": "frontends", "resolve": "frontends",
         "load_original_weights": "models.tf1_weights",
         "save_original_weights": "models.tf1_weights",
         "items_from_config": "datasets", "extract": "extraction.extract",
         "load_store": "extraction.store", "RayOptions": "extraction.ray_cluster",
         "RunOptions": "extraction.options",
         "run_experiment": "studies.study", "reproduce": "studies.paper",
         "train_experiment": "studies.train", "compare": "studies.report",
         "export_frontend": "models.export", "load_keras": "models.export"}

__all__ = [*_LAZY, "ElmarcError", "ConfigError", "AudioError", "WeightsError", "ElmarcWarning"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
