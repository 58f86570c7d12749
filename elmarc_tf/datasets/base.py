"""Generic item sources: a folder with one sub-folder per class, and the original's list files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

AUDIO_EXTENSIONS = (".wav", ".au", ".mp3", ".flac", ".ogg", ".aif", ".aiff")


@dataclass(frozen=True)
class Item:
    """One clip: its file, its label, a stable id (path relative to the audio root) and,
    where the dataset defines them, its split (``train``/``val``/``test``) or fold."""

    path: str
    label: str
    id: str
    split: Optional[str] = None
    fold: Optional[int] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def folder_per_class(root) -> list[Item]:
    """``root/<class>/<file>`` (any depth below the class folder) -> items labelled by class folder."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: audio folder not found")
    items = [
        Item(path=str(p), label=p.relative_to(root).parts[0], id=p.relative_to(root).as_posix())
        for p in sorted(root.rglob("*"))
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and len(p.relative_to(root).parts) > 1
    ]
    if not items:
        raise ConfigError(f"{root}: no audio files in class sub-folders ({', '.join(AUDIO_EXTENSIONS)})")
    return items


def from_list_file(list_path, audio_root, split: Optional[str] = None) -> list[Item]:
    """The original's list files: one path per line, relative to ``audio_root``; label = parent folder."""
    list_path, audio_root = Path(list_path), Path(audio_root)
    if not list_path.is_file():
        raise ConfigError(f"{list_path}: file list not found")
    items = []
    for n, line in enumerate(list_path.read_text().splitlines(), start=1):
        rel = line.strip()
        if not rel:
            continue
        path = audio_root / rel
        if not path.is_file():
            raise ConfigError(f"{list_path}:{n}: listed file {rel} not found under {audio_root}")
        parent = Path(rel).parent.name
        if not parent:
            raise ConfigError(f"{list_path}:{n}: cannot take a label from {rel} (no class folder)")
        items.append(Item(path=str(path), label=parent, id=Path(rel).as_posix(), split=split))
    if not items:
        raise ConfigError(f"{list_path}: the file list is empty")
    return items


def items_from_config(cfg) -> list[Item]:
    """The clips a config names: ``audios_list``, else the train/val/test lists, else every audio
    file under ``audio_path`` in class sub-folders."""
    if not cfg.audio_path:
        raise ConfigError("'audio_path' is required to find the audio files")
    if cfg.audios_list:
        return from_list_file(cfg.audios_list, cfg.audio_path)
    lists = {"train": cfg.train_set_list, "val": cfg.val_set_list, "test": cfg.test_set_list}
    if any(lists.values()):
        missing = [f"'{k}_set_list'" for k, v in lists.items() if not v]
        if missing:
            raise ConfigError(f"{', '.join(missing)} missing: give all three split lists or 'audios_list'")
        return [item for split, path in lists.items() for item in from_list_file(path, cfg.audio_path, split)]
    return folder_per_class(cfg.audio_path)
