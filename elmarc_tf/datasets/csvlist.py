"""A user's own dataset as a CSV: header ``path,label`` and optionally ``fold`` and ``split``.

Paths are relative to ``audio_root`` (default: the CSV's folder) or absolute. ``fold`` is a
positive integer (for a predefined cross-validation, as UrbanSound8K's); ``split`` is one of
``train``, ``val``, ``test``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from .base import SPLITS, Item, check_unique, csv_records

REQUIRED_COLUMNS = ("path", "label")


def csv_list(csv_path, audio_root=None) -> list[Item]:
    """Items of a ``path,label[,fold][,split]`` CSV; errors name the CSV and line."""
    csv_path = Path(csv_path)
    records = csv_records(csv_path, REQUIRED_COLUMNS, "dataset CSV")
    root = Path(audio_root) if audio_root is not None else csv_path.parent
    items = [_item(csv_path, line, record, root) for line, record in records]
    return check_unique(items, csv_path)


def _item(csv_path: Path, line: int, record: dict, root: Path) -> Item:
    """One validated CSV row."""
    where = f"{csv_path}:{line}"
    rel = (record["path"] or "").strip()
    label = (record["label"] or "").strip()
    if not rel or not label:
        raise ConfigError(f"{where}: empty 'path' or 'label'")
    path = root / rel  # an absolute rel replaces root
    if not path.is_file():
        under = "" if Path(rel).is_absolute() else f" under {root}"
        raise ConfigError(f"{where}: listed file {rel} not found{under}")
    return Item(path=str(path), label=label, id=_item_id(path, root),
                split=_split(where, record.get("split")), fold=_fold(where, record.get("fold")))


def _item_id(path: Path, root: Path) -> str:
    """The path relative to ``root`` where it lies below it, else the whole path (posix)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _fold(where: str, value: Optional[str]) -> Optional[int]:
    """``None`` without a ``fold`` column, else a positive integer."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{where}: 'fold' must be a positive integer, got {value!r}")
    return int(value)


def _split(where: str, value: Optional[str]) -> Optional[str]:
    """``None`` without a ``split`` column, else one of train/val/test."""
    if value is None:
        return None
    value = value.strip()
    if value not in SPLITS:
        raise ConfigError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, got {value!r}")
    return value
