"""A keep-alive connection that breaks after the server took a request: appends are not sent twice."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from photonflow.errors import ServerUnavailableError
from photonflow.storage.client._http import ServerConnection


class _DropSecondRequest:
    """Answers the first request of each connection, then reads the next one and closes without answering."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                for index in range(2):
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    self.requests.append(data.split(b"\r\n", 1)[0])
                    if index == 0:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[_DropSecondRequest]:
    srv = _DropSecondRequest()
    yield srv
    srv.close()


def test_append_on_a_broken_reused_connection_is_not_resent(server: _DropSecondRequest) -> None:
    conn = ServerConnection(server.url)
    assert conn.request("GET", "/a", timeout=5).status == 200
    with pytest.raises(ServerUnavailableError):
        conn.request("PUT", "/__aggregate_txt/log.txt", body=b"row\n", timeout=5)
    assert server.requests.count(b"PUT /__aggregate_txt/log.txt HTTP/1.1") == 1


def test_read_on_a_broken_reused_connection_is_retried_once(server: _DropSecondRequest) -> None:
    conn = ServerConnection(server.url)
    assert conn.request("GET", "/a", timeout=5).status == 200
    response = conn.request("GET", "/b", timeout=5)
    assert response.status == 200
    assert response.retried
    assert server.requests.count(b"GET /b HTTP/1.1") == 2
