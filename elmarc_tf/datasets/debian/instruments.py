"""``instruments``: single notes of General MIDI programs rendered from a SoundFont, labelled by
instrument family; a group is a program (its sample set), so no program is in two folds."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from .audio import rms
from .midi import fluidsynth_render, notes_midi
from .packages import Package
from .task import Clip, Task

SOUNDFONT = Package("timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2")
SYNTH = Package("fluidsynth", "/usr/bin/fluidsynth")  # the renderer's version shapes the audio

# family -> (first GM program, lowest and highest MIDI pitch drawn); each family is the eight
# programs from its first (General MIDI's instrument families).
FAMILIES = {
    "piano": (0, 36, 84),
    "chromatic_percussion": (8, 60, 96),
    "organ": (16, 36, 84),
    "guitar": (24, 40, 76),
    "bass": (32, 28, 55),
    "strings": (40, 48, 84),
    "brass": (56, 48, 79),
    "reed": (64, 55, 84),
    "pipe": (72, 60, 96),
}
NOTES_PER_PROGRAM = 7
HELD, CLIP, SPACING = 2.0, 3.0, 4.0  # seconds: key down, clip (key down + release), note to note
SAMPLE_RATE = 22050
SILENT_RMS = 1e-4  # a program the SoundFont lacks renders (near) silence: its clips are dropped


def plan(root: Path, seed: int, render=fluidsynth_render) -> list:
    """One job per program. ``render(soundfont, midi_bytes, sample_rate, seconds)`` returns
    ``(n,)`` float32 mono (default: fluidsynth); tests pass a stand-in."""
    soundfont = SOUNDFONT.path(root)
    return [partial(_program_clips, soundfont, family, program, seed, render)
            for family, (first, _, _) in FAMILIES.items()
            for program in range(first, first + 8)]


def _program_clips(soundfont, family: str, program: int, seed: int, render) -> list[Clip]:
    """:data:`NOTES_PER_PROGRAM` notes of ``program``: pitches and velocities drawn from the
    seed and the program, so each job is the same whatever runs before it."""
    _, low, high = FAMILIES[family]
    rng = np.random.default_rng([seed, program])
    pitches = rng.choice(np.arange(low, high + 1), NOTES_PER_PROGRAM, replace=False)
    velocities = rng.integers(64, 113, NOTES_PER_PROGRAM)
    notes = [(int(p), int(v)) for p, v in zip(pitches, velocities)]
    audio = render(soundfont, notes_midi(program, notes, SPACING, HELD), SAMPLE_RATE,
                   SPACING * len(notes))
    clips = []
    for k, (pitch, velocity) in enumerate(notes):
        start = int(k * SPACING * SAMPLE_RATE)
        clip = audio[start:start + int(CLIP * SAMPLE_RATE)]
        if rms(clip) >= SILENT_RMS:
            clips.append(Clip(family, f"program-{program:03d}",
                              f"p{program:03d}-{k}-m{pitch:02d}-v{velocity:03d}", clip))
    return clips


TASK = Task(
    name="instruments",
    summary="Single notes of 72 General MIDI programs (TimGM6mb SoundFont rendered by "
            "fluidsynth), labelled by instrument family (9 classes).",
    about=(f"Each General MIDI program of the families {', '.join(FAMILIES)} (programs "
           f"0-39, 40-47, 56-79) plays {NOTES_PER_PROGRAM} notes of random pitch (within the "
           f"family's usual range) and velocity (64-112); a clip is a {CLIP:g} s window: the note "
           f"held {HELD:g} s and its release, reverb and chorus off. The label is the family, the "
           f"group the program: a program's notes share one sample set, so all of a program's "
           f"notes are in one fold and a test fold holds instruments never heard in training. "
           f"Programs the SoundFont renders silent are dropped."),
    packages=(SOUNDFONT, SYNTH),
    sample_rate=SAMPLE_RATE,
    plan=plan,
)
