"""One HTTP request to a test server, answered as (status, lower-cased headers, body)."""

from __future__ import annotations

import http.client

__all__ = ["http_request"]


def http_request(host: str, port: int, method: str, path: str, *, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``method path`` on a fresh connection and read the whole answer; the connection is closed after."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
