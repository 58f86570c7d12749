"""GTZAN (Tzanetakis & Cook 2002): 1000 30-s clips, 10 genres, 100 each.

On disk: ``genres/<genre>/<genre>.000NN.au`` (the original archive) or
``genres_original/<genre>/<genre>.000NN.wav`` (a common copy). The paper (§3.1) uses the
fault-filtered split of Kereliuk et al. as published in ``jongpillee/music_dataset_split``:
``GTZAN_split/{train,valid,test}_filtered.txt``, 443/197/290 lines like ``blues/blues.00029.wav``.
As the original ``gtzan_path2gt``, the label is the genre prefix of the file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from .base import AUDIO_EXTENSIONS, Item, check_unique, folder_per_class, from_list_file

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
# split name -> file name of the fault-filtered list
SPLIT_FILES = (("train", "train_filtered.txt"), ("val", "valid_filtered.txt"),
               ("test", "test_filtered.txt"))


def gtzan_label(rel: str) -> str:
    """Genre of a GTZAN file from its name: ``blues/blues.00029.wav`` -> ``'blues'``.

    Raises ValueError (one line) for a name without the ``<genre>.<number>`` form or an unknown genre.
    """
    stem = Path(rel).stem
    if "." not in stem:
        raise ValueError(f"cannot take a genre from {rel} (expected <genre>.<number>.<ext>)")
    genre = stem.rsplit(".", 1)[0]
    if genre not in GTZAN_GENRES:
        raise ValueError(f"unknown GTZAN genre '{genre}' in {rel} (expected {', '.join(GTZAN_GENRES)})")
    return genre


def same_stem(audio_root: Path, rel: str) -> Optional[Path]:
    """The listed file, else a file with the same stem and another audio extension
    (the lists name ``.wav``, the original archive has ``.au``)."""
    listed = audio_root / rel
    if listed.is_file():
        return listed
    others = [".au", ".wav"] + [e for e in AUDIO_EXTENSIONS if e not in (".au", ".wav")]
    for ext in others:
        candidate = listed.with_suffix(ext)
        if candidate.is_file():
            return candidate
    return None


def gtzan_list(list_path, audio_root, split: Optional[str] = None) -> list[Item]:
    """One GTZAN list file (paths relative to ``audio_root``): genre from the file name,
    ``.au``/``.wav`` matched on the stem; the id is the listed path."""
    return from_list_file(list_path, audio_root, split, label_of=gtzan_label, locate=same_stem)


def gtzan(audio_root, splits=None) -> list[Item]:
    """GTZAN clips under ``audio_root`` (the folder holding the genre folders).

    With ``splits`` (a folder holding ``train_filtered.txt``, ``valid_filtered.txt``,
    ``test_filtered.txt``) the listed clips with split ``train``/``val``/``test``; without it every
    audio file in the genre folders, whose name prefix must match its folder.
    """
    root = Path(audio_root)
    if not root.is_dir():
        raise ConfigError(f"{root}: GTZAN audio folder not found")
    if splits is None:
        return _plain_layout(root)
    splits = Path(splits)
    if not splits.is_dir():
        raise ConfigError(f"{splits}: GTZAN split folder not found")
    items = [item for split, name in SPLIT_FILES for item in gtzan_list(splits / name, root, split)]
    return check_unique(items, splits)


def _plain_layout(root: Path) -> list[Item]:
    """Every audio file of ``root/<genre>/``; the folder and the name prefix must agree."""
    items = folder_per_class(root)
    for item in items:
        if item.label not in GTZAN_GENRES:
            raise ConfigError(f"{root / item.label}: not a GTZAN genre folder "
                              f"(expected {', '.join(GTZAN_GENRES)}){_layout_hint(root)}")
        try:
            genre = gtzan_label(item.id)
        except ValueError as e:
            raise ConfigError(f"{item.path}: {e}") from None
        if genre != item.label:
            raise ConfigError(f"{item.path}: genre '{genre}' of the file name differs from "
                              f"its folder '{item.label}'")
    return items


def _layout_hint(root: Path) -> str:
    """A pointer to the genre folders when ``root`` is one level too high."""
    for name in ("genres", "genres_original"):
        if (root / name).is_dir():
            return f"; did you mean {root / name}?"
    return ""
