"""``soundtracks``: 10 s excerpts of game music packages, labelled by game (one composer or
team each); a group is a track, so no track is in two folds."""

from __future__ import annotations

import zlib
from functools import partial
from pathlib import Path

import numpy as np

from .audio import duration, excerpt, rms
from .packages import Package
from .sources import Files, ZipMembers
from .task import Clip, Task

# label -> where its tracks are: a folder the package ships and a glob in it, or an archive.
SOURCES = {
    "colobot": Files(Package("colobot-common-sounds",
                             "/usr/share/games/colobot/music"), "*.ogg"),
    "drascula": Files(Package("drascula-music", "/usr/share/scummvm/drascula/audio"),
                      "*.ogg"),
    "hyperrogue": Files(Package("hyperrogue-music",
                                "/usr/share/hyperrogue/music"), "*.ogg"),
    "nexuiz": ZipMembers(Package("nexuiz-music", "/usr/share/games/nexuiz/data/music.pk3"),
                         "sound/cdtracks/*.ogg"),
    "planetblupi": Files(Package("planetblupi-music-ogg",
                                 "/usr/share/planetblupi/music"), "*.ogg"),
    "singularity": Files(Package("singularity-music",
                                 "/usr/share/games/singularity/music"), "*.ogg"),
}
CLIPS_PER_CLASS = 80
CLIP = 10.0  # seconds
SAMPLE_RATE = 22050
SILENT_RMS = 1e-3  # excerpts quieter than this (silence between movements) are skipped


def plan(root: Path, seed: int) -> list:
    """One job per track that gets clips; a label's :data:`CLIPS_PER_CLASS` are dealt to its
    tracks one at a time in name order, so each track gives about the same number."""
    jobs = []
    for label, source in SOURCES.items():
        tracks = [(stem, opener, int(duration(opener()) // CLIP)) for stem, opener in source.list(root)]
        tracks = [t for t in tracks if t[2] > 0]  # shorter than one clip
        wanted = _deal(CLIPS_PER_CLASS, [slots for _, _, slots in tracks])
        jobs += [partial(_track_clips, label, stem, opener, slots, n, seed)
                 for (stem, opener, slots), n in zip(tracks, wanted) if n]
    return jobs


def _deal(total: int, capacities: list[int]) -> list[int]:
    """Hand ``total`` out one at a time, round robin, to bins of the given capacities."""
    given = [0] * len(capacities)
    while sum(given) < total and any(g < c for g, c in zip(given, capacities)):
        for i, cap in enumerate(capacities):
            if given[i] < cap and sum(given) < total:
                given[i] += 1
    return given


def _track_clips(label: str, stem: str, opener, slots: int, n: int, seed: int) -> list[Clip]:
    """``n`` non-silent excerpts from the track's ``slots`` consecutive 10 s slots, drawn in a
    seeded order (seed and track name, so independent of other tracks)."""
    group = f"{label}/{stem}"
    rng = np.random.default_rng([seed, zlib.crc32(group.encode())])
    source = opener()
    clips = []
    for slot in rng.permutation(slots):
        if len(clips) == n:
            break
        audio = excerpt(source, SAMPLE_RATE, start=slot * CLIP, seconds=CLIP)
        if audio.size == int(CLIP * SAMPLE_RATE) and rms(audio) >= SILENT_RMS:
            clips.append(Clip(label, group, f"{stem}-{int(slot):03d}", audio))
    return clips


TASK = Task(
    name="soundtracks",
    summary=f"{CLIP:g} s excerpts of the music of {len(SOURCES)} games, labelled by game "
            f"({len(SOURCES)} classes, one composer or team each).",
    about=(f"Each game's tracks are cut into consecutive {CLIP:g} s slots; {CLIPS_PER_CLASS} "
           f"excerpts per game are dealt to its tracks in turn (so tracks count about equally) and "
           f"drawn from each track's slots in a seeded order, skipping silent ones. The label is the "
           f"game ({', '.join(SOURCES)}), the group the track: excerpts of one track are in one "
           f"fold, so a test fold holds tracks never heard in training. Tracks shorter than "
           f"{CLIP:g} s are left out."),
    packages=tuple(source.package for source in SOURCES.values()),
    sample_rate=SAMPLE_RATE,
    plan=plan,
)
