"""Request-head parsing, body framing and response serialisation."""

from __future__ import annotations

import gzip
import socket

import pytest

from photonflow.storage.server._http import Connection, GzipSink, HttpError, Response, _parse_head


def test_head_without_host_is_accepted():
    req = _parse_head(b"PUT /a/b HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 3")
    assert (req.method, req.target, req.content_length, req.chunked) == ("PUT", "/a/b", 3, False)
    assert req.keep_alive and req.has_body


@pytest.mark.parametrize(
    ("head", "keep"),
    [
        (b"GET / HTTP/1.1", True),
        (b"GET / HTTP/1.1\r\nConnection: close", False),
        (b"GET / HTTP/1.1\r\nConnection: Keep-Alive, Close", False),
        (b"GET / HTTP/1.0", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive", True),
    ],
)
def test_keep_alive_rules(head, keep):
    assert _parse_head(head).keep_alive is keep


def test_repeated_identical_content_length_is_one_value():
    assert _parse_head(b"PUT / HTTP/1.1\r\nContent-Length: 5, 5").content_length == 5


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET  / HTTP/1.1", 400),
        (b"G(T / HTTP/1.1", 400),
        (b"GET / HTTP/3", 505),
        (b"GET / FTP/1.1", 400),
        (b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked", 400),
        (b"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999", 400),
        (b"PUT / HTTP/1.1\r\n: empty-name", 400),
        (b"GET /\xff HTTP/1.1", 400),
    ],
)
def test_bad_heads_close_the_connection(head, status):
    with pytest.raises(HttpError) as info:
        _parse_head(head)
    assert info.value.status == status and info.value.close


def test_response_head_always_has_content_length_and_colon_space():
    text = Response(200).head_bytes(close=False).decode()
    assert text.startswith("HTTP/1.1 200 OK\r\n") and "Content-Length: 0\r\n" in text
    assert "Connection: close" in Response(405, b"xy").head_bytes(close=True).decode()
    for line in text.split("\r\n")[1:-2]:
        assert line.count(": ") == 1


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, Connection(b)
    a.close()
    b.close()


def test_pipelined_requests_and_chunked_body(pair):
    client, conn = pair
    client.sendall(b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n"
                   b"PUT /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\nX-T: 1\r\n\r\n")
    first = conn.read_request()
    assert b"".join(bytes(p) for p in conn.read_body(first, limit=100)) == b"abc"
    second = conn.read_request()
    assert second.chunked
    assert b"".join(bytes(p) for p in conn.read_body(second, limit=100)) == b"def"
    client.shutdown(socket.SHUT_WR)
    assert conn.read_request() is None


def test_body_limits_and_truncation(pair):
    client, conn = pair
    client.sendall(b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n")
    req = conn.read_request()
    with pytest.raises(HttpError) as info:
        list(conn.read_body(req, limit=8))
    assert info.value.status == 413


def test_body_cut_short_is_400(pair):
    client, conn = pair
    client.sendall(b"PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    client.shutdown(socket.SHUT_WR)
    req = conn.read_request()
    with pytest.raises(HttpError) as info:
        list(conn.read_body(req, limit=100))
    assert info.value.status == 400 and info.value.close


def test_gzip_sink_round_trip_and_limits():
    data = b"abc" * 10_000
    sink = GzipSink(limit=len(data))
    blob = gzip.compress(data)
    out = b"".join(sink.feed(blob[i : i + 100]) for i in range(0, len(blob), 100)) + sink.finish()
    assert out == data
    with pytest.raises(HttpError) as info:
        small = GzipSink(limit=100)
        small.feed(blob)
    assert info.value.status == 413
    with pytest.raises(HttpError) as info:
        trunc = GzipSink(limit=len(data))
        trunc.feed(blob[:50])
        trunc.finish()
    assert info.value.status == 400
