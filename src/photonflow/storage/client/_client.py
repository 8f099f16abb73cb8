"""``ClusterClient``: the union of every data server of a cluster as one write-once file tree (§4)."""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from photonflow.errors import (
    AlreadyExistsError,
    ConfigError,
    InsufficientStorageError,
    NotFoundError,
    ProtocolError,
    ServerUnavailableError,
    StorageError,
)
from photonflow.storage.discovery import ServerDirectory, ServerInfo

from ._http import Response, ServerConnection, error_for_status
from ._listing import DIRECTORY, DirectoryListing, Entry, merge_listings, parse_listing
from ._local import local_file
from ._paths import format_uri, is_uri, normalize_dir, normalize_path, parse_uri, quote_path, split_parent
from ._pipeline import pipelined_put
from ._placement import rank_servers
from ._ranges import RangeReader, range_header, slice_of_answer
from ._types import FileStat, ServerStatus

if TYPE_CHECKING:
    from photonflow.config import Config

__all__ = ["ClusterClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# After a connection failure a server is skipped (reported unavailable without being asked) for this long, so a
# hung node costs one timeout, not one per call.
_DOWN_S = 2.0
_FREE_SPACE_TTL_S = 5.0
_MAX_LISTINGS = 4096
_Cached = tuple[float, dict[str, Entry] | None]


class ClusterClient:
    """Read and write the files of one cluster, across all its data servers.

    Parameters
    ----------
    cluster : str, optional
        Cluster name (PYME's serverfilter); ``""`` = every visible server. Default ``config.cluster``.
    servers : sequence of str, optional
        Static server URLs (``http://host:port``) used besides discovery. Default ``config.servers``.
    token : str, optional
        Cluster token sent as ``Authorization: Bearer``. Default ``config.token``.
    config : Config, optional
        Source of the defaults above and of ``hybrid_ns`` (same-host registry) and ``interfaces`` (mDNS).
    registry : bool or Path, optional
        Read PYME's same-host registry (default ``config.hybrid_ns``, else True); a Path names the file.
    zeroconf : bool, optional
        Browse mDNS. Default: only when no static server was given.
    interfaces : sequence of str, optional
        Interface addresses mDNS binds to (tests: ``["127.0.0.1"]``). Default ``config.interfaces``, else all.
    timeout_s : float
        Socket timeout of file GETs and PUTs.
    listing_timeout_s : float
        Socket timeout of listings, globs and status requests.
    listing_ttl_s : float
        How long a server's listing of a directory is reused. The client's own writes update it at once.
    cache_bytes : int
        Memory for cached file contents (files up to ``cache_file_limit`` bytes).
    cache_file_limit : int
        Largest file whose content is cached.
    local_reads : bool
        Read files that a data server on this host serves straight from its disk.
    pool_size : int
        Idle keep-alive connections kept per server.
    max_workers : int
        Threads used to ask several servers at once.
    discovery_timeout_s : float
        Longest wait for a first mDNS answer when no server is known otherwise.

    Examples
    --------
    >>> with ClusterClient("lab", servers=["http://127.0.0.1:15348"]) as c:  # doctest: +SKIP
    ...     c.put_file("run1/notes.txt", b"hello")
    ...     c.get_file("PYME-CLUSTER://lab/run1/notes.txt")
    b'hello'
    """

    def __init__(
        self,
        cluster: str | None = None,
        servers: Sequence[str] | None = None,
        *,
        token: str | None = None,
        config: Config | None = None,
        registry: bool | Path | None = None,
        zeroconf: bool | None = None,
        interfaces: Sequence[str] | None = None,
        timeout_s: float = 30.0,
        listing_timeout_s: float = 10.0,
        listing_ttl_s: float = 1.0,
        cache_bytes: int = 64 << 20,
        cache_file_limit: int = 1 << 20,
        local_reads: bool = True,
        pool_size: int = 4,
        max_workers: int = 8,
        discovery_timeout_s: float = 2.0,
    ) -> None:
        if cluster is None:
            if config is None:
                raise ConfigError("ClusterClient needs cluster= or config= (the cluster name to talk to)")
            cluster = config.cluster
        if servers is None:
            servers = config.servers if config is not None else ()
        if token is None and config is not None:
            token = config.token
        if registry is None:
            registry = config.hybrid_ns if config is not None else True
        if interfaces is None and config is not None:
            interfaces = config.interfaces or None
        self.cluster = cluster
        self._token = token
        self._timeout = timeout_s
        self._listing_timeout = listing_timeout_s
        self._ttl = listing_ttl_s
        self._cache_bytes = cache_bytes
        self._cache_file_limit = cache_file_limit
        self._local_reads = local_reads
        self._pool_size = pool_size
        self._max_workers = max_workers
        self._discovery_timeout = discovery_timeout_s
        self._directory = ServerDirectory(
            cluster,
            servers=servers,
            registry=registry,
            zeroconf=not servers if zeroconf is None else zeroconf,
            interfaces=interfaces,
        )
        self._lock = threading.Lock()
        self._connections: dict[str, ServerConnection] = {}
        self._down_until: dict[str, float] = {}
        self._listings: dict[tuple[str, str], _Cached] = {}
        self._content: OrderedDict[str, bytes] = OrderedDict()
        self._content_size = 0
        self._last_used: dict[str, float] = {}
        self._free: dict[str, tuple[float, int | None]] = {}
        # directory → servers that served or stored its files, latest first: asked before listing it for the next.
        self._dir_holders: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close connections, worker threads and mDNS browsing."""
        self._directory.close()
        with self._lock:
            executor, self._executor = self._executor, None
            connections = list(self._connections.values())
            self._connections.clear()
        if executor is not None:
            executor.shutdown(wait=True)
        for conn in connections:
            conn.close()

    # ------------------------------------------------------------------------------------------------ servers

    def servers(self) -> list[ServerInfo]:
        """The servers of the cluster known now, those on this host first.

        Raises
        ------
        ServerUnavailableError
            None was found.
        """
        found = self._directory.servers(timeout=self._discovery_timeout)
        if not found:
            raise ServerUnavailableError(
                f"no data server of cluster {self.cluster!r} found; start one with "
                f"`photonflow dataserver --cluster {self.cluster}` or pass --servers http://host:port"
            )
        return sorted(found, key=lambda s: s.root is None)

    def _connection(self, url: str) -> ServerConnection:
        with self._lock:
            conn = self._connections.get(url)
            if conn is None:
                conn = self._connections[url] = ServerConnection(url, token=self._token, pool_size=self._pool_size)
            return conn

    def _is_down(self, url: str) -> bool:
        return self._down_until.get(url, 0.0) > time.monotonic()

    def _mark_down(self, url: str) -> None:
        self._down_until[url] = time.monotonic() + _DOWN_S
        self._connection(url).close()

    def _request(
        self,
        url: str,
        method: str,
        target: str,
        *,
        path: str,
        timeout: float,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        try:
            response = self._connection(url).request(
                method, target, timeout=timeout, path=path, body=body, headers=headers
            )
        except ServerUnavailableError:
            self._mark_down(url)
            raise
        self._down_until.pop(url, None)
        return response

    def _map(self, fn: Callable[[ServerInfo], T], servers: Sequence[ServerInfo]) -> list[T | BaseException]:
        """``fn`` on every server, in parallel; each result or the exception it raised, in order."""

        def guarded(server: ServerInfo) -> T | BaseException:
            try:
                return fn(server)
            except StorageError as exc:
                return exc

        if len(servers) <= 1:
            return [guarded(s) for s in servers]
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="pf-cluster")
            executor = self._executor
        return list(executor.map(guarded, servers))

    # ------------------------------------------------------------------------------------------------ paths

    def _path(self, path: str) -> str:
        if is_uri(path):
            uri = parse_uri(path)
            if uri.cluster not in ("", self.cluster):
                raise ValueError(
                    f"{path!r} names cluster {uri.cluster!r} but this client talks to {self.cluster!r}; "
                    f"open ClusterClient(cluster={uri.cluster!r}) for it"
                )
            return uri.path
        return normalize_path(path)

    @property
    def token(self) -> str | None:
        """The cluster token this client sends (``None``: none), for parts that open their own connections."""
        return self._token

    def uri(self, path: str) -> str:
        """``PYME-CLUSTER://<cluster>/<path>`` for ``path``."""
        return format_uri(self.cluster, self._path(path))

    # ------------------------------------------------------------------------------------------------ listings

    def _list_one(self, server: ServerInfo, directory: str, *, fresh: bool = False) -> dict[str, Entry] | None:
        """One server's listing of ``directory`` (``None``: not there); raises ServerUnavailableError."""
        if self._is_down(server.url):
            raise ServerUnavailableError(f"{server.url} failed recently; skipped for {_DOWN_S:g} s")
        key = (server.url, directory)
        cached = self._listings.get(key)
        if cached is not None and not fresh and time.monotonic() - cached[0] <= self._ttl:
            return cached[1]
        started = time.monotonic()
        response = self._request(
            server.url, "GET", quote_path(directory), path=directory, timeout=self._listing_timeout
        )
        if response.status == 404:
            entries = None
        elif response.status == 200:
            entries = parse_listing(response.body, server=server.url, path=directory)
        else:
            raise error_for_status(response.status, server=server.url, path=directory, reason=response.reason)
        self._store_listing(key, (started, entries))
        return entries

    def _store_listing(self, key: tuple[str, str], value: _Cached) -> None:
        if len(self._listings) >= _MAX_LISTINGS:
            horizon = time.monotonic() - self._ttl
            for old in [k for k, (t, _) in list(self._listings.items()) if t < horizon]:
                self._listings.pop(old, None)
        self._listings[key] = value

    def listdirectory(self, path: str = "", *, fresh: bool = False) -> DirectoryListing:
        """Merged listing of a directory: name → :class:`Entry` (type flags, size); directories end in ``/``.

        A server that does not answer is left out and named in ``.unavailable`` (and logged); the others still
        answer.

        Parameters
        ----------
        path : str
            Directory (cluster path or ``PYME-CLUSTER://`` URI); ``""`` is the root.
        fresh : bool
            Ignore cached listings.

        Raises
        ------
        NotFoundError
            No reachable server has the directory.
        ServerUnavailableError
            No server answered.
        """
        directory = normalize_dir(self._path(path))
        servers = self.servers()
        results = self._map(lambda s: self._list_one(s, directory, fresh=fresh), servers)
        found: list[dict[str, Entry]] = []
        locations: dict[str, list[str]] = {}
        unavailable: list[str] = []
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, ServerUnavailableError):
                unavailable.append(server.url)
                log.warning("listing /%s without %s: %s", directory, server.url, result)
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                found.append(result)
                for name in result:
                    locations.setdefault(name, []).append(server.url)
        if len(unavailable) == len(servers):
            raise ServerUnavailableError(
                f"no data server of cluster {self.cluster!r} answered listing /{directory}: {', '.join(unavailable)}"
            )
        if not found and directory:
            missing = f" (unreachable, may hold it: {', '.join(unavailable)})" if unavailable else ""
            raise NotFoundError(f"directory /{directory} not found on cluster {self.cluster!r}{missing}")
        return DirectoryListing(
            path=directory.rstrip("/"),
            entries=merge_listings(found),
            locations={k: tuple(v) for k, v in locations.items()},
            unavailable=tuple(unavailable),
        )

    def listdir(self, path: str = "") -> list[str]:
        """Sorted names in a directory (sub-directories end in ``/``). Raises as :meth:`listdirectory`."""
        return sorted(self.listdirectory(path))

    def _parent_listing(self, path: str, *, fresh: bool = False) -> DirectoryListing | None:
        parent, _ = split_parent(path)
        try:
            return self.listdirectory(parent, fresh=fresh)
        except NotFoundError:
            return None

    def stat(self, path: str) -> FileStat:
        """Type, size and holders of a file or directory.

        Raises
        ------
        NotFoundError
            It does not exist.
        """
        path = self._path(path)
        if not path:
            return FileStat(path="", type=1, size=0, servers=tuple(s.url for s in self.servers()))
        _, name = split_parent(path)
        listing = self._parent_listing(path)
        if listing is not None:
            for key in (name, name + "/"):
                if key in listing:
                    entry = listing[key]
                    return FileStat(path=path, type=entry.type, size=entry.size, servers=listing.locations[key])
        raise NotFoundError(f"/{path} not found on cluster {self.cluster!r}")

    def exists(self, path: str) -> bool:
        """Whether a file or directory of that path exists on some server."""
        try:
            self.stat(path)
        except NotFoundError:
            return False
        return True

    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a directory on some server."""
        try:
            return self.stat(path).is_dir
        except NotFoundError:
            return False

    def walk(self, top: str = "") -> Iterator[tuple[str, list[str], list[str]]]:
        """Like :func:`os.walk`, top-down: ``(dirpath, dirnames, filenames)`` with names without ``/``."""
        top = self._path(top)
        try:
            listing = self.listdirectory(top)
        except NotFoundError:
            return
        dirs = sorted(n.rstrip("/") for n in listing if n.endswith("/"))
        files = sorted(n for n in listing if not n.endswith("/"))
        yield top, dirs, files
        for d in dirs:
            yield from self.walk(f"{top}/{d}" if top else d)

    def glob(self, pattern: str) -> list[str]:
        """Cluster paths matching a glob pattern (``*``, ``?``, ``[]``; no ``**``), merged over all servers.

        Raises
        ------
        ServerUnavailableError
            No server answered.
        """
        pattern = self._path(pattern)
        target = "/__glob?pattern=" + quote(pattern, safe="/*[]")
        servers = self.servers()

        def one(server: ServerInfo) -> list[str]:
            response = self._request(server.url, "GET", target, path=pattern, timeout=self._listing_timeout)
            if response.status != 200:
                raise error_for_status(response.status, server=server.url, path=pattern, reason=response.reason)
            try:
                names = json.loads(response.body)
            except ValueError as exc:
                raise ProtocolError(f"{server.url} answered a glob with non-JSON: {exc}") from exc
            return [str(n) for n in names]

        results = self._map(one, servers)
        matches: set[str] = set()
        failures = []
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("glob %s without %s: %s", pattern, server.url, result)
                failures.append(result)
            else:
                matches.update(result)
        if len(failures) == len(servers):
            raise failures[0]
        return sorted(matches)

    # ------------------------------------------------------------------------------------------------ reading

    def get_file(self, path: str, *, server: str | None = None) -> bytes:
        """The whole content of a file.

        Order of attempts: this host's data server's disk (if it serves the file); ``server`` when given; the
        content cache (validated against the listed size, so an appended file is never served stale); the servers
        that served or stored files of the same directory, latest first; then each server the parent's listing
        names as a holder, then every other reachable server (for paths no listing shows, e.g.
        ``x.h5r/Table.json``). Only a miss (404, or no answer) on every guess costs a listing of the parent
        directory. Files read without that listing are not kept in the content cache (they could not be
        validated later without one).

        Parameters
        ----------
        path : str
            Cluster path or ``PYME-CLUSTER://`` URI.
        server : str, optional
            URL of a server believed to hold the file (e.g. from a listing the caller just made): asked first,
            without listing the directory. A server this client does not know is not asked.

        Raises
        ------
        NotFoundError
            No server has it.
        ServerUnavailableError
            It was not found on any reachable server, but some server could not be asked.
        """
        path = self._path(path)
        if not path:
            raise NotFoundError("the cluster root is a directory, not a file")
        servers = self.servers()
        if self._local_reads:
            for info in servers:
                if info.root is not None and (local := local_file(info.root, path)) is not None:
                    return local.read_bytes()
        known = {s.url for s in servers}
        parent, name = split_parent(path)
        directory = normalize_dir(parent)
        asked: set[str] = set()
        unavailable: list[str] = []
        if server is not None and server in known:
            body = self._get_from(server, path, asked, unavailable)
            if body is not None:
                return body
        cached = self._cached_content(path)
        for guess in self._dir_holders.get(directory, ()) if cached is None else ():
            if guess in known and guess not in asked and not self._is_down(guess):
                body = self._get_from(guess, path, asked, unavailable)
                if body is not None:
                    return body
        listing = self._parent_listing(path)
        holders: tuple[str, ...] = ()
        if listing is not None and name in listing:
            holders = listing.locations[name]
            if cached is not None and len(cached) == listing[name].size:
                return cached
        others = [s.url for s in servers if s.url not in holders]
        for url in [*holders, *others]:
            if url in asked:
                continue
            body = self._get_from(url, path, asked, unavailable)
            if body is not None:
                self._remember_content(path, body)
                return body
        if unavailable:
            raise ServerUnavailableError(
                f"/{path} not found on the reachable servers of {self.cluster!r}; unreachable: {', '.join(unavailable)}"
            )
        raise NotFoundError(f"/{path} not found on cluster {self.cluster!r}")

    def _get_from(self, url: str, path: str, asked: set[str], unavailable: list[str]) -> bytes | None:
        """The file from one server; ``None`` when it answers 404 or not at all (then noted in ``unavailable``)."""
        asked.add(url)
        try:
            response = self._request(url, "GET", quote_path(path), path=path, timeout=self._timeout)
        except ServerUnavailableError:
            unavailable.append(url)
            return None
        if response.status == 404:
            return None
        if response.status != 200:
            raise error_for_status(response.status, server=url, path=path, reason=response.reason)
        self._note_holder(path, url)
        return response.body

    def _note_holder(self, path: str, url: str) -> None:
        directory = normalize_dir(split_parent(path)[0])
        with self._lock:
            previous = self._dir_holders.pop(directory, ())
            self._dir_holders[directory] = (url, *(u for u in previous if u != url))
            if len(self._dir_holders) > _MAX_LISTINGS:
                self._dir_holders.popitem(last=False)

    def read_range(self, path: str, offset: int, size: int, *, servers: Sequence[str] | None = None) -> bytes:
        """Up to ``size`` bytes of a file from ``offset`` (fewer only at its end), with an HTTP ``Range`` GET.

        Parameters
        ----------
        path : str
            Cluster path or ``PYME-CLUSTER://`` URI.
        offset, size : int
            First byte and byte count.
        servers : sequence of str, optional
            URLs of the servers holding the file, tried in order (e.g. ``FileStat.servers``); default: the
            holders the parent directory's listing names.

        Raises
        ------
        NotFoundError
            No holder has the file.
        ServerUnavailableError
            No holder answered.
        """
        path = self._path(path)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        if size <= 0:
            return b""
        holders = tuple(servers) if servers is not None else self.stat(path).servers
        headers = {"Range": range_header(offset, size)}
        failures: list[str] = []
        for url in holders:
            try:
                response = self._request(
                    url, "GET", quote_path(path), path=path, timeout=self._timeout, headers=headers
                )
            except ServerUnavailableError as exc:
                failures.append(str(exc))
                continue
            if response.status in (200, 206, 416):
                return slice_of_answer(response.status, response.body, offset=offset, size=size)
            if response.status != 404:
                raise error_for_status(response.status, server=url, path=path, reason=response.reason)
        if failures:
            raise ServerUnavailableError(f"no holder of /{path} answered: {'; '.join(failures)}")
        raise NotFoundError(f"/{path} not found on its holders {', '.join(holders) or '(none listed)'}")

    def open(self, path: str, *, block: int = 1 << 20) -> RangeReader:
        """A read-only, seekable binary file object over a cluster file, fetched ``block`` bytes at a time.

        Raises
        ------
        NotFoundError
            No such file.
        IsADirectoryError
            ``path`` is a directory.
        """
        found = self.stat(path)
        if found.is_dir:
            raise IsADirectoryError(f"/{found.path} is a directory; list it with listdir()")
        return RangeReader(self, found, block=block)

    def modified(self, path: str, *, servers: Sequence[str] | None = None) -> float | None:
        """Modification time (POSIX seconds) the first answering holder reports, or ``None`` if none does.

        Parameters
        ----------
        path : str
            Cluster path or ``PYME-CLUSTER://`` URI.
        servers : sequence of str, optional
            Holders to ask (default: those the parent directory's listing names).
        """
        path = self._path(path)
        holders = tuple(servers) if servers is not None else self.stat(path).servers
        for url in holders:
            try:
                response = self._request(url, "HEAD", quote_path(path), path=path, timeout=self._timeout)
            except ServerUnavailableError:
                continue
            stamp = response.headers.get("last-modified")
            if response.status == 200 and stamp:
                return email.utils.parsedate_to_datetime(stamp).timestamp()
        return None

    def _cached_content(self, path: str) -> bytes | None:
        with self._lock:
            data = self._content.get(path)
            if data is not None:
                self._content.move_to_end(path)
            return data

    def _remember_content(self, path: str, data: bytes) -> None:
        if len(data) > self._cache_file_limit:
            return
        with self._lock:
            previous = self._content.pop(path, None)
            if previous is not None:
                self._content_size -= len(previous)
            self._content[path] = data
            self._content_size += len(data)
            while self._content_size > self._cache_bytes:
                _, dropped = self._content.popitem(last=False)
                self._content_size -= len(dropped)

    # ------------------------------------------------------------------------------------------------ writing

    def _check_new_name(self, path: str) -> None:
        if not path:
            raise ValueError("a file needs a name; the cluster root cannot be written")
        if path.split("/", 1)[0].startswith("__"):
            raise ValueError(f"/{path}: names starting with '__' are reserved for server endpoints")

    def _placement(self, servers: Sequence[ServerInfo], size: int) -> list[str]:
        now = time.monotonic()
        stale = [s for s in servers if now - self._free.get(s.url, (-1e9, None))[0] > _FREE_SPACE_TTL_S]
        if stale:
            for status in self._statuses(stale, timeout=min(self._listing_timeout, 2.0)):
                self._free[status.url] = (now, status.free)
        free = {s.url: self._free.get(s.url, (0.0, None))[1] for s in servers}
        ranked = rank_servers([s.url for s in servers], size=size, free=free, last_used=self._last_used)
        return [url for url in ranked if not self._is_down(url)] + [url for url in ranked if self._is_down(url)]

    def _note_written(
        self, url: str, path: str, size: int, data: bytes | None, servers: Sequence[ServerInfo], *, kind: int = 0
    ) -> None:
        """Keep caches true to our own write: patch the directory's listing, drop its ancestors' listings."""
        self._last_used[url] = time.monotonic()
        parent, name = split_parent(path)
        key = (url, normalize_dir(parent))
        cached = self._listings.get(key)
        if cached is not None:
            entries = dict(cached[1] or {})
            entries[name + "/" if kind & DIRECTORY else name] = Entry(kind, size)
            self._listings[key] = (cached[0], entries)
        if not kind & DIRECTORY:
            self._note_holder(path, url)
        if parent:
            # The entry of each ancestor's child changed (new directory, or a larger count) on this server.
            parts = parent.split("/")
            ancestors = ["", *("/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1))]
            for server in servers:
                for ancestor in ancestors:
                    self._listings.pop((server.url, ancestor), None)
        if data is not None:
            self._remember_content(path, data)

    def put_file(self, path: str, data: bytes) -> str:
        """Create a new file; returns the URL it was stored at.

        The server is chosen by free space and least recent use; on a connection failure or a full server the
        next one is tried.

        Raises
        ------
        AlreadyExistsError
            The name exists on some server (files are write-once).
        InsufficientStorageError
            Every server is full.
        ServerUnavailableError
            No server could take it.
        """
        path = self._path(path)
        self._check_new_name(path)
        data = bytes(data)
        listing = self._parent_listing(path)
        _, name = split_parent(path)
        if listing is not None and (name in listing or name + "/" in listing):
            holders = listing.locations.get(name) or listing.locations.get(name + "/", ())
            raise AlreadyExistsError(
                f"/{path} already exists on {', '.join(holders)}; cluster files are write-once, choose a new name"
            )
        servers = self.servers()
        last_error: StorageError | None = None
        for url in self._placement(servers, len(data)):
            try:
                response = self._request(url, "PUT", quote_path(path), path=path, timeout=self._timeout, body=data)
            except ServerUnavailableError as exc:
                log.warning("writing /%s: %s; trying another server", path, exc)
                last_error = exc
                continue
            if response.status == 200 or (
                response.status in (405, 409) and response.retried and self._holds(url, path, data)
            ):
                self._note_written(url, path, len(data), data, servers)
                return f"{url}{quote_path(path)}"
            last_error = self._full_or_raise(url, path, response)
        assert last_error is not None
        raise last_error

    def _full_or_raise(self, url: str, path: str, response: Response) -> InsufficientStorageError:
        """Raise the error of a failed write, unless the server is full (507): then note it and return the error.

        The caller then tries the next server, and raises the returned error if none is left.
        """
        error = error_for_status(response.status, server=url, path=path, reason=response.reason)
        if not isinstance(error, InsufficientStorageError):
            raise error
        self._free[url] = (time.monotonic(), 0)
        return error

    def _holds(self, url: str, path: str, data: bytes) -> bool:
        """Whether ``url`` already stores exactly ``data`` at ``path`` (our own earlier, unacknowledged PUT)."""
        try:
            response = self._request(url, "GET", quote_path(path), path=path, timeout=self._timeout)
        except ServerUnavailableError:
            return False
        return response.status == 200 and response.body == data

    def mkdir(self, path: str, *, exist_ok: bool = False) -> str:
        """Create an empty directory (and its missing parents); returns the URL of the server that made it.

        It is a ``PUT <path>/`` with an empty body (the protocol's mkdir, §1.5) on the server a new file would go
        to. Directories exist per server: files later written inside it may land on other servers.

        Parameters
        ----------
        path : str
            Cluster path or ``PYME-CLUSTER://`` URI.
        exist_ok : bool
            An existing directory of that name is not an error (its first holder's URL is returned).

        Raises
        ------
        AlreadyExistsError
            A file of that name exists, or a directory and ``exist_ok`` is false.
        InsufficientStorageError
            Every server is full.
        ServerUnavailableError
            No server could take it.
        """
        path = self._path(path).rstrip("/")
        self._check_new_name(path)
        listing = self._parent_listing(path, fresh=True)
        _, name = split_parent(path)
        if listing is not None:
            existing = self._existing_dir(listing, name, path, exist_ok=exist_ok)
            if existing is not None:
                return existing
        servers = self.servers()
        last_error: StorageError | None = None
        for url in self._placement(servers, 0):
            try:
                response = self._request(url, "PUT", quote_path(path) + "/", path=path, timeout=self._timeout, body=b"")
            except ServerUnavailableError as exc:
                log.warning("creating /%s/: %s; trying another server", path, exc)
                last_error = exc
                continue
            # A 405 after a resent request is our own first PUT having landed.
            if response.status == 200 or (response.status in (405, 409) and response.retried):
                self._note_written(url, path, 2, None, servers, kind=DIRECTORY)
                return f"{url}{quote_path(path)}/"
            if response.status in (405, 409):
                listing = self._parent_listing(path, fresh=True)
                if listing is not None and (existing := self._existing_dir(listing, name, path, exist_ok=exist_ok)):
                    return existing
            last_error = self._full_or_raise(url, path, response)
        assert last_error is not None
        raise last_error

    @staticmethod
    def _existing_dir(listing: DirectoryListing, name: str, path: str, *, exist_ok: bool) -> str | None:
        """The first holder's URL of an existing directory ``name`` when ``exist_ok``; raises when it is taken."""
        if name in listing:
            raise AlreadyExistsError(f"/{path} exists as a file; choose another directory name")
        holders = listing.locations.get(name + "/", ())
        if not holders:
            return None
        if not exist_ok:
            raise AlreadyExistsError(f"directory /{path} already exists (pass exist_ok=True to accept it)")
        return f"{holders[0]}{quote_path(path)}/"

    def put_files(self, files: Sequence[tuple[str, bytes]], *, timeout_s: float | None = None) -> list[str]:
        """Create many files with raw pipelined PUTs on one connection (PYME's ``put_files``, §4.7).

        All go to one server chosen as in :meth:`put_file`. Only files the server acknowledged count as stored;
        if the connection fails, the unacknowledged ones go to the next server (never the whole batch again).
        Names are not checked against other servers first (speed): the server's write-once rule still holds.

        Returns
        -------
        list of str
            The URL of each file, in order.

        Raises
        ------
        AlreadyExistsError
            Some names existed on the server (the others were stored); the message lists them.
        ServerUnavailableError, InsufficientStorageError
            Some files could not be stored anywhere.
        """
        items = [(self._path(p), bytes(d)) for p, d in files]
        for path, _ in items:
            self._check_new_name(path)
        urls: dict[int, str] = {}
        pending = list(range(len(items)))
        existing: list[str] = []
        last_error: StorageError | None = None
        servers = self.servers()
        for url in self._placement(servers, sum(len(items[i][1]) for i in pending)):
            if not pending:
                break
            conn = self._connection(url)
            batch = [items[i] for i in pending]
            result = pipelined_put(conn.host, conn.port, batch, token=self._token, timeout=timeout_s or self._timeout)
            retry: list[int] = []
            for index, status in zip(pending, result.statuses, strict=False):
                path, data = items[index]
                if status == 200:
                    urls[index] = f"{url}{quote_path(path)}"
                    self._note_written(url, path, len(data), None, servers)
                elif status in (405, 409):
                    existing.append(path)
                elif status == 507:
                    self._free[url] = (time.monotonic(), 0)
                    last_error = error_for_status(status, server=url, path=path)
                    retry.append(index)
                else:
                    raise error_for_status(status, server=url, path=path)
            unanswered = pending[len(result.statuses) :]
            if result.error is not None:
                self._mark_down(url)
                last_error = ServerUnavailableError(
                    f"{url} failed after {len(result.statuses)} of {len(batch)} pipelined PUTs: {result.error}"
                )
                log.warning("%s; sending the remaining %d elsewhere", last_error, len(unanswered))
            else:
                self._down_until.pop(url, None)
            pending = retry + unanswered
        if existing:
            raise AlreadyExistsError(
                f"{len(existing)} of {len(items)} files already existed and were not written (write-once): "
                + ", ".join(existing[:10])
                + (" …" if len(existing) > 10 else "")
            )
        if pending:
            assert last_error is not None
            raise last_error
        return [urls[i] for i in range(len(items))]

    # ------------------------------------------------------------------------------------------------ status

    def _statuses(self, servers: Sequence[ServerInfo], *, timeout: float) -> list[ServerStatus]:
        def one(server: ServerInfo) -> ServerStatus:
            try:
                response = self._request(server.url, "GET", "/__status", path="__status", timeout=timeout)
            except ServerUnavailableError as exc:
                return ServerStatus(url=server.url, name=server.name, responsive=False, error=str(exc))
            if response.status != 200:
                reason = f"HTTP {response.status} {response.reason}"
                return ServerStatus(url=server.url, name=server.name, responsive=False, error=reason)
            try:
                info = json.loads(response.body)
                disk = info.get("Disk", {})
            except (ValueError, AttributeError) as exc:
                return ServerStatus(url=server.url, name=server.name, responsive=False, error=f"bad status: {exc}")
            return ServerStatus(
                url=server.url,
                name=server.name,
                responsive=True,
                free=_int_or_none(disk.get("free")),
                total=_int_or_none(disk.get("total")),
                used=_int_or_none(disk.get("used")),
                info=info,
            )

        results = self._map(one, servers)
        return [r for r in results if isinstance(r, ServerStatus)]

    def status(self, *, timeout_s: float = 2.0) -> list[ServerStatus]:
        """``/__status`` of every server; those that do not answer in ``timeout_s`` are ``responsive=False``."""
        return self._statuses(self.servers(), timeout=timeout_s)


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None
