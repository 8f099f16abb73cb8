"""HTTP helper for the results/series container tests: one request on a fresh connection, status and body back."""

from __future__ import annotations

import gzip
import http.client as httpclient
import io
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import pytest

Http = Callable[..., tuple[int, bytes]]


def _http(url: str, method: str, target: str, body: bytes | None = None, *, gz: bool = False,
          timeout: float = 30.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {}
    if body is not None and gz:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def http() -> Http:
    """``http(url, method, target, body=None, *, gz=False) -> (status, body)``."""
    return _http


def npy(records: np.ndarray) -> bytes:
    """``records`` as a ``.npy`` body."""
    buf = io.BytesIO()
    np.save(buf, records, allow_pickle=False)
    return buf.getvalue()


@pytest.fixture
def to_npy() -> Callable[[np.ndarray], bytes]:
    """Encode a record array as a ``.npy`` body."""
    return npy
