"""Finding and announcing data servers: static list, PYME's same-host SQLite registry, and mDNS (zeroconf).

Wire compatibility with PYME (reference/storage-protocol.md §4.1):

* mDNS service type ``_pyme-http._tcp.local.``, instance name
  ``PYMEDataServer [<cluster>]:<computer> - PID:<id>`` (at most 63 characters), plus a TXT record
  ``cluster=<name>`` that photonflow matches exactly (PYME's substring match on a possibly truncated name, §8 C5,
  is only the fallback for servers without the TXT record).
* The same-host registry ``$TMPDIR/_pyme-http.sqlite``, table ``dns(name, address, port, creation_time, URI)``.
  photonflow also records the directory a same-host server serves in its own table ``photonflow_roots``
  (PYME ignores it), which is what lets a client read files of this host straight from disk (§8 C13).

Only the public python-zeroconf API is used (§8 C2). Nothing here reads configuration or starts threads at import.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from photonflow.errors import ConfigError
from photonflow.storage._registry import LocalRegistry

if TYPE_CHECKING:
    from zeroconf import ServiceStateChange, Zeroconf

    from photonflow.config import Config

__all__ = [
    "REGISTRY_FILENAME",
    "SERVICE_TYPE",
    "MdnsAnnouncement",
    "ServerDirectory",
    "ServerInfo",
    "advertise",
    "cluster_from_name",
    "computer_name",
    "find_servers",
    "read_registry",
    "register_local",
    "registry_path",
    "service_name",
    "unregister_local",
    "zeroconf_instance",
]

SERVICE_TYPE = "_pyme-http._tcp.local."
REGISTRY_FILENAME = "_pyme-http.sqlite"
_NAME_PREFIX = "PYMEDataServer ["
_MAX_NAME = 63
# photonflow_roots: the directory a same-host server serves (PYME ignores the table).
_REGISTRY = LocalRegistry(REGISTRY_FILENAME, side_tables=(("photonflow_roots", "name TEXT PRIMARY KEY, root TEXT"),))

Source = Literal["static", "registry", "zeroconf"]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """One data server as discovery sees it.

    Attributes
    ----------
    url : str
        Base URL, ``http://host:port`` (no trailing slash).
    name : str
        Advertised instance name (PYME format); the URL for static servers.
    cluster : str or None
        Cluster name the server announced; ``None`` when unknown (static servers).
    source : {"static", "registry", "zeroconf"}
        Where it was found.
    root : Path or None
        Directory the server serves, known only for servers on this host registered by photonflow.
    """

    url: str
    name: str
    cluster: str | None
    source: Source
    root: Path | None = None

    @property
    def host(self) -> str:
        """Host part of :attr:`url`."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """Port part of :attr:`url`."""
        return urlsplit(self.url).port or 80


# ---------------------------------------------------------------------------------------------------- names


def computer_name(environ: Mapping[str, str] | None = None) -> str:
    """The host name PYME puts into service names: ``PYME_COMPUTERNAME``, ``COMPUTERNAME``, else the node name."""
    environ = os.environ if environ is None else environ
    return environ.get("PYME_COMPUTERNAME") or environ.get("COMPUTERNAME") or platform.node().split(".")[0]


def service_name(cluster: str, *, computer: str, ident: str) -> str:
    """PYME's instance name: ``PYMEDataServer [<cluster>]:<computer> - PID:<ident>``, cut to 63 characters.

    The head is truncated (as PYME does) so that ``PID:<ident>`` always survives; a long cluster name can therefore
    be cut, which is why photonflow also advertises the cluster in a TXT record.
    """
    head = f"{_NAME_PREFIX}{cluster}]:{computer} - "
    return head[: _MAX_NAME - 4 - len(ident)] + "PID:" + ident


def cluster_from_name(name: str, *, prefix: str = _NAME_PREFIX) -> str | None:
    """The cluster name inside a PYME instance name, or ``None`` when it is absent or was truncated.

    ``prefix`` is what comes before the cluster name (other services of photonflow name themselves the same way).
    """
    if not name.startswith(prefix):
        return None
    end = name.find("]:", len(prefix))
    return None if end < 0 else name[len(prefix) : end]


def _matches(cluster: str, announced: str | None, name: str) -> bool:
    if cluster == "":
        return True  # PYME-CLUSTER:/// means every visible server
    if announced is not None:
        return announced == cluster
    return cluster_from_name(name) == cluster


# ---------------------------------------------------------------------------------------------------- SQLite


def registry_path(environ: Mapping[str, str] | None = None) -> Path:
    """Location of PYME's same-host registry, ``<temp dir>/_pyme-http.sqlite`` (``TMPDIR`` first, like PYME)."""
    return _REGISTRY.path(environ)


