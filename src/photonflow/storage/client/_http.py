"""Persistent HTTP connections to one data server, and HTTP status → photonflow error mapping."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from photonflow.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    InsufficientStorageError,
    NotFoundError,
    ProtocolError,
    ServerUnavailableError,
    StorageError,
)

__all__ = ["Response", "ServerConnection", "error_for_status"]

# Failures of a connection taken from the pool that only mean "the server closed it while idle": the request
# never reached the server, so one retry on a fresh connection is safe.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response (body read)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    retried: bool = False
    """The request went out twice (the first connection was found closed), so a PUT may already have landed."""


def error_for_status(status: int, *, server: str, path: str, reason: str = "") -> StorageError:
    """The photonflow error for a non-2xx answer, with a message naming server, path and what to do."""
    where = f"{server}/{path}"
    detail = f" ({reason})" if reason else ""
    if status == 404:
        return NotFoundError(f"{where} not found{detail}")
    if status in (405, 409):
        return AlreadyExistsError(f"{where} already exists; cluster files are write-once, choose a new name{detail}")
    if status == 507:
        return InsufficientStorageError(f"{server} is out of space (below its free-space floor) writing /{path}")
    if status in (401, 403):
        return AccessDeniedError(
            f"{server} refused /{path} (HTTP {status}{detail}); set the cluster token (--token or PHOTONFLOW_TOKEN)"
        )
    if status == 413:
        return StorageError(f"{server} refused /{path}: body too large (HTTP 413); raise max_request_size there")
    return ProtocolError(f"{server} answered HTTP {status} for /{path}{detail}")


class _Connection(http.client.HTTPConnection):
    """``http.client`` already sets TCP_NODELAY on connect; we only track reuse."""

    reused: bool = False


class ServerConnection:
    """A small thread-safe pool of keep-alive connections to one server.

    Parameters
    ----------
    url : str
        ``http://host:port``.
    token : str, optional
        Sent as ``Authorization: Bearer <token>``.
    pool_size : int
        Idle connections kept for reuse.
    """

    def __init__(self, url: str, *, token: str | None = None, pool_size: int = 4) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"server URL {url!r} must be http://host:port")
        self.url = url
        self.host: str = parts.hostname
        self.port: int = parts.port
        self._token = token
        self._pool_size = pool_size
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float,
        path: str = "",
    ) -> Response:
        """Send one request and read the whole answer.

        Parameters
        ----------
        method, target : str
            HTTP method and request target (already percent-encoded).
        body : bytes, optional
            Request body (``Content-Length`` is set).
        headers : mapping, optional
            Extra headers.
        timeout : float
            Seconds allowed for connecting and for each socket operation.
        path : str
            Cluster path, for error messages.

        Raises
        ------
        ServerUnavailableError
            The server could not be reached or dropped the connection.
        """
        all_headers = {"Content-Length": str(len(body or b""))} if method in ("PUT", "POST") else {}
        if self._token:
            all_headers["Authorization"] = f"Bearer {self._token}"
        all_headers.update(headers or {})
        # A reused keep-alive connection the server already closed is re-tried once on a fresh one; but an append
        # may have been applied before the connection broke, so appends are never sent twice.
        may_resend = not target.lstrip("/").startswith("__aggregate")
        for attempt in (0, 1):
            conn = self._take(timeout)
            try:
                conn.request(method, target, body=body, headers=all_headers)
                raw = conn.getresponse()
                data = raw.read()
            except _STALE as exc:
                conn.close()
                if conn.reused and attempt == 0 and may_resend:
                    continue
                raise self._unavailable(exc, path) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise self._unavailable(exc, path) from exc
            response = Response(
                raw.status, raw.reason, {k.lower(): v for k, v in raw.getheaders()}, data, retried=attempt > 0
            )
            if raw.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self, timeout: float) -> _Connection:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = _Connection(self.host, self.port, timeout=timeout)
        else:
            conn.reused = True
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
        conn.timeout = timeout
        return conn

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def _unavailable(self, exc: BaseException, path: str) -> ServerUnavailableError:
        kind = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else f"failed: {exc or type(exc).__name__}"
        return ServerUnavailableError(f"{self.url} {kind} on /{path}; is the data server running?")
