"""Real-audio development datasets built from Debian packages.

``build(name, out, seed=0, root='/')`` writes task ``name`` of :data:`TASKS` into ``out``:
``audio/<label>/<clip>.wav``, ``metadata.csv`` (``path,label,fold,group``; the folds never split
a group) and ``README.md`` (sources, versions, licences, counts). ``root`` is where the package
files are looked up (a test's fake tree). A missing package is a one-line
:class:`~elmarc_tf.errors.ConfigError` naming the ``apt-get install`` to run.
"""

from __future__ import annotations

from ...errors import ConfigError
from . import instruments, soundtracks, speakers
from .packages import check_installed
from .task import Clip, Task
from .writer import write_dataset

TASKS: dict[str, Task] = {task.name: task for task in
                          (instruments.TASK, soundtracks.TASK, speakers.TASK)}


def task(name: str) -> Task:
    """The task called ``name``; unknown names raise :class:`ConfigError` listing the valid ones."""
    if name not in TASKS:
        raise ConfigError(f"unknown dataset task {name!r} (valid: {', '.join(TASKS)})")
    return TASKS[name]


def build(name: str, out, seed: int = 0, root="/", progress: bool = True, **options) -> dict:
    """Build task ``name`` into the new folder ``out`` from the packages below ``root``.

    ``options`` go to the task's plan (``render=`` for ``instruments``). Returns a summary:
    ``n_clips``, ``classes`` (clips per label), ``folds`` (clips per fold).
    """
    chosen = task(name)
    check_installed(name, chosen.packages, root)
    return write_dataset(chosen, out, seed, root, progress=progress, **options)


__all__ = ["TASKS", "Task", "Clip", "task", "build"]
