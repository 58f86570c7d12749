"""How a call runs, apart from what it computes: one :class:`RunOptions` passed down a call chain
(study -> experiment -> extraction and evaluation) instead of the same few parameters at every
level. None of these options changes a feature, a store key or a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .ray_cluster import RayOptions


@dataclass(frozen=True)
class RunOptions:
    """Progress, logging, parallelism, caching and the engine of a call.

    ``progress``: tqdm bars on stderr. ``log``: called with each line the call reports (``None``:
    the function's own default — ``print`` for the studies, stderr for :func:`extract`'s warnings;
    see :meth:`logger`). ``jobs``: parallel grid-search fits (``None``: the function's default,
    as joblib's ``n_jobs``). ``audio_cache``: an :class:`~elmarc_tf.io.audio_cache.AudioCache` or a
    folder of decoded clips (``None``: the function's default — none for an extraction,
    ``<out>/audio_cache`` for a study that names one; ``False``: none). ``wait``: wait for a
    feature store another process is writing (default: fail at once). ``engine``: ``"local"`` or
    ``"ray"``, where extraction and grid searches run, with ``ray`` (a :class:`RayOptions`;
    ``None``: Ray started on this machine, one actor per CPU).

    A variant for one call: ``dataclasses.replace(run, progress=False)``.
    """

    progress: bool = True
    log: Optional[Callable[[str], None]] = None
    jobs: Optional[int] = None
    audio_cache: object = None
    wait: bool = False
    engine: str = "local"
    ray: Optional[RayOptions] = None

    def logger(self, default: Callable[[str], None] = print) -> Callable[[str], None]:
        """``log``, or ``default`` when it is ``None``."""
        return self.log if self.log is not None else default
