"""Byte ranges on data server GETs (added for the WebDAV gateway and the FUSE mount, which read in blocks)."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from photonflow.storage.server import RunningServer

from ..._http import http_request

DATA = (bytes(range(256)) * 1200)[:300_000]  # 300 kB: above the server's small-file threshold, so sent with sendfile


def _get(srv: RunningServer, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    return http_request(srv.host, srv.port, "GET", path, headers=headers)


@pytest.fixture
def served(dataserver: Callable[..., RunningServer]) -> RunningServer:
    srv = dataserver()
    (srv.root / "big.bin").write_bytes(DATA)
    (srv.root / "small.txt").write_bytes(b"0123456789")
    return srv


@pytest.mark.parametrize(
    ("name", "spec", "start", "stop"),
    [
        ("big.bin", "bytes=0-0", 0, 1),
        ("big.bin", "bytes=1000-299999", 1000, 300000),
        ("big.bin", "bytes=299990-", 299990, 300000),
        ("big.bin", "bytes=-10", 299990, 300000),
        ("big.bin", "bytes=5-999999999", 5, 300000),
        ("small.txt", "bytes=2-4", 2, 5),
        ("small.txt", "bytes=-100", 0, 10),
    ],
)
def test_single_range_is_206_with_exact_bytes(served: RunningServer, name: str, spec: str, start: int,
                                              stop: int) -> None:
    full = (served.root / name).read_bytes()
    status, headers, body = _get(served, f"/{name}", {"Range": spec})
    assert status == 206
    assert body == full[start:stop]
    assert headers["content-range"] == f"bytes {start}-{stop - 1}/{len(full)}"
    assert headers["content-length"] == str(stop - start)


@pytest.mark.parametrize("spec", ["bytes=5-2", "bytes=0-1,4-5", "items=0-3", "bytes=", "bytes=-", "bytes=a-b",
                                  "bytes=\u00b2-3", "garbage"])
def test_unusable_range_answers_whole_file(served: RunningServer, spec: str) -> None:
    status, _, body = _get(served, "/small.txt", {"Range": spec})
    assert (status, body) == (200, b"0123456789")


@pytest.mark.parametrize("spec", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_range_beyond_end_is_416_and_connection_stays_usable(served: RunningServer, spec: str) -> None:
    conn = http.client.HTTPConnection(served.host, served.port, timeout=10)
    try:
        conn.request("GET", "/small.txt", headers={"Range": spec})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 416
        conn.request("GET", "/small.txt")
        again = conn.getresponse()
        assert (again.status, again.read()) == (200, b"0123456789")
    finally:
        conn.close()


def test_head_advertises_ranges_and_ignores_them(served: RunningServer) -> None:
    conn = http.client.HTTPConnection(served.host, served.port, timeout=10)
    try:
        conn.request("HEAD", "/big.bin", headers={"Range": "bytes=0-9"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert resp.getheader("Accept-Ranges") == "bytes"
        assert resp.getheader("Content-Length") == str(len(DATA))
    finally:
        conn.close()
