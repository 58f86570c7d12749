"""UrbanSound8K (Salamon et al. 2014): 8732 excerpts of up to 4 s, 10 classes, 10 predefined folds.

On disk: ``audio/fold1..fold10/*.wav`` and ``metadata/UrbanSound8K.csv`` with the header
``slice_file_name,fsID,start,end,salience,fold,classID,class``. The files vary in sampling rate,
bit depth (some 24-bit WAVE_FORMAT_EXTENSIBLE) and channels; soundfile reads them all. The paper
(§3.1) evaluates with the predefined folds, which the original took from this CSV, as here.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

from ..errors import ConfigError
from .base import Item, check_unique, csv_records, from_list_file

METADATA = Path("metadata") / "UrbanSound8K.csv"
REQUIRED_COLUMNS = ("slice_file_name", "fold", "class")


class Row(NamedTuple):
    """One metadata row that matters here, with its line number in the CSV."""

    line: int
    name: str
    fold: int
    label: str


def dataset_root(root) -> Path:
    """The UrbanSound8K folder (holding ``audio/`` and ``metadata/``); its ``audio/`` folder is
    accepted too, as the original configs pointed ``audio_path`` there."""
    root = Path(root)
    if (root / METADATA).is_file():
        return root
    if root.name == "audio" and (root.parent / METADATA).is_file():
        return root.parent
    raise ConfigError(f"{root / METADATA}: UrbanSound8K metadata CSV not found")


def read_metadata(csv_path) -> list[Row]:
    """The rows of ``UrbanSound8K.csv``; errors name the CSV and, for a bad value, the line."""
    csv_path = Path(csv_path)
    records = csv_records(csv_path, REQUIRED_COLUMNS, "UrbanSound8K metadata CSV")
    return [_row(csv_path, line, record) for line, record in records]


def _row(csv_path: Path, line: int, record: dict) -> Row:
    """Validate one CSV record."""
    name = (record["slice_file_name"] or "").strip()
    label = (record["class"] or "").strip()
    fold = (record["fold"] or "").strip()
    if not name or not label:
        raise ConfigError(f"{csv_path}:{line}: empty 'slice_file_name' or 'class'")
    if not fold.isdigit() or int(fold) < 1:
        raise ConfigError(f"{csv_path}:{line}: 'fold' must be a positive integer, got {fold!r}")
    return Row(line, name, int(fold), label)


def urbansound8k(root) -> list[Item]:
    """Every clip of the metadata CSV: label = ``class``, fold = ``fold``, id = ``fold<N>/<name>``,
    path = ``root/audio/fold<N>/<name>``; a listed file that is missing raises."""
    root = dataset_root(root)
    csv_path = root / METADATA
    items = []
    for row in read_metadata(csv_path):
        rel = f"fold{row.fold}/{row.name}"
        path = root / "audio" / rel
        if not path.is_file():
            raise ConfigError(f"{csv_path}:{row.line}: listed file audio/{rel} not found under {root}")
        items.append(Item(path=str(path), label=row.label, id=rel, fold=row.fold))
    return check_unique(items, csv_path)


def urbansound8k_list(list_path, audio_root, split: Optional[str] = None) -> list[Item]:
    """A list file of UrbanSound8K paths (relative to ``audio_root``, e.g. ``fold1/x.wav``);
    class and fold come from the metadata CSV by file name, as the original ``urban_sound_path2gt``."""
    csv_path = dataset_root(audio_root) / METADATA
    by_name = {row.name: row for row in read_metadata(csv_path)}

    def row_of(rel: str) -> Row:
        name = Path(rel).name
        if name not in by_name:
            raise ValueError(f"{name} is not in {csv_path}")
        return by_name[name]

    return from_list_file(list_path, audio_root, split,
                          label_of=lambda rel: row_of(rel).label, fold_of=lambda rel: row_of(rel).fold)