def register_local(name: str, *, address: str, port: int, root: Path | None = None, path: Path | None = None) -> None:
    """Add a server to the same-host registry (the row PYME's ``PYMEDataServer -a local`` writes)."""
    with _REGISTRY.open(path or registry_path()) as conn:
        _REGISTRY.insert(conn, name, address=address, port=port)
        if root is not None:
            conn.execute("INSERT OR REPLACE INTO photonflow_roots VALUES (?, ?)", (name, str(root)))


def unregister_local(name: str, *, path: Path | None = None) -> None:
    """Remove every registry row of ``name``."""
    with _REGISTRY.open(path or registry_path()) as conn:
        _REGISTRY.delete(conn, name)


def read_registry(cluster: str, *, path: Path | None = None, prune: bool = True) -> list[ServerInfo]:
    """Servers of ``cluster`` in the same-host registry, newest row per name.

    Parameters
    ----------
    cluster : str
        Cluster name; ``""`` selects every server.
    path : Path, optional
        Registry file (default :func:`registry_path`). A missing file means no servers.
    prune : bool
        Probe each row's port (0.5 s at most; a refused loopback connection answers at once) and delete the rows of
        servers that no longer listen, as PYME does when it opens the registry.
    """
    path = path or registry_path()
    if not path.exists():
        return []
    with _REGISTRY.open(path) as conn:
        rows = conn.execute(
            "SELECT d.name, d.address, d.port, r.root FROM dns d LEFT JOIN photonflow_roots r ON r.name = d.name "
            "ORDER BY d.creation_time"
        ).fetchall()
        newest = {name: (address, int(port), root) for name, address, port, root in rows}
        found: list[ServerInfo] = []
        for name, (address, port, root) in newest.items():
            if prune and not _REGISTRY.alive(conn, name, address=address, port=port):
                continue
            if _matches(cluster, None, name):
                found.append(
                    ServerInfo(
                        url=f"http://{address}:{port}",
                        name=name,
                        cluster=cluster_from_name(name),
                        source="registry",
                        root=Path(root) if root else None,
                    )
                )
    return found


# ---------------------------------------------------------------------------------------------------- zeroconf


def zeroconf_instance(interfaces: Sequence[str] | None) -> Zeroconf:
    """A python-zeroconf instance on its own event-loop thread, IPv4, bound to ``interfaces`` (default: all).

    ``use_asyncio=False``: by default python-zeroconf attaches to an event loop running in the calling thread; this
    module's blocking API (resolution, registration in a thread, waits) would then starve that loop (e.g. Playwright's
    sync API, Jupyter, or an asyncio server calling us) and fail with ``EventLoopBlocked``.
    """
    from zeroconf import InterfaceChoice, IPVersion, Zeroconf

    return Zeroconf(interfaces=list(interfaces) if interfaces else InterfaceChoice.All, ip_version=IPVersion.V4Only,
                    use_asyncio=False)


