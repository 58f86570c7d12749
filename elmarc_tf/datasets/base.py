"""Generic item sources: a folder with one sub-folder per class, and the original's list files.

The dataset adapters (:mod:`.gtzan`, :mod:`.ballroom`, :mod:`.urbansound8k`, :mod:`.csvlist`)
build on the helpers here; :func:`items_from_config` picks the right one for a config.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from ..errors import ConfigError, ElmarcWarning

AUDIO_EXTENSIONS = (".wav", ".au", ".mp3", ".flac", ".ogg", ".aif", ".aiff")
SPLITS = ("train", "val", "test")

# ``label_of(rel)`` / ``fold_of(rel)`` take a listed path (relative, posix) and raise ValueError
# with a one-line problem; ``locate(audio_root, rel)`` returns the file to read or None.
LabelOf = Callable[[str], str]
FoldOf = Callable[[str], Optional[int]]
Locate = Callable[[Path, str], Optional[Path]]


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


def audio_files(root) -> list[Path]:
    """Audio files (by extension) at any depth below the class folders of ``root``, sorted.

    Symbolic links are followed, to folders and to files (a dataset assembled from links to
    where the audio really lives works like a copy); returned paths keep the links, so ids stay
    relative to ``root`` as given. Each real folder is walked once: a link back to a folder
    already walked (a loop, or a second link to the same folder) is skipped with an
    :class:`~elmarc_tf.errors.ElmarcWarning`, so no clip is listed twice through it. A broken
    link anywhere below ``root`` raises :class:`ConfigError` naming it and its target: whether it
    stood for one clip or a whole class folder cannot be known, and a silently smaller dataset
    would give numbers that are not comparable. Files directly in ``root`` and hidden files or
    folders (``.DS_Store``, macOS ``._x.wav`` resource forks) are skipped, links or not.
    """
    root = Path(root)
    found: list[Path] = []
    walked: dict[tuple[int, int], Path] = {}  # (device, inode) of a real folder -> its first path
    pending = [root]  # depth first, in name order: the first of two links to a folder wins
    while pending:
        folder = pending.pop()
        st = folder.stat()
        if (st.st_dev, st.st_ino) in walked:
            warnings.warn(f"{folder}: links to {walked[st.st_dev, st.st_ino]}, which is already "
                          f"listed; skipped", ElmarcWarning, stacklevel=2)
            continue
        walked[st.st_dev, st.st_ino] = folder
        folders = []
        for entry in _entries(folder):
            path = folder / entry.name
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not path.exists():  # dangling, or a loop of links
                what = "the class folder is a broken" if folder == root else "broken"
                raise ConfigError(f"{path}: {what} symbolic link to {os.readlink(path)}")
            if entry.is_dir():  # DirEntry.is_dir/is_file follow symbolic links
                folders.append(path)
            elif folder != root and path.suffix.lower() in AUDIO_EXTENSIONS and entry.is_file():
                found.append(path)
        pending.extend(reversed(folders))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` sorted by name (so that which of two links to one folder is
    walked does not depend on the file system); an unreadable folder raises naming it."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise ConfigError(f"{folder}: cannot list the folder ({e.strerror})") from None


def folder_per_class(root) -> list[Item]:
    """``root/<class>/<file>`` (any depth below the class folder) -> items labelled by class folder.

    Class folders and files may be symbolic links (see :func:`audio_files`)."""
    root = Path(root)
    if not root.is_dir():
        what = (f"broken symbolic link to {os.readlink(root)}" if root.is_symlink() and not root.exists()
                else "audio folder not found")
        raise ConfigError(f"{root}: {what}")
    items = [
        Item(path=str(p), label=p.relative_to(root).parts[0], id=p.relative_to(root).as_posix())
        for p in audio_files(root)
    ]
    if not items:
        raise ConfigError(f"{root}: no audio files in class sub-folders ({', '.join(AUDIO_EXTENSIONS)})")
    return items


def relabel(items: Iterable[Item], folder_label: Callable[[str], str], root) -> list[Item]:
    """Map each item's class folder through ``folder_label`` (which raises ValueError with a
    one-line problem for a folder it does not know); the error names the folder."""
    labels: dict[str, str] = {}
    out = []
    for item in items:
        if item.label not in labels:
            try:
                labels[item.label] = folder_label(item.label)
            except ValueError as e:
                raise ConfigError(f"{Path(root) / item.label}: {e}") from None
        out.append(Item(path=item.path, label=labels[item.label], id=item.id,
                        split=item.split, fold=item.fold))
    return out


def list_lines(list_path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the non-blank lines of a list file."""
    list_path = Path(list_path)
    if not list_path.is_file():
        raise ConfigError(f"{list_path}: file list not found")
    lines = [(n, line.strip()) for n, line in enumerate(list_path.read_text().splitlines(), start=1)]
    lines = [(n, text) for n, text in lines if text]
    if not lines:
        raise ConfigError(f"{list_path}: the file list is empty")
    return lines


