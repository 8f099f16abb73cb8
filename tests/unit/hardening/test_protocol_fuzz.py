"""Fuzz the data server's request parser and its listing, glob and aggregate endpoints (bounded; Hypothesis).

Every request, however malformed, must get one complete, framed response (never a dropped connection or a hang),
and the server must keep answering afterwards. ``benchmarks/fuzz.py`` runs the same idea for longer.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photonflow.storage.server import RunningServer

from ._wire import ResponseReader

_METHODS = st.sampled_from([b"GET", b"HEAD", b"PUT", b"POST", b"DELETE", b"PROPFIND", b"G\x00T", b"", b"get"])
_SEGMENT = st.sampled_from([b"a", b"..", b".", b"%2e%2e", b"%00", b"__status", b"__glob", b"__aggregate_txt",
                            b"__aggregate_h5r", b"__aggregate_zz", b"__pyramid_x", b".photonflow-tmp", b"x.h5r",
                            b"\xff\xfe", b"%ff", b"d", b"f.txt", b"a b"])
_TARGET = st.one_of(
    st.lists(_SEGMENT, max_size=5).map(lambda parts: b"/" + b"/".join(parts)),
    st.tuples(st.sampled_from([b"/__glob?pattern=", b"/d/?", b"/f.txt?MirrorSource="]),
              st.binary(max_size=40)).map(b"".join),
    st.binary(max_size=60),
)
_HEADER = st.one_of(
    st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
                     b"Content-Length: x", b"Transfer-Encoding: chunked", b"Content-Encoding: gzip",
                     b"Content-Encoding: br", b"Range: bytes=0-3", b"Range: bytes=-", b"Expect: 100-continue",
                     b"Connection: close", b"Host: x", b"Authorization: Bearer nope", b"X: " + b"y" * 9000]),
    st.binary(max_size=40),
)


def _request(method: bytes, target: bytes, version: bytes, headers: list[bytes], body: bytes) -> bytes:
    return method + b" " + target + b" " + version + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> object:
    from photonflow.storage.server import start_server

    root = tmp_path_factory.mktemp("fuzzroot")
    (root / "d").mkdir()
    (root / "f.txt").write_bytes(b"hello world")
    srv = start_server(root, cluster="fuzz", max_request_size=1 << 20)
    yield srv
    srv.stop(grace=2)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=_METHODS, target=_TARGET, version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"x"]),
       headers=st.lists(_HEADER, max_size=4), body=st.binary(max_size=64))
def test_every_request_gets_a_framed_answer(server: RunningServer, method: bytes, target: bytes, version: bytes,
                                            headers: list[bytes], body: bytes) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(_request(method, target, version, headers, body))
        sock.shutdown(socket.SHUT_WR)  # a body shorter than declared must not hang the server
        status, _, _ = ResponseReader(sock).read(head=method == b"HEAD")
        assert 100 <= status < 600
        assert status < 500 or status in (501, 502, 505), f"server error {status}"
    _assert_alive(server)


def _assert_alive(server: RunningServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET /__status HTTP/1.1\r\n\r\n")
        assert ResponseReader(sock).read()[0] == 200


def test_pipelined_garbage_then_valid_requests_stay_in_order(dataserver: Callable[..., RunningServer]) -> None:
    srv = dataserver()
    (srv.root / "f.txt").write_bytes(b"abc")
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(b"GET /f.txt HTTP/1.1\r\n\r\n" + b"PUT /__aggregate_zz/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                     + b"GET /nope HTTP/1.1\r\n\r\n" + b"GET /f.txt HTTP/1.1\r\nRange: bytes=1-1\r\n\r\n")
        reader = ResponseReader(sock)
        assert [reader.read()[0] for _ in range(4)] == [200, 404, 404, 206]
