"""The Ray cluster that the ``ray`` engine runs on: join one, or start Ray on this machine.

Ray is optional (``pip install elmarc_tf[ray]``) and imported on first use, here and in
:mod:`elmarc_tf.extraction.ray` / :mod:`elmarc_tf.evaluation.ray` only: ``import ray.data`` costs about
2 s and 180 MB that the local engine does not pay.

Without an address, Ray is started on this machine and kept on the loopback interface, with
nothing leaving it (checked with ``strace`` on every connect of every Ray process, Ray 2.60):

- :data:`LOOPBACK_ENV`, read by Ray when it is imported and by its processes when they start, so
  set before ``import ray``: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray take 127.0.0.1 as
  the node address (it otherwise replaces even an explicit 127.0.0.1 with the machine's network
  address, and the GCS and workers then listen on every interface);
  ``RAY_USAGE_STATS_ENABLED=0``: no usage statistics.
- the dashboard off; Ray still starts a minimal dashboard process whose usage-statistics module,
  even with statistics off, probes cloud metadata services once (HTTP to 169.254.169.254, a DNS
  query for metadata.google.internal). :data:`NO_EGRESS_ENV`, in the environment of the processes
  ``ray.init`` starts (and so of their workers), sends HTTP clients to a closed port on loopback
  (proxy variables; loopback itself is exempt): the probe fails at once, without a packet out.
  Ray's gRPC ignores proxy variables. The calling process's own environment is restored.

A single-machine Ray has no reason to reach further. With an address (``auto``, ``host:port`` or
``ray://host:10001``), the given cluster is joined as it is configured. A Ray already initialised
in this process (by an earlier call, or by the caller) is used as it is.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import ConfigError, ElmarcError

INSTALL_HINT = "pip install elmarc_tf[ray]"
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
CLOSED_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
NO_EGRESS_ENV = {**{name: CLOSED_PROXY for name in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                                     "HTTPS_PROXY")},
                 **{name: "127.0.0.1,localhost,::1" for name in ("no_proxy", "NO_PROXY")}}


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the ``ray`` engine runs (``elmarc ... --engine ray`` and its flags).

    ``address``: ``None`` starts Ray on this machine (loopback only); ``"auto"`` joins the cluster
    this machine belongs to (``ray start``); ``"ray://host:10001"`` joins through Ray Client.
    ``actors``: extraction actors and grid-search workers (``None``: as many as the cluster's
    CPUs, or GPUs with ``gpus_per_actor``, allow); each gets ``cpus_per_actor`` CPUs (its
    TensorFlow intra-op threads) and ``gpus_per_actor`` GPUs.
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise ConfigError(f"actors must be a positive integer, got {self.actors!r}")
        if not self.cpus_per_actor > 0:
            raise ConfigError(f"cpus_per_actor must be positive, got {self.cpus_per_actor!r}")
        if not self.gpus_per_actor >= 0:
            raise ConfigError(f"gpus_per_actor must be zero or positive, got {self.gpus_per_actor!r}")
        if self.address is not None and not str(self.address).strip():
            raise ConfigError("address must be 'auto', HOST:PORT or ray://HOST:PORT, got ''")


def import_ray():
    """The ``ray`` module, or a one-line :class:`ElmarcError` naming the extra to install."""
    try:
        import ray  # optional dependency: see the module docstring
    except ImportError:
        raise ElmarcError(f"engine 'ray' needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@contextmanager
def environment(variables: dict):
    """``os.environ`` updated with ``variables`` inside the block, restored after it."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connect(options: RayOptions):
    """Join ``options.address`` or start Ray here on loopback only; returns the ``ray`` module.

    Once per process: a Ray already initialised is used as it is."""
    imported_without = "ray" in sys.modules and any(
        os.environ.get(name) != value for name, value in LOOPBACK_ENV.items())
    if options.address is None:
        os.environ.update(LOOPBACK_ENV)  # read when ray is imported and when its processes start
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if options.address is not None:
        ray.init(address=options.address, logging_level="warning")
    elif imported_without:
        raise ElmarcError("ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and "
                          "RAY_USAGE_STATS_ENABLED=0 were set, so a Ray started now would not stay "
                          "on loopback: set them before importing ray, or give a cluster address")
    else:
        with environment(NO_EGRESS_ENV):
            ray.init(include_dashboard=False, logging_level="warning")
    return ray


def actor_count(options: RayOptions, resources: dict) -> int:
    """``options.actors``, else as many actors as ``resources`` (``ray.cluster_resources()``) hold:
    GPUs // gpus_per_actor with GPU actors, else CPUs // cpus_per_actor (at least one)."""
    if options.actors is not None:
        return options.actors
    if options.gpus_per_actor:
        return max(1, int(resources.get("GPU", 0) // options.gpus_per_actor))
    return max(1, int(resources.get("CPU", 1) // options.cpus_per_actor))
