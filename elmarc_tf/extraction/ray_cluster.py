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

A single-machine Ray has no reason to reach further, nor to join another cluster: without an
address, ``RAY_ADDRESS`` and a cluster started with ``ray start`` on this machine are ignored.
With an address (``auto``, ``host:port`` or ``ray://host:10001``), the given cluster is joined as
it is configured (``auto``: Ray's own search, ``RAY_ADDRESS`` first); a ``host:port`` that does
not accept a connection within :data:`CONNECT_TIMEOUT_S` is a one-line :class:`ConnectionError`
(Ray itself would wait for it without end). One line says which cluster is used. A Ray already
initialised in this process (by an earlier call, or by the caller) is used as it is. Actors that
no node has the CPUs or GPUs for (Ray would wait for them forever) are a :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
import socket
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
ADDRESS_ENV = "RAY_ADDRESS"  # Ray's own choice of cluster: followed with --address auto only
CONNECT_TIMEOUT_S = 10.0  # for a cluster's HOST:PORT to accept a connection
# [ray://]HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 address
_ADDRESS = re.compile(r"(?:ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
                      r":([0-9]{1,5})")


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the ``ray`` engine runs (``elmarc ... --engine ray`` and its flags).

    ``address``: ``None`` starts Ray on this machine (loopback only); ``"auto"`` joins the cluster
    this machine belongs to (``ray start``); ``"ray://host:10001"`` joins through Ray Client.
    ``actors``: extraction actors and grid-search workers (``None``: as many as the cluster's
    CPUs, or GPUs with ``gpus_per_actor``, allow); each gets ``cpus_per_actor`` CPUs (its
    TensorFlow intra-op threads) and ``gpus_per_actor`` GPUs. ``local_cpus``: the CPUs a Ray
    started here offers (``None``: the machine's); with an ``address`` the cluster decides.
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    local_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise ConfigError(f"actors must be a positive integer, got {self.actors!r}")
        if self.local_cpus is not None and (not isinstance(self.local_cpus, int)
                                            or self.local_cpus < 1):
            raise ConfigError(f"local_cpus must be a positive integer, got {self.local_cpus!r}")
        if self.local_cpus is not None and self.address is not None:
            raise ConfigError("local_cpus is for a Ray started on this machine, not with an address")
        if not self.cpus_per_actor > 0:
            raise ConfigError(f"cpus_per_actor must be positive, got {self.cpus_per_actor!r}")
        if not self.gpus_per_actor >= 0:
            raise ConfigError(f"gpus_per_actor must be zero or positive, got {self.gpus_per_actor!r}")
        if self.address is not None:
            host_port(self.address)  # raises for what is not an address


def host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` or ``ray://HOST:PORT`` (IPv6 hosts in brackets, which
    are removed); ``None`` for ``auto``; anything else is a :class:`ConfigError` naming
    ``--address``."""
    if address == "auto":
        return None
    match = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
    if match is None or not 1 <= int(match[2]) <= 65535:
        raise ConfigError(f"--address {address!r}: must be 'auto', HOST:PORT or ray://HOST:PORT "
                          f"(port 1-65535)")
    return match[1].strip("[]"), int(match[2])


def import_ray():
    """The ``ray`` module, or a one-line :class:`ElmarcError` naming the extra to install."""
    try:
        import ray  # optional dependency: see the module docstring
    except ImportError:
        raise ElmarcError(f"engine 'ray' needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _set_environment(variables: dict) -> None:
    """``os.environ`` updated with ``variables``; a ``None`` value removes the variable."""
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def environment(variables: dict):
    """``os.environ`` updated with ``variables`` (``None``: removed) inside the block, restored
    after it."""
    before = {name: os.environ.get(name) for name in variables}
    _set_environment(variables)
    try:
        yield
    finally:
        _set_environment(before)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise a one-line :class:`ConnectionError` if ``address`` (``[ray://]HOST:PORT``) does not
    accept a TCP connection within ``timeout`` seconds; ``auto`` is left to Ray."""
    target = host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as e:
        reason = ("no answer" if isinstance(e, TimeoutError)
                  else e.strerror or str(e) or type(e).__name__)
        raise ConnectionError(f"--address {address}: no Ray cluster reachable there ({reason}; "
                              f"waited at most {timeout:g} s)") from None


def check_fits(options: RayOptions, nodes: list) -> None:
    """Raise :class:`ConfigError` if no node of ``nodes`` (each node's resources, as in
    ``ray.nodes()[i]["Resources"]``) has ``options.cpus_per_actor`` CPUs and
    ``options.gpus_per_actor`` GPUs: Ray would wait for such an actor forever."""
    need = {"CPU": options.cpus_per_actor, "GPU": options.gpus_per_actor}
    if any(all(node.get(kind, 0) >= amount for kind, amount in need.items()) for node in nodes):
        return
    have = "; ".join(f"{node.get('CPU', 0):g} CPUs, {node.get('GPU', 0):g} GPUs" for node in nodes)
    raise ConfigError(f"--cpus-per-actor {options.cpus_per_actor:g} --gpus-per-actor "
                      f"{options.gpus_per_actor:g}: no node of the Ray cluster has that much "
                      f"(its nodes: {have or 'none'})")


def connect(options: RayOptions, log=_stderr):
    """Join ``options.address`` or start Ray here on loopback only; returns the ``ray`` module.

    Once per process: a Ray already initialised is used as it is. ``log``: one line saying which
    cluster is used. Raises :class:`ConnectionError` for an address that does not answer and
    :class:`ConfigError` for actors that no node can hold (:func:`check_fits`)."""
    imported_without = "ray" in sys.modules and any(
        os.environ.get(name) != value for name, value in LOOPBACK_ENV.items())
    if options.address is None:
        os.environ.update(LOOPBACK_ENV)  # read when ray is imported and when its processes start
    ray = import_ray()
    if not ray.is_initialized():
        _init(ray, options, imported_without, log)
    check_fits(options, [node["Resources"] for node in ray.nodes() if node["Alive"]])
    return ray


def _init(ray, options: RayOptions, imported_without: bool, log) -> None:
    if options.address is not None:
        probe(options.address)
        log(f"ray: joining the cluster at {options.address}"
            + (f" ({ADDRESS_ENV}={os.environ[ADDRESS_ENV]})"
               if options.address == "auto" and os.environ.get(ADDRESS_ENV) else ""))
        ray.init(address=options.address, logging_level="warning")
    elif imported_without:
        raise ElmarcError("ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and "
                          "RAY_USAGE_STATS_ENABLED=0 were set, so a Ray started now would not stay "
                          "on loopback: set them before importing ray, or give a cluster address")
    else:
        log("ray: starting a local Ray on this machine, loopback only (no --address; "
            f"{ADDRESS_ENV} is not followed)")
        # "local": a new Ray here, whatever RAY_ADDRESS or an earlier `ray start` say
        with environment({**NO_EGRESS_ENV, ADDRESS_ENV: None}):
            ray.init(address="local", num_cpus=options.local_cpus, include_dashboard=False,
                     logging_level="warning")


def actor_count(options: RayOptions, resources: dict) -> int:
    """``options.actors``, else as many actors as ``resources`` (``ray.cluster_resources()``) hold:
    GPUs // gpus_per_actor with GPU actors, else CPUs // cpus_per_actor (at least one)."""
    if options.actors is not None:
        return options.actors
    if options.gpus_per_actor:
        return max(1, int(resources.get("GPU", 0) // options.gpus_per_actor))
    return max(1, int(resources.get("CPU", 1) // options.cpus_per_actor))
