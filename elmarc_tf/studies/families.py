"""The front-end families of the studies as data: one registry, :data:`FAMILIES`.

A family is a function ``(dataset, size) -> {front-end name: config fields}``: ``dataset`` an
entry as :data:`elmarc_tf.studies.paper.DATASETS`'s (its ``music`` and ``temporal`` names the
paper's timbral/temporal model), ``size`` one of :data:`SIZES` (``small``: ~120 features,
``large``: ~3500). The fields are the front-end's only (no data, classifier or experiment name);
a front-end with one size (the MFCCs, the LEAF family alone) is in both sizes.

- ``paper``: the paper's front-ends (:data:`FRONTEND_MATRIX`, Figures 6-11);
- ``samplecnn``: Lee et al. 2018's SampleCNN over whole clips (:data:`SAMPLECNN_MATRIX`, the
  study of ``configs/samplecnn/``, and :data:`SAMPLECNN_VARIANTS`: single-level, multi-scale,
  Table 3's 12 kHz model; Table 1's full 3⁹ model among the large ones);
- ``leaf``: the LEAF family alone (:data:`LEAF_ALONE`) and as the input representation of 7x96
  and VGG, mel-initialised and random (:data:`LEAF_INPUTS`);
- ``mfcc``: the MFCC baseline.

Names are ``<front-end>-<num_filters>`` where the front-end has sizes (``vgg-32``,
``samplecnn_last-15``, ``7x96-160+leaf-random``); :func:`base_name` drops the filter count.
"""

from __future__ import annotations

import re
from typing import Callable

# name -> (config fields, num_filters at ~120, num_filters at ~3500)
FRONTEND_MATRIX = {
    "sample_level": (dict(architecture="sample_level"), 23, 512),
    "frame_level": (dict(architecture="frame_level"), 40, 896),
    "frame_level_many": (dict(architecture="frame_level_many"), 20, 448),
    "7x96": (dict(architecture="7x96", selected_features_list=[1]), 160, 3585),
    "7x86": (dict(architecture="7x86", selected_features_list=[1]), 160, 3585),
    "timbral": (dict(architecture="{music}", selected_features_list=[0]), 8, 256),
    "{temporal}": (dict(architecture="{music}", selected_features_list=[1]), 8, 256),
    "timbral+{temporal}": (dict(architecture="{music}", selected_features_list=[0, 1]), 4, 128),
    "vgg": (dict(architecture="cnn_small_filters"), 32, 717),
}
SIZES = {"small": 1, "large": 2}  # index into the FRONTEND_MATRIX tuples
INPUT_LENGTH = dict(n_frames=1376, n_samples=350000, n_mels=96, sampling_rate=12000, batch_size="auto")

# Beyond the paper: Table 1's 3⁹-SampleCNN at 22 050 Hz over whole clips (the last three layers,
# mean and max over the windows), num_filters scaling Table 1's schedule to the study's two
# feature sizes: 5 -> 120 features (~120), 146 -> 3504 (~3500).
SAMPLECNN_MATRIX = {"samplecnn": (dict(architecture="samplecnn", sampling_rate=22050, levels=3,
                                       window_pooling=["mean", "max"]), 5, 146)}
SAMPLECNN_FULL = {"samplecnn-3^9": dict(architecture="samplecnn")}  # Table 1's filters: 3072 features
# The aggregations of docs/samplecnn.md at the two sizes: the last layer alone (2 x 4nf: 15 -> 120,
# 438 -> 3504), three scales of the last three layers (3 x 24nf: 2 -> 144, 49 -> 3528), and Table
# 3's 12 kHz model (3-3-3-3-3-2-4-4-2-2, the 3⁹ schedule: as the 3⁹ model's sizes).
MULTI_SCALE = ["5^5", "3^9", "5^6"]
SAMPLECNN_VARIANTS = {
    "samplecnn_last": (dict(architecture="samplecnn", sampling_rate=22050, levels=1,
                            window_pooling=["mean", "max"]), 15, 438),
    "samplecnn_scales": (dict(architecture="samplecnn", sampling_rate=22050, levels=3,
                              window_pooling=["mean", "max"], scales=MULTI_SCALE), 2, 49),
    "samplecnn_12k": (dict(architecture="samplecnn_12k", levels=3,
                           window_pooling=["mean", "max"]), 5, 146),
    "samplecnn_12k_last": (dict(architecture="samplecnn_12k", levels=1,
                                window_pooling=["mean", "max"]), 15, 438),
}
SAMPLECNN_BATCH = dict(batch_size="auto")  # one clip per forward pass (docs/samplecnn.md)

