"""The one fix-length rule: its NumPy and TensorFlow forms agree with each other and with the
rule written as indices (step i of the result is ``x[i]``, or ``0`` / ``x[i % n]`` past the end)."""

import numpy as np
import pytest
import tensorflow as tf

from elmarc_tf.errors import AudioError, ConfigError
from elmarc_tf.io.fix_length import EXTENSIONS, fix_length_np, fix_length_tf
from elmarc_tf.vocabulary import FIX_LENGTH_MODES


def by_index(x: np.ndarray, length: int, mode: str) -> np.ndarray:
    """The rule step by step: the first ``length`` steps of x, extended past its end by zeros
    (``zero-pad``) or by x again from its start (``repeat-pad``)."""
    n = len(x)
    past_end = {"zero-pad": lambda i: np.zeros_like(x[0]), "repeat-pad": lambda i: x[i % n]}
    return np.stack([x[i] if i < n else past_end[mode](i) for i in range(length)])


def cases(seed: int = 0, count: int = 12):
    """(n, length) pairs drawn at random: shorter, longer and equal inputs, and 1-step ones."""
    rng = np.random.default_rng(seed)
    out = [(1, 1), (1, 7), (5, 1)]
    for _ in range(count):
        n, length = (int(v) for v in rng.integers(1, 60, size=2))
        out += [(n, length), (n, n)]
    return out


@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
@pytest.mark.parametrize("bands", [None, 3])  # samples (n,) and a frames matrix (n, bands)
def test_numpy_and_tensorflow_forms_agree_with_the_rule(mode, bands):
    rng = np.random.default_rng(1)
    for n, length in cases():
        x = rng.standard_normal((n,) if bands is None else (n, bands)).astype(np.float32)
        if mode == "crop" and n < length:
            with pytest.raises(AudioError, match=f"has {n} steps, fewer than the required"):
                fix_length_np(x, length, mode)
            with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than the fixed"):
                fix_length_tf(x[None], length, mode)
            continue
        expected = by_index(x, length, mode)
        from_numpy = fix_length_np(x, length, mode)
        batch = np.stack([x, -x])  # (2, n, ...): every clip of a batch by the same rule
        from_tf = fix_length_tf(tf.constant(batch), length, mode).numpy()
        assert from_numpy.shape == from_tf.shape[1:] == (length, *x.shape[1:])
        np.testing.assert_array_equal(from_numpy, expected, err_msg=f"{mode} n={n} to {length}")
        np.testing.assert_array_equal(from_tf, np.stack([expected, -expected]),
                                      err_msg=f"{mode} n={n} to {length}")


@pytest.mark.parametrize("mode", FIX_LENGTH_MODES)
def test_a_length_known_only_when_the_graph_runs(mode):
    """The TF form takes a length that is a tensor (the windows of a clip of any length)."""
    x = np.arange(1, 6, dtype=np.float32)
    fixed = tf.function(lambda clips, length: fix_length_tf(clips, length, mode))
    length = 4 if mode == "crop" else 12
    out = fixed(tf.constant(x[None]), tf.constant(length)).numpy()[0]
    np.testing.assert_array_equal(out, by_index(x, length, mode))


def test_extensions_alone_keep_every_copy():
    """What the MFCC baseline uses: the extension without the cut (whole copies of the clip)."""
    x = np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(EXTENSIONS["repeat-pad"].numpy(x, 7), np.tile(x, 3))
    np.testing.assert_array_equal(EXTENSIONS["zero-pad"].numpy(x, 5), [1, 2, 3, 0, 0])
    assert EXTENSIONS["crop"] is None


def test_unknown_modes_and_empty_inputs_are_one_line_errors():
    with pytest.raises(AudioError, match=r"^song.wav: unknown fix_length_by 'loop'"):
        fix_length_np(np.ones(3), 5, "loop", name="song.wav")
    with pytest.raises(AudioError, match=r"^song.wav: empty input"):
        fix_length_np(np.ones(0), 5, "zero-pad", name="song.wav")
    with pytest.raises(ConfigError, match=r"^'fix_length_by' must be one of crop, zero-pad"):
        fix_length_tf(tf.ones((1, 3)), 5, "loop")