def _advertised_addresses(host: str, interfaces: Sequence[str] | None) -> list[str]:
    if host not in ("", "0.0.0.0"):
        return [host]
    if interfaces:
        return list(interfaces)
    from zeroconf import get_all_addresses

    # Every interface address (§8 C3: gethostbyname(gethostname()) picks the wrong NIC on multi-homed nodes).
    addresses = [a for a in get_all_addresses() if not a.startswith("127.")]
    return addresses or ["127.0.0.1"]


class _ZeroconfListener:
    """Collects resolved ``_pyme-http`` services; resolution runs off the browser thread (§8 C1)."""

    def __init__(self) -> None:
        # Re-entrant so a waiter holding ``changed`` can still take a snapshot.
        self._lock = threading.RLock()
        self._services: dict[str, ServerInfo] = {}
        self.changed = threading.Condition(self._lock)

    def snapshot(self) -> list[ServerInfo]:
        with self._lock:
            return list(self._services.values())

    def on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        """``ServiceBrowser`` handler (argument names are fixed by python-zeroconf)."""
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            with self.changed:
                self._services.pop(name.removesuffix("." + service_type), None)
                self.changed.notify_all()
            return
        threading.Thread(
            target=self._resolve, args=(zeroconf, service_type, name), daemon=True, name="pf-mdns-resolve"
        ).start()

    def _resolve(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is None or info.port is None:
            return
        addresses = info.parsed_addresses()
        if not addresses:
            return
        raw = info.properties.get(b"cluster")
        instance = name.removesuffix("." + type_)
        server = ServerInfo(
            url=f"http://{addresses[0]}:{info.port}",
            name=instance,
            cluster=raw.decode("utf-8", "replace") if raw is not None else cluster_from_name(instance),
            source="zeroconf",
        )
        with self.changed:
            self._services[instance] = server
            self.changed.notify_all()


# ---------------------------------------------------------------------------------------------------- browse


class ServerDirectory:
    """The live set of data servers of one cluster: static list ∪ same-host registry ∪ mDNS.

    Static and registry lookups answer at once. mDNS browsing, when enabled, runs in the background from
    construction on and its results join later answers; :meth:`servers` only waits (up to ``timeout``) when
    nothing at all is known yet. Use as a context manager, or call :meth:`close`.

    Parameters
    ----------
    cluster : str
        Cluster name; ``""`` selects every server found.
    servers : sequence of str
        Static server URLs (``http://host:port``), always included, assumed to belong to ``cluster``.
    registry : bool or Path
        Read PYME's same-host registry (``True``: the default location; a Path: that file).
    zeroconf : bool
        Browse mDNS.
    interfaces : sequence of str, optional
        Interface addresses zeroconf binds to (tests: ``["127.0.0.1"]`` so no multicast leaves the machine).
    cache_s : float
        How long a registry read is reused.
    """

    def __init__(
        self,
        cluster: str,
        *,
        servers: Sequence[str] = (),
        registry: bool | Path = True,
        zeroconf: bool = False,
        interfaces: Sequence[str] | None = None,
        cache_s: float = 1.0,
    ) -> None:
        self.cluster = cluster
        self._static = [_static_info(url) for url in servers]
        self._registry_path: Path | None = (
            None if registry is False else (registry_path() if registry is True else Path(registry))
        )
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._registry_cache: tuple[float, list[ServerInfo]] | None = None
        self._listener: _ZeroconfListener | None = None
        self._zc: Zeroconf | None = None
        self._browser: object | None = None
        if zeroconf:
            from zeroconf import ServiceBrowser

            self._listener = _ZeroconfListener()
            self._zc = zeroconf_instance(interfaces)
            self._browser = ServiceBrowser(self._zc, SERVICE_TYPE, handlers=[self._listener.on_change])

    def __enter__(self) -> ServerDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop mDNS browsing (idempotent)."""
        if self._zc is not None:
            self._zc.close()
            self._zc = None

    def servers(self, *, timeout: float = 0.0, refresh: bool = False) -> list[ServerInfo]:
        """Servers of the cluster known now; waits up to ``timeout`` s for mDNS only if none is known.

        Parameters
        ----------
        timeout : float
            Longest wait for a first mDNS answer when static list and registry are empty.
        refresh : bool
            Re-read the registry even if the cached read is recent.
        """
        found = self._merge(self._static, self._registry(refresh), self._mdns())
        if found or self._listener is None or timeout <= 0:
            return found
        deadline = time.monotonic() + timeout
        with self._listener.changed:
            while not (found := self._merge(self._static, self._registry(refresh), self._mdns())):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._listener.changed.wait(remaining)
        return found

    def _registry(self, refresh: bool) -> list[ServerInfo]:
        if self._registry_path is None:
            return []
        with self._lock:
            now = time.monotonic()
            if refresh or self._registry_cache is None or now - self._registry_cache[0] > self._cache_s:
                self._registry_cache = (now, read_registry(self.cluster, path=self._registry_path))
            return self._registry_cache[1]

    def _mdns(self) -> list[ServerInfo]:
        return [] if self._listener is None else self._listener.snapshot()

    def _merge(self, static: list[ServerInfo], local: list[ServerInfo], mdns: list[ServerInfo]) -> list[ServerInfo]:
        # Keyed by name: mDNS wins (PYME's hybrid rule) but keeps the root known from the registry; static servers
        # are keyed by URL and dropped when discovery already returned that URL.
        by_name: dict[str, ServerInfo] = {s.name: s for s in local}
        for s in mdns:
            if not _matches(self.cluster, s.cluster, s.name):
                continue
            previous = by_name.get(s.name)
            by_name[s.name] = replace(s, root=previous.root if previous else None)
        result = list(by_name.values())
        urls = {s.url for s in result}
        result.extend(s for s in static if s.url not in urls)
        return result


def _static_info(url: str) -> ServerInfo:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ConfigError(f"server {url!r} is not of the form http://host:port; fix the 'servers' setting")
    return ServerInfo(url=f"http://{parts.hostname}:{parts.port}", name=url, cluster=None, source="static")


def find_servers(
    cluster: str,
    *,
    config: Config | None = None,
    servers: Sequence[str] | None = None,
    registry: bool | Path | None = None,
    zeroconf: bool | None = None,
    interfaces: Sequence[str] | None = None,
    timeout: float = 2.0,
) -> list[ServerInfo]:
    """One-shot lookup of the servers of ``cluster``.

    Static servers and the same-host registry answer at once; mDNS is only waited for (up to ``timeout`` seconds,
    returning at the first answer) when they found nothing.

    Parameters
    ----------
    cluster : str
        Cluster name; ``""`` = every server.
    config : Config, optional
        Supplies ``servers`` and ``hybrid_ns`` (registry on/off) when those arguments are not given.
    servers : sequence of str, optional
        Static URLs.
    registry : bool or Path, optional
        Read the same-host registry (default ``config.hybrid_ns``, else ``True``).
    zeroconf : bool, optional
        Browse mDNS (default ``True``).
    interfaces : sequence of str, optional
        Interfaces zeroconf binds to.
    timeout : float
        Longest wait for mDNS.
    """
    if servers is None:
        servers = config.servers if config is not None else ()
    if registry is None:
        registry = config.hybrid_ns if config is not None else True
    with ServerDirectory(
        cluster,
        servers=servers,
        registry=registry,
        zeroconf=True if zeroconf is None else zeroconf,
        interfaces=interfaces,
    ) as directory:
        return directory.servers(timeout=timeout)


# ---------------------------------------------------------------------------------------------------- advertise


class MdnsAnnouncement:
    """One mDNS service registration on its own zeroconf instance, until :meth:`close`.

    Registration (mDNS probing takes ~1.5 s by protocol) runs in the background, so a service can serve at once.

    Parameters
    ----------
    service_type : str
        E.g. :data:`SERVICE_TYPE`.
    instance : str
        Instance name (at most 63 characters).
    addresses : sequence of str
        IPv4 addresses announced.
    port : int
        Port announced.
    properties : Mapping[str, str]
        TXT record.
    interfaces : sequence of str, optional
        Interface addresses zeroconf binds to (default: all).
    """

    def __init__(
        self,
        service_type: str,
        instance: str,
        *,
        addresses: Sequence[str],
        port: int,
        properties: Mapping[str, str],
        interfaces: Sequence[str] | None,
    ) -> None:
        from zeroconf import ServiceInfo

        # Its own instance, never the caller's event loop (which close() would block).
        self._zc: Zeroconf | None = zeroconf_instance(interfaces)
        self._info = ServiceInfo(
            service_type,
            f"{instance}.{service_type}",
            addresses=[socket.inet_aton(a) for a in addresses],
            port=port,
            properties=dict(properties),
        )
        self._thread = threading.Thread(
            target=self._zc.register_service, args=(self._info,), daemon=True, name="pf-mdns-register"
        )
        self._thread.start()

    def close(self) -> None:
        """Unregister and stop zeroconf (idempotent)."""
        if self._zc is None:
            return
        self._thread.join()
        with contextlib.suppress(Exception):  # already gone (e.g. name conflict during probing)
            self._zc.unregister_service(self._info)
        self._zc.close()
        self._zc = None


class _Advertisement:
    """Registration of one server; undone by :meth:`close` (also on ``__exit__``)."""

    def __init__(
        self,
        *,
        cluster: str,
        host: str,
        port: int,
        mode: str,
        root: Path | None,
        interfaces: Sequence[str] | None,
        registry: Path | None,
    ) -> None:
        if mode not in ("zeroconf", "local", "none"):
            raise ConfigError(f"advertise mode must be zeroconf, local or none, not {mode!r}")
        self.name = service_name(cluster, computer=computer_name(), ident=f"{os.getpid()}.{port}")
        self._registry = registry
        self._registered_local = False
        self._mdns: MdnsAnnouncement | None = None
        if mode == "none":
            return
        local_address = "127.0.0.1" if host in ("", "0.0.0.0") or host.startswith("127.") else host
        register_local(self.name, address=local_address, port=port, root=root, path=registry)
        self._registered_local = True
        if mode == "zeroconf":
            self._mdns = MdnsAnnouncement(
                SERVICE_TYPE,
                self.name,
                addresses=_advertised_addresses(host, interfaces),
                port=port,
                properties={"cluster": cluster},
                interfaces=interfaces,
            )

    def __enter__(self) -> _Advertisement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unregister everywhere (idempotent)."""
        if self._mdns is not None:
            self._mdns.close()
            self._mdns = None
        if self._registered_local:
            unregister_local(self.name, path=self._registry)
            self._registered_local = False


def advertise(
    *,
    cluster: str,
    host: str,
    port: int,
    mode: Literal["zeroconf", "local", "none"],
    root: Path | None = None,
    interfaces: Sequence[str] | None = None,
    registry: Path | None = None,
) -> _Advertisement:
    """Announce a data server until the returned context manager exits.

    Parameters
    ----------
    cluster : str
        Cluster name, put in the PYME instance name and in the TXT record ``cluster=<name>``.
    host : str
        Address the server is bound to (``0.0.0.0``: every interface address is advertised).
    port : int
        The bound port.
    mode : {"zeroconf", "local", "none"}
        ``zeroconf``: mDNS and the same-host registry (so PYME clients of either kind find it, §8 C4);
        ``local``: the registry only; ``none``: nothing.
    root : Path, optional
        Directory served; recorded in the registry so same-host clients may read files from disk directly.
    interfaces : sequence of str, optional
        Interface addresses zeroconf binds to (tests: ``["127.0.0.1"]``).
    registry : Path, optional
        Registry file (default :func:`registry_path`).

    Returns
    -------
    context manager
        Has ``name`` (the instance name) and ``close()``.
    """
    return _Advertisement(
        cluster=cluster, host=host, port=port, mode=mode, root=root, interfaces=interfaces, registry=registry
    )
