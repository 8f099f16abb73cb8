"""Wire-compatibility cases of reference §9 (1–10, 12–18) against a real server on loopback."""

from __future__ import annotations

import gzip
import http.client
import json
import re

import pytest

from photonflow.storage.server import RunningServer

from ..._http import http_request

HEADER_LINE = re.compile(r"^[!-9;-~]+: [^\r\n]*$")


def request(srv: RunningServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request(srv.host, srv.port, method, path, body=body, headers=headers)


@pytest.fixture
def srv(dataserver) -> RunningServer:
    return dataserver()


def test_case1_root_listing_is_json_object(srv):
    status, headers, body = request(srv, "GET", "/")
    assert status == 200
    assert "application/json" in headers["content-type"]
    assert json.loads(body) == {}


def test_case2_to_5_put_get_head_listing(srv):
    status, headers, body = request(srv, "PUT", "/a/b/c.txt", b"hello\n")
    assert (status, headers["content-length"], body) == (200, "0", b"")
    assert (srv.root / "a" / "b").is_dir()

    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("PUT", "/a/b/c.txt", body=b"hello\n")
    again = conn.getresponse()
    assert again.status == 405 and again.getheader("Content-Length") is not None
    again.read()
    conn.request("GET", "/a/b/c.txt")  # same keep-alive connection after the error
    got = conn.getresponse()
    assert (got.status, got.read(), got.getheader("Content-Length")) == (200, b"hello\n", "6")
    conn.request("HEAD", "/a/b/c.txt")
    head = conn.getresponse()
    assert (head.status, head.getheader("Content-Length"), head.read()) == (200, "6", b"")
    assert head.getheader("Content-Type") == "text/plain"
    conn.close()

    assert json.loads(request(srv, "GET", "/a/b/")[2]) == {"c.txt": [0, 6]}


def test_case6_parent_and_root_listed_immediately(srv):
    request(srv, "PUT", "/a/b/c.txt", b"hello\n")
    listing = json.loads(request(srv, "GET", "/a/")[2])
    kind, count = listing["b/"]
    assert kind & 1 and count >= 1
    assert "a/" in json.loads(request(srv, "GET", "/")[2])


def test_case7_missing_is_404(srv):
    assert request(srv, "GET", "/missing/")[0] == 404
    assert request(srv, "GET", "/missing.txt")[0] == 404
    assert request(srv, "HEAD", "/missing.txt")[0] == 404


def test_case8_directory_without_slash_redirects(srv):
    request(srv, "PUT", "/a/b/c.txt", b"x")
    status, headers, _ = request(srv, "GET", "/a/b?x=1")
    assert status == 301
    assert headers["location"] == "/a/b/?x=1"
    assert headers["content-length"] == "0"


def test_case9_mkdir_then_405(srv):
    assert request(srv, "PUT", "/newdir/", b"")[0] == 200
    assert (srv.root / "newdir").is_dir()
    assert json.loads(request(srv, "GET", "/")[2])["newdir/"] == [1, 0]
    assert request(srv, "PUT", "/newdir/", b"")[0] == 405


def test_case10_series_flags(srv):
    assert request(srv, "PUT", "/s.pcs/metadata.json", b"{}")[0] == 200
    kind, _ = json.loads(request(srv, "GET", "/")[2])["s.pcs/"]
    assert kind == 0x01 | 0x02
    assert request(srv, "PUT", "/s.pcs/events.json", b"[]")[0] == 200
    kind, count = json.loads(request(srv, "GET", "/")[2])["s.pcs/"]
    assert (kind, count) == (0x01 | 0x02 | 0x04, 2)
    assert set(json.loads(request(srv, "GET", "/s.pcs/")[2])) == {"metadata.json", "events.json"}


def test_case12_header_lines_are_pyme_parsable(srv):
    responses = [
        request(srv, "PUT", "/h/x", b"1"),
        request(srv, "PUT", "/h/x", b"1"),
        request(srv, "GET", "/h/x"),
        request(srv, "GET", "/h/"),
        request(srv, "GET", "/nope"),
        request(srv, "GET", "/h"),
        request(srv, "GET", "/__status"),
    ]
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    for status, headers, _ in responses:
        assert "content-length" in headers, status
    # Check the raw header lines, not http.client's parsed view.
    import socket

    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(b"GET /h/x HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    for line in head[1:]:
        assert HEADER_LINE.match(line) and line.count(": ") == 1, line
    conn.close()


def test_case13_gzip_body_is_stored_decompressed(srv):
    payload = b"compressible " * 1000
    status, _, _ = request(srv, "PUT", "/g/x.txt", gzip.compress(payload), {"Content-Encoding": "gzip"})
    assert status == 200
    assert (srv.root / "g" / "x.txt").read_bytes() == payload


def test_case14_aggregate_txt_appends(srv):
    assert request(srv, "PUT", "/__aggregate_txt/logs/x.log", b"line1\n")[0] == 200
    assert request(srv, "PUT", "/__aggregate_txt/logs/x.log", gzip.compress(b"line2\n"),
                   {"Content-Encoding": "gzip"})[0] == 200
    assert request(srv, "GET", "/logs/x.log")[2] == b"line1\nline2\n"
    assert json.loads(request(srv, "GET", "/logs/")[2]) == {"x.log": [0, 12]}


def test_unknown_aggregate_is_404_not_a_hang(srv):
    assert request(srv, "PUT", "/__aggregate_nope/x", b"data")[0] == 404


def test_case15_status(srv):
    status, headers, body = request(srv, "GET", "/__status")
    doc = json.loads(body)
    assert status == 200 and "application/json" in headers["content-type"]
    assert isinstance(doc["Disk"]["free"], int)
    assert doc["Port"] == srv.port and doc["IPAddress"] == "127.0.0.1"
    assert doc["ComputerName"] and doc["Cluster"] == "test"


def test_case16_glob_confined_to_root(srv):
    request(srv, "PUT", "/a/b/c.txt", b"x")
    assert json.loads(request(srv, "GET", "/__glob?pattern=a/*/*.txt")[2]) == ["a/b/c.txt"]
    assert json.loads(request(srv, "GET", "/__glob?pattern=/etc/*")[2]) == []
    assert json.loads(request(srv, "GET", "/__glob?pattern=../*")[2]) == []


def test_case17_percent_encoded_names(srv):
    assert request(srv, "PUT", "/enc/a%20b.txt", b"sp")[0] == 200
    assert "a b.txt" in json.loads(request(srv, "GET", "/enc/")[2])
    assert request(srv, "GET", "/enc/a%20b.txt")[2] == b"sp"


def test_raw_utf8_names_are_stored_as_utf8(srv, raw_client):
    client = raw_client(srv.port)
    client.send("PUT /u/Größe.txt HTTP/1.1\r\nContent-Length: 1\r\n\r\nx".encode())
    assert client.read_response().status == 200
    assert (srv.root / "u" / "Größe.txt").read_bytes() == b"x"
    assert json.loads(request(srv, "GET", "/u/")[2]) == {"Größe.txt": [0, 1]}


def test_case18_query_ignored_on_files(srv):
    request(srv, "PUT", "/a/b/c.txt", b"hello\n")
    assert request(srv, "GET", "/a/b/c.txt?foo=1")[2] == b"hello\n"


def test_index_html_never_replaces_listing(srv):
    request(srv, "PUT", "/site/index.html", b"<html></html>")
    status, _, body = request(srv, "GET", "/site/")
    assert status == 200 and json.loads(body) == {"index.html": [0, 13]}


def test_file_with_trailing_slash_is_404(srv):
    request(srv, "PUT", "/f.txt", b"x")
    assert request(srv, "GET", "/f.txt/")[0] == 404


def test_large_file_round_trip_and_64bit_listing_size(srv):
    payload = bytes(range(256)) * 40000  # 10 MB: sent with sendfile
    assert request(srv, "PUT", "/big/blob.bin", payload)[0] == 200
    assert request(srv, "GET", "/big/blob.bin")[2] == payload
    with open(srv.root / "sparse.bin", "wb") as f:  # a 5 GiB sparse file: no 32-bit truncation (S7)
        f.truncate(5 << 30)
    assert json.loads(request(srv, "GET", "/")[2])["sparse.bin"] == [0, 5 << 30]


def test_h5_file_flags_and_listing_skips_dangling_symlink(srv):
    (srv.root / "series_B.h5").write_bytes(b"1234")
    (srv.root / "dangling").symlink_to(srv.root / "nowhere")
    assert json.loads(request(srv, "GET", "/")[2]) == {"series_B.h5": [6, 4]}


def test_listing_sees_external_change_and_own_appends(srv):
    request(srv, "PUT", "/d/one", b"1")
    assert set(json.loads(request(srv, "GET", "/d/")[2])) == {"one"}
    (srv.root / "d" / "two").write_bytes(b"22")
    assert json.loads(request(srv, "GET", "/d/")[2]) == {"one": [0, 1], "two": [0, 2]}


def test_chunked_request_body_accepted(srv, raw_client):
    client = raw_client(srv.port)
    client.send(b"PUT /ch/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
                b"GET /ch/x HTTP/1.1\r\n\r\n")
    assert client.read_response().status == 200
    got = client.read_response()
    assert (got.status, got.body) == (200, b"hello world")


def test_other_methods_get_405_and_keep_connection(srv, raw_client):
    client = raw_client(srv.port)
    client.send(b"DELETE /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n")
    first = client.read_response()
    assert first.status == 405 and first.headers["allow"] == "GET, HEAD, PUT"
    assert client.read_response().status == 200


def test_expect_100_continue(srv, raw_client):
    client = raw_client(srv.port)
    client.send(b"PUT /e/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert client.read_response(head_only=True).status == 100
    client.send(b"ok")
    assert client.read_response().status == 200
    assert (srv.root / "e" / "x").read_bytes() == b"ok"
