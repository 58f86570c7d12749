"""Front-end inputs of a list of clips, decoded once and cached on disk.

What a study that feeds the same inputs to many models reads (the batch-normalisation ablation,
end-to-end training): one ``.npy`` of every clip's input, beside a ``.json`` with each clip's
decoding error. The cache is keyed by what decides an input — the front-end's input kind, the
config's :data:`INPUT_FIELDS` (and ``input_representation`` where it is not the log-mel) and
the clips — so every architecture with the same input shares it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..frontends import frontend_of
from ..io.fileio import atomic_save, atomic_write_json
from .options import RunOptions
from .pipeline import input_shape, make_dataset

# Config fields that decide a front-end's input (with its input kind): the cache key.
INPUT_FIELDS = ("sampling_rate", "res_type", "pad_mode", "n_mels", "n_frames", "n_samples",
                "fix_length_by")
DEFAULT_REPRESENTATION = "logmel"
DECODE_BATCH = 8  # clips per decoding batch (each clip is prepared alone: any size, same inputs)


def inputs_stem(cfg, items) -> str:
    """``<kind>-<12 hex digits>``: the cache files' name for ``cfg``'s inputs of ``items``."""
    kind = frontend_of(cfg).input
    fields = {k: getattr(cfg, k) for k in INPUT_FIELDS}
    if cfg.input_representation != DEFAULT_REPRESENTATION:  # and how its filterbank starts
        fields.update(input_representation=cfg.input_representation,
                      filterbank_init=cfg.filterbank_init)
    blob = json.dumps([kind, fields, [it.to_dict() for it in items]], sort_keys=True)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def load_inputs(cfg, items, folder, run: RunOptions = RunOptions()):
    """The front-end inputs of ``items``, decoded once and cached in ``folder``.

    Returns ``(x, errors)``: ``x`` ``(n, *input_shape(cfg))`` float32 (memory-mapped; rows of
    clips that failed are zeros) and one error message per item (``''``: decoded). ``run``: its
    ``progress`` (a bar while decoding) and ``audio_cache`` (decoded clips shared with other
    calls) apply. Writing the cache fails with an ``OSError`` naming the file (disk full ...).
    """
    folder = Path(folder)
    kind = frontend_of(cfg).input
    stem = inputs_stem(cfg, items)
    data_path, meta_path = folder / f"{stem}.npy", folder / f"{stem}.json"
    if data_path.is_file() and meta_path.is_file():
        return np.load(data_path, mmap_mode="r"), json.loads(meta_path.read_text())["errors"]
    folder.mkdir(parents=True, exist_ok=True)
    x = np.zeros((len(items), *input_shape(cfg)), np.float32)
    errors = [""] * len(items)
    bar = tqdm(total=len(items), unit="clip", desc=f"decode ({kind})", file=sys.stderr,
               disable=not run.progress, dynamic_ncols=True)
    for inputs, indices, errs in make_dataset([it.path for it in items], range(len(items)), cfg,
                                              DECODE_BATCH, audio_cache=run.audio_cache):
        for row, i, err in zip(inputs.numpy(), indices.numpy(), errs.numpy()):
            x[i], errors[i] = row, err.decode()
        bar.update(len(indices))
    bar.close()
    atomic_save(data_path, np.save, x)
    atomic_write_json(meta_path, {"kind": kind, "fields": {k: getattr(cfg, k) for k in INPUT_FIELDS},
                                  "errors": errors})
    return np.load(data_path, mmap_mode="r"), errors
