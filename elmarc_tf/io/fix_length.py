"""Fixing the length of a clip or of a log-mel matrix: one rule, in a NumPy and a TensorFlow form.

The original ``compute_input`` brings every input to one length by its ``fix_length_by``:

- ``crop``: keep the first ``length`` steps; a shorter input is an error (the original crashes);
- ``zero-pad``: append zeros, then keep the first ``length`` (for a log-mel matrix 0 dB, a loud
  value, kept for parity);
- ``repeat-pad``: repeat the whole input from its start (step i is ``x[i % n]``), then keep the
  first ``length``.

So every mode is "extend a shorter input, then cut to the first ``length`` steps"; the modes
differ only in how they extend (:data:`EXTENSIONS`). :func:`fix_length_np` applies the rule to
axis 0 of an array (samples ``(n,)`` or frames ``(n, bands)``), :func:`fix_length_tf` to axis 1 of
a batch (``(batch, n, ...)``); both are built from the same table, so they agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from ..errors import AudioError, ConfigError
from ..vocabulary import FIX_LENGTH_MODES


# ----------------------------------------------------------------------------- how to extend
def _zeros_np(x: np.ndarray, length: int) -> np.ndarray:
    """``(n, ...)`` -> ``(length, ...)``: ``x`` followed by zeros (``n <= length``)."""
    return np.concatenate([x, np.zeros((length - x.shape[0], *x.shape[1:]), x.dtype)])


def _zeros_tf(x, length):
    """``(batch, n, ...)`` -> ``(batch, max(n, length), ...)``: ``x`` followed by zeros."""
    missing = tf.maximum(length - tf.shape(x)[1], 0)
    return tf.pad(x, [[0, 0], [0, missing]] + [[0, 0]] * (x.shape.rank - 2))


def _repeat_np(x: np.ndarray, length: int) -> np.ndarray:
    """``(n, ...)`` -> ``(n * ceil(length / n), ...)``: ``x`` repeated from its start."""
    return np.concatenate([x] * -(-length // x.shape[0]))


def _repeat_tf(x, length):
    """``(batch, n, ...)`` -> ``(batch, n * ceil(length / n), ...)``: ``x`` repeated in time."""
    reps = -(-length // tf.shape(x)[1])
    return tf.tile(x, [1, reps] + [1] * (x.shape.rank - 2))


@dataclass(frozen=True)
class Extension:
    """How a mode extends an input shorter than ``length``, in both forms: ``numpy(x, length)``
    on axis 0, ``tf(x, length)`` on axis 1; either returns at least ``length`` steps whose first
    ones are ``x``. The cut to ``length`` is common to every mode."""

    numpy: Callable
    tf: Callable


# fix_length_by -> its extension; None: a shorter input is an error.
EXTENSIONS = {"crop": None,
              "zero-pad": Extension(_zeros_np, _zeros_tf),
              "repeat-pad": Extension(_repeat_np, _repeat_tf)}
assert tuple(EXTENSIONS) == FIX_LENGTH_MODES


def check_fix_length_by(mode) -> str:
    """``mode`` if it is one of :data:`~elmarc_tf.vocabulary.FIX_LENGTH_MODES`, else
    :class:`ConfigError` naming the key."""
    if mode not in EXTENSIONS:
        raise ConfigError(f"'fix_length_by' must be one of {', '.join(FIX_LENGTH_MODES)}, "
                          f"got {mode!r}")
    return mode


# ----------------------------------------------------------------------------- the two forms
def fix_length_np(x: np.ndarray, length: int, mode: str = "crop",
                  name: str = "input") -> np.ndarray:
    """Bring axis 0 of ``x`` (samples ``(n,)``, or frames of a ``(n, bands)`` matrix) to
    ``length``: ``(n, ...)`` -> ``(length, ...)``, by the rule of ``mode``.

    An input at least ``length`` long is cut in every mode (a view, not a copy). ``crop`` on a
    shorter input, an empty input or an unknown mode raise :class:`AudioError`; ``name`` (a file
    path) starts the message.
    """
    if mode not in EXTENSIONS:
        raise AudioError(f"{name}: unknown fix_length_by {mode!r} "
                         f"(use {', '.join(FIX_LENGTH_MODES)})")
    n = x.shape[0]
    if n == 0:
        raise AudioError(f"{name}: empty input, nothing to bring to length {length}")
    if n >= length:
        return x[:length]
    if EXTENSIONS[mode] is None:
        raise AudioError(f"{name}: has {n} steps, fewer than the required {length}; "
                         f"use fix_length_by 'zero-pad' or 'repeat-pad' for short clips")
    return EXTENSIONS[mode].numpy(x, length)[:length]


def fix_length_tf(x, length, mode: str = "crop"):
    """Bring axis 1 of ``x`` to ``length``: ``(batch, n, ...)`` -> ``(batch, length, ...)``, by
    the rule of ``mode`` (``length`` may be a scalar tensor).

    ``crop`` on a shorter input fails when it runs (``InvalidArgumentError``: "input shorter
    than the fixed length"); an unknown mode is a :class:`ConfigError`.
    """
    extension = EXTENSIONS[check_fix_length_by(mode)]
    if extension is None:
        shown = f" {length}" if isinstance(length, (int, np.integer)) else ""
        tf.debugging.assert_greater_equal(
            tf.shape(x)[1], length,
            message=f"input shorter than the fixed length{shown} with fix_length_by 'crop'")
    else:
        x = extension.tf(x, length)
    return x[:, :length]


__all__ = ["EXTENSIONS", "Extension", "check_fix_length_by", "fix_length_np", "fix_length_tf"]
