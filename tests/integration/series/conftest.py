"""Series/streamer fixtures: a TCP proxy that cuts a connection after some answers, and a server restarter."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest


class CuttingProxy:
    """Forward 127.0.0.1:<port> to a data server; the first connection is cut once ``cut_after`` answers passed.

    After the cut point the proxy keeps forwarding requests to the server for ``linger_s`` but drops every answer,
    then closes both sides: the server has stored files whose acknowledgement the client never sees, which is
    exactly the state a client must recover from without loss or duplicates. Later connections pass untouched.
    """

    def __init__(self, target_port: int, *, cut_after: int, linger_s: float = 0.3) -> None:
        self._target = ("127.0.0.1", target_port)
        self._cut_after = cut_after
        self._linger_s = linger_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, fn: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self.connections += 1
            first = self.connections == 1
            self._spawn(self._pipe, client, server, False)
            self._spawn(self._pipe, server, client, first)

    def _pipe(self, src: socket.socket, dst: socket.socket, cutting: bool) -> None:
        answers = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if cutting and self.cut.is_set():
                    continue  # answers after the cut point are dropped
                if cutting:
                    answers += data.count(b"HTTP/1.1 ")
                    if answers >= self._cut_after:
                        self.cut.set()
                        timer = threading.Timer(self._linger_s, _close_both, (src, dst))
                        timer.daemon = True
                        timer.start()
                dst.sendall(data)  # up to the cut point (perhaps a few answers more) everything arrives
        except OSError:
            pass
        finally:
            _close_both(src, dst)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _close_both(*socks: socket.socket) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    proxies: list[CuttingProxy] = []

    def factory(target_port: int, *, cut_after: int, linger_s: float = 0.3) -> CuttingProxy:
        proxy = CuttingProxy(target_port, cut_after=cut_after, linger_s=linger_s)
        proxies.append(proxy)
        return proxy

    yield factory
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def make_frames() -> Callable[..., np.ndarray]:
    """``make_frames(n, shape=(64, 64), seed=0)``: small reproducible uint16 sCMOS-like frames."""
    return _scmos_frames


def _scmos_frames(n: int, shape: tuple[int, int] = (64, 64), *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.poisson(20.0, size=(n, *shape)).astype(np.uint16) + np.uint16(100)
    ys, xs = rng.integers(4, shape[0] - 4, size=(2, n, 3))
    for k in range(n):
        frames[k, ys[k], xs[k]] += np.uint16(500)
    return frames
