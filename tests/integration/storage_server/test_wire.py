"""Raw-socket behaviour: PYME's pipelined Host-less PUTs (case 11) and malformed requests (always answered)."""

from __future__ import annotations

import gzip

import pytest

from photonflow.storage.server._http import MAX_HEAD_BYTES


def test_case11_pipelined_puts_without_host_byte_for_byte(dataserver, raw_client):
    srv = dataserver()
    (srv.root / "a" / "b").mkdir(parents=True)
    (srv.root / "a" / "b" / "c.txt").write_bytes(b"old")
    client = raw_client(srv.port)
    put = client.put_request
    client.send(put("/pp/a", b"1") + put("/a/b/c.txt", b"abc") + put("/pp/b", b"22") + put("/pp/c", b"333", close=True))
    responses = [client.read_response() for _ in range(4)]
    assert [r.status for r in responses] == [200, 405, 200, 200]
    for r in responses:
        assert "content-length" in r.headers
        assert all(line.count(": ") == 1 for line in r.header_lines)
    assert responses[0].header_lines[0].startswith("Server: ")
    assert responses[3].headers["connection"] == "close"
    assert client.at_eof()
    assert [(srv.root / "pp" / n).read_bytes() for n in "abc"] == [b"1", b"22", b"333"]
    assert (srv.root / "a" / "b" / "c.txt").read_bytes() == b"old"


def test_error_keeps_connection_and_large_body_is_drained(dataserver, raw_client):
    srv = dataserver()
    (srv.root / "exists").write_bytes(b"x")
    client = raw_client(srv.port)
    big = b"z" * (3 << 20)
    client.send(client.put_request("/exists", big) + client.put_request("/next", b"ok"))
    assert client.read_response().status == 405
    assert client.read_response().status == 200
    assert (srv.root / "next").read_bytes() == b"ok"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nbad header line\r\n\r\n", 400),
        (b"PUT /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"PUT /x HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400),
        (b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
        (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
        (b"GET /a\x00b HTTP/1.1\r\n\r\n", 400),
        (b"GET " + b"/a" * (MAX_HEAD_BYTES // 2 + 10) + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"v" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n", 431),
    ],
)
def test_malformed_requests_get_an_answer_then_clean_close(dataserver, raw_client, raw, status):
    srv = dataserver()
    client = raw_client(srv.port)
    client.send(raw)
    response = client.read_response()
    assert response.status == status
    assert response.headers["connection"] == "close"
    assert client.at_eof()
    assert not (srv.root / "x").exists()


def test_bad_gzip_is_400_and_connection_kept(dataserver, raw_client):
    srv = dataserver()
    client = raw_client(srv.port)
    bad = b"\x1f\x8b\x08\x00not really gzip at all"
    truncated = gzip.compress(b"hello world" * 100)[:-8]
    gz = "Content-Encoding: gzip\r\n"
    client.send(client.put_request("/g1", bad, extra=gz) + client.put_request("/g2", truncated, extra=gz)
                + b"GET / HTTP/1.1\r\n\r\n")
    assert client.read_response().status == 400
    assert client.read_response().status == 400
    assert client.read_response().status == 200
    assert not (srv.root / "g1").exists() and not (srv.root / "g2").exists()


def test_body_over_max_request_size_is_413(dataserver, raw_client):
    srv = dataserver(max_request_size=1000)
    client = raw_client(srv.port)
    client.send(client.put_request("/big", b"x" * 1001))
    assert client.read_response().status == 413
    gz_bomb = gzip.compress(b"\0" * 100_000)
    client2 = raw_client(srv.port)
    client2.send(client2.put_request("/bomb", gz_bomb, extra="Content-Encoding: gzip\r\n"))
    assert client2.read_response().status == 413
    assert not (srv.root / "big").exists() and not (srv.root / "bomb").exists()


def test_http10_closes_and_keepalive_works(dataserver, raw_client):
    srv = dataserver()
    client = raw_client(srv.port)
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    assert client.read_response().status == 200
    assert client.at_eof()
