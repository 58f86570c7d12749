"""Independent NumPy reference of the original ``jordipons/elmarc`` feature extractor.

A hand-written re-implementation (NumPy only; no TensorFlow, no Keras) of the random-weight
front-ends of *Randomly weighted CNNs for (music) audio classification* (Pons & Serra, 2019), as
built by the authors' TF1 code (``src/dl_models.py``) and pooled by its ``format_cnn_data`` +
``select_cnn_feature_layers`` (``src/main.py``). It exists so that tests can check our Keras
models against the original arithmetic without running TF1.

Public API
----------
``taps(arch, weights, x, cnn) -> list[np.ndarray]``
    The tensors the original returns from ``dl_models.build``, in the original's shapes.
``feature_matrix(arch, weights, x, cnn) -> np.ndarray``
    The original's per-clip matrix ``(batch, n_taps, channels_of_first_tap)``, zero-padded.
``features(arch, weights, x, cnn) -> np.ndarray``
    The original's feature vectors ``(batch, feature_len)``: the rows of ``feature_matrix`` listed
    in ``cnn['selected_features_list']``, concatenated *with their zero padding*.

Arguments
---------
arch
    ``cnn['architecture']``: ``cnn_small_filters``, ``cnn_single``, ``cnn_music``, ``cnn_audio``,
    ``sample_level``, ``frame_level`` or ``frame_level_many``.
weights
    TF1 variable name -> array, exactly as in the reference ``weights.npz``
    (``'1CNN/kernel:0'``, ``'conv2d_3/bias:0'``, ``'1cnnOut/kernel:0'`` ...).
    Kernel layouts are TF's: ``(k, in, out)`` for 1-D and ``(kh, kw, in, out)`` for 2-D.
x
    Spectrogram archs: ``(batch, n_frames, n_mels)``; waveform archs: ``(batch, n_samples, 1)``.
cnn
    The original ``config['CNN']`` dict (``num_filters``, ``selected_features_list``,
    ``n_frames``/``n_mels`` or ``n_samples``, and ``filter_shape``/``pool_shape`` for
    ``cnn_single``).

Conventions: every convolution is a cross-correlation (TF), computed in float64; max-pools are
'valid' (output length = floor(n / pool)); biases are added before the activation.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["taps", "feature_matrix", "features", "ARCHITECTURES", "samplecnn_taps",
           "samplecnn_window_features", "sliding_windows", "slaney_mel_filterbank",
           "mfcc_statistics"]

# Upper bound (in float64 elements) on the im2col block materialised per tensordot call.
_BLOCK_ELEMENTS = 4_000_000


# ----------------------------------------------------------------------------------------------
# Primitive operations
# ----------------------------------------------------------------------------------------------

def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _elu(x: np.ndarray) -> np.ndarray:
    # TF's elu: x for x > 0, exp(x) - 1 otherwise (clip the argument to avoid overflow warnings).
    return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))


def _param(weights: dict, name: str) -> np.ndarray:
    """Fetch one TF1 variable as float64, with a clear error when it is missing."""
    key = name if name.endswith(":0") else name + ":0"
    if key not in weights:
        raise KeyError(f"weight {key!r} missing; have {sorted(weights)}")
    return np.asarray(weights[key], dtype=np.float64)


def _conv2d_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                  strides: tuple[int, int] = (1, 1)) -> np.ndarray:
    """'valid' 2-D cross-correlation, TF layout.

    x: (B, H, W, Cin); kernel: (kh, kw, Cin, Cout); bias: (Cout,).
    Returns (B, Ho, Wo, Cout) with Ho = (H - kh) // sh + 1, Wo = (W - kw) // sw + 1.

    Windows come from ``sliding_window_view`` (a view, no copy); they are contracted with the
    kernel by ``tensordot`` over blocks of output rows so that the copy tensordot makes of the
    windows stays below ``_BLOCK_ELEMENTS``.
    """
    b, h, w, cin = x.shape
    kh, kw, kcin, cout = kernel.shape
    if kcin != cin:
        raise ValueError(f"kernel expects {kcin} input channels, input has {cin}")
    sh, sw = strides
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"input {x.shape[1:3]} smaller than kernel {(kh, kw)}")
    # (B, H-kh+1, W-kw+1, Cin, kh, kw) -> strided subsample -> (B, Ho, Wo, Cin, kh, kw)
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :ho, :wo]
    kmat = kernel.transpose(2, 0, 1, 3)  # (Cin, kh, kw, Cout), matches the window axes
    out = np.empty((b, ho, wo, cout), dtype=np.float64)
    rows = max(1, _BLOCK_ELEMENTS // max(1, b * wo * cin * kh * kw))
    for r0 in range(0, ho, rows):
        out[:, r0:r0 + rows] = np.tensordot(win[:, r0:r0 + rows], kmat,
                                            axes=([3, 4, 5], [0, 1, 2]))
    out += bias
    return out


def _conv1d_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                  stride: int = 1) -> np.ndarray:
    """'valid' 1-D cross-correlation. x: (B, T, Cin); kernel: (k, Cin, Cout) -> (B, To, Cout)."""
    y = _conv2d_valid(x[:, :, None, :], kernel[:, None, :, :], bias, (stride, 1))
    return y[:, :, 0, :]


def _pad_time(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Zero-pad axis 1 (time) of a (B, T, ...) tensor."""
    pad = [(0, 0)] * x.ndim
    pad[1] = (left, right)
    return np.pad(x, pad)