def csv_records(csv_path, required, what: str = "CSV") -> list[tuple[int, dict]]:
    """``(line number, record)`` of each non-empty row of a CSV whose header must hold ``required``.

    Header names are stripped; a missing file or column raises :class:`ConfigError` naming it.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ConfigError(f"{csv_path}: {what} not found")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [name.strip() for name in reader.fieldnames or []]
        for column in required:
            if column not in header:
                raise ConfigError(f"{csv_path}: column '{column}' missing from the header "
                                  f"(found {', '.join(header) or 'nothing'})")
        reader.fieldnames = header
        records = [(reader.line_num, record) for record in reader
                   if any((v or "").strip() for v in record.values() if isinstance(v, str))]
    if not records:
        raise ConfigError(f"{csv_path}: no rows below the header")
    return records


def parent_folder(rel: str) -> str:
    """The original's label rule for list files: the folder that holds the file."""
    parent = Path(rel).parent.name
    if not parent:
        raise ValueError(f"cannot take a label from {rel} (no class folder)")
    return parent


def exact_file(audio_root: Path, rel: str) -> Optional[Path]:
    """The listed file itself, or None."""
    path = audio_root / rel
    return path if path.is_file() else None


def broken_link(root: Path, rel: str) -> Optional[Path]:
    """The first broken symbolic link on the way from ``root`` to ``root/rel`` (a class folder or
    the file itself), or None."""
    path = Path(root)
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink() and not path.exists():
            return path
    return None


def from_list_file(list_path, audio_root, split: Optional[str] = None, *,
                   label_of: Optional[LabelOf] = None, fold_of: Optional[FoldOf] = None,
                   locate: Optional[Locate] = None) -> list[Item]:
    """The original's list files: one path per line, relative to ``audio_root``.

    By default the label is the parent folder and the listed file must exist; a dataset passes
    its own ``label_of``, ``fold_of`` and ``locate`` (see the type aliases above). Errors name the
    list file and line. The id is the listed path.
    """
    list_path, audio_root = Path(list_path), Path(audio_root)
    label_of = label_of or parent_folder
    locate = locate or exact_file
    items = []
    for n, rel in list_lines(list_path):
        rel = Path(rel).as_posix()
        path = locate(audio_root, rel)
        if path is None:
            link = broken_link(audio_root, rel)
            why = (f": {link} is a broken symbolic link to {os.readlink(link)}" if link
                   else f" not found under {audio_root}")
            raise ConfigError(f"{list_path}:{n}: listed file {rel}{why}")
        try:
            label = label_of(rel)
            fold = fold_of(rel) if fold_of else None
        except ValueError as e:
            raise ConfigError(f"{list_path}:{n}: {e}") from None
        items.append(Item(path=str(path), label=label, id=rel, split=split, fold=fold))
    return items


def check_unique(items: list[Item], where) -> list[Item]:
    """Raise if two items share an id (a clip listed twice would leak between splits)."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.id in seen:
            first = seen[item.id]
            raise ConfigError(f"{where}: {item.id} is listed twice "
                              f"({first.split or 'list'} and {item.split or 'list'})")
        seen[item.id] = item
    return items


def items_from_config(cfg) -> list[Item]:
    """The clips a config names: ``audios_list``, else the train/val/test lists, else the files
    under ``audio_path``.

    When ``cfg.dataset`` names a known dataset (:data:`elmarc_tf.datasets.DATASETS`, also the
    original's ``'GTZAN'``, ``'Ballroom'``, ``'ExtendedBallroom'``, ``'UrbanSound8K'``), its label
    rule applies to the list files (GTZAN: genre from the file name, ``.au``/``.wav`` accepted;
    UrbanSound8K: class and fold from the metadata CSV), and without lists its adapter reads
    ``audio_path``. Any other dataset name means one sub-folder per class.
    """
    from . import dataset_key, list_reader  # the registry imports this module

    if not cfg.audio_path:
        raise ConfigError("'audio_path' is required to find the audio files")
    key = dataset_key(str(cfg.dataset)) if cfg.dataset else None
    if cfg.audios_list:
        read = list_reader(key)
        return check_unique(read(cfg.audios_list, cfg.audio_path, None), cfg.audios_list)
    lists = {"train": cfg.train_set_list, "val": cfg.val_set_list, "test": cfg.test_set_list}
    if any(lists.values()):
        missing = [f"'{k}_set_list'" for k, v in lists.items() if not v]
        if missing:
            raise ConfigError(f"{', '.join(missing)} missing: give all three split lists or 'audios_list'")
        read = list_reader(key)
        items = [item for split, path in lists.items() for item in read(path, cfg.audio_path, split)]
        return check_unique(items, "train/val/test set lists")
    if key is not None:
        from . import load_dataset

        return load_dataset(key, cfg.audio_path)
    return folder_per_class(cfg.audio_path)
