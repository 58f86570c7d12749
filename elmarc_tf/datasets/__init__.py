"""Where the clips of an experiment are and what their labels are.

Every adapter returns a list of :class:`Item` (path, label, id, and the split or fold when the
dataset defines one). Listed files that do not exist and labels that cannot be mapped raise
:class:`~elmarc_tf.errors.ConfigError` before any work starts.

``load_dataset(name, root)`` looks an adapter up in :data:`DATASETS` by name (case-insensitive;
the original code's names ``'GTZAN'``, ``'Ballroom'``, ``'ExtendedBallroom'``, ``'UrbanSound8K'``
work too).

``build(name, out)`` makes a real-audio development dataset from installed Debian packages
(:mod:`.debian`, tasks in :data:`BUILD_TASKS`).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from ..errors import ConfigError
from .ballroom import (BALLROOM_CLASSES, EXTENDED_BALLROOM_CLASSES, ballroom, ballroom_list,
                       extended_ballroom, extended_ballroom_list)
from .base import AUDIO_EXTENSIONS, Item, folder_per_class, from_list_file, items_from_config
from .csvlist import csv_list
from .debian import TASKS as BUILD_TASKS, build
from .gtzan import GTZAN_GENRES, gtzan, gtzan_list
from .urbansound8k import urbansound8k, urbansound8k_list

DATASETS: dict[str, Callable[..., list[Item]]] = {
    "gtzan": gtzan,
    "ballroom": ballroom,
    "extended_ballroom": extended_ballroom,
    "urbansound8k": urbansound8k,
    "folder": folder_per_class,
    "csv": csv_list,
}

# How the original's list files are read for each dataset: ``read(list_path, audio_root, split)``.
LIST_READERS: dict[str, Callable[..., list[Item]]] = {
    "gtzan": gtzan_list,
    "ballroom": ballroom_list,
    "extended_ballroom": extended_ballroom_list,
    "urbansound8k": urbansound8k_list,
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).lower()


def dataset_key(name: str) -> Optional[str]:
    """The :data:`DATASETS` key for ``name`` (``'ExtendedBallroom'`` -> ``'extended_ballroom'``), or None."""
    keys = {_norm(key): key for key in DATASETS}
    return keys.get(_norm(name))


def list_reader(key: Optional[str]) -> Callable[..., list[Item]]:
    """The list-file reader with the label rule of dataset ``key`` (default: parent folder)."""
    return LIST_READERS.get(key, from_list_file)


def load_dataset(name: str, root, splits=None) -> list[Item]:
    """Items of dataset ``name`` under ``root``; ``splits`` (a folder of split lists) only for GTZAN."""
    key = dataset_key(str(name))
    if key is None:
        raise ConfigError(f"unknown dataset {name!r} (valid: {', '.join(DATASETS)})")
    if key == "gtzan":
        return gtzan(root, splits)
    if splits is not None:
        raise ConfigError(f"dataset '{key}' has no split lists (splits are for gtzan only)")
    return DATASETS[key](root)


__all__ = [
    "Item", "AUDIO_EXTENSIONS", "DATASETS", "LIST_READERS",
    "GTZAN_GENRES", "BALLROOM_CLASSES", "EXTENDED_BALLROOM_CLASSES",
    "gtzan", "ballroom", "extended_ballroom", "urbansound8k", "csv_list", "folder_per_class",
    "from_list_file", "items_from_config", "load_dataset", "dataset_key", "list_reader",
    "BUILD_TASKS", "build",
]
