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
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from ..errors import DamagedFileError, DamagedWeightsError, ElmarcError, WeightsError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; FolderLock then locks nothing
    fcntl = None

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
    fd, tmp = _create_temporary(path)
    try:
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


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file ``.<name>.<random>.tmp`` beside ``path``, open for writing, that no other
    writer shares (``O_EXCL``). Created with mode 0o666, which the kernel reduces by the process
    umask of the moment (``mkstemp`` would give 0o600 whatever the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_json(path, obj) -> None:
    """``obj`` as indented JSON, written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def atomic_write_text(path, text: str) -> None:
    """``text`` (UTF-8), written by :func:`atomic_save`."""
    atomic_save(path, lambda f: f.write(text.encode()))


def read_npz(path, what: str = "file", error=DamagedFileError) -> dict:
    """``{name: array}`` of the ``.npz`` file ``path``, read whole (no pickled objects).

    A file that cannot be opened raises its ``OSError`` (naming it); one that opens but is empty,
    truncated or not an ``.npz`` raises ``error`` (a :class:`DamagedFileError`) in one line naming
    ``path`` as ``what`` and the kind of damage."""
    try:
        with np.load(path) as npz:
            return {k: npz[k] for k in npz.files}
    except OSError as e:
        if e.filename is not None or not os.path.isfile(path):
            raise
        damage = e
    except Exception as e:  # EOFError, BadZipFile, zlib.error, pickled data, a bad header...
        damage = e
    raise error(f"{os.fspath(path)}: cannot read {what}: empty, truncated or not an .npz file "
                f"({type(damage).__name__})") from None


def read_weights(path_or_dict) -> tuple[str, dict]:
    """``(source, {name: array})`` of named weights: an ``.npz`` file (``source`` its path) or a
    dict given as it is (``source`` ``"weights"``); :class:`WeightsError` for a file that cannot
    be opened, :class:`DamagedWeightsError` (also one) for a damaged one (:func:`read_npz`)."""
    if isinstance(path_or_dict, dict):
        return "weights", dict(path_or_dict)
    source = os.fspath(path_or_dict)
    try:
        return source, read_npz(source, "weights", DamagedWeightsError)
    except OSError as e:
        raise WeightsError(f"{source}: cannot read weights ({e.strerror or e})") from None


def read_description_file(file, fmt: str, what: str) -> dict:
    """The JSON object in ``file`` whose ``format`` is ``fmt`` (an elmarc export's or model
    folder's description); one-line :class:`ElmarcError` naming ``file`` if it is unreadable or
    not ``what``."""
    file = Path(file)
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise ElmarcError(f"{file}: unreadable {what} ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ElmarcError(f"{file}: not an {what} (format is not '{fmt}')")
    return data


def check_writable(folder) -> Path:
    """Create ``folder`` (and its parents) and check that files can be written in it, before any
    work that would write there; an ``OSError`` naming it if not. Returns it as a ``Path``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(folder)) from None
    os.close(fd)
    os.unlink(probe)
    return folder


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
    process (also when it is killed); the ``.lock`` file stays, except where the lock created the
    folder and nothing else was written there: then the folder (and the parents it created) is
    removed on leaving, so a failure before any work leaves nothing behind. Where ``fcntl`` does
    not exist (Windows) nothing is locked.
    """

    def __init__(self, folder, wait: bool = False, poll: float = 0.5) -> None:
        self.path = Path(folder) / ".lock"
        self.wait, self.poll = wait, poll
        self._fd = None
        self._created: list[Path] = []  # folders this lock created, innermost first

    def __enter__(self) -> "FolderLock":
        if fcntl is None:
            return self
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if not self.wait:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise FolderBusy(f"{self.path.parent}: in use by another process (pid {holder}); "
                                     f"wait for it, or rerun with --wait") from None
                os.close(fd)
                time.sleep(self.poll)
                continue
            if self._is_current(fd):
                break
            os.close(fd)  # the holder before removed the file (and its folder): lock anew
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def _open(self) -> int:
        """The lock file's descriptor; the folders created for it are noted."""
        missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._created = missing or self._created
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at the lock's path (a holder may remove it)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        if self._created and [p.name for p in self.path.parent.iterdir()] == [self.path.name]:
            self.path.unlink()  # still held: a waiting process sees it gone and locks anew
            for folder in self._created:
                try:
                    folder.rmdir()
                except OSError:  # not empty: another process wrote there meanwhile
                    break
        os.close(self._fd)  # releases the lock
        self._fd = None
