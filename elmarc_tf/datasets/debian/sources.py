"""Where a package's audio files are: a glob below the root, or the members of a zip archive.

A source lists ``(stem, opener)`` pairs in name order; ``opener()`` gives what
:mod:`.audio` reads (a path, or an in-memory file for an archive member).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable

from .packages import Package

Opener = Callable[[], object]


def slug(text: str) -> str:
    """A file-name-safe lower-case form: ``'A New Journey'`` -> ``'a-new-journey'``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class _Source:
    """The audio of ``package`` whose names match ``pattern``, below the package's probe."""

    package: Package
    pattern: str


class Files(_Source):
    """Audio files of ``package`` matching ``pattern`` in the folder that is its probe."""

    def list(self, root: Path) -> list[tuple[str, Opener]]:
        folder = self.package.path(root)
        return [(slug(p.stem), partial(Path, p)) for p in sorted(folder.glob(self.pattern))
                if p.is_file() and not p.is_symlink()]


class ZipMembers(_Source):
    """Members of the zip archive that is ``package``'s probe, matching ``pattern``."""

    def list(self, root: Path) -> list[tuple[str, Opener]]:
        archive = self.package.path(root)
        with zipfile.ZipFile(archive) as z:
            names = sorted(n for n in z.namelist() if PurePosixPath(n).match(self.pattern))
        return [(slug(PurePosixPath(n).stem), partial(_member, archive, n)) for n in names]


def _member(archive: Path, name: str) -> io.BytesIO:
    with zipfile.ZipFile(archive) as z:
        data = io.BytesIO(z.read(name))
    data.name = f"{archive}:{name}"
    return data
