"""Finding and announcing the scheduler, the way data servers are found (storage discovery), with its own names.

* same-host registry ``<temp dir>/_photonflow-scheduler.sqlite``, PYME's table layout ``dns(name, address, port,
  creation_time, URI)``: ``port`` is the Dask scheduler's, ``URI`` the rule API's URL;
* mDNS service type ``_pf-scheduler._tcp.local.``, TXT ``cluster=<name>`` and ``api=<url>``;
* or a static address from config (``scheduler_address``, ``scheduler_api``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from photonflow.storage._registry import LocalRegistry
from photonflow.storage.discovery import MdnsAnnouncement, cluster_from_name, computer_name, zeroconf_instance

if TYPE_CHECKING:
    from photonflow.config import Config

__all__ = [
    "SCHEDULER_SERVICE_TYPE",
    "SchedulerInfo",
    "advertise_scheduler",
    "find_scheduler",
    "scheduler_registry_path",
    "wait_for_scheduler",
]

SCHEDULER_SERVICE_TYPE = "_pf-scheduler._tcp.local."  # RFC 6763: service names are at most 15 bytes
_REGISTRY = LocalRegistry("_photonflow-scheduler.sqlite")
_PREFIX = "PhotonflowScheduler ["


@dataclass(frozen=True)
class SchedulerInfo:
    """A scheduler: its Dask address (``tcp://host:port``) and its rule API URL (``http://host:port``)."""

    address: str
    api: str | None
    name: str = ""


def scheduler_registry_path(environ: Mapping[str, str] | None = None) -> Path:
    """``<temp dir>/_photonflow-scheduler.sqlite`` (``TMPDIR`` first, as for the data servers' registry)."""
    return _REGISTRY.path(environ)


class _Advertisement:
    def __init__(self, *, cluster: str, host: str, port: int, api: str | None, mode: str,
                 interfaces: Sequence[str] | None, registry: Path | None) -> None:
        self.name = f"{_PREFIX}{cluster}]:{computer_name()} - PID:{os.getpid()}.{port}"[:63]
        self._registry = registry or scheduler_registry_path()
        self._local = False
        self._mdns: MdnsAnnouncement | None = None
        if mode == "none":
            return
        address = "127.0.0.1" if host in ("", "0.0.0.0") or host.startswith("127.") else host
        with _REGISTRY.open(self._registry) as conn:
            _REGISTRY.insert(conn, self.name, address=address, port=port, uri=api or "")
        self._local = True
        if mode == "zeroconf":
            addresses = list(interfaces) if host in ("", "0.0.0.0") and interfaces else [address]
            self._mdns = MdnsAnnouncement(SCHEDULER_SERVICE_TYPE, self.name, addresses=addresses, port=port,
                                          properties={"cluster": cluster, "api": api or ""}, interfaces=interfaces)

    def __enter__(self) -> _Advertisement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._mdns is not None:
            self._mdns.close()
            self._mdns = None
        if self._local:
            with _REGISTRY.open(self._registry) as conn:
                _REGISTRY.delete(conn, self.name)
            self._local = False


def advertise_scheduler(
    *,
    cluster: str,
    host: str,
    port: int,
    api: str | None,
    mode: Literal["zeroconf", "local", "none"] = "local",
    interfaces: Sequence[str] | None = None,
    registry: Path | None = None,
) -> _Advertisement:
    """Announce a scheduler until the returned context manager exits.

    Parameters
    ----------
    cluster : str
        Cluster name (workers and clients of other clusters ignore it).
    host, port : str, int
        Where the Dask scheduler listens.
    api : str, optional
        URL of the rule API.
    mode : {"zeroconf", "local", "none"}
        mDNS plus the same-host registry, the registry only, or nothing.
    interfaces : sequence of str, optional
        Interfaces mDNS binds to.
    registry : Path, optional
        Registry file (default :func:`scheduler_registry_path`).
    """
    return _Advertisement(cluster=cluster, host=host, port=port, api=api, mode=mode, interfaces=interfaces,
                          registry=registry)


def _from_registry(cluster: str, path: Path) -> SchedulerInfo | None:
    if not path.exists():
        return None
    with _REGISTRY.open(path) as conn:
        rows = conn.execute("SELECT name, address, port, URI FROM dns ORDER BY creation_time DESC").fetchall()
        for name, address, port, uri in rows:
            if not _REGISTRY.alive(conn, name, address=address, port=int(port)):
                continue
            if cluster in ("", cluster_from_name(name, prefix=_PREFIX)):
                return SchedulerInfo(address=f"tcp://{address}:{port}", api=uri or None, name=name)
    return None


def _from_mdns(cluster: str, interfaces: Sequence[str] | None, timeout: float) -> SchedulerInfo | None:
    from zeroconf import ServiceBrowser

    found: list[SchedulerInfo] = []
    event = threading.Event()
    zc = zeroconf_instance(interfaces)

    def resolve(name: str) -> None:
        info = zc.get_service_info(SCHEDULER_SERVICE_TYPE, name, timeout=int(timeout * 1000))
        if info is None or not info.parsed_addresses() or info.port is None:
            return
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        if cluster in ("", props.get("cluster")):
            found.append(SchedulerInfo(f"tcp://{info.parsed_addresses()[0]}:{info.port}", props.get("api") or None,
                                       name.removesuffix("." + SCHEDULER_SERVICE_TYPE)))
            event.set()

    def on_change(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        threading.Thread(target=resolve, args=(name,), daemon=True).start()

    try:
        ServiceBrowser(zc, SCHEDULER_SERVICE_TYPE, handlers=[on_change])
        event.wait(timeout)
        return found[0] if found else None
    finally:
        zc.close()


def find_scheduler(
    cluster: str,
    *,
    config: Config | None = None,
    registry: Path | None = None,
    zeroconf: bool = True,
    interfaces: Sequence[str] | None = None,
    timeout: float = 2.0,
) -> SchedulerInfo | None:
    """The scheduler of ``cluster``: static config first, then the same-host registry, then mDNS (up to ``timeout``).

    Returns ``None`` when none is found.
    """
    if config is not None and config.scheduler_address:
        return SchedulerInfo(config.scheduler_address, config.scheduler_api, "config")
    local = _from_registry(cluster, registry or scheduler_registry_path())
    if local is not None or not zeroconf:
        return local
    if interfaces is None and config is not None:
        interfaces = config.interfaces or None
    return _from_mdns(cluster, interfaces, timeout)


def wait_for_scheduler(
    cluster: str,
    *,
    config: Config | None = None,
    registry: Path | None = None,
    zeroconf: bool = True,
    stop: threading.Event | None = None,
    retry_s: float = 1.0,
) -> SchedulerInfo | None:
    """Look for the scheduler until one appears (no start order between scheduler and workers); ``None`` if stopped."""
    stop = stop or threading.Event()
    while not stop.is_set():
        found = find_scheduler(cluster, config=config, registry=registry, zeroconf=zeroconf, timeout=retry_s)
        if found is not None:
            return found
        stop.wait(retry_s)
    return None
