"""Log-mel front-ends (paper Section 2.1): VGG, single-filter and musically motivated CNNs.

Every builder takes a log-mel spectrogram ``(batch, n_frames, n_mels)``, views it as an image
``(batch, n_frames, n_mels, 1)`` and returns a frozen ``keras.Model`` with one output per tap.
``fast=False`` builds Keras' plain Conv2D + MaxPooling2D where the fast model fuses a max over
frequency into its convolution (:class:`~elmarc_tf.frontends.common.FrequencyMaxConv2D`: same
weights, same features to float32 rounding).
Layer names are the variable scopes of the authors' TF1 graph (``1CNN`` ... ``5CNN``,
``conv2d`` ... ``conv2d_5``, ``conv1d`` ... ``conv1d_3``) so their weights load by name.
"""

from __future__ import annotations

import keras

from ..errors import ConfigError
from .common import BatchStatsNormalization, ConvFactory, frozen_model, max_over_frequency

VGG_POOLS = ((4, 2), (4, 3), (5, 2), (4, 2), (4, 4))
MUSIC_TEMPORAL_KERNELS = (165, 128, 64, 32)  # cnn_music: temporal features
AUDIO_TEMPORAL_KERNELS = (64, 32, 16, 8)  # cnn_audio: "time" features (shorter filters)


def _image_input(cfg):
    """Input ``(batch, n_frames, n_mels)`` and its image view ``(batch, n_frames, n_mels, 1)``."""
    x = keras.Input((cfg.n_frames, cfg.n_mels), name="logmel")
    return x, keras.layers.Reshape((cfg.n_frames, cfg.n_mels, 1), name="as_image")(x)


