"""What a dataset builder declares (:class:`Task`) and what its jobs return (:class:`Clip`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .packages import Package


@dataclass(frozen=True)
class Clip:
    """One clip: its class, its group (what it shares with other clips: a patch, a track, a
    phrase), a file stem unique within the class, and ``(n_samples,)`` float32 mono audio."""

    label: str
    group: str
    name: str
    audio: np.ndarray


# A job makes the clips of one source (a patch, a track, a file); a task's plan lists them, so
# the progress bar counts sources done out of all.
Job = Callable[[], list[Clip]]


@dataclass(frozen=True)
class Task:
    """A real-audio classification task built from installed Debian packages.

    ``plan(root, seed, **options)`` returns the task's jobs for the package files below ``root``;
    the same seed gives the same clips. ``about`` (Markdown) says what a clip, a label and a group
    are; it goes into the dataset's README.
    """

    name: str
    summary: str
    about: str
    packages: tuple[Package, ...]
    sample_rate: int
    plan: Callable[..., list[Job]]
    n_folds: int = 5
