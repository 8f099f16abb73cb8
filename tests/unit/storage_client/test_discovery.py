"""Discovery: PYME names, the same-host SQLite registry, static lists, and mDNS bound to loopback."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from photonflow.config import load_config
from photonflow.errors import ConfigError
from photonflow.storage.discovery import (
    ServerDirectory,
    advertise,
    cluster_from_name,
    computer_name,
    find_servers,
    read_registry,
    register_local,
    registry_path,
    service_name,
)


def _dead_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_service_name_is_pyme_format_and_at_most_63_chars() -> None:
    assert service_name("TESTCL", computer="peerhost", ident="42") == "PYMEDataServer [TESTCL]:peerhost - PID:42"
    long = service_name("c" * 80, computer="host", ident="1234.5678")
    assert len(long) == 63
    assert long.endswith("PID:1234.5678")
    assert cluster_from_name(long) is None  # truncated: only the TXT record still carries the name


def test_cluster_from_name() -> None:
    assert cluster_from_name("PYMEDataServer [lab A]:h - PID:1") == "lab A"
    assert cluster_from_name("something else") is None


def test_computer_name_prefers_pyme_variable() -> None:
    assert computer_name({"PYME_COMPUTERNAME": "peer", "COMPUTERNAME": "win"}) == "peer"
    assert computer_name({"COMPUTERNAME": "win"}) == "win"
    assert "." not in computer_name({})


def test_registry_path_follows_tmpdir(tmp_path: Path) -> None:
    assert registry_path({"TMPDIR": str(tmp_path)}) == tmp_path / "_pyme-http.sqlite"


def test_pyme_row_is_found_with_exact_cluster_match(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "_pyme-http.sqlite"
    # Exactly the row PYME's `PYMEDataServer -a local` writes (reference §9 case 26).
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE dns (name TEXT, address TEXT, port INTEGER, creation_time FLOAT, URI TEXT)")
        conn.execute(
            "INSERT INTO dns VALUES (?, ?, ?, ?, ?)",
            ("PYMEDataServer [F]:host - PID:1", "127.0.0.1", listener, 1.0, ""),
        )
    conn.close()
    [server] = read_registry("F", path=db)
    assert server.url == f"http://127.0.0.1:{listener}"
    assert server.cluster == "F" and server.source == "registry" and server.root is None
    assert read_registry("FF", path=db) == []  # no substring matching (§8 C5)
    assert len(read_registry("", path=db)) == 1


def test_dead_rows_are_pruned_at_once(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "reg.sqlite"
    register_local("PYMEDataServer [c]:h - PID:1", address="127.0.0.1", port=_dead_port(), path=db)
    register_local("PYMEDataServer [c]:h - PID:2", address="127.0.0.1", port=listener, root=tmp_path, path=db)
    start = time.monotonic()
    [alive] = read_registry("c", path=db)
    assert time.monotonic() - start < 5  # refused loopback connects answer immediately (PYME waits 10 s per row)
    assert alive.port == listener and alive.root == tmp_path
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM dns").fetchone()[0] == 1
    conn.close()


def test_newest_row_per_name_wins(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "reg.sqlite"
    name = "PYMEDataServer [c]:h - PID:1"
    register_local(name, address="127.0.0.1", port=_dead_port(), path=db)
    register_local(name, address="127.0.0.1", port=listener, path=db)
    assert [s.port for s in read_registry("c", path=db, prune=False)] == [listener]


def test_advertise_local_registers_and_unregisters(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "reg.sqlite"
    with advertise(cluster="lab", host="127.0.0.1", port=listener, mode="local", root=tmp_path, registry=db) as ad:
        assert ad.name.startswith("PYMEDataServer [lab]:")
        [server] = find_servers("lab", registry=db, zeroconf=False)
        assert server.url == f"http://127.0.0.1:{listener}" and server.root == tmp_path
    assert find_servers("lab", registry=db, zeroconf=False) == []


def test_advertise_none_registers_nothing(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "reg.sqlite"
    with advertise(cluster="lab", host="127.0.0.1", port=listener, mode="none", registry=db):
        assert find_servers("lab", registry=db, zeroconf=False) == []


def test_advertise_rejects_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="advertise mode"):
        advertise(cluster="lab", host="127.0.0.1", port=1, mode="multicast", registry=tmp_path / "r")  # type: ignore[arg-type]


def test_static_servers_from_config_answer_at_once(tmp_path: Path) -> None:
    config = load_config(paths=[], environ={}, overrides={"servers": "127.0.0.1:1, http://127.0.0.1:2/"})
    found = find_servers("any", config=config, registry=tmp_path / "none.sqlite", zeroconf=False)
    assert [s.url for s in found] == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert all(s.source == "static" for s in found)


def test_bad_static_server_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http://host:port"):
        ServerDirectory("c", servers=["ftp://x"], registry=False)


def test_static_duplicate_of_registered_server_is_listed_once(tmp_path: Path, listener: int) -> None:
    db = tmp_path / "reg.sqlite"
    with advertise(cluster="lab", host="127.0.0.1", port=listener, mode="local", registry=db):
        found = find_servers("lab", servers=[f"http://127.0.0.1:{listener}"], registry=db, zeroconf=False)
    assert len(found) == 1 and found[0].source == "registry"


def test_registry_files_keep_pyme_table_layout(tmp_path: Path, listener: int) -> None:
    from photonflow.compute.discovery import advertise_scheduler

    pyme_dns = "CREATE TABLE dns (name TEXT, address TEXT, port INTEGER, creation_time FLOAT, URI TEXT)"
    servers, scheduler = tmp_path / "_pyme-http.sqlite", tmp_path / "sched.sqlite"
    register_local("PYMEDataServer [c]:h - PID:1", address="127.0.0.1", port=listener, root=tmp_path, path=servers)
    with advertise_scheduler(cluster="c", host="127.0.0.1", port=listener, api=None, mode="local", registry=scheduler):
        pass
    with sqlite3.connect(servers) as conn:
        tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        row = conn.execute("SELECT name, address, port, URI FROM dns").fetchone()
    conn.close()
    assert tables == {
        "dns": pyme_dns,
        "photonflow_roots": "CREATE TABLE photonflow_roots (name TEXT PRIMARY KEY, root TEXT)",
    }
    assert row == ("PYMEDataServer [c]:h - PID:1", "127.0.0.1", listener, "")
    with sqlite3.connect(scheduler) as conn:
        scheduler_tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    assert scheduler_tables == [("dns", pyme_dns)]
