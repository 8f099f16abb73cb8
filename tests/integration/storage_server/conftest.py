"""Raw-socket helpers for talking HTTP byte by byte to a data server."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator

import pytest


@dataclasses.dataclass
class RawResponse:
    """One response read off the wire."""

    status: int
    headers: dict[str, str]
    header_lines: list[str]
    body: bytes


class RawClient:
    """A TCP connection to a data server that writes exact bytes and reads responses one by one."""

    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buf += data
        return bool(data)

    def read_response(self, *, head_only: bool = False) -> RawResponse:
        while b"\r\n\r\n" not in self._buf:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head; got {self._buf!r}")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, value = line.split(": ", 1)
            headers[name.lower()] = value
        length = 0 if head_only else int(headers["content-length"])
        while len(self._buf) < length:
            if not self._fill():
                raise ConnectionError("connection closed inside a response body")
        body, self._buf = self._buf[:length], self._buf[length:]
        return RawResponse(status, headers, lines[1:], body)

    def at_eof(self) -> bool:
        """Whether the server closed the connection (after any buffered bytes)."""
        return not self._buf and not self._fill()

    def close(self) -> None:
        self.sock.close()

    @staticmethod
    def put_request(path: str, body: bytes, *, close: bool = False, extra: str = "") -> bytes:
        """A PYME raw-client PUT: no Host, only Connection and Content-Length (reference §4.7)."""
        conn = "close" if close else "keep-alive"
        head = f"PUT {path} HTTP/1.1\r\nConnection: {conn}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body


@pytest.fixture
def raw_client() -> Iterator[Callable[..., RawClient]]:
    """Factory of :class:`RawClient` connections, closed at teardown."""
    opened: list[RawClient] = []

    def factory(port: int, *, timeout: float = 10.0) -> RawClient:
        client = RawClient(port, timeout=timeout)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.close()

