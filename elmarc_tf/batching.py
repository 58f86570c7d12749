"""How many clips per forward pass: ``batch_size: auto``.

Without batch normalisation a clip's features do not depend on its batch, so the batch size is
only a speed / memory trade-off, and the right one depends on the input length and the model:
a 29 s clip costs 0.3 GFLOP through a small front-end and 317 GFLOP through frame_level-896,
and its largest feature map ranges from 1 MB to 380 MB (VGG-717's first layer).

The automatic size batches just enough clips to hide the per-call overhead of a forward pass
(about a millisecond) behind :data:`WORK_PER_BATCH` of arithmetic, and never so many that the
largest map of a batch exceeds :data:`MEMORY_PER_BATCH`, about a server CPU's last-level cache.
Larger batches do not run faster on a CPU: once the convolutions are large matrix products,
extra clips only spill the caches and grow the resident memory. Measured with ``elmarc bench``
on 2 cores (clips/s by batch size): 7x86-3585 2.35 at 1, 1.88 at 4; VGG-32 71 at 1, 89 at 2,
50 at 10; the temporal branch at 256 filters 94 at 1, 44 at 7; sample_level-512 needs > 4 GiB
at batch 8 and 1.5 GiB at 1.
"""

from __future__ import annotations

import math

import keras

from .errors import ConfigError
from .flops import conv_output_shape, model_flops
from .keras_graph import weighted_layers

AUTO = "auto"
WORK_PER_BATCH = 4e9  # FLOPs: ~25 ms of compute even at 160 GFLOP/s, so ~1 ms of overhead is < 5 %
MEMORY_PER_BATCH = 32 * 2**20  # bytes of the largest feature map of a whole batch
MAX_BATCH = 64


def largest_map_bytes(model: keras.Model) -> int:
    """Bytes of the largest convolution output of one clip (float32), nested models included.

    Counted from the layer shapes, as the full map even where a pooling is fused into the
    convolution (an upper bound)."""
    sizes = [math.prod(int(d) for d in conv_output_shape(layer)[1:]) for layer in weighted_layers(model)
             if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D)]
    return 4 * max(sizes, default=1)


def auto_batch_size(model: keras.Model) -> int:
    """Clips per forward pass for ``model`` (an extractor): see the module docstring.

    e.g. on the paper's 29 s inputs: 1 for every large configuration and VGG-32, 2 for
    sample_level-23, 14 for 7x96-160.
    """
    by_work = math.ceil(WORK_PER_BATCH / max(model_flops(model), 1))
    by_memory = MEMORY_PER_BATCH // largest_map_bytes(model)
    return int(max(1, min(by_work, by_memory, MAX_BATCH)))


def resolve_batch_size(cfg, model: keras.Model, requested: int | None = None) -> int:
    """The batch size to extract with: ``requested`` if given, else ``cfg.batch_size``, where
    ``'auto'`` means :func:`auto_batch_size` of the extractor ``model`` (``MAX_BATCH`` for a
    model without convolutions, such as the MFCC baseline's).

    With ``batch_norm: true`` features depend on the batch, so it must be chosen explicitly.
    A model whose input has the clip's own length (the LEAF family alone) takes one clip per
    batch: its size is 1 (padding clips to a common length would change their features)."""
    size = requested or cfg.batch_size
    if model is not None and None in model.input_shape[1:]:
        if size not in (AUTO, 1):
            raise ConfigError(f"batch size {size}: '{model.name}' takes whole clips of their own "
                              f"length, one per batch (batch_size 1 or auto)")
        return 1
    if size != AUTO:
        return int(size)
    if cfg.batch_norm:
        raise ConfigError("batch_size 'auto' with batch_norm: true: the features depend on the "
                          "batch, so set batch_size to a number")
    return auto_batch_size(model)