# The LEAF family alone: the statistics of its 96 filters over the whole clip (192 features).
LEAF_ALONE = ("leaf", "sincnet", "sincnet_plus", "tdfbanks", "mel_tf", "pcen_mel")
# ... and as the input representation of these paper front-ends: suffix -> changes.
LEAF_INPUT_MODELS = ("7x96", "vgg")
LEAF_INPUTS = {"+leaf": dict(input_representation="leaf"),
               "+leaf-random": dict(input_representation="leaf", filterbank_init="random")}


def sized(table: dict, size: str, base: dict | None = None) -> dict[str, dict]:
    """``{"<name>-<nf>": {**base, **fields, "num_filters": nf}}`` of a ``name -> (fields, nf
    small, nf large)`` table at ``size``."""
    out = {}
    for name, (fields, *nfs) in table.items():
        nf = nfs[SIZES[size] - 1]
        out[f"{name}-{nf}"] = {**(base or {}), **fields, "num_filters": nf}
    return out


def paper_family(dataset: dict, size: str) -> dict[str, dict]:
    """The paper's front-ends at ``size``, the timbral/temporal model named by the dataset's
    ``music`` and ``temporal`` (``cnn_music``/``temporal`` or ``cnn_audio``/``time``)."""
    out = {}
    for name, (fields, *nfs) in FRONTEND_MATRIX.items():
        nf = nfs[SIZES[size] - 1]
        fields = {k: (v.format(music=dataset["music"]) if isinstance(v, str) else v)
                  for k, v in fields.items()}
        out[f"{name.format(temporal=dataset['temporal'])}-{nf}"] = {**INPUT_LENGTH, **fields,
                                                                   "num_filters": nf}
    return out


def samplecnn_family(dataset: dict, size: str) -> dict[str, dict]:
    """SampleCNN at ``size``: :data:`SAMPLECNN_MATRIX`, :data:`SAMPLECNN_VARIANTS`, and Table
    1's full model (:data:`SAMPLECNN_FULL`, 3072 features) among the large ones."""
    out = sized({**SAMPLECNN_MATRIX, **SAMPLECNN_VARIANTS}, size, SAMPLECNN_BATCH)
    if size == "large":
        out.update({name: {**SAMPLECNN_BATCH, **fields} for name, fields in SAMPLECNN_FULL.items()})
    return out


def leaf_family(dataset: dict, size: str) -> dict[str, dict]:
    """The LEAF family alone (:data:`LEAF_ALONE`, one size) and as the input of the paper's
    :data:`LEAF_INPUT_MODELS` at ``size`` (:data:`LEAF_INPUTS`: mel-initialised, random)."""
    out = {name: {"architecture": name} for name in LEAF_ALONE}
    paper = paper_family(dataset, size)
    for name, fields in paper.items():
        if base_name(name) in LEAF_INPUT_MODELS:
            out.update({f"{name}{suffix}": {**fields, **changes}
                        for suffix, changes in LEAF_INPUTS.items()})
    return out


def mfcc_family(dataset: dict, size: str) -> dict[str, dict]:
    """The MFCC baseline (120 features, one size)."""
    return {"mfcc": {"features_type": "MFCC"}}


FAMILIES: dict[str, Callable[[dict, str], dict[str, dict]]] = {
    "paper": paper_family,
    "samplecnn": samplecnn_family,
    "leaf": leaf_family,
    "mfcc": mfcc_family,
}
DEFAULT_FAMILIES = ("paper", "mfcc")  # the paper's set


def base_name(name: str) -> str:
    """A front-end's name without its filter count: ``7x96-160+leaf`` -> ``7x96+leaf``."""
    return re.sub(r"-\d+(?=$|\+)", "", name)
