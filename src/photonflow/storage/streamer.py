"""``Streamer``: loss-free, pipelined, high-rate PUTs to the servers of a cluster (§4.8, fixing §8 C7–C9).

One persistent HTTP/1.1 connection per server (PYME's raw style: no ``Host``, ``Content-Length``, TCP_NODELAY),
a sender thread that writes requests without waiting for answers, and an acknowledgement-reader thread that reads
the answers in order. Every request stays in an *unacknowledged* list until its ``200`` has been read, so:

* :meth:`Streamer.flush` / :meth:`Streamer.close` return only when every file is acknowledged (PYME's close race
  loses the tail of a series, §3.3);
* after a connection error, or a server restart, the sender reconnects and re-sends every unacknowledged request in
  order; a re-sent file the server answers ``405``/``409`` to (its first copy landed but the answer was lost) counts
  as stored only when the stored size is the size sent (checked with ``HEAD``);
* queues are bounded: a producer faster than the network blocks in :meth:`Streamer.put`, memory stays bounded;
* errors that retrying cannot fix (a full disk, a refused token, a name already taken, a server gone for longer than
  the retry budget) are raised to the producer from its next :meth:`~Streamer.put` or :meth:`~Streamer.flush`.

Encoding (e.g. PZF compression) runs off the producer's thread when :meth:`Streamer.put` is given a callable: it is
submitted to a small thread pool (numba and blosc2 release the GIL) and the sender waits for its result, so files
are still sent in the order they were put.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import logging
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from photonflow.errors import AlreadyExistsError, PhotonflowError, ProtocolError, ServerUnavailableError, StorageError
from photonflow.storage.client._http import error_for_status
from photonflow.storage.client._paths import normalize_path, quote_path
from photonflow.storage.client._pipeline import read_response, request_head

__all__ = ["ServerCounters", "Streamer", "StreamerStats"]

log = logging.getLogger(__name__)

# Bodies up to this size go out in the same send as their request head (one segment); larger ones are sent as is,
# without a copy.
_COALESCE_BYTES = 64 * 1024
# How often an idle sender looks at its connection's health (a reader that saw the connection die).
_POLL_S = 0.05
_MAX_BACKOFF_S = 1.0

Payload = bytes | Callable[[], bytes]


@dataclass(slots=True)
class ServerCounters:
    """What one server's connection did.

    Attributes
    ----------
    url : str
        The server.
    files_sent, bytes_sent : int
        Requests written, and their body bytes, re-sends included.
    files_acknowledged, bytes_acknowledged : int
        Files the server confirmed as stored.
    resent : int
        Requests written again after a connection error.
    already_stored : int
        Re-sent files the server already held, byte for byte the same size (their first answer was lost).
    reconnects : int
        Connections opened after the first one.
    """

    url: str
    files_sent: int = 0
    bytes_sent: int = 0
    files_acknowledged: int = 0
    bytes_acknowledged: int = 0
    resent: int = 0
    already_stored: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class StreamerStats:
    """Totals over all servers, plus the per-server counters and the paths that had to be re-sent."""

    files_sent: int
    bytes_sent: int
    files_acknowledged: int
    bytes_acknowledged: int
    resent: int
    reconnects: int
    resent_paths: tuple[str, ...]
    per_server: dict[str, ServerCounters] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Item:
    path: str
    payload: bytes | Future[bytes]
    data: bytes = b""
    sends: int = 0


class _Failed(Exception):
    """Internal: the streamer has failed; the thread seeing it stops."""


class _Channel:
    """One server: its queue, its connection, its sender thread and the reader thread of the current connection."""

    def __init__(self, owner: Streamer, url: str, *, queue_size: int) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"server URL {url!r} must be http://host:port")
        self.owner = owner
        self.url = url.rstrip("/")
        self.host: str = parts.hostname
        self.port: int = parts.port
        self.queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self.counters = ServerCounters(self.url)
        self._unacked: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._broken = threading.Event()
        self._stopping = False
        self._failing_since: float | None = None
        self._sender = threading.Thread(target=self._run_sender, name=f"pf-streamer-send {self.url}", daemon=True)
        self._sender.start()

    # ------------------------------------------------------------------------------------------------ sender

    def _run_sender(self) -> None:
        try:
            while True:
                try:
                    item = self.queue.get(timeout=_POLL_S)
                except queue.Empty:
                    self.owner._check_failed()
                    if self._broken.is_set():
                        self._recover()
                    continue
                if item is None:
                    break
                self._send(item)
            self._shutdown_connection()
        except _Failed:
            self._abort()
        except BaseException as exc:  # a bug, or an encoder that raised: never leave the producer waiting
            self.owner._fail(exc)
            self._abort()

    def _send(self, item: _Item) -> None:
        self.owner._check_failed()
        if isinstance(item.payload, Future):
            try:
                item.data = item.payload.result()
            except Exception as exc:
                raise PhotonflowError(f"encoding {item.path} failed: {exc}") from exc
            item.payload = item.data
        else:
            item.data = item.payload
        with self._cond:
            while len(self._unacked) >= self.owner.max_in_flight:
                self.owner._check_failed()
                self._cond.wait(_POLL_S)
                if self._broken.is_set():
                    break
            self._unacked.append(item)
            self._cond.notify_all()
        if self._sock is None or self._broken.is_set():
            self._recover()  # (re)connects and sends every unacknowledged item, this one included
            return
        try:
            self._write(self._sock, item)
        except OSError as exc:
            log.warning("streaming to %s: %s; reconnecting", self.url, exc)
            self._recover()

    def _write(self, sock: socket.socket, item: _Item) -> None:
        head = request_head(item.path, len(item.data), self.owner.token)
        if item.sends:
            self.counters.resent += 1
            self.owner._note_resent(item.path)
        item.sends += 1
        self.counters.files_sent += 1
        self.counters.bytes_sent += len(item.data)
        if len(item.data) <= _COALESCE_BYTES:
            sock.sendall(head + item.data)
        else:
            sock.sendall(head)
            sock.sendall(item.data)

    def _recover(self) -> None:
        """Replace the connection and re-send every unacknowledged item, until it works or the budget is spent."""
        backoff = _POLL_S
        while True:
            self.owner._check_failed()
            self._drop_connection()
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            elif now - self._failing_since > self.owner.retry_timeout_s:
                with self._cond:
                    lost = len(self._unacked)
                self.owner._fail(
                    ServerUnavailableError(
                        f"{self.url} unreachable for more than {self.owner.retry_timeout_s:g} s with {lost} files "
                        "unacknowledged; restart the data server (or raise retry_timeout_s) and spool again"
                    )
                )
                raise _Failed
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.owner.timeout_s)
            except OSError as exc:
                log.debug("reconnecting to %s: %s", self.url, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.counters.files_sent or self._reader is not None:
                self.counters.reconnects += 1
            with self._cond:
                pending = list(self._unacked)
            self._start_connection(sock)
            try:
                for item in pending:
                    self._write(sock, item)
            except OSError as exc:
                log.warning("re-sending to %s: %s; reconnecting", self.url, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            return

    def _start_connection(self, sock: socket.socket) -> None:
        self._broken.clear()
        self._sock = sock
        self._reader = threading.Thread(
            target=self._run_reader, args=(sock,), name=f"pf-streamer-ack {self.url}", daemon=True
        )
        self._reader.start()

    def _drop_connection(self) -> None:
        """Close the socket (which ends its reader) and wait for the reader, so ``_unacked`` is ours alone."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            with self._cond:
                self._cond.notify_all()
            reader.join()

    def _shutdown_connection(self) -> None:
        """End of stream: every item is acknowledged (``close`` flushed first); stop the reader, close."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _abort(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._drop_connection()

    # ------------------------------------------------------------------------------------------------ reader

    def _run_reader(self, sock: socket.socket) -> None:
        stream = sock.makefile("rb")
        try:
            while True:
                with self._cond:
                    while not self._unacked and not self._stopping and self._sock is sock:
                        self._cond.wait()
                    if not self._unacked or self._sock is not sock:
                        return
                    item = self._unacked[0]
                status, reason = read_response(stream)
                self._handle(item, status, reason)
        except (OSError, ValueError, ProtocolError) as exc:
            if self._sock is sock:
                log.info("connection to %s lost (%s); will reconnect and re-send", self.url, exc)
                self._broken.set()
        except _Failed:
            pass
        finally:
            stream.close()

    def _handle(self, item: _Item, status: int, reason: str) -> None:
        if status == 200:
            self._acknowledge(item)
            return
        if status in (405, 409) and item.sends > 1:
            stored = self._stored_size(item.path)
            if stored == len(item.data):
                self.counters.already_stored += 1
                self._acknowledge(item)
                return
            self.owner._fail(
                AlreadyExistsError(
                    f"{self.url}/{item.path} exists with {stored} bytes, not the {len(item.data)} bytes re-sent; "
                    "another writer used this name: spool to a new series name"
                )
            )
            raise _Failed
        error = error_for_status(status, server=self.url, path=item.path, reason=reason)
        if isinstance(error, AlreadyExistsError):
            error = AlreadyExistsError(f"{error}; spool to a new series name")
        self.owner._fail(error)
        raise _Failed

    def _acknowledge(self, item: _Item) -> None:
        with self._cond:
            self._unacked.popleft()
            self._failing_since = None
            self.counters.files_acknowledged += 1
            self.counters.bytes_acknowledged += len(item.data)
            self._cond.notify_all()
        self.owner._acknowledged()

    def _stored_size(self, path: str) -> int | None:
        """Size of ``path`` on this server, by ``HEAD`` (``None`` if it is not there or the server cannot say)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.owner.timeout_s)
        headers = {"Authorization": f"Bearer {self.owner.token}"} if self.owner.token else {}
        try:
            conn.request("HEAD", quote_path(path), headers=headers)
            response = conn.getresponse()
            response.read()
            length = response.getheader("Content-Length")
            return int(length) if response.status == 200 and length is not None else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()

    def join(self, timeout: float | None = None) -> None:
        self._sender.join(timeout)


