"""Writing files so that readers never see a partial one, and the versions record.

Used by every module that writes results people keep: the feature store, the audio cache, the
results of a study, weight files and exports.
"""

from __future__ import annotations

import errno
import importlib.metadata
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from ..errors import ElmarcError, WeightsError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; FolderLock then locks nothing
    fcntl = None

# Files are created with the permissions the user's umask gives (mkstemp would give 0600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# What a feature store, a result or an export records of the software that made it.
MANIFEST_PACKAGES = ("python", "elmarc_tf", "tensorflow", "keras", "librosa", "numpy", "soundfile",
                     "soxr")


class _PythonWrites(io.RawIOBase):
    """A seekable binary file whose every write goes through Python's file object ``f``.

    Given a real file, NumPy writes an array's data with C stdio, and a short write there (the
    disk filled up) raises an ``OSError`` without ``errno`` or ``strerror``; through this view it
    calls ``write``, and the operating system's error (``ENOSPC``: "No space left on device")
    comes through as it is. The bytes written are the same."""

    def __init__(self, f) -> None:
        super().__init__()
        self._f = f

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._f.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def atomic_save(path, save, *args, **kwargs) -> None:
    """``save(file, *args, **kwargs)`` into a unique temporary file beside ``path``, synced, then
    renamed over it: readers see the old file or the new one, never a partial one, and concurrent
    writers (threads or processes) never share a temporary file. The temporary file is removed on
    error; an ``OSError`` (disk full, ...) names ``path`` and carries the system's ``errno`` and
    ``strerror``. The file gets the permissions the umask gives."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            save(_PythonWrites(f), *args, **kwargs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename is None:
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def atomic_write_json(path, obj) -> None:
    """``obj`` as indented JSON, written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def atomic_write_text(path, text: str) -> None:
    """``text`` (UTF-8), written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write(text.encode()))


def read_weights(path_or_dict) -> tuple[str, dict]:
    """``(source, {name: array})`` of named weights: an ``.npz`` file (``source`` its path) or a
    dict given as it is (``source`` ``"weights"``); :class:`WeightsError` for an unreadable file."""
    if isinstance(path_or_dict, dict):
        return "weights", dict(path_or_dict)
    source = os.fspath(path_or_dict)
    try:
        with np.load(source) as npz:
            return source, {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise WeightsError(f"{source}: cannot read weights ({e})") from None


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


class FolderBusy(ElmarcError):
    """Another process holds the lock of a folder (:class:`FolderLock`)."""


class FolderLock:
    """An exclusive advisory lock (``fcntl.flock``) on ``<folder>/.lock``, holding the holder's pid.

    ``with FolderLock(folder):`` — a second process fails at once with :class:`FolderBusy`
    naming the holder's pid, or with ``wait=True`` waits for it to finish. The lock goes with the
    process (also when it is killed); the ``.lock`` file stays. Where ``fcntl`` does not exist
    (Windows) nothing is locked.
    """

    def __init__(self, folder, wait: bool = False, poll: float = 0.5) -> None:
        self.path = Path(folder) / ".lock"
        self.wait, self.poll = wait, poll
        self._fd = None

    def __enter__(self) -> "FolderLock":
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if not self.wait:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise FolderBusy(f"{self.path.parent}: in use by another process (pid {holder}); "
                                     f"wait for it, or rerun with --wait") from None
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
