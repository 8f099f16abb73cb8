"""Raw pipelined PUTs on one socket (§4.7): write every request, read the answers in order as they come.

A reader thread consumes responses while the writer is still sending, so a long batch can never deadlock on full
socket buffers. Unlike PYME (§8 C9), a file counts as stored only once its 200 has been read, and a failure reports
exactly which files were acknowledged so the caller re-sends only the others.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from photonflow.errors import ProtocolError

from ._paths import quote_path

__all__ = ["PipelineResult", "pipelined_put", "read_response", "request_head"]

# Small bodies go out in the same send as their header (one segment, no copy worth avoiding).
_COALESCE_BYTES = 64 * 1024


@dataclass(slots=True)
class PipelineResult:
    """Outcome of one batch: statuses of the files answered, in order, and why it stopped early (if it did)."""

    statuses: list[int] = field(default_factory=list)
    error: BaseException | None = None


def request_head(path: str, size: int, token: str | None) -> bytes:
    """The head of a raw keep-alive PUT of ``size`` bytes (PYME's style: no ``Host``)."""
    lines = [f"PUT {quote_path(path)} HTTP/1.1", "Connection: keep-alive", f"Content-Length: {size}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def read_response(stream: BinaryIO) -> tuple[int, str]:
    """Read one response (skipping interim ``1xx``); return status and reason, the body is discarded.

    Raises
    ------
    ConnectionError
        The connection closed before or inside the response.
    ProtocolError
        The status line is not HTTP.
    """
    while True:
        status_line = stream.readline(65537)
        if not status_line:
            raise ConnectionError("server closed the connection before answering every request")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {status_line[:100]!r}")
        status = int(parts[1])
        reason = parts[2].strip().decode("latin-1") if len(parts) > 2 else ""
        length = 0
        while (line := stream.readline(65537)) not in (b"\r\n", b"\n"):
            if not line:
                raise ConnectionError("connection closed inside response headers")
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        remaining = length
        while remaining:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed inside a response body")
            remaining -= len(chunk)
        if status >= 200:
            return status, reason


def pipelined_put(
    host: str,
    port: int,
    files: Sequence[tuple[str, bytes]],
    *,
    token: str | None = None,
    timeout: float = 30.0,
) -> PipelineResult:
    """PUT ``files`` (cluster path, bytes) over one pipelined connection.

    Returns
    -------
    PipelineResult
        ``statuses[i]`` is the answer to ``files[i]`` for every ``i`` answered; ``error`` is set when the
        connection failed before all answers arrived (files past ``len(statuses)`` are in an unknown state).
    """
    result = PipelineResult()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        result.error = exc
        return result
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read_all() -> None:
        stream = sock.makefile("rb")
        try:
            for _ in files:
                result.statuses.append(read_response(stream)[0])
        except (OSError, ProtocolError, ValueError) as exc:
            result.error = exc
        finally:
            stream.close()

    reader = threading.Thread(target=read_all, name="pf-put-files-reader", daemon=True)
    reader.start()
    # A failed write shows up in the reader too (or it already has every answer): its account is authoritative.
    with contextlib.suppress(OSError):
        for path, data in files:
            head = request_head(path, len(data), token)
            if len(data) <= _COALESCE_BYTES:
                sock.sendall(head + data)
            else:
                sock.sendall(head)
                sock.sendall(data)
    reader.join()
    sock.close()
    return result
