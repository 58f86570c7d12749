"""A standard MIDI file of single notes, and rendering it with a SoundFont through fluidsynth.

Only what the instrument task needs: format 0, one track, one channel (0, never the drum channel
9), a program change and notes one after another. Tempo is MIDI's default (120 bpm), so with
:data:`TICKS_PER_QUARTER` = 480 a second is 960 ticks.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from typing import Sequence

import numpy as np

from ...errors import ConfigError
from .audio import resample

TICKS_PER_QUARTER = 480
TICKS_PER_SECOND = 2 * TICKS_PER_QUARTER  # 120 bpm: two quarters a second


def _varlen(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, most significant first."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def notes_midi(program: int, notes: Sequence[tuple[int, int]], spacing: float, held: float) -> bytes:
    """A format-0 MIDI file playing ``notes`` (``(pitch, velocity)`` pairs) with GM ``program``
    (0..127): note ``k`` starts at ``k * spacing`` seconds and is held ``held`` seconds; the
    file ends ``spacing`` seconds after the last start."""
    events = [_varlen(0) + bytes([0xC0, program])]
    gap = int(round((spacing - held) * TICKS_PER_SECOND))
    for k, (pitch, velocity) in enumerate(notes):
        events.append(_varlen(0 if k == 0 else gap) + bytes([0x90, pitch, velocity]))
        events.append(_varlen(int(round(held * TICKS_PER_SECOND))) + bytes([0x80, pitch, 0]))
    events.append(_varlen(gap) + b"\xff\x2f\x00")  # end of track
    track = b"".join(events)
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def fluidsynth_render(soundfont, midi: bytes, sample_rate: int, seconds: float) -> np.ndarray:
    """Render ``midi`` with ``soundfont`` by the ``fluidsynth`` program: ``(n,)`` float32 mono,
    exactly ``seconds`` long (zero-padded), at ``sample_rate``. Reverb and chorus are off, so a
    note's sound is the sample set's own."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise ConfigError("fluidsynth not found; install it with: apt-get install fluidsynth")
    synth_rate = 44100  # fluidsynth's own rate; resampled after, as every other source
    with tempfile.TemporaryDirectory() as tmp:
        mid, raw = os.path.join(tmp, "notes.mid"), os.path.join(tmp, "notes.raw")
        with open(mid, "wb") as f:
            f.write(midi)
        subprocess.run([exe, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "1.0",
                        "-r", str(synth_rate), "-O", "s16", "-E", "little", "-T", "raw",
                        "-F", raw, os.fspath(soundfont), mid],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pcm = np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0
    mono = pcm.reshape(-1, 2).mean(axis=1)
    y = resample(mono, synth_rate, sample_rate)
    n = int(round(seconds * sample_rate))
    return np.pad(y[:n], (0, max(0, n - y.size)))