def _same_pads(n: int, k: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding: out = ceil(n / s); total = max((out-1)*s + k - n, 0); left = total//2.

    For stride 1 this is (k-1)//2 on the left and k//2 on the right.
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _conv1d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                 stride: int = 1) -> np.ndarray:
    """TF 'SAME' 1-D convolution. x: (B, T, Cin) -> (B, ceil(T / stride), Cout)."""
    left, right = _same_pads(x.shape[1], kernel.shape[0], stride)
    return _conv1d_valid(_pad_time(x, left, right), kernel, bias, stride)


def _conv2d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """TF 'SAME' 2-D convolution, stride 1. x: (B, H, W, Cin) -> (B, H, W, Cout)."""
    kh, kw = kernel.shape[:2]
    (t0, t1), (f0, f1) = _same_pads(x.shape[1], kh, 1), _same_pads(x.shape[2], kw, 1)
    xp = np.pad(x, [(0, 0), (t0, t1), (f0, f1), (0, 0)])
    return _conv2d_valid(xp, kernel, bias)


def _maxpool2d(x: np.ndarray, pool: tuple[int, int]) -> np.ndarray:
    """'valid' max-pool with stride = pool. x: (B, H, W, C) -> (B, H // ph, W // pw, C)."""
    b, h, w, c = x.shape
    ph, pw = int(pool[0]), int(pool[1])
    ho, wo = h // ph, w // pw
    if ho == 0 or wo == 0:
        raise ValueError(f"pool {pool} larger than input {x.shape[1:3]}")
    x = x[:, :ho * ph, :wo * pw]
    return x.reshape(b, ho, ph, wo, pw, c).max(axis=(2, 4))


def _maxpool1d(x: np.ndarray, pool: int) -> np.ndarray:
    """'valid' max-pool with stride = pool. x: (B, T, C) -> (B, T // pool, C)."""
    return _maxpool2d(x[:, :, None, :], (pool, 1))[:, :, 0, :]


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------

def _spectrogram_input(x: np.ndarray, cnn: dict) -> np.ndarray:
    """(B, n_frames, n_mels) -> image (B, n_frames, n_mels, 1), float64 (the original's reshape)."""
    return np.asarray(x, dtype=np.float64).reshape(-1, int(cnn["n_frames"]), int(cnn["n_mels"]), 1)


def _waveform_input(x: np.ndarray, cnn: dict) -> np.ndarray:
    """(B, n_samples, 1) (or (B, n_samples)) -> (B, n_samples, 1), float64."""
    x = np.asarray(x, dtype=np.float64)
    n = int(cnn.get("n_samples", x.shape[1]))
    return x.reshape(x.shape[0], n, 1)


# ----------------------------------------------------------------------------------------------
# Spectrogram front-ends
# ----------------------------------------------------------------------------------------------

def _batch_norm(x: np.ndarray, epsilon: float = 1e-3) -> np.ndarray:
    """Normalise each channel (last axis) by the mean and the population variance of the whole
    batch and every spatial position (Keras 1's ``BatchNormalization(mode=2)``, gamma 1, beta 0)."""
    axes = tuple(range(x.ndim - 1))
    return (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes) + epsilon)


