"""Sockets and threads: accept connections, run one blocking thread per connection, stop cleanly.

A thread per connection with blocking ``recv_into`` straight into the temporary file measured fastest here for the
large PUTs that dominate spooling (see the report in ``docs/benchmarks.md``); requests on one connection are
answered strictly in order, which gives PYME's pipelining for free.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from pathlib import Path
from types import TracebackType

from photonflow.storage.server._app import Body, DataService, ServiceSettings
from photonflow.storage.server._http import Connection, HttpError, Response, error_response

__all__ = ["RunningServer", "start_server"]

_log = logging.getLogger("photonflow.storage.server")

_IDLE_TIMEOUT_S = 300.0
_STOP_GRACE_S = 10.0


class _Conn:
    __slots__ = ("busy", "lock", "sock", "thread")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.busy = False
        self.thread: threading.Thread | None = None


class RunningServer:
    """A data server running in background threads of this process.

    Attributes
    ----------
    url : str
        ``http://host:port`` to reach it.
    host, port : str, int
        The bound address (``port`` is the real one when 0 was asked for).
    root : Path
        The served directory.
    cluster : str
        The cluster name it serves.
    """

    def __init__(self, service: DataService, listener: socket.socket) -> None:
        self._service = service
        self._listener = listener
        self.host: str = service.settings.host
        self.port: int = service.settings.port
        self.root = Path(service.settings.root)
        self.cluster = service.settings.cluster
        self.url = f"http://{_url_host(self.host)}:{self.port}"
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"dataserver-accept-{self.port}", daemon=True)
        self._acceptor.start()

    def __repr__(self) -> str:
        return f"RunningServer(url={self.url!r}, cluster={self.cluster!r}, root={str(self.root)!r})"

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished; ``True`` if it has."""
        return self._stopped.wait(timeout)

    def stop(self, *, grace: float = _STOP_GRACE_S) -> None:
        """Stop accepting, let requests in progress finish (up to ``grace`` seconds), close everything.

        Idempotent; removes this server's temporary files.
        """
        if self._stopping.is_set():
            self._stopped.wait()
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with conn.lock:
                if not conn.busy:
                    _shutdown(conn.sock, socket.SHUT_RD)
        for conn in conns:
            if conn.thread is not None:
                conn.thread.join(timeout=grace)
        for conn in conns:
            _shutdown(conn.sock, socket.SHUT_RDWR)
            if conn.thread is not None:
                conn.thread.join(timeout=1)
        self._service.work.remove_own()
        self._service.close()
        self._stopped.set()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            sock.settimeout(_IDLE_TIMEOUT_S)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            conn.thread = threading.Thread(target=self._serve_connection, args=(conn,),
                                           name=f"dataserver-conn-{self.port}", daemon=True)
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    return
                self._conns.add(conn)
            conn.thread.start()

    def _serve_connection(self, conn: _Conn) -> None:
        wire = Connection(conn.sock)
        service = self._service
        try:
            while not self._stopping.is_set():
                try:
                    request = wire.read_request()
                except HttpError as exc:
                    _send_quietly(wire, error_response(exc.status, exc.message))
                    return
                if request is None:
                    return
                with conn.lock:
                    conn.busy = True
                if request.headers.get("expect", "").lower() == "100-continue" and request.has_body:
                    conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = Body(wire, request, limit=service.settings.max_request_size)
                response, close = service.handle(request, body)
                close = close or not request.keep_alive or self._stopping.is_set()
                wire.send(response, head_only=request.method == "HEAD", close=close)
                with conn.lock:
                    conn.busy = False
                if close:
                    return
        except (OSError, ConnectionError):
            return  # the peer went away (or stop() cut the socket); its unfinished upload was discarded
        finally:
            wire.close()
            _shutdown(conn.sock, socket.SHUT_RDWR)
            conn.sock.close()
            with self._lock:
                self._conns.discard(conn)


def _send_quietly(wire: Connection, response: Response) -> None:
    with contextlib.suppress(OSError):
        wire.send(response, head_only=False, close=True)


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_server(
    root: Path,
    *,
    cluster: str,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    fsync: bool = False,
    free_space_floor: int = 0,
    max_request_size: int = 1 << 32,
    allow_pickle: bool = False,
) -> RunningServer:
    """Start a data server in background threads of this process; return once it is listening.

    Parameters
    ----------
    root : Path
        Directory to serve (created if missing).
    cluster : str
        Cluster name, reported in ``/__status`` and required of ``MirrorSource`` peers.
    host : str
        Address to bind. A non-loopback address without ``token`` logs a warning.
    port : int
        TCP port; 0 picks a free one (see :attr:`RunningServer.port`).
    token : str, optional
        Cluster token every request must carry (``Authorization: Bearer`` or ``X-Photonflow-Token``).
    fsync : bool
        fsync each file (and its directory) before acknowledging the PUT.
    free_space_floor : int
        Bytes to keep free on the root's file system; writes that would go below get 507.
    max_request_size : int
        Largest request body (decompressed) accepted; larger gets 413.
    allow_pickle : bool
        Accept pickled numpy arrays on ``__aggregate_h5r`` (restricted unpickler: arrays only, never code).

    Returns
    -------
    RunningServer
        Call :meth:`RunningServer.stop` (or use it as a context manager) to stop it.
    """
    if not cluster or any(c in cluster for c in "/\\\x00"):
        raise ValueError(f"cluster name {cluster!r} is empty or contains a path separator")
    if free_space_floor < 0 or max_request_size < 1:
        raise ValueError("free_space_floor must be >= 0 and max_request_size >= 1")
    if token is None and not _is_loopback(host):
        _log.warning(
            "data server bound to non-loopback address %s without a cluster token: anyone who can reach it can "
            "read and write %s. Set a token (--token or 'token:' in the config).", host, root,
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
        bound_port = listener.getsockname()[1]
        settings = ServiceSettings(
            root=str(Path(root).resolve()), cluster=cluster, host=host, port=bound_port, token=token,
            fsync=fsync, free_space_floor=free_space_floor, max_request_size=max_request_size,
            allow_pickle=allow_pickle,
        )
        service = DataService(settings)
    except BaseException:
        listener.close()
        raise
    return RunningServer(service, listener)
