"""Ballroom (Gouyon et al. 2004, 698 clips, 8 classes) and Extended Ballroom (Marchand & Peeters
2016, 4180 clips, 13 classes). The label is the class folder, as the original
``ballroom_path2gt`` / ``extended_ballroom_path2gt``.

BallroomData splits some classes over several folders (``Rumba-American``,
``Rumba-International``, ``Rumba-Misc``) and some copies spell them differently (``ChaCha``,
``Viennese waltz``); those map to the 8 labels here.
"""

from __future__ import annotations

import re
from typing import Optional

from .base import Item, folder_per_class, from_list_file, parent_folder, relabel

BALLROOM_CLASSES = ("ChaChaCha", "Jive", "Quickstep", "Rumba", "Samba", "Tango",
                    "VienneseWaltz", "Waltz")
EXTENDED_BALLROOM_CLASSES = ("Chacha", "Foxtrot", "Jive", "Pasodoble", "Quickstep", "Rumba",
                             "Salsa", "Samba", "Slowwaltz", "Tango", "Viennesewaltz", "Waltz",
                             "Wcswing")


def _norm(name: str) -> str:
    """Folder name without case, spaces, dashes or underscores (``'Viennese waltz'`` ->
    ``'viennesewaltz'``)."""
    return re.sub(r"[\s_-]+", "", name).lower()


def ballroom_class(folder: str) -> str:
    """Ballroom label of a class folder; ValueError (one line) for a folder that is not one."""
    known = {_norm(c): c for c in BALLROOM_CLASSES}
    known["chacha"] = "ChaChaCha"
    if re.fullmatch(r"rumba([\s_-].*)?", folder, flags=re.IGNORECASE):
        return "Rumba"
    if _norm(folder) in known:
        return known[_norm(folder)]
    raise ValueError(f"'{folder}' is not a Ballroom class folder "
                     f"(expected {', '.join(BALLROOM_CLASSES)}, ChaCha, Rumba-*, Viennese waltz)")


def extended_ballroom_class(folder: str) -> str:
    """Extended Ballroom label of a class folder (case-insensitive); ValueError if not one."""
    known = {_norm(c): c for c in EXTENDED_BALLROOM_CLASSES}
    if _norm(folder) in known:
        return known[_norm(folder)]
    raise ValueError(f"'{folder}' is not an Extended Ballroom class folder "
                     f"(expected {', '.join(EXTENDED_BALLROOM_CLASSES)})")


def ballroom(root) -> list[Item]:
    """BallroomData clips: ``root/<class folder>/<name>.wav`` labelled with the 8 classes."""
    return relabel(folder_per_class(root), ballroom_class, root)


def extended_ballroom(root) -> list[Item]:
    """Extended Ballroom clips: ``root/<Class>/<id>.mp3`` labelled with the 13 classes."""
    return relabel(folder_per_class(root), extended_ballroom_class, root)


def ballroom_list(list_path, audio_root, split: Optional[str] = None) -> list[Item]:
    """A list file of Ballroom paths (relative to ``audio_root``); label from the parent folder."""
    return from_list_file(list_path, audio_root, split,
                          label_of=lambda rel: ballroom_class(parent_folder(rel)))


def extended_ballroom_list(list_path, audio_root, split: Optional[str] = None) -> list[Item]:
    """A list file of Extended Ballroom paths; label from the parent folder."""
    return from_list_file(list_path, audio_root, split,
                          label_of=lambda rel: extended_ballroom_class(parent_folder(rel)))

