"""Writing files so that readers never see a partial one, and the versions record.

Used by every module that writes results people keep: the feature store, the audio cache, the
results of a study, weight files and exports.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import tempfile
from pathlib import Path

import soundfile

# What a feature store, a result or an export records of the software that made it.
MANIFEST_PACKAGES = ("python", "elmarc_tf", "tensorflow", "keras", "librosa", "numpy", "soundfile",
                     "soxr")


def atomic_save(path, save, *args, **kwargs) -> None:
    """``save(file, *args, **kwargs)`` into a unique temporary file beside ``path``, synced, then
    renamed over it: readers see the old file or the new one, never a partial one, and concurrent
    writers (threads or processes) never share a temporary file. The temporary file is removed on
    error."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            save(f, *args, **kwargs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path, obj) -> None:
    """``obj`` as indented JSON, written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def atomic_write_text(path, text: str) -> None:
    """``text`` (UTF-8), written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write(text.encode()))


def versions(packages=MANIFEST_PACKAGES) -> dict:
    """``{name: version}`` of each of ``packages`` (``None``: not installed); ``"python"`` is the
    interpreter's version, ``"libsndfile"`` the C library that soundfile loads."""
    out = {}
    for name in packages:
        if name == "python":
            out[name] = platform.python_version()
        elif name == "libsndfile":
            out[name] = getattr(soundfile, "__libsndfile_version__", None)
        else:
            try:
                out[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                out[name] = None
    return out
