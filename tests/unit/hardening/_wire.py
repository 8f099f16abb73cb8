"""Raw-socket helpers for the protocol fuzz tests: read exactly one framed HTTP response at a time."""

from __future__ import annotations

import socket


class Dropped(AssertionError):
    """The server closed the connection or sent a malformed response instead of answering."""


class ResponseReader:
    """Reads responses one by one from a socket, keeping what belongs to the next (pipelining)."""

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0) -> None:
        sock.settimeout(timeout)
        self._file = sock.makefile("rb")

    def read(self, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        """One final response: status, lower-cased headers, body (``Content-Length`` framed, as PYME needs).

        Interim ``1xx`` responses (``100 Continue``) are skipped, as PYME's raw client does. ``head``: the request
        was HEAD, so no body follows whatever ``Content-Length`` says.
        """
        while True:
            status, headers, body = self._read_one(head=head)
            if status >= 200:
                return status, headers, body

    def _read_one(self, *, head: bool) -> tuple[int, dict[str, str], bytes]:
        status_line = self._file.readline(65536)
        if not status_line.endswith(b"\r\n"):
            raise Dropped(f"connection closed without a status line: {status_line[:200]!r}")
        parts = status_line.decode("latin-1").strip().split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Dropped(f"malformed status line {status_line!r}")
        headers = {}
        while True:
            line = self._file.readline(65536)
            if not line.endswith(b"\r\n"):
                raise Dropped("connection closed inside the response head")
            if line == b"\r\n":
                break
            name, sep, value = line.decode("latin-1").rstrip("\r\n").partition(": ")
            if not sep:
                raise Dropped(f"header line without ': ' {line!r}")
            headers[name.lower()] = value
        if 100 <= int(parts[1]) < 200:
            return int(parts[1]), headers, b""
        if "content-length" not in headers:
            raise Dropped("response without Content-Length")
        length = 0 if head else int(headers["content-length"])
        body = self._file.read(length)
        if len(body) != length:
            raise Dropped("connection closed in the middle of a response body")
        return int(parts[1]), headers, body
