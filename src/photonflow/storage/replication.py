"""Keep every file of a cluster on ``replicas`` distinct data servers (successor of PYME's ``PYMEClusterDup``, §6).

One pass (:meth:`Replicator.run_once`) walks every healthy server's tree, finds files held by fewer than
``replicas`` healthy servers and has a new holder copy each one itself with ``PUT <path>?MirrorSource=<source>``
(the server accepts only sources of its own cluster, §1.5). Each copy is then verified: same size and SHA-256 on
source and destination, read back in byte ranges. The same pass is the repair: after a server is lost (or replaced
by an empty one) the files it held are short of copies and get new ones.

Rules that keep a lab's only copy safe:

* files are never deleted or overwritten: a copy is a new write-once file, so a bad copy cannot destroy a good one;
* the destination of a file is chosen by rendezvous hashing of its path over the healthy servers, so two replicators
  with the same view pick the same destination and that server's write-once rule lets exactly one of them write it;
  on one host an exclusive ``flock`` lease also keeps a second replicator from running passes at the same time;
* files that grow by appending (``__aggregate_*`` results, logs) are copied only once sealed: their size has not
  changed for ``settle_s`` seconds across passes; copies of a file whose holders disagree are reported, never chosen
  between.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from photonflow.errors import ConfigError, ServerUnavailableError, StorageError
from photonflow.storage.client import Entry, parse_listing
from photonflow.storage.client._http import ServerConnection, error_for_status

if TYPE_CHECKING:
    from photonflow.storage.client import ClusterClient

__all__ = ["GROWING_SUFFIXES", "ReplicationLease", "ReplicationReport", "Replicator", "choose_destination",
           "default_lease_path"]

log = logging.getLogger(__name__)

GROWING_SUFFIXES = (".h5r", ".hdf", ".h5", ".log", ".html")
"""Names that aggregate endpoints append to; copied only once their size has settled."""

_BLOCK = 8 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class ReplicationReport:
    """What one pass found and did.

    Attributes
    ----------
    files : int
        Distinct files seen on the healthy servers.
    servers : tuple of str
        Healthy servers walked.
    unavailable : tuple of str
        Servers that did not answer (their copies were not counted).
    copied : tuple of (str, str, str)
        ``(path, source, destination)`` of every copy made and verified in this pass.
    failed : tuple of (str, str)
        ``(path, reason)`` of copies that could not be made or did not verify.
    diverged : tuple of str
        Files whose holders report different sizes (left alone; a person must decide).
    unsealed : tuple of str
        Growing files not copied yet because their size changed within ``settle_s``.
    short : tuple of str
        Files still held by fewer than ``replicas`` healthy servers after the pass (including when there are not
        enough healthy servers).
    """

    files: int
    servers: tuple[str, ...]
    unavailable: tuple[str, ...]
    copied: tuple[tuple[str, str, str], ...]
    failed: tuple[tuple[str, str], ...]
    diverged: tuple[str, ...]
    unsealed: tuple[str, ...]
    short: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every file has its copies and nothing failed or diverged."""
        return not (self.failed or self.diverged or self.short or self.unsealed)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.files} files on {len(self.servers)} servers ({len(self.unavailable)} unavailable): "
            f"{len(self.copied)} copied, {len(self.failed)} failed, {len(self.diverged)} diverged, "
            f"{len(self.unsealed)} not yet sealed, {len(self.short)} short of copies"
        )


def choose_destination(path: str, candidates: Sequence[str]) -> list[str]:
    """``candidates`` in rendezvous-hash order for ``path``: every process with the same view agrees."""
    return sorted(candidates, key=lambda url: hashlib.sha256(f"{url}\0{path}".encode()).digest(), reverse=True)


