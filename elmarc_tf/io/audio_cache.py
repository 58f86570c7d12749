"""A disk cache of decoded audio, so that a study decodes each clip once, not once per config.

A study (:func:`elmarc_tf.studies.paper.reproduce`, or several :func:`elmarc_tf.studies.study.run_experiment`)
runs many front-ends and seeds over the same files. Decoding + resampling a 30 s 44.1 kHz stereo
clip to 12 kHz costs ~0.04 s of a core (with ``soxr_hq`` or the authors' ``kaiser_best``), more
than a small front-end's forward pass, so :class:`AudioCache` keeps what
:func:`elmarc_tf.io.audio.load_audio` returns: the **whole** decoded mono clip (the log-mel top-dB
floor is relative to the whole clip, so the length is fixed later, per config).

Layout: ``<folder>/<first 2 hex digits>/<key>.npy``, one float32 ``.npy`` per (file content,
sampling rate, resampler). The key is a BLAKE2b hash of

- the file's **content** (its bytes, streamed), not its path or time stamps: a renamed or copied
  file is a hit, a file rewritten under the same name is a miss;
- the file's extension (libsndfile uses it for header-less files such as raw ``.au``);
- ``sr`` and ``res_type``;
- :data:`FORMAT_VERSION` and the versions of the decoding/resampling libraries (librosa,
  libsndfile, soundfile, audioread, soxr, resampy, scipy, numpy), so that an upgrade, which may
  change the resampled samples, does not serve stale audio.

A hit returns exactly the array :func:`~elmarc_tf.io.audio.load_audio` returned when the entry was
written (``.npy`` round-trips float32 bit for bit).

Errors are **not** cached: a file that cannot be decoded raises the same :class:`AudioError`
(same one-line message) on every call, decoded again each time. A failure can depend on the
environment (a missing ``resampy`` or audioread backend), and failing files are few.

Concurrency: entries are written to a unique temporary file in the entry's folder, synced, then
renamed over the final name (``os.replace``, atomic), so a reader (a tf.data thread, another
process) sees either no entry or a complete one, never a half-written file. Two writers of the
same entry write the same bytes; the last rename wins. A temporary file left by a killed process
(``.<key>.*.tmp``) is ignored and can be deleted.

Content hashes are remembered per :class:`AudioCache` object, keyed by the file's ``stat`` (path,
device, inode, size, mtime, ctime), so each file is read for hashing once per object; a file
modified in the last :data:`RACY_SECONDS` seconds is always re-hashed (time stamps are coarse).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from . import audio as _audio
from ..errors import AudioError
from .fileio import atomic_save, versions

FORMAT_VERSION = 2  # 2: kaiser_best/kaiser_fast computed by elmarc_tf.io.resample, not resampy's loop
RACY_SECONDS = 2.0  # a file modified more recently than this is re-hashed on every call
_CHUNK = 1 << 20
# Packages (and the C library) whose changes may change decoded samples: part of every key.
DECODER_PACKAGES = ("librosa", "soundfile", "audioread", "soxr", "resampy", "scipy", "numpy",
                    "libsndfile")


def file_digest(path) -> str:
    """BLAKE2b (160 bits, hex) of the file's bytes, read in 1 MiB chunks."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _signature(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class AudioCache:
    """Decoded 12 kHz mono clips on disk, keyed by file content + ``sr`` + ``res_type``.

    ``AudioCache(folder).load(path, sr, res_type)`` returns what
    ``elmarc_tf.io.audio.load_audio(path, sr, res_type)`` returns, decoding only on a miss.
    Thread-safe; several processes may share one folder. :meth:`stats` counts hits, misses and
    failures (decoding errors, re-raised and not cached) of this object.
    """

    def __init__(self, folder) -> None:
        self.folder = Path(folder)
        self._versions = versions(DECODER_PACKAGES)
        self._digests: dict[str, tuple[tuple, str]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.failures = 0
        self.unwritten = 0

    def __repr__(self) -> str:
        return f"AudioCache({str(self.folder)!r})"

    def stats(self) -> dict:
        """Counts of this object's :meth:`load` calls so far: ``hits``, ``misses`` (decoded),
        ``failures`` (decoding errors, not cached) and ``unwritten`` (misses whose entry could not
        be saved: folder not writable, disk full)."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "failures": self.failures,
                    "unwritten": self.unwritten}

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _content_digest(self, path: str) -> tuple[str, tuple]:
        """The file's content hash and the ``stat`` signature it was computed for."""
        sig = _signature(os.stat(path))
        with self._lock:
            known = self._digests.get(path)
        if known is not None and known[0] == sig:
            return known[1], sig
        digest = file_digest(path)
        after = _signature(os.stat(path))
        if after == sig and time.time_ns() - sig[3] > RACY_SECONDS * 1e9:
            with self._lock:
                self._digests[path] = (sig, digest)
        return digest, after

    def key(self, path, sr: int = 12000, res_type: str = "soxr_hq") -> str:
        """The entry name (40 hex digits) of ``path`` decoded at ``sr`` with ``res_type``."""
        path = os.fspath(path)
        return self._key(self._content_digest(path)[0], path, sr, res_type)

    def _key(self, digest: str, path: str, sr, res_type) -> str:
        ext = os.path.splitext(path)[1].lower()
        blob = json.dumps([FORMAT_VERSION, digest, ext, int(sr), str(res_type), self._versions],
                          sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=20).hexdigest()

    def entry(self, key: str) -> Path:
        """``<folder>/<key[:2]>/<key>.npy``."""
        return self.folder / key[:2] / f"{key}.npy"

    def load(self, path, sr: int = 12000, res_type: str = "soxr_hq") -> np.ndarray:
        """``load_audio(path, sr, res_type)``, from the cache when this content was decoded before.

        Raises the same :class:`AudioError` as :func:`~elmarc_tf.io.audio.load_audio` (not cached).
        """
        path = os.fspath(path)
        try:
            digest, sig = self._content_digest(path)
        except OSError:  # missing or unreadable: load_audio raises its usual one-line error
            return self._decode(path, sr, res_type)
        file = self.entry(self._key(digest, path, sr, res_type))
        y = self._read(file)
        if y is not None:
            self._count("hits")
            return y
        y = self._decode(path, sr, res_type)
        self._count("misses")
        try:
            unchanged = _signature(os.stat(path)) == sig
        except OSError:
            unchanged = False
        if unchanged and not self._write(file, y):  # unchanged while decoded: y is this key's
            self._count("unwritten")
        return y

    def _decode(self, path: str, sr, res_type) -> np.ndarray:
        try:
            return _audio.load_audio(path, sr, res_type)
        except AudioError:
            self._count("failures")
            raise

    @staticmethod
    def _read(file: Path):
        """The cached array, or ``None`` when there is no valid entry (a damaged one is a miss)."""
        try:
            y = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # no entry (FileNotFoundError), or a damaged one
            return None
        if y.dtype != np.float32 or y.ndim != 1 or y.size == 0:
            return None
        return y

    @staticmethod
    def _write(file: Path, y: np.ndarray) -> bool:
        """Write ``y`` to a unique temporary file beside ``file``, sync it, rename it over ``file``.

        Returns whether it was saved: a cache that cannot be written (disk full, read-only folder)
        only loses the saving, the clip is still returned.
        """
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_save(file, np.save, np.ascontiguousarray(y, dtype=np.float32), allow_pickle=False)
            return True
        except OSError:
            return False


def as_audio_cache(audio_cache) -> AudioCache | None:
    """``None``/``False`` -> no cache; an :class:`AudioCache` as is; a folder -> ``AudioCache(folder)``."""
    if audio_cache is None or audio_cache is False:
        return None
    if isinstance(audio_cache, AudioCache):
        return audio_cache
    if isinstance(audio_cache, (str, os.PathLike)):
        return AudioCache(audio_cache)
    raise TypeError(f"audio_cache must be an AudioCache, a folder path, None or False, "
                    f"not {type(audio_cache).__name__}")
