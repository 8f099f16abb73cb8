"""Dead and dying servers: listings still answer, writes fail over, nothing acknowledged is lost."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from photonflow.errors import NotFoundError, ServerUnavailableError, StorageError
from photonflow.storage import ClusterClient

Factory = Callable[..., Any]


def _dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def test_dead_server_is_isolated_and_reported(dataserver: Factory, client_factory: Factory) -> None:
    live = dataserver()
    dead = _dead_url()
    client: ClusterClient = client_factory([dead, live.url])
    url = client.put_file("iso/a.txt", b"a")  # the dead server would have been chosen first (never used)
    assert url.startswith(live.url)
    listing = client.listdirectory("iso")
    assert list(listing) == ["a.txt"]
    assert listing.unavailable == (dead,) and not listing.complete
    assert client.get_file("iso/a.txt") == b"a"
    assert client.put_files([("iso/b", b"b")])[0].startswith(live.url)
    assert {s.url: s.responsive for s in client.status()} == {dead: False, live.url: True}
    with pytest.raises(ServerUnavailableError, match="unreachable"):
        client.get_file("iso/missing")  # maybe on the dead server: not reported as "does not exist"


def test_all_servers_dead(client_factory: Factory) -> None:
    client: ClusterClient = client_factory([_dead_url(), _dead_url()])
    with pytest.raises(ServerUnavailableError, match="no data server"):
        client.listdir()
    with pytest.raises(ServerUnavailableError):
        client.put_file("x", b"x")


def test_missing_everywhere_is_not_found(dataserver: Factory, client_factory: Factory) -> None:
    client: ClusterClient = client_factory([dataserver().url, dataserver().url])
    with pytest.raises(NotFoundError):
        client.get_file("nowhere.txt")


@pytest.mark.timeout(120)
def test_server_killed_while_client_lists_and_writes(
    dataserver: Factory, dataserver_process: Factory, client_factory: Factory
) -> None:
    survivor = dataserver()
    victim = dataserver_process()
    client: ClusterClient = client_factory([victim.url, survivor.url], timeout_s=5, listing_timeout_s=5)
    acknowledged: dict[str, bytes] = {}
    failures: list[BaseException] = []
    calls = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal calls
        i = 0
        while not stop.is_set() and i < 400:
            path, data = f"kill/w{i:04d}", f"payload {i}".encode() * 50
            try:
                client.put_file(path, data)
                acknowledged[path] = data
            except StorageError as exc:
                failures.append(exc)
            calls += 1
            i += 1

    def lister() -> None:
        nonlocal calls
        while not stop.is_set():
            try:
                client.listdirectory("kill")
            except NotFoundError:
                pass
            except StorageError as exc:
                failures.append(exc)
            calls += 1

    threads = [threading.Thread(target=writer), threading.Thread(target=lister)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.kill()
    killed_at = len(acknowledged)
    while len(acknowledged) < killed_at + 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a client call hung after the server was killed"
    assert killed_at >= 40 and len(acknowledged) >= killed_at + 40, "writes stopped after the kill"
    # Every call got an answer, and with a survivor available no write failed.
    assert not [f for f in failures if "put" in str(f)], failures
    listing = client.listdirectory("kill")
    assert listing.unavailable == (victim.url,)
    on_survivor = {p for p in acknowledged if p.split("/")[1] in listing}
    # Restart the killed server on its root and port: everything acknowledged is there, complete.
    restarted = dataserver_process(victim.root, args=["--port", str(victim.port)])
    assert restarted.url == victim.url
    fresh: ClusterClient = client_factory([victim.url, survivor.url])
    listing = fresh.listdirectory("kill")
    assert listing.complete
    for path, data in acknowledged.items():
        assert fresh.get_file(path) == data
    assert len(on_survivor) >= 40
