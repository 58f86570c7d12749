"""``batch_size: auto``: sized from the model's FLOPs and its largest map, counted by hand here."""

from __future__ import annotations

import math

import pytest

from elmarc_tf import Config
from elmarc_tf.batching import (MAX_BATCH, MEMORY_PER_BATCH, WORK_PER_BATCH, auto_batch_size,
                                largest_map_bytes, resolve_batch_size)
from elmarc_tf.errors import ConfigError
from elmarc_tf.extractor import build_extractor


def _single(nf, n_frames, shape=(7, 86), pool=(1, 11)):
    return Config.from_dict(dict(architecture="cnn_single", filter_shape=shape, pool_shape=pool,
                                 num_filters=nf, n_frames=n_frames, selected_features_list=[1]))


def test_largest_map_is_the_full_convolution_output():
    cfg = _single(nf=6, n_frames=40)
    # (40 - 7 + 1) frames x (96 - 86 + 1) bands x 6 filters, float32: the full map, although the
    # fast model fuses the 1x11 max-pool into the convolution (an upper bound)
    assert largest_map_bytes(build_extractor(cfg)) == 4 * 34 * 11 * 6


@pytest.mark.parametrize("nf, n_frames", [(6, 40), (160, 1376), (3585, 1376)])
def test_auto_batch_size_by_work_and_memory(nf, n_frames):
    cfg = _single(nf, n_frames, shape=(7, 96), pool=(1, 1))
    flops = 2 * (n_frames - 6) * 7 * 96 * nf
    map_bytes = 4 * (n_frames - 6) * nf
    want = max(1, min(math.ceil(WORK_PER_BATCH / flops), MEMORY_PER_BATCH // map_bytes, MAX_BATCH))
    assert auto_batch_size(build_extractor(cfg)) == want
    assert resolve_batch_size(cfg, build_extractor(cfg)) == want


def test_auto_batch_size_of_the_paper_sizes():
    tiny = _single(nf=6, n_frames=40, shape=(7, 96), pool=(1, 1))
    assert auto_batch_size(build_extractor(tiny)) == MAX_BATCH  # ~3 MFLOP per clip
    big = _single(nf=3585, n_frames=1376, shape=(7, 96), pool=(1, 1))
    assert auto_batch_size(build_extractor(big)) == 1  # 6.6 GFLOP per clip
    vgg = Config.from_dict(dict(architecture="vgg", num_filters=717, n_frames=1376))
    # 169 GFLOP per clip and a 1376x96x717 first map (379 MB): one clip per pass
    assert auto_batch_size(build_extractor(vgg)) == 1


def test_explicit_batch_sizes_win():
    cfg = _single(nf=6, n_frames=40).replace(batch_size=7)
    assert resolve_batch_size(cfg, build_extractor(cfg)) == 7
    assert resolve_batch_size(cfg, build_extractor(cfg), requested=3) == 3
    mfcc = Config.from_dict(dict(features_type="MFCC"))  # no convolution: the largest batch
    assert resolve_batch_size(mfcc, build_extractor(mfcc)) == MAX_BATCH


def test_batch_norm_needs_an_explicit_batch_size():
    cfg = Config.from_dict(dict(architecture="vgg", num_filters=4, n_frames=1280, batch_norm=True))
    with pytest.raises(ConfigError, match="batch_size 'auto' with batch_norm"):
        resolve_batch_size(cfg, build_extractor(cfg))
    assert resolve_batch_size(cfg.replace(batch_size=10), None) == 10


@pytest.mark.parametrize("value", [0, -3, "banana", 2.5, True])
def test_batch_size_must_be_auto_or_positive(value):
    with pytest.raises(ConfigError, match="'batch_size' must be a positive integer"):
        Config.from_dict(dict(architecture="vgg", batch_size=value))