class Streamer:
    """Stream many write-once files to the servers of a cluster, loss-free, over pipelined connections.

    Parameters
    ----------
    servers : sequence of str
        Server URLs ``http://host:port``; one connection each. :meth:`put` picks one by index.
    token : str, optional
        Cluster token, sent as ``Authorization: Bearer``.
    queue_size : int
        Files waiting per server before :meth:`put` blocks (backpressure).
    max_in_flight : int
        Files sent but not yet acknowledged per server; they are kept for re-sending.
    encode_threads : int
        Threads of the pool that runs callables given to :meth:`put` (when ``executor`` is not given).
    executor : Executor, optional
        Run encoders here instead (the caller owns it).
    timeout_s : float
        Socket timeout: a server that neither reads nor answers for this long counts as failed.
    retry_timeout_s : float
        How long a failing server may stay unreachable before the streamer gives up on it.

    Examples
    --------
    >>> with Streamer(["http://127.0.0.1:15348"]) as s:  # doctest: +SKIP
    ...     s.put("run1/a.bin", b"...")
    ...     s.put("run1/b.bin", lambda: expensive_encoding())
    """

    def __init__(
        self,
        servers: Sequence[str],
        *,
        token: str | None = None,
        queue_size: int = 32,
        max_in_flight: int = 256,
        encode_threads: int = 2,
        executor: Executor | None = None,
        timeout_s: float = 30.0,
        retry_timeout_s: float = 60.0,
    ) -> None:
        if not servers:
            raise ValueError("Streamer needs at least one server URL")
        if queue_size < 1 or max_in_flight < 1 or encode_threads < 1:
            raise ValueError("queue_size, max_in_flight and encode_threads must be at least 1")
        self.token = token
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.retry_timeout_s = retry_timeout_s
        self._own_executor = executor is None
        self._executor: Executor = executor or ThreadPoolExecutor(encode_threads, thread_name_prefix="pf-encode")
        self._lock = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._closed = False
        self._next = 0
        self._resent_paths: list[str] = []
        self._channels: list[_Channel] = []
        try:
            for url in servers:
                self._channels.append(_Channel(self, url, queue_size=queue_size))
        except BaseException:
            self._stop_channels()
            raise

    @property
    def servers(self) -> list[str]:
        """The server URLs, in index order."""
        return [c.url for c in self._channels]

    def __enter__(self) -> Streamer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ------------------------------------------------------------------------------------------------ producer API

    def put(self, path: str, data: Payload, *, server: int | None = None) -> None:
        """Queue a new file; blocks while the chosen server's queue is full.

        Parameters
        ----------
        path : str
            Cluster path of the new file.
        data : bytes or callable
            The content, or a function returning it (run on the encoding pool, off this thread).
        server : int, optional
            Index into :attr:`servers`; default round robin.

        Raises
        ------
        StorageError
            An earlier file failed for good (see the message); nothing more is accepted.
        """
        path = normalize_path(path)
        if not path:
            raise ValueError("a file needs a name; the cluster root cannot be written")
        with self._lock:
            self._raise_if_failed()
            if self._closed:
                raise ValueError("this Streamer is closed")
            if server is None:
                server = self._next % len(self._channels)
                self._next += 1
            elif not 0 <= server < len(self._channels):
                raise ValueError(f"server index {server} out of range: this streamer has {len(self._channels)}")
            self._pending += 1
        channel = self._channels[server]
        payload: bytes | Future[bytes]
        payload = self._executor.submit(data) if callable(data) else bytes(data)
        item = _Item(path, payload)
        while True:
            try:
                channel.queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                with self._lock:
                    self._raise_if_failed()

    def flush(self, *, timeout_s: float | None = None) -> None:
        """Wait until every file put so far is acknowledged by its server.

        Raises
        ------
        StorageError
            A file failed for good.
        ServerUnavailableError
            ``timeout_s`` passed first.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            while self._pending and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ServerUnavailableError(
                        f"{self._pending} files still unacknowledged after {timeout_s:g} s; "
                        "check the data servers (photonflow status)"
                    )
                self._lock.wait(_POLL_S if remaining is None else min(remaining, _POLL_S))
            self._raise_if_failed()

    def close(self, *, timeout_s: float | None = None) -> None:
        """Flush, then close every connection and thread. Idempotent.

        Raises
        ------
        StorageError
            A file failed for good (connections are closed anyway).
        """
        try:
            if not self._closed:
                self.flush(timeout_s=timeout_s)
        finally:
            with self._lock:
                self._closed = True
            self._stop_channels()
        with self._lock:
            self._raise_if_failed()

    def abort(self) -> None:
        """Stop at once: unacknowledged files are dropped, connections closed. Idempotent."""
        with self._lock:
            self._closed = True
            if self._error is None:
                self._error = ServerUnavailableError("streamer aborted")
            self._lock.notify_all()
        self._stop_channels()

    @property
    def pending(self) -> int:
        """Files put but not yet acknowledged."""
        with self._lock:
            return self._pending

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the streamer, if any."""
        with self._lock:
            return self._error

    def stats(self) -> StreamerStats:
        """A snapshot of the counters."""
        per = {c.url: dataclasses.replace(c.counters) for c in self._channels}
        with self._lock:
            resent_paths = tuple(self._resent_paths)
        return StreamerStats(
            files_sent=sum(c.files_sent for c in per.values()),
            bytes_sent=sum(c.bytes_sent for c in per.values()),
            files_acknowledged=sum(c.files_acknowledged for c in per.values()),
            bytes_acknowledged=sum(c.bytes_acknowledged for c in per.values()),
            resent=sum(c.resent for c in per.values()),
            reconnects=sum(c.reconnects for c in per.values()),
            resent_paths=resent_paths,
            per_server=per,
        )

    # ------------------------------------------------------------------------------------------------ channel hooks

    def _stop_channels(self) -> None:
        for channel in self._channels:
            with contextlib.suppress(queue.Full):
                channel.queue.put(None, timeout=_POLL_S)
        for channel in self._channels:
            channel.join(timeout=self.timeout_s)
        if self._own_executor:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _acknowledged(self) -> None:
        with self._lock:
            self._pending -= 1
            if not self._pending:
                self._lock.notify_all()

    def _note_resent(self, path: str) -> None:
        with self._lock:
            self._resent_paths.append(path)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc
                log.error("streamer stopped: %s", exc)
            self._lock.notify_all()

    def _check_failed(self) -> None:
        with self._lock:
            if self._error is not None:
                raise _Failed

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, StorageError | PhotonflowError):
                raise error
            raise StorageError(f"streamer stopped: {error}") from error
