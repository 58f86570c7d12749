"""The Debian packages a built dataset reads: are they installed, which version, which licence.

Everything is looked up below a ``root`` folder (default ``/``), so a test can point a builder at
a small fake tree: a package counts as installed when a file or folder it ships (its *probe*)
exists; versions come from ``var/lib/dpkg/status`` and licences from
``usr/share/doc/PKG/copyright`` (DEP-5 ``License:`` lines), both optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError


@dataclass(frozen=True)
class Package:
    """A Debian package and the path (absolute, as installed) of a file or folder it ships."""

    name: str
    probe: str

    def path(self, root) -> Path:
        """The probe below ``root``."""
        return Path(root) / self.probe.lstrip("/")


def check_installed(task: str, packages, root) -> None:
    """Raise a one-line :class:`ConfigError` naming the ``apt-get install`` for the first missing package."""
    for package in packages:
        if not package.path(root).exists():
            raise ConfigError(f"dataset {task!r}: {package.path(root)} not found (package "
                              f"{package.name} is missing); install it with: "
                              f"apt-get install {package.name}")


def package_version(name: str, root) -> str:
    """The installed version of ``name`` from dpkg's status file, or ``'unknown'``."""
    status = Path(root) / "var/lib/dpkg/status"
    if not status.is_file():
        return "unknown"
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, flags=re.M))
        if fields.get("Package") == name and "installed" in fields.get("Status", "installed"):
            return fields.get("Version", "unknown")
    return "unknown"


def package_licences(name: str, root) -> str:
    """The distinct ``License:`` names of the package's copyright file, comma-separated."""
    copyright_file = Path(root) / "usr/share/doc" / name / "copyright"
    if not copyright_file.is_file():
        return "see /usr/share/doc/{}/copyright".format(name)
    text = copyright_file.read_text(encoding="utf-8", errors="replace")
    names = dict.fromkeys(m.strip() for m in re.findall(r"^License: *(.+)$", text, flags=re.M))
    return ", ".join(names) or f"see /usr/share/doc/{name}/copyright"