# ----------------------------------------------------------------------------- VGG
def build_cnn_small_filters(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """VGG-like: 5 x [Conv2D 3x3 'same', ELU -> MaxPool], pools 4x2, 4x3, 5x2, 4x2, 4x4.

    With ``batch_norm: true`` every block gets a :class:`BatchStatsNormalization`, before the ELU
    (``batch_norm_position: before_elu``, the convnet of Choi et al. that Section 3.4 reproduces)
    or after it (``after_elu``, the authors' prototypes).

    Taps: the five pooled maps, e.g. for 1376x96 input ``(b, 344, 48, nf)``, ``(b, 86, 16, nf)``,
    ``(b, 17, 8, nf)``, ``(b, 4, 4, nf)``, ``(b, 1, 1, nf)``: 5*nf features.
    """
    inputs, x = _image_input(cfg)
    bn = cfg.batch_norm
    convs = ConvFactory(seed, activation=None if bn else "elu", fast=fast)
    taps = []
    for i, pool in enumerate(VGG_POOLS, start=1):
        x = convs.conv2d(cfg.num_filters, (3, 3), padding="same", name=f"{i}CNN")(x)
        if bn:  # the ablation of Section 3.4: features then depend on the batch
            if cfg.batch_norm_position == "before_elu":
                x = BatchStatsNormalization(name=f"bn{i}")(x)
            x = keras.layers.Activation("elu", name=f"elu{i}")(x)
            if cfg.batch_norm_position == "after_elu":
                x = BatchStatsNormalization(name=f"bn{i}")(x)
        x = keras.layers.MaxPooling2D(pool, strides=pool, name=f"pool{i}")(x)
        taps.append(x)
    return frozen_model(inputs, taps, "cnn_small_filters")


def vgg_min_input() -> tuple[int, int]:
    """``(frames, bands)``: the smallest log-mel the VGG's pooling chain takes (1280, 96)."""
    need_t = need_f = 1
    for t, f in VGG_POOLS:
        need_t, need_f = need_t * t, need_f * f
    return need_t, need_f


def check_cnn_small_filters(cfg) -> None:
    need_t, need_f = vgg_min_input()
    if cfg.n_frames < need_t:
        raise ConfigError(f"'n_frames'={cfg.n_frames} is too short for cnn_small_filters: its "
                          f"pooling chain needs at least {need_t} frames")
    if cfg.n_mels < need_f:
        raise ConfigError(f"'n_mels'={cfg.n_mels} is too small for cnn_small_filters: its "
                          f"pooling chain needs at least {need_f} bands")


# ----------------------------------------------------------------------------- single filter
def build_cnn_single(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """One Conv2D ``filter_shape`` 'valid' + ReLU, then MaxPool ``pool_shape``.

    Taps: ``[conv, pool]``; 7x96 with pool 1x1 gives ``(b, n_frames-6, 1, nf)`` twice (identical
    taps); 7x86 with pool 1x11 gives ``(b, n_frames-6, 11, nf)`` and ``(b, n_frames-6, 1, nf)``.
    The paper uses the pool tap only (``selected_features_list: [1]``).
    """
    inputs, x = _image_input(cfg)
    layer = ConvFactory(seed, fast=fast).conv2d(cfg.num_filters, cfg.filter_shape, name="1CNN")
    conv = layer(x)
    if fast and tuple(cfg.pool_shape) == (1, 1):
        pool = conv  # a 1x1 max-pool is the identity (7x96): both taps are the same map
    elif fast and tuple(cfg.pool_shape) == (1, conv.shape[2]):  # all frequencies (7x86 + 1x11)
        pool = layer(x, max_over_frequency=True)  # fused; only the selected taps are computed
    else:
        pool = keras.layers.MaxPooling2D(cfg.pool_shape, strides=cfg.pool_shape, name="pool")(conv)
    return frozen_model(inputs, [conv, pool], "cnn_single")


def label_cnn_single(cfg) -> str:
    """The paper's name of a single-filter model: its filter shape, e.g. ``7x96``."""
    return f"{cfg.filter_shape[0]}x{cfg.filter_shape[1]}"


def check_cnn_single(cfg) -> None:
    for key in ("filter_shape", "pool_shape"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"'{key}' is required for cnn_single (e.g. architecture '7x96' or '7x86')")
    (ft, ff), (pt, pf) = cfg.filter_shape, cfg.pool_shape
    if ff > cfg.n_mels:
        raise ConfigError(f"'filter_shape' {list(cfg.filter_shape)} is taller than the "
                          f"spectrogram ('n_mels'={cfg.n_mels})")
    if ft > cfg.n_frames:
        raise ConfigError(f"'filter_shape' {list(cfg.filter_shape)} is longer than the input "
                          f"('n_frames'={cfg.n_frames})")
    out_t, out_f = cfg.n_frames - ft + 1, cfg.n_mels - ff + 1
    if pt > out_t or pf > out_f:
        raise ConfigError(f"'pool_shape' {list(cfg.pool_shape)} is larger than the conv output "
                          f"({out_t}x{out_f})")


# ----------------------------------------------------------------------------- musically motivated
def _build_timbral_temporal(cfg, seed, temporal_kernels, name, fast) -> keras.Model:
    nf, n_frames, n_mels = cfg.num_filters, cfg.n_frames, cfg.n_mels
    inputs, image = _image_input(cfg)
    convs = ConvFactory(seed, fast=fast)
    # Time-only zero padding (0 dB in the log domain, as the original) for a 'same' output length.
    padded = {
        7: keras.layers.ZeroPadding2D(((3, 3), (0, 0)), name="pad7")(image),
        3: keras.layers.ZeroPadding2D(((1, 1), (0, 0)), name="pad3")(image),
        1: image,
    }
    branches = []
    for height in (int(0.9 * n_mels), int(0.4 * n_mels)):
        for length, mult in ((7, 1), (3, 2), (1, 4)):
            conv = convs.conv2d(nf * mult, (length, height))
            x = max_over_frequency(conv, padded[length], name=f"{conv.name}_max")  # (b, T, 1, .)
            branches.append(keras.layers.Reshape((n_frames, nf * mult))(x))
    timbral = keras.layers.Concatenate(name="timbral")(branches)  # (b, T, 14 nf)

    # Temporal: mean over all bands -> envelope (b, T, 1) -> four 'same' Conv1D, no pooling.
    if fast:  # the same mean, ~13x faster than a (1, n_mels) average pool
        envelope = keras.layers.GlobalAveragePooling1D(data_format="channels_first",
                                                       name="band_mean")(inputs)
    else:
        envelope = keras.layers.AveragePooling2D((1, n_mels), name="band_mean")(image)
    envelope = keras.layers.Reshape((n_frames, 1), name="envelope")(envelope)
    remove = nf // 4  # fewer temporal filters so both taps have 14 nf maps
    temporal = [
        convs.conv1d(nf * mult - remove, k, padding="same")(envelope)
        for k, mult in zip(temporal_kernels, (1, 2, 4, 8))
    ]
    temporal = keras.layers.Concatenate(name="temporal")(temporal)  # (b, T, 14 nf)
    return frozen_model(inputs, [timbral, temporal], name)


def build_cnn_music(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """Timbral + temporal front-end (Pons et al.), taps ``[timbral, temporal]``, each ``(b, T, 14 nf)``.

    Timbral: Conv2D 7x86 (nf), 3x86 (2nf), 1x86 (4nf), 7x38 (nf), 3x38 (2nf), 1x38 (4nf) for 96
    bands (86 = int(0.9*96), 38 = int(0.4*96)), each max-pooled over the remaining frequency axis.
    Temporal: band mean, then Conv1D 'same' kernels 165, 128, 64, 32 with nf-r, 2nf-r, 4nf-r,
    8nf-r filters, r = nf/4.
    """
    return _build_timbral_temporal(cfg, seed, MUSIC_TEMPORAL_KERNELS, "cnn_music", fast)


def build_cnn_audio(cfg, seed: int = 0, fast: bool = True) -> keras.Model:
    """As :func:`build_cnn_music` with temporal kernels 64, 32, 16, 8 (taps ``[timbral, time]``)."""
    return _build_timbral_temporal(cfg, seed, AUDIO_TEMPORAL_KERNELS, "cnn_audio", fast)


def check_cnn_music(cfg) -> None:
    if cfg.num_filters % 4:
        raise ConfigError(f"'num_filters'={cfg.num_filters} must be divisible by 4 for "
                          f"{cfg.architecture} (temporal filters are reduced by num_filters/4)")
    if int(0.4 * cfg.n_mels) < 1:
        raise ConfigError(f"'n_mels'={cfg.n_mels} is too small for {cfg.architecture}")


check_cnn_audio = check_cnn_music
