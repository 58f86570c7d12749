"""Cross-validation folds that never split a group (a sample set, a track, a phrase).

A clip's group is what it shares with other clips beyond its label: notes of one instrument
patch, excerpts of one track. Folds that share a group measure memorisation of that group, so
every group goes whole into one fold. Groups are dealt to folds by
:class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled with the build's seed), which
keeps each fold's class proportions close to the whole's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ...errors import ConfigError


def grouped_folds(labels: Sequence[str], groups: Sequence[str], n_folds: int, seed: int) -> list[int]:
    """Fold (1..``n_folds``) of each clip; clips of one group share a fold.

    ``labels`` and ``groups`` are ``(n_clips,)``; needs at least ``n_folds`` groups.
    """
    distinct = sorted(set(groups))
    if len(distinct) < n_folds:
        raise ConfigError(f"{len(distinct)} groups cannot fill {n_folds} folds")
    codes = np.array([distinct.index(g) for g in groups])
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.zeros(len(labels), dtype=int)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), list(labels), codes), 1):
        folds[test] = fold
    return folds.tolist()
