"""``speakers``: short spoken phrases of the Hedgewars voice packs, labelled by voice pack
(speaker identification); a group is a phrase, so no phrase is in two folds."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from .audio import excerpt, rms
from .packages import Package
from .sources import slug
from .task import Clip, Task

VOICES = Package("hedgewars-data", "/usr/share/games/hedgewars/Data/Sounds/voices")
MAX_SECONDS = 4.0  # longer takes (a few laughs and songs) are cut
SAMPLE_RATE = 16000
SILENT_RMS = 1e-3


def phrase(stem: str) -> str:
    """The phrase of a take: ``'Ow3'`` and ``'Ow1'`` are one phrase, ``'ow'``."""
    return slug(re.sub(r"\d+$", "", stem))


def plan(root: Path, seed: int) -> list:
    """One job per voice pack (a folder of ``*.ogg`` takes, one per phrase).

    ``seed`` only places phrases in folds: every take is used."""
    voices = VOICES.path(root)
    return [partial(_voice_clips, folder) for folder in sorted(voices.iterdir()) if folder.is_dir()]


def _voice_clips(folder: Path) -> list[Clip]:
    clips = []
    for take in sorted(folder.glob("*.ogg")):
        audio = excerpt(take, SAMPLE_RATE, seconds=None)[:int(MAX_SECONDS * SAMPLE_RATE)]
        if rms(audio) >= SILENT_RMS:
            clips.append(Clip(slug(folder.name), f"phrase-{phrase(take.stem)}", slug(take.stem), audio))
    return clips


TASK = Task(
    name="speakers",
    summary="Spoken phrases and cries of the Hedgewars voice packs, labelled by voice pack "
            "(speaker identification, one class per pack).",
    about=("Every take (`Data/Sounds/voices/<pack>/<phrase>.ogg`: 'Hello', 'Incoming', "
           "'Ow1'...) of every voice pack is one clip, resampled to 16 kHz and cut at "
           f"{MAX_SECONDS:g} s; silent takes are dropped. The label is the voice pack (a speaker "
           "or character voice; some packs speak another language), the group the phrase with "
           "its take number dropped ('Ow1'...'Ow4' are one): all packs' takes of a phrase are in "
           "one fold, so a test fold holds words never heard in training (text-independent "
           "speaker identification)."),
    packages=(VOICES,),
    sample_rate=SAMPLE_RATE,
    plan=plan,
)
