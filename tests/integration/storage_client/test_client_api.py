"""ClusterClient's public token, mkdir, holder-first get_file and ranged reads, against real data servers."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import pytest

from photonflow.errors import AlreadyExistsError, NotFoundError
from photonflow.storage import ClusterClient, RangeReader

Factory = Callable[..., Any]


def _count_requests(client: ClusterClient, seen: list[tuple[str, str, str]]) -> None:
    """Record (server, method, target) of every request ``client`` sends (spying on the real requests)."""
    send = client._request

    def spy(url: str, method: str, target: str, **kw: Any) -> Any:
        seen.append((url, method, target))
        return send(url, method, target, **kw)

    client._request = spy  # type: ignore[method-assign]


def test_token_is_public_and_read_only(client_factory: Factory) -> None:
    client: ClusterClient = client_factory(["http://127.0.0.1:9"], token="s3cret")
    assert client.token == "s3cret"
    assert client_factory(["http://127.0.0.1:9"]).token is None
    with pytest.raises(AttributeError):
        client.token = "other"  # type: ignore[misc]


def test_mkdir_puts_a_directory_on_one_server(dataserver: Factory, client_factory: Factory) -> None:
    servers = [dataserver(), dataserver()]
    client: ClusterClient = client_factory([s.url for s in servers])
    url = client.mkdir("lab/empty")
    holder = next(s for s in servers if url.startswith(s.url))
    assert url == f"{holder.url}/lab/empty/"
    assert (holder.root / "lab" / "empty").is_dir()
    assert not any((s.root / "lab").exists() for s in servers if s is not holder)
    assert client.isdir("lab/empty") and client.listdir("lab/empty") == []  # own write seen at once (ttl 1 s)
    assert client.listdir("lab") == ["empty/"]
    with pytest.raises(AlreadyExistsError, match="exist_ok"):
        client.mkdir("lab/empty")
    assert client.mkdir("lab/empty", exist_ok=True) == url
    client.put_file("lab/file", b"x")
    for exist_ok in (False, True):
        with pytest.raises(AlreadyExistsError, match="as a file"):
            client.mkdir("lab/file", exist_ok=exist_ok)
    with pytest.raises(ValueError, match="reserved"):
        client.mkdir("__status")
    with pytest.raises(ValueError, match="root"):
        client.mkdir("")


def test_mkdir_sees_a_directory_made_by_someone_else(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url])
    assert client.listdir() == []  # cached for a second: the directory made below is not in it
    (srv.root / "theirs").mkdir()
    with pytest.raises(AlreadyExistsError):
        client.mkdir("theirs")
    assert client.mkdir("theirs", exist_ok=True) == f"{srv.url}/theirs/"


def test_get_file_asks_the_named_server_without_listing(dataserver: Factory, client_factory: Factory) -> None:
    servers = [dataserver(), dataserver()]
    writer: ClusterClient = client_factory([s.url for s in servers])
    url = writer.put_file("d/a.bin", b"A" * 100)
    holder = url.removesuffix("/d/a.bin")
    other = next(s.url for s in servers if s.url != holder)
    client: ClusterClient = client_factory([s.url for s in servers], local_reads=False)
    seen: list[tuple[str, str, str]] = []
    _count_requests(client, seen)
    assert client.get_file("d/a.bin", server=holder) == b"A" * 100
    assert seen == [(holder, "GET", "/d/a.bin")]
    seen.clear()
    # A wrong guess (404) falls back to the server that last served this directory...
    assert client.get_file("d/a.bin", server=other) == b"A" * 100
    assert seen == [(other, "GET", "/d/a.bin"), (holder, "GET", "/d/a.bin")]
    seen.clear()
    # ... and, in a client that knows no holder yet, to the listing and the holder it names.
    fresh: ClusterClient = client_factory([s.url for s in servers], local_reads=False)
    _count_requests(fresh, seen)
    assert fresh.get_file("d/a.bin", server=other) == b"A" * 100
    assert seen[0] == (other, "GET", "/d/a.bin") and (holder, "GET", "/d/") in seen
    assert seen[-1] == (holder, "GET", "/d/a.bin")
    seen.clear()
    # A server the client does not know is never asked.
    assert client.get_file("d/a.bin", server="http://127.0.0.1:9") == b"A" * 100
    assert all(u != "http://127.0.0.1:9" for u, _, _ in seen)
    with pytest.raises(NotFoundError):
        client.get_file("d/absent", server=holder)


def test_get_file_reads_a_directory_from_its_last_holder_without_listing(
    dataserver: Factory, client_factory: Factory
) -> None:
    servers = [dataserver(), dataserver()]
    writer: ClusterClient = client_factory([s.url for s in servers])
    writer.put_files([(f"s/f{i:03d}", bytes([i]) * 10) for i in range(30)])
    client: ClusterClient = client_factory([s.url for s in servers], local_reads=False, listing_ttl_s=0)
    seen: list[tuple[str, str, str]] = []
    _count_requests(client, seen)
    for i in range(30):
        assert client.get_file(f"s/f{i:03d}") == bytes([i]) * 10
    listings = [t for t in seen if t[2] == "/s/"]
    assert len(listings) == len(servers)  # the first read listed the directory once (every server); no other did
    assert len(seen) == 30 + len(servers)


def test_fast_reads_still_follow_a_growing_aggregate(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url], listing_ttl_s=0, local_reads=False)
    client.put_file("logs/other", b"o")  # the directory's holder is known: later reads skip the listing
    import http.client

    def append(body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("PUT", "/__aggregate_txt/logs/run.log", body=body)
        assert conn.getresponse().status == 200
        conn.close()

    append(b"line1\n")
    assert client.get_file("logs/run.log") == b"line1\n"
    append(b"line2\n")
    assert client.get_file("logs/run.log") == b"line1\nline2\n"


def test_read_range_and_open(dataserver: Factory, client_factory: Factory) -> None:
    servers = [dataserver(), dataserver()]
    client: ClusterClient = client_factory([s.url for s in servers], local_reads=False)
    data = os.urandom(300_000)
    client.put_file("r/big.bin", data)
    assert client.read_range("r/big.bin", 1000, 5000) == data[1000:6000]
    assert client.read_range("r/big.bin", 299_990, 100) == data[299_990:]  # short at the end
    assert client.read_range("r/big.bin", 400_000, 10) == b""  # past the end (416)
    assert client.read_range("r/big.bin", 0, 0) == b""
    dead = "http://127.0.0.1:9"
    holders = client.stat("r/big.bin").servers
    assert client.read_range("r/big.bin", 5, 5, servers=[dead, *holders]) == data[5:10]  # falls over
    with pytest.raises(NotFoundError):
        client.read_range("r/absent", 0, 10)
    with pytest.raises(ValueError):
        client.read_range("r/big.bin", -1, 10)
    with client.open("r/big.bin", block=64 << 10) as f:
        assert isinstance(f, RangeReader) and f.size == len(data)
        f.seek(100_000)
        assert f.read(70_000) == data[100_000:170_000]  # across blocks
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]
        assert f.read() == b""
    with pytest.raises(IsADirectoryError):
        client.open("r")
    modified = client.modified("r/big.bin")
    assert modified is not None and abs(modified - (servers[0].root / "r").stat().st_mtime) < 86400
    assert client.modified("r/big.bin", servers=[dead]) is None