def _cnn_small_filters(w: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """VGG: 5 x [conv 3x3 'same' nf + ELU -> max-pool]; taps = the five pools.

    Shapes at (1376, 96): (B,344,48,nf), (B,86,16,nf), (B,17,8,nf), (B,4,4,nf), (B,1,1,nf).
    With ``cnn['batch_norm']`` (the ablation of Section 3.4, not in the authors' graph), each block
    normalises with the statistics of the batch ``x``: conv -> BN -> ELU -> pool
    (``cnn['batch_norm_position'] == 'before_elu'``) or conv -> ELU -> BN -> pool (``'after_elu'``).
    """
    h = _spectrogram_input(x, cnn)
    pools = [(4, 2), (4, 3), (5, 2), (4, 2), (4, 4)]
    position = cnn.get("batch_norm_position", "before_elu") if cnn.get("batch_norm") else None
    if position not in (None, "before_elu", "after_elu"):
        raise ValueError(f"unknown batch_norm_position {position!r}")
    out = []
    for i, pool in enumerate(pools, start=1):
        h = _conv2d_same(h, _param(w, f"{i}CNN/kernel"), _param(w, f"{i}CNN/bias"))
        if position == "before_elu":
            h = _batch_norm(h)
        h = _elu(h)
        if position == "after_elu":
            h = _batch_norm(h)
        h = _maxpool2d(h, pool)
        out.append(h)
    return out


def _cnn_single(w: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """One conv (filter_shape, 'valid', nf, ReLU) -> max-pool (pool_shape); taps = [conv, pool].

    7x96 / 1x1 at 188 frames: conv (B,182,1,nf), pool (B,182,1,nf).
    7x86 / 1x11:              conv (B,182,11,nf), pool (B,182,1,nf).
    """
    h = _spectrogram_input(x, cnn)
    conv = _relu(_conv2d_valid(h, _param(w, "1CNN/kernel"), _param(w, "1CNN/bias")))
    pool = _maxpool2d(conv, tuple(cnn["pool_shape"]))
    return [conv, pool]


# Temporal (1-D) kernel lengths of the musically motivated models, in variable order.
_TEMPORAL_KERNELS = {"cnn_music": (165, 128, 64, 32), "cnn_audio": (64, 32, 16, 8)}


def _timbral_temporal(w: dict, x: np.ndarray, cnn: dict, arch: str) -> list[np.ndarray]:
    """cnn_music / cnn_audio: taps = [timbral (B, T, 14nf), temporal (B, T, 14nf)].

    Timbral: six conv2d branches (variables conv2d .. conv2d_5) on the image zero-padded in time
    (3+3 for 7-tall kernels, 1+1 for 3-tall, none for 1-tall), 'valid', ReLU, then max over the
    whole remaining frequency axis; widths nf, 2nf, 4nf, nf, 2nf, 4nf (kernel width 0.9 / 0.4 of
    n_mels). Temporal: mean over the mel axis -> (B, T, 1) -> four conv1d 'same' + ReLU
    (variables conv1d .. conv1d_3) with nf-r, 2nf-r, 4nf-r, 8nf-r filters, r = nf / 4.
    The kernel widths and filter counts are read from the weights themselves.
    """
    nf = int(cnn["num_filters"])
    if nf % 4 != 0:
        raise ValueError(f"{arch} needs num_filters divisible by 4 (remove = nf/4), got {nf}")
    img = _spectrogram_input(x, cnn)  # (B, T, F, 1)

    timbral = []
    for i in range(6):
        name = "conv2d" if i == 0 else f"conv2d_{i}"
        kernel = _param(w, name + "/kernel")  # (kh, kw, 1, c)
        kh = kernel.shape[0]
        padded = _pad_time(img, (kh - 1) // 2, (kh - 1) // 2)  # 3+3, 1+1 or 0+0
        conv = _relu(_conv2d_valid(padded, kernel, _param(w, name + "/bias")))  # (B, T, F', c)
        timbral.append(conv.max(axis=2))  # max-pool over all of F' -> (B, T, c)

    envelope = img.mean(axis=2)  # average over mel bands: (B, T, 1)
    temporal = []
    for i, k in enumerate(_TEMPORAL_KERNELS[arch]):
        name = "conv1d" if i == 0 else f"conv1d_{i}"
        kernel = _param(w, name + "/kernel")  # (k, 1, c)
        if kernel.shape[0] != k:
            raise ValueError(f"{name}: expected kernel length {k} for {arch}, got {kernel.shape}")
        temporal.append(_relu(_conv1d_same(envelope, kernel, _param(w, name + "/bias"))))

    return [np.concatenate(timbral, axis=-1), np.concatenate(temporal, axis=-1)]


# ----------------------------------------------------------------------------------------------
# Waveform front-ends
# ----------------------------------------------------------------------------------------------

def _sample_level(w: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """SampleCNN: conv k3 s3 'valid' -> 6 x [conv k3 'same' + ReLU -> max-pool 3].

    Taps = [conv0, pool1 .. pool6], each (B, T_i, nf); at 48000 samples T = 16000, 5333, 1777,
    592, 197, 65, 21.
    """
    h = _waveform_input(x, cnn)
    h = _relu(_conv1d_valid(h, _param(w, "conv1d/kernel"), _param(w, "conv1d/bias"), stride=3))
    out = [h]
    for i in range(1, 7):
        h = _relu(_conv1d_same(h, _param(w, f"conv1d_{i}/kernel"), _param(w, f"conv1d_{i}/bias")))
        h = _maxpool1d(h, 3)
        out.append(h)
    return out


def _backend(w: dict, front: np.ndarray) -> list[np.ndarray]:
    """Residual back-end of the frame-level models (paper Fig. 3).

    front: (B, T, C) front-end output (the original's (B, T, C, 1) image).
    Returns [b1, b2, b3] in the original's transposed layout (B, T', nf, 1):
      b1 = ReLU(conv k7 over all C, 'valid')                        -> (B, T-6, nf, 1)
      b2 = ReLU(conv k7 on b1 zero-padded 3+3 in time) + b1         -> (B, T-6, nf, 1)
      p  = max-pool 2 in time ('valid')                              -> (B, (T-6)//2, nf, 1)
      b3 = ReLU(conv k7 on p zero-padded 3+3) + p                    -> (B, (T-6)//2, nf, 1)
    The 2-D kernels (7, C, 1, nf) span the whole channel axis, so each layer is a 1-D conv with
    kernel (7, C, nf); the result (B, T', 1, nf) is then transposed to (B, T', nf, 1).
    """
    def layer(h: np.ndarray, name: str) -> np.ndarray:
        # h: (B, T, C, 1); kernel (7, C, 1, nf): valid conv -> (B, T-6, 1, nf) -> (B, T-6, nf, 1)
        conv = _relu(_conv2d_valid(h, _param(w, name + "/kernel"), _param(w, name + "/bias")))
        return conv.transpose(0, 1, 3, 2)

    b1 = layer(front[..., None], "1cnnOut")
    b2 = layer(_pad_time(b1, 3, 3), "2cnnOut") + b1
    pooled = _maxpool2d(b2, (2, 1))
    b3 = layer(_pad_time(pooled, 3, 3), "3cnnOut") + pooled
    return [b1, b2, b3]


def _frame_level(w: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """Conv k512 s32 'valid' nf + ReLU -> back-end; taps = [conv (B,T,nf), b1, b2, b3].

    At 48000 samples: conv (B,1485,nf), b1/b2 (B,1479,nf,1), b3 (B,739,nf,1).
    """
    h = _waveform_input(x, cnn)
    conv = _relu(_conv1d_valid(h, _param(w, "conv1d/kernel"), _param(w, "conv1d/bias"), stride=32))
    return [conv] + _backend(w, conv)


def _frame_level_many(w: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """Five convs k512/256/128/64/32, stride 32, TF 'SAME', nf each + ReLU, concatenated -> back-end.

    Taps = [c512, c256, c128, c64, c32 (each (B, ceil(n/32), nf)), b1, b2, b3 ((B, T', nf, 1))].
    At 48000 samples: T = 1500, b1/b2 T' = 1494, b3 T' = 747.
    """
    h = _waveform_input(x, cnn)
    convs = []
    for i in range(5):
        name = "conv1d" if i == 0 else f"conv1d_{i}"
        convs.append(_relu(_conv1d_same(h, _param(w, name + "/kernel"), _param(w, name + "/bias"),
                                        stride=32)))
    return convs + _backend(w, np.concatenate(convs, axis=-1))


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------

_BUILDERS = {
    "cnn_small_filters": _cnn_small_filters,
    "cnn_single": _cnn_single,
    "cnn_music": lambda w, x, cnn: _timbral_temporal(w, x, cnn, "cnn_music"),
    "cnn_audio": lambda w, x, cnn: _timbral_temporal(w, x, cnn, "cnn_audio"),
    "sample_level": _sample_level,
    "frame_level": _frame_level,
    "frame_level_many": _frame_level_many,
}
ARCHITECTURES = tuple(_BUILDERS)


def taps(arch: str, weights: dict, x: np.ndarray, cnn: dict) -> list[np.ndarray]:
    """Tapped tensors of the original ``dl_models.build``, in its order and shapes (float64).

    Each tap is (B, T, C) or (B, H, W, C); its last axis is what the original treats as the
    feature-map axis (size 1 for the frame-level back-end taps, shaped (B, T, nf, 1)).
    """
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    return _BUILDERS[arch](weights, x, cnn)


def feature_matrix(arch: str, weights: dict, x: np.ndarray, cnn: dict) -> np.ndarray:
    """The original's per-clip matrix, stacked over the batch: (B, n_taps, width), float64.

    width = last-axis size of the first tap. Row i holds, for every feature map m of tap i (its
    last axis), the mean over all other non-batch axes; a narrower tap leaves zeros at the end of
    its row (the frame-level back-end taps fill one entry and leave nf - 1 zeros). A tap wider
    than the first makes the original crash; here it raises ValueError.
    """
    tensors = taps(arch, weights, x, cnn)
    width = tensors[0].shape[-1]
    batch = tensors[0].shape[0]
    matrix = np.zeros((batch, len(tensors), width), dtype=np.float64)
    for i, t in enumerate(tensors):
        if t.shape[-1] > width:
            raise ValueError(f"tap {i} has {t.shape[-1]} maps, more than the first tap's {width}")
        matrix[:, i, :t.shape[-1]] = t.mean(axis=tuple(range(1, t.ndim - 1)))
    return matrix


def features(arch: str, weights: dict, x: np.ndarray, cnn: dict) -> np.ndarray:
    """Feature vectors as the original computes them: (B, len(selected) * width), float64.

    Concatenation of the rows ``cnn['selected_features_list']`` of ``feature_matrix``, each
    with its zero padding (the original's ``select_cnn_feature_layers``).
    """
    matrix = feature_matrix(arch, weights, x, cnn)
    selected = [int(j) for j in cnn["selected_features_list"]]
    return matrix[:, selected, :].reshape(matrix.shape[0], -1)


# ----------------------------------------------------------------------------------------------
# SampleCNN (Lee et al. 2018, Section 3.3) and its whole-clip windows (Section 4.1)
# ----------------------------------------------------------------------------------------------

def samplecnn_taps(weights: dict, x: np.ndarray, sizes) -> list[np.ndarray]:
    """mⁿ-SampleCNN: conv k=s0 stride s0 'valid' -> per further size m [conv k=m 'same' + ReLU ->
    max-pool m] -> conv 1x1; ReLU after every conv.

    ``sizes``: module sizes bottom to top, the strided layer's first (Table 3's digit strings).
    Variables ``conv1d``, ``conv1d_1`` .. ``conv1d_{len(sizes)}`` (the last is the 1x1 conv).
    x: (B, prod(sizes), 1). Returns len(sizes) + 1 maps: the strided conv (B, N/s0, f0), each
    module after its pool (B, N/(s0*...*s_i), f_i), the 1x1 conv (B, 1, f_top).
    """
    w, sizes = weights, [int(s) for s in sizes]
    h = np.asarray(x, dtype=np.float64)
    if h.shape[1] != int(np.prod(sizes)):
        raise ValueError(f"input has {h.shape[1]} samples, sizes {sizes} need {int(np.prod(sizes))}")
    h = _relu(_conv1d_valid(h, _param(w, "conv1d/kernel"), _param(w, "conv1d/bias"),
                            stride=sizes[0]))
    out = [h]
    for i, m in enumerate(sizes[1:], start=1):
        h = _relu(_conv1d_same(h, _param(w, f"conv1d_{i}/kernel"), _param(w, f"conv1d_{i}/bias")))
        h = _maxpool1d(h, m)
        out.append(h)
    top = len(sizes)
    out.append(_relu(_conv1d_valid(h, _param(w, f"conv1d_{top}/kernel"), _param(w, f"conv1d_{top}/bias"))))
    return out


def samplecnn_window_features(weights: dict, x: np.ndarray, sizes, selected) -> np.ndarray:
    """Mean over time of every map of the layers ``selected`` (indices into
    :func:`samplecnn_taps`), concatenated in that order: (B, sum of their filters)."""
    maps = samplecnn_taps(weights, x, sizes)
    return np.concatenate([maps[i].mean(axis=1) for i in selected], axis=-1)


def sliding_windows(clip: np.ndarray, window: int, hop: int, fix_length_by: str) -> np.ndarray:
    """A clip (n,) cut into windows (count, window) starting at 0, hop, 2 hop, ...

    'crop': every window that fits entirely in the clip (none -> ValueError). 'zero-pad' and
    'repeat-pad': those, plus one window starting hop after the last of them when it left samples
    uncovered (or the single window at 0 of a clip shorter than a window); its samples past the
    clip's end are zeros, or the clip again from its first sample ('repeat-pad').
    """
    clip = np.asarray(clip, dtype=np.float64)
    n = clip.shape[0]
    starts = list(range(0, n - window + 1, hop))
    covered = starts[-1] + window if starts else 0
    if fix_length_by == "crop":
        if not starts:
            raise ValueError(f"clip of {n} samples is shorter than the window {window}")
    elif covered < n:
        starts.append(starts[-1] + hop if starts else 0)
    out = np.zeros((len(starts), window))
    for j, start in enumerate(starts):
        for i in range(window):
            t = start + i
            if t < n:
                out[j, i] = clip[t]
            elif fix_length_by == "repeat-pad":
                out[j, i] = clip[t % n]
    return out


# ----------------------------------------------------------------------------------------------
# The MFCC baseline (the authors' extract_mfcc_features), every step written out
# ----------------------------------------------------------------------------------------------

def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                          fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale (linear below 1 kHz, logarithmic above),
    each scaled to unit area (2 / its width in Hz): (n_mels, 1 + n_fft // 2)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz,
                        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
                        f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fmax = sr / 2 if fmax is None else fmax
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, sr / 2, 1 + n_fft // 2)
    rising = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    falling = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mfcc_statistics(y: np.ndarray, sr: int = 12000, n_mfcc: int = 20,
                    pad_mode: str = "constant") -> np.ndarray:
    """The authors' MFCC baseline of a waveform ``(n,)`` -> ``(6 * n_mfcc,)``, float64.

    ``librosa.feature.mfcc(y, sr, n_mfcc)`` with its defaults, step by step: frames of 2048
    samples every 512, centred (the clip padded by 1024 on both sides with ``pad_mode``: zeros
    in librosa >= 0.10, ``'reflect'`` in the librosa <= 0.5 the authors ran), a periodic Hann
    window, power spectrum, 128 Slaney mel bands up to sr / 2, dB (``10 log10(max(S, 1e-10))``
    floored 80 dB below the clip's maximum), orthonormal DCT-II, first ``n_mfcc`` coefficients.
    Then the first and second differences along time (``c[t + 1] - c[t]``) and the mean and
    standard deviation over time of each: ``[mean c, std c, mean d, std d, mean dd, std dd]``.
    """
    n_fft, hop, n_mels = 2048, 512, 128
    padded = np.pad(np.asarray(y, dtype=np.float64), n_fft // 2, mode=pad_mode)
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop:i * hop + n_fft] for i in range(n_frames)], axis=1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(frames * window[:, None], axis=0)) ** 2  # (1025, n_frames)
    db = 10.0 * np.log10(np.maximum(slaney_mel_filterbank(sr, n_fft, n_mels) @ power, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    k, m = np.arange(n_mfcc)[:, None], np.arange(n_mels)[None, :]
    dct = np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    dct[0] /= np.sqrt(2.0)
    c = dct @ db  # (n_mfcc, n_frames)
    d = c[:, 1:] - c[:, :-1]
    dd = d[:, 1:] - d[:, :-1]
    return np.concatenate([f(a, axis=1) for a in (c, d, dd) for f in (np.mean, np.std)])
