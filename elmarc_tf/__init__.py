"""elmarc_tf: randomly weighted CNN front-ends as audio feature extractors (Pons & Serra, 2019).

Quick use::

    from elmarc_tf import Config, build_extractor, load_original_weights
    cfg = Config.from_original(config_main)                 # the original nested dict
    model = build_extractor(cfg, seed=0, inputs="logmel")  # or inputs="waveform" (12 kHz)
    features = model(x)                                     # (batch, feature_len) float32

The package in layers; a module imports only its own layer and those above it in this list
(``tests/test_structure.py`` checks it):

- foundation: ``errors``, ``vocabulary`` (the config's values), ``fileio`` (atomic writes,
  locks, versions), ``keras_graph`` (Keras internals)
- core model: ``config``, ``frontends/`` (the registry; one module per family: the paper's
  spectrogram and waveform CNNs, ``samplecnn`` + ``windows``, ``leaf`` + ``filterbank``, the MFCC
  baseline), ``melspec``, ``extractor`` (taps -> features, ``compile_extractor``), ``flops``,
  ``tf1_weights``, ``trained_weights``, ``export``
- audio I/O: ``audio`` (decode, fix length), ``resample``, ``audio_cache``, ``mfcc``, ``datasets/``
- extraction: ``pipeline`` (tf.data, input kinds), ``batching``, ``store``, ``extract`` (engines),
  ``ray_cluster``, ``ray_extract``
- study: ``classifiers``, ``svm_grid``, ``protocols``, ``ray_search``, ``study``, ``report``,
  ``paper``, ``demo``, ``ablation``, ``train``, ``random_vs_trained``
- tooling: ``timing``, ``classifier_bench``, ``bench``, ``profile``, ``cli``
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
_LAZY = {"Config": "config", "build_extractor": "extractor", "compile_extractor": "extractor",
         "feature_layout": "extractor", "build_frontend": "frontends", "FRONTENDS": "frontends",
         "resolve": "frontends", "load_original_weights": "tf1_weights",
         "save_original_weights": "tf1_weights"}

__all__ = [*_LAZY, "ElmarcError", "ConfigError", "AudioError", "WeightsError", "ElmarcWarning"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
