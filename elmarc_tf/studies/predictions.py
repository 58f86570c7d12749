"""``elmarc predict``'s input and output: the audio files named by files or folders, and the CSV
of labels and scores (one row per file, in the order given)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..datasets.base import AUDIO_EXTENSIONS
from ..errors import ConfigError
from ..io.fileio import atomic_write_text


def files_to_predict(inputs) -> list[Path]:
    """Audio files (by extension) of ``inputs``: a file as it is, a folder's audio files at any
    depth (hidden ones skipped), sorted per folder; ``ConfigError`` naming a missing input or a
    folder without audio."""
    files = []
    for path in map(Path, inputs):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS
                           and f.is_file() and not any(part.startswith(".")
                                                       for part in f.relative_to(path).parts))
            if not found:
                raise ConfigError(f"{path}: no audio files in this folder")
            files.extend(found)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    return files


def write_predictions(path, predictions, classes) -> None:
    """A CSV (atomically): ``path,label,<one score column per class>``, one row per file that
    worked (the failed ones are in ``predictions.errors``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "label", *classes])
    for file, label, scores, error in zip(predictions.paths, predictions.labels,
                                          predictions.scores, predictions.errors):
        if not error:
            writer.writerow([file, label, *(repr(float(s)) for s in scores)])
    atomic_write_text(path, buf.getvalue())
