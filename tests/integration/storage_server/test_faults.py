"""Failure handling: vanished clients, full disk, write races, killed and stopped servers."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _put(srv, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("PUT", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _temp_files(root):
    work = root / ".photonflow-tmp"
    return sorted(os.listdir(work)) if work.exists() else []


def _uploads_in_progress(pid):
    """Temporary files (named or anonymous O_TMPFILE) a server process holds open in its work directory."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if ".photonflow-tmp" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                count += 1
        except OSError:
            continue
    return count


def test_client_disconnecting_mid_upload_leaves_nothing(dataserver):
    srv = dataserver()
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(b"PUT /up/partial.bin HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1_000_000)
    assert _wait_for(lambda: _uploads_in_progress(os.getpid()) == 1)
    sock.close()
    assert _wait_for(lambda: _uploads_in_progress(os.getpid()) == 0)
    assert _temp_files(srv.root) == []
    assert not (srv.root / "up" / "partial.bin").exists()
    assert _put(srv, "/up/partial.bin", b"whole") == 200  # the name is still free


def test_free_space_floor_gives_507_and_nothing_partial(dataserver, tmp_path):
    import shutil

    floor = shutil.disk_usage(tmp_path).free + (1 << 30)
    srv = dataserver(free_space_floor=floor)
    assert _put(srv, "/full/x.bin", b"y" * 100_000) == 507
    assert _put(srv, "/__aggregate_txt/full/log.txt", b"line\n") == 507
    chunked = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    chunked.sendall(b"PUT /full/c.bin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert chunked.recv(100).startswith(b"HTTP/1.1 507 ")
    chunked.close()
    assert not (srv.root / "full" / "x.bin").exists()
    assert not (srv.root / "full" / "c.bin").exists()
    assert not (srv.root / "full" / "log.txt").exists()
    assert _temp_files(srv.root) == []


def test_concurrent_puts_of_one_name_exactly_one_wins(dataserver):
    srv = dataserver()
    barrier = threading.Barrier(8)
    statuses: dict[int, int] = {}
    bodies = {i: bytes([i]) * 2_000_000 for i in range(8)}

    def worker(i):
        barrier.wait(timeout=10)
        statuses[i] = _put(srv, "/race/same.bin", bodies[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [i for i, s in statuses.items() if s == 200]
    assert len(statuses) == 8 and len(winners) == 1
    assert all(s in (405, 409) for i, s in statuses.items() if i not in winners)
    assert (srv.root / "race" / "same.bin").read_bytes() == bodies[winners[0]]
    assert _wait_for(lambda: _temp_files(srv.root) == [])


def test_concurrent_mkdir_and_aggregate(dataserver):
    srv = dataserver()
    statuses = []
    lines = []

    def worker(i):
        statuses.append(_put(srv, "/m/newdir/", b""))
        line = f"writer {i}\n".encode()
        lines.append(line)
        assert _put(srv, "/__aggregate_txt/m/log.txt", line) == 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] + [405] * 7
    assert sorted((srv.root / "m" / "log.txt").read_bytes().splitlines(keepends=True)) == sorted(lines)


def test_server_killed_mid_write_leaves_no_partial_file(dataserver_process):
    server = dataserver_process()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"PUT /k/partial.bin HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 2_000_000)
    assert _wait_for(lambda: _uploads_in_progress(server.proc.pid) == 1)
    server.kill()
    sock.close()
    assert not (server.root / "k" / "partial.bin").exists()
    restarted = dataserver_process(server.root)
    assert _temp_files(server.root) == []  # the orphan of the killed process was removed at start
    with pytest.raises(urllib.request.HTTPError) as info:
        urllib.request.urlopen(f"{restarted.url}/k/partial.bin", timeout=10)
    assert info.value.code == 404
    assert _put(restarted, "/k/partial.bin", b"complete") == 200


def test_sigterm_finishes_in_flight_upload_then_exits_cleanly(dataserver_process):
    server = dataserver_process()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    body = b"y" * 4_000_000
    sock.sendall(b"PUT /t/inflight.bin HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:1_000_000])
    assert _wait_for(lambda: _uploads_in_progress(server.proc.pid) == 1)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.8)  # let the server notice the signal while the upload is still in progress
    sock.sendall(body[1_000_000:])
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in reply
    sock.close()
    assert server.proc.wait(timeout=20) == 0
    assert (server.root / "t" / "inflight.bin").read_bytes() == body
    assert _temp_files(server.root) == []


def test_listing_and_writing_while_server_is_killed(dataserver_process):
    import json

    server = dataserver_process()
    acknowledged: list[str] = []
    listings: list[dict] = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            name = f"/w/f{i:05d}"
            try:
                if _put(server, name, b"z" * 10_000) == 200:
                    acknowledged.append(name)
            except OSError:
                return
            i += 1

    def lister():
        while not stop.is_set():
            try:
                listings.append(json.loads(urllib.request.urlopen(f"{server.url}/w/", timeout=10).read()))
            except urllib.request.HTTPError:
                continue  # 404 until the first file creates the directory
            except OSError:
                return  # the server was killed

    threads = [threading.Thread(target=writer), threading.Thread(target=lister)]
    for thread in threads:
        thread.start()
    assert _wait_for(lambda: len(acknowledged) >= 20 and len(listings) >= 3, timeout=30)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    for seen in listings:  # while writing, no listing ever showed a partial file
        assert all(size == 10_000 for _, size in seen.values())
    restarted = dataserver_process(server.root)
    listing = json.loads(urllib.request.urlopen(f"{restarted.url}/w/", timeout=10).read())
    for name in acknowledged:  # nothing acknowledged is lost, nothing partial is visible
        assert listing[name.rsplit("/", 1)[1]] == [0, 10_000]
    assert all(size == 10_000 for _, size in listing.values())
