"""ClusterClient against real data servers on 127.0.0.1: merge, write-once, caches, put_files, URIs, tokens."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from photonflow.errors import AccessDeniedError, AlreadyExistsError, NotFoundError
from photonflow.storage import ClusterClient, Entry

Factory = Callable[..., Any]


def _raw_put(url: str, target: str, body: bytes) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("PUT", target, body=body)
    status = conn.getresponse().status
    conn.close()
    return status


def test_merged_listing_across_three_servers(dataserver: Factory, client_factory: Factory) -> None:
    servers = [dataserver() for _ in range(3)]
    client: ClusterClient = client_factory([s.url for s in servers])
    urls = [client.put_file(f"run/f{i}.txt", b"x" * i) for i in range(6)]
    # Round robin over never-used, then least recently used servers (§9 case 25).
    assert [u.rsplit("/run/", 1)[0] for u in urls] == [s.url for s in servers] * 2
    listing = client.listdirectory("run")
    assert dict(listing) == {f"f{i}.txt": Entry(0, i) for i in range(6)}
    assert listing.complete
    root = client.listdirectory("")
    assert root["run/"].is_dir and root["run/"].size == 6  # directory sizes are summed over servers
    assert set(root.locations["run/"]) == {s.url for s in servers}
    assert client.listdir() == ["run/"]
    assert client.listdir("run") == sorted(f"f{i}.txt" for i in range(6))


def test_namespace_operations(dataserver: Factory, client_factory: Factory) -> None:
    a, b = dataserver(), dataserver()
    client: ClusterClient = client_factory([a.url, b.url])
    client.put_file("cl/test1.txt", b"12345678")
    client.put_files([(f"cl/many/f{i:03d}", b"m" * i) for i in range(20)])
    assert client.listdirectory("cl")["test1.txt"] == Entry(0, 8)
    assert client.listdirectory("cl")["many/"].is_dir
    assert [client.exists(p) for p in ("cl/test1.txt", "cl/missing", "cl/many")] == [True, False, True]
    assert client.isdir("cl/many") and not client.isdir("cl/test1.txt") and client.isdir("")
    assert client.stat("cl/test1.txt").st_size == 8
    assert client.stat("cl/many/f005").size == 5
    with pytest.raises(NotFoundError):
        client.stat("cl/nope")
    assert client.glob("cl/many/f00*") == [f"cl/many/f00{i}" for i in range(10)]
    walked = list(client.walk("cl"))
    assert walked[0] == ("cl", ["many"], ["test1.txt"])
    assert walked[1][0] == "cl/many" and len(walked[1][2]) == 20
    with pytest.raises(NotFoundError, match="nothere"):
        client.listdir("nothere")
    assert list(client.walk("nothere")) == []


def test_get_file_and_uris(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver(cluster="lab")
    client: ClusterClient = client_factory([srv.url], cluster="lab")
    client.put_file("PYME-CLUSTER://lab/u/ü b.txt", b"unicode")
    assert client.get_file("pyme-cluster://lab/u/ü b.txt") == b"unicode"
    assert client.get_file("PYME-CLUSTER:///u/ü b.txt") == b"unicode"  # empty cluster = every server
    assert client.listdir("u") == ["ü b.txt"]
    assert (srv.root / "u" / "ü b.txt").read_bytes() == b"unicode"
    assert client.uri("/u/x") == "PYME-CLUSTER://lab/u/x"
    with pytest.raises(ValueError, match="other"):
        client.get_file("PYME-CLUSTER://other/u/x")
    with pytest.raises(NotFoundError, match="u/missing"):
        client.get_file("u/missing")


def test_write_once_across_servers(dataserver: Factory, client_factory: Factory) -> None:
    a, b = dataserver(), dataserver()
    writer: ClusterClient = client_factory([a.url, b.url])
    writer.put_file("w/one", b"1")
    other: ClusterClient = client_factory([b.url, a.url])  # would choose the other server first
    with pytest.raises(AlreadyExistsError, match="write-once"):
        other.put_file("w/one", b"2")
    with pytest.raises(AlreadyExistsError):
        writer.put_file("w/one", b"3")
    assert writer.get_file("w/one") == b"1"
    with pytest.raises(ValueError, match="reserved"):
        writer.put_file("__status", b"")


def test_put_files_pipelined_and_duplicates(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url])
    files = [(f"batch/f{i:04d}.bin", bytes([i % 256]) * (i * 37 % 5000)) for i in range(300)]
    urls = client.put_files(files)
    assert urls == [f"{srv.url}/{p}" for p, _ in files]
    assert len(client.listdir("batch")) == 300
    for path, data in files[::50]:
        assert (srv.root / path).read_bytes() == data
    big = [("batch/big", b"b" * (9 << 20)), ("batch/after", b"a")]
    client.put_files(big)
    assert client.stat("batch/big").size == 9 << 20
    with pytest.raises(AlreadyExistsError, match="1 of 2"):
        client.put_files([("batch/f0001.bin", b"again"), ("batch/new", b"n")])
    assert client.get_file("batch/new") == b"n"  # the other file of the batch was stored


def test_listing_cache_sees_own_writes_and_expires(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url], listing_ttl_s=3600)
    client.put_file("c/a", b"a")
    assert client.listdir("c") == ["a"]
    client.put_file("c/b", b"b")
    client.put_file("c/sub/x", b"x")
    assert client.listdir("c") == ["a", "b", "sub/"]  # own writes: patched/invalidated, never stale
    assert _raw_put(srv.url, "/c/foreign", b"f") == 200  # another writer
    assert "foreign" not in client.listdir("c")  # within the TTL the listing is reused ...
    assert "foreign" in client.listdirectory("c", fresh=True)  # ... unless asked for a fresh one
    short: ClusterClient = client_factory([srv.url], listing_ttl_s=0)
    assert _raw_put(srv.url, "/c/foreign2", b"f") == 200
    assert "foreign2" in short.listdir("c")


def test_content_cache_is_validated_by_size(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url], listing_ttl_s=0)
    assert _raw_put(srv.url, "/__aggregate_txt/logs/run.log", b"line1\n") == 200
    assert client.get_file("logs/run.log") == b"line1\n"
    assert _raw_put(srv.url, "/__aggregate_txt/logs/run.log", b"line2\n") == 200
    assert client.get_file("logs/run.log") == b"line1\nline2\n"  # grown file: cached copy not reused
    client.put_file("logs/fixed", b"write-once")
    (srv.root / "logs" / "fixed").chmod(0o000)  # a cache hit must not touch the server
    try:
        assert client.get_file("logs/fixed") == b"write-once"
    finally:
        (srv.root / "logs" / "fixed").chmod(0o444)


def test_token_is_sent_as_bearer(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver(token="s3cret")
    anonymous: ClusterClient = client_factory([srv.url])
    with pytest.raises(AccessDeniedError, match="token"):
        anonymous.put_file("t/a", b"a")
    wrong: ClusterClient = client_factory([srv.url], token="nope")
    with pytest.raises(AccessDeniedError):
        wrong.listdir()
    client: ClusterClient = client_factory([srv.url], token="s3cret")
    client.put_file("t/a", b"a")
    client.put_files([("t/b", b"b"), ("t/c", b"c")])
    assert client.listdir("t") == ["a", "b", "c"]
    assert client.get_file("t/c") == b"c"
    assert client.status()[0].responsive


def test_status_reports_free_space(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    [status] = client_factory([srv.url]).status()
    assert status.responsive and status.url == srv.url
    assert status.free is not None and status.total is not None and 0 < status.free <= status.total


def test_full_server_is_skipped_for_new_files(dataserver: Factory, client_factory: Factory) -> None:
    full = dataserver(free_space_floor=1 << 62)  # every write would cross the floor: 507
    roomy = dataserver()
    client: ClusterClient = client_factory([full.url, roomy.url])
    urls = [client.put_file(f"fs/{i}", b"data") for i in range(3)]
    assert all(u.startswith(roomy.url) for u in urls)
    assert client.put_files([("fs/p1", b"1"), ("fs/p2", b"2")])[0].startswith(roomy.url)


def test_no_server_at_all_is_reported(client_factory: Factory) -> None:
    from photonflow.errors import ServerUnavailableError

    with pytest.raises(ServerUnavailableError, match="no data server of cluster 'ghost'"):
        client_factory([], cluster="ghost").listdir()


def test_connections_are_reused(dataserver: Factory, client_factory: Factory) -> None:
    srv = dataserver()
    client: ClusterClient = client_factory([srv.url], listing_ttl_s=0)
    client.put_file("r/a", b"a")
    conn = client._connection(srv.url)
    before = len(conn._idle)
    for _ in range(20):
        client.listdir("r")
    assert before == len(conn._idle) == 1
    sock = conn._idle[0].sock
    assert sock is not None and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_local_short_circuit_reads_disk_of_this_hosts_server(tmp_path: Path) -> None:
    from photonflow.storage.discovery import register_local

    # A "server" on this host that accepts connections but never answers: any HTTP request would hang, so the
    # read below can only have come from disk.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.bin").write_bytes(b"local bytes")
    (tmp_path / "outside").write_bytes(b"secret")
    (root / "d" / "escape").symlink_to(tmp_path / "outside")
    registry = tmp_path / "reg.sqlite"
    register_local(
        "PYMEDataServer [loc]:h - PID:1", address="127.0.0.1", port=mute.getsockname()[1], root=root, path=registry
    )
    try:
        with ClusterClient("loc", registry=registry, zeroconf=False, timeout_s=0.5, listing_timeout_s=0.5) as client:
            assert client.get_file("d/f.bin") == b"local bytes"
            with pytest.raises(OSError):  # outside the root: not read from disk, and the server does not answer
                client.get_file("d/escape")
        with (
            ClusterClient(
                "loc", registry=registry, zeroconf=False, local_reads=False, timeout_s=0.5, listing_timeout_s=0.5
            ) as client,
            pytest.raises(OSError),
        ):
            client.get_file("d/f.bin")
    finally:
        mute.close()