def default_lease_path(cluster: str) -> Path:
    """Where this host's replicator lease file lives: ``$XDG_RUNTIME_DIR`` or the temporary directory."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"photonflow-replicate-{quote(cluster, safe='')}.lock"


class ReplicationLease:
    """An exclusive, non-blocking ``flock`` on a file: one replicator per host and cluster.

    The kernel drops the lock when the process dies, so a killed replicator never leaves a stale lease.

    Raises
    ------
    StorageError
        On enter, when another process holds the lease.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def __enter__(self) -> ReplicationLease:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # held open for the lease's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StorageError(
                f"another replicator holds {self.path}; run one `photonflow replicate` per host and cluster"
            ) from None
        self._file = handle
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Replicator:
    """Copies files between the data servers of one cluster until each is on ``replicas`` of them.

    Parameters
    ----------
    client : ClusterClient
        Names the cluster and its servers (discovery or a static list).
    replicas : int
        Copies wanted of every file (``replicas`` in the config).
    token : str, optional
        Cluster token for the data servers.
    settle_s : float
        A growing file (:data:`GROWING_SUFFIXES`, or under ``LOGS/``) is copied only after its size has stayed the
        same for this long across passes.
    workers : int
        Copies made at once.
    timeout_s : float
        Socket timeout of each request (a mirrored PUT lasts as long as the copy).
    """

    def __init__(self, client: ClusterClient, *, replicas: int = 2, token: str | None = None,
                 settle_s: float = 60.0, workers: int = 8, timeout_s: float = 120.0) -> None:
        if replicas < 1:
            raise ConfigError(f"replicas must be at least 1, not {replicas}")
        self.client = client
        self.replicas = replicas
        self.settle_s = settle_s
        self._token = token
        self._workers = workers
        self._timeout = timeout_s
        self._connections: dict[str, ServerConnection] = {}
        self._lock = threading.Lock()
        self._sizes_seen: dict[str, tuple[int, float]] = {}

    def close(self) -> None:
        """Close connections (the client is the caller's)."""
        with self._lock:
            conns, self._connections = list(self._connections.values()), {}
        for conn in conns:
            conn.close()

    def __enter__(self) -> Replicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self, url: str) -> ServerConnection:
        with self._lock:
            conn = self._connections.get(url)
            if conn is None:
                conn = self._connections[url] = ServerConnection(url, token=self._token, pool_size=self._workers)
            return conn

    # ------------------------------------------------------------------------------------------------ scanning

    def holdings(self) -> tuple[dict[str, dict[str, int]], list[str], list[str]]:
        """Every file on every healthy server: ``({path: {server: size}}, healthy, unavailable)``."""
        urls = [s.url for s in self.client.servers()]
        with ThreadPoolExecutor(max(1, len(urls)), thread_name_prefix="pf-replicate-scan") as pool:
            results = list(pool.map(self._walk_guarded, urls))
        files: dict[str, dict[str, int]] = {}
        healthy: list[str] = []
        unavailable: list[str] = []
        for url, result in zip(urls, results, strict=True):
            if result is None:
                unavailable.append(url)
                continue
            healthy.append(url)
            for path, size in result.items():
                files.setdefault(path, {})[url] = size
        return files, healthy, unavailable

    def _walk_guarded(self, url: str) -> dict[str, int] | None:
        try:
            return dict(self._walk(url))
        except ServerUnavailableError as exc:
            log.warning("replication: %s is unavailable: %s", url, exc)
            return None

    def _walk(self, url: str) -> Iterator[tuple[str, int]]:
        pending = [""]
        while pending:
            directory = pending.pop()
            for name, entry in self._list(url, directory).items():
                if name.endswith("/"):
                    pending.append(directory + name)
                else:
                    yield directory + name, entry.size

    def _list(self, url: str, directory: str) -> dict[str, Entry]:
        response = self._conn(url).request("GET", "/" + quote(directory), timeout=self._timeout, path=directory)
        if response.status == 404:
            return {}  # removed under us
        if response.status != 200:
            raise error_for_status(response.status, server=url, path=directory, reason=response.reason)
        return parse_listing(response.body, server=url, path=directory)

    def _sealed(self, path: str, size: int, now: float) -> bool:
        growing = path.endswith(GROWING_SUFFIXES) or path.split("/", 1)[0] == "LOGS"
        if not growing:
            return True
        seen = self._sizes_seen.get(path)
        if seen is None or seen[0] != size:
            self._sizes_seen[path] = (size, now)
            return self.settle_s <= 0
        return now - seen[1] >= self.settle_s

    # ------------------------------------------------------------------------------------------------ copying

    def run_once(self) -> ReplicationReport:
        """One replication and repair pass over the whole cluster; see the module docstring."""
        files, healthy, unavailable = self.holdings()
        now = time.monotonic()
        diverged: list[str] = []
        unsealed: list[str] = []
        jobs: list[tuple[str, int, list[str], list[str]]] = []  # path, size, holders, destinations in order
        for path, held in sorted(files.items()):
            if len(set(held.values())) > 1:
                diverged.append(path)
                continue
            if len(held) >= self.replicas:
                continue
            size = next(iter(held.values()))
            if not self._sealed(path, size, now):
                unsealed.append(path)
                continue
            candidates = choose_destination(path, [u for u in healthy if u not in held])
            jobs.append((path, size, sorted(held), candidates))
        copied: list[tuple[str, str, str]] = []
        failed: list[tuple[str, str]] = []
        short: list[str] = []
        with ThreadPoolExecutor(self._workers, thread_name_prefix="pf-replicate") as pool:
            for path, done, errors in pool.map(lambda job: self._replicate(*job), jobs):
                copied.extend(done)
                failed.extend((path, e) for e in errors)
                if len(files[path]) + len(done) < self.replicas:
                    short.append(path)
        report = ReplicationReport(
            files=len(files), servers=tuple(healthy), unavailable=tuple(unavailable), copied=tuple(copied),
            failed=tuple(failed), diverged=tuple(diverged), unsealed=tuple(unsealed), short=tuple(short),
        )
        for path in diverged:
            log.error("replication: holders of /%s report different sizes %s; left alone", path, files[path])
        log.info("replication pass: %s", report.summary())
        return report

    def _replicate(self, path: str, size: int, holders: list[str],
                   destinations: list[str]) -> tuple[str, list[tuple[str, str, str]], list[str]]:
        """Copy ``path`` to the first ``destinations`` that take it until it has ``replicas`` verified holders."""
        done: list[tuple[str, str, str]] = []
        errors: list[str] = []
        need = self.replicas - len(holders)
        if not destinations or need <= 0:
            return path, done, errors
        source = holders[0]
        try:
            digest = self.digest(source, path, size)
        except StorageError as exc:
            return path, done, [f"reading the source {source}: {exc}"]
        for dest in destinations:
            if len(done) >= need:
                break
            try:
                self._mirror(dest, source, path)
                copy_digest = self.digest(dest, path, size)
            except StorageError as exc:
                errors.append(f"copying to {dest}: {exc}")
                continue
            if copy_digest != digest:
                errors.append(f"copy on {dest} does not match {source} (SHA-256 differs); it is kept, not trusted")
                continue
            done.append((path, source, dest))
        return path, done, errors

    def _mirror(self, dest: str, source: str, path: str) -> None:
        quoted = quote(path)
        target = f"/{quoted}?MirrorSource={quote(f'{source}/{quoted}', safe='')}"
        response = self._conn(dest).request("PUT", target, body=b"", timeout=self._timeout, path=path)
        if response.status in (405, 409):
            log.info("replication: /%s already on %s (another replicator); verifying it", path, dest)
        elif response.status != 200:
            raise error_for_status(response.status, server=dest, path=path, reason=response.reason)

    def digest(self, url: str, path: str, size: int) -> str:
        """SHA-256 of ``path`` on server ``url``, read in byte ranges; checks that it has exactly ``size`` bytes.

        Raises
        ------
        StorageError
            The server does not answer, lacks the file, or holds a different number of bytes.
        """
        sha = hashlib.sha256()
        conn = self._conn(url)
        offset = 0
        while offset < size or offset == 0:
            headers: Mapping[str, str] = {"Range": f"bytes={offset}-{offset + _BLOCK - 1}"} if size else {}
            response = conn.request("GET", "/" + quote(path), headers=headers, timeout=self._timeout, path=path)
            if response.status not in (200, 206):
                raise error_for_status(response.status, server=url, path=path, reason=response.reason)
            sha.update(response.body)
            offset += len(response.body)
            if response.status == 200 or not response.body:
                break
        if offset != size:
            raise StorageError(f"{url}/{path} holds {offset} bytes, expected {size}")
        return sha.hexdigest()

    def run_forever(self, *, interval_s: float, stop: threading.Event, lease: Path | None = None) -> None:
        """Run passes every ``interval_s`` seconds until ``stop`` is set, holding this host's lease throughout."""
        with ReplicationLease(lease or default_lease_path(self.client.cluster)):
            while not stop.is_set():
                try:
                    self.run_once()
                except StorageError as exc:
                    log.warning("replication pass failed: %s; retrying in %g s", exc, interval_s)
                stop.wait(interval_s)

