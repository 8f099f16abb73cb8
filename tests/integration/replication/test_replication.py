"""Replication: ``replicas: 2`` on three data server processes, one killed, a replacement joins, repair restores it.

Issue 8's acceptance test: 1,000 files and a 500-frame series survive losing any one server bit-exactly, and the
repair pass brings every file back to two verified copies (counted and checksummed on the servers' disks).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from photonflow.formats.series import SeriesReader, SeriesWriter
from photonflow.storage import ClusterClient
from photonflow.storage.replication import ReplicationLease, Replicator, choose_destination

CLUSTER = "rep"
N_FILES = 1000
N_FRAMES = 500
WORK_DIR = ".photonflow-tmp"


def _disk_files(root: Path) -> dict[str, str]:
    """``{path: sha256}`` of every file a server stores (its own work directory excluded)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != WORK_DIR]
        for name in filenames:
            full = Path(dirpath) / name
            found[full.relative_to(root).as_posix()] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


def _copies(roots: list[Path]) -> dict[str, list[str]]:
    """``{path: [sha256 of each copy]}`` over the given server roots."""
    copies: dict[str, list[str]] = {}
    for root in roots:
        for path, digest in _disk_files(root).items():
            copies.setdefault(path, []).append(digest)
    return copies


def _read_everything(urls: list[str], files: dict[str, bytes], frames: np.ndarray) -> None:
    with ClusterClient(CLUSTER, servers=urls, registry=False, zeroconf=False, local_reads=False) as client:
        for path, data in files.items():
            assert client.get_file(path) == data
        series = SeriesReader(client, "exp/cell.pcs")
        assert len(series) == len(frames) and series.is_complete
        for i in range(len(frames)):
            np.testing.assert_array_equal(series[i], frames[i])


@pytest.mark.timeout(170)
def test_two_replicas_survive_a_lost_server_and_repair_restores_them(
    dataserver_process: Callable[..., object], tmp_path: Path
) -> None:
    victim = 1
    servers = [dataserver_process(cluster=CLUSTER) for _ in range(3)]
    urls = [s.url for s in servers]  # type: ignore[attr-defined]
    rng = np.random.default_rng(8)
    files = {f"exp/files/{i // 100:02d}/f{i:04d}.bin": rng.bytes(int(rng.integers(0, 3000))) for i in range(N_FILES)}
    frames = rng.integers(0, 4000, size=(N_FRAMES, 12, 10), dtype=np.uint16)

    with ClusterClient(CLUSTER, servers=urls, registry=False, zeroconf=False) as client:
        items = sorted(files.items())
        for start in range(0, N_FILES, 100):  # each batch goes to the least recently used server
            client.put_files(items[start : start + 100])
        with SeriesWriter(client, "exp/cell.pcs", {"voxelsize.x": 0.1}, chunk_size=50) as writer:
            for i, frame in enumerate(frames):
                writer.store_frame(i, frame)
            writer.finalize()
        with Replicator(client, replicas=2, settle_s=0) as replicator:
            first = replicator.run_once()
    written = _copies([s.root for s in servers])  # type: ignore[attr-defined]
    n_total = N_FILES + N_FRAMES + 3  # + metadata.json, final_metadata.json, events.json
    assert first.ok, first.summary()
    assert len(written) == n_total
    assert all(len(d) == 2 and d[0] == d[1] for d in written.values())
    assert len(first.copied) == n_total  # every file was written once and copied once

    for absent in (0, 2):  # any one server missing: everything still reads from the other two
        _read_everything([u for i, u in enumerate(urls) if i != absent], files, frames)
    servers[victim].kill()  # type: ignore[attr-defined]
    _read_everything(urls, files, frames)  # the killed server is still listed: the client fails over

    replacement = dataserver_process(cluster=CLUSTER)
    alive = [s for i, s in enumerate(servers) if i != victim] + [replacement]
    lost = set(_disk_files(servers[victim].root))  # type: ignore[attr-defined]
    with ClusterClient(CLUSTER, servers=[*urls, replacement.url], registry=False,  # type: ignore[attr-defined]
                       zeroconf=False) as client, Replicator(client, replicas=2, settle_s=0) as replicator:
        with ReplicationLease(tmp_path / "lease"):
            repair = replicator.run_once()
        assert repair.ok, repair.summary()
        assert repair.unavailable == (urls[victim],)
        assert {path for path, _, _ in repair.copied} == lost
        again = replicator.run_once()
        assert again.copied == () and again.ok
    restored = _copies([s.root for s in alive])  # type: ignore[attr-defined]
    assert len(restored) == n_total
    assert all(len(d) == 2 and d[0] == d[1] for d in restored.values())
    assert all(restored[path][0] == written[path][0] for path in written)


def test_a_second_replicator_on_the_host_is_refused(tmp_path: Path) -> None:
    with ReplicationLease(tmp_path / "lease"), pytest.raises(OSError, match="another replicator holds"):
        ReplicationLease(tmp_path / "lease").__enter__()
    with ReplicationLease(tmp_path / "lease"):  # released on exit
        pass


def test_destination_choice_is_deterministic_and_spread() -> None:
    servers = ["http://a:1", "http://b:1", "http://c:1"]
    firsts = [choose_destination(f"f{i}", servers)[0] for i in range(300)]
    assert firsts == [choose_destination(f"f{i}", list(reversed(servers)))[0] for i in range(300)]
    assert all(60 < firsts.count(s) < 140 for s in servers)


def test_growing_files_are_copied_only_once_sealed(dataserver: Callable[..., object]) -> None:
    a, b = dataserver(cluster=CLUSTER), dataserver(cluster=CLUSTER)
    urls = [a.url, b.url]  # type: ignore[attr-defined]
    with ClusterClient(CLUSTER, servers=urls, registry=False, zeroconf=False) as client:
        client.put_file("r/plain.txt", b"write-once, copied at once")
        log_file = Path(a.root) / "LOGS" / "rules" / "1.log"  # type: ignore[attr-defined]
        log_file.parent.mkdir(parents=True)
        log_file.write_bytes(b"line 1\n")  # as __aggregate_txt leaves it
        with Replicator(client, replicas=2, settle_s=3600) as replicator:
            report = replicator.run_once()
            assert [p for p, _, _ in report.copied] == ["r/plain.txt"]
            assert report.unsealed == ("LOGS/rules/1.log",) and not report.ok
            replicator.settle_s = 0  # the same size seen again after the quiet period: sealed
            report = replicator.run_once()
            assert [p for p, _, _ in report.copied] == ["LOGS/rules/1.log"] and report.ok


def test_holders_that_disagree_are_reported_not_copied(dataserver: Callable[..., object]) -> None:
    a, b, c = (dataserver(cluster=CLUSTER) for _ in range(3))
    for srv, body in ((a, b"one"), (b, b"other")):
        (Path(srv.root) / "x.bin").write_bytes(body)  # type: ignore[attr-defined]
    urls = [s.url for s in (a, b, c)]  # type: ignore[attr-defined]
    with ClusterClient(CLUSTER, servers=urls, registry=False, zeroconf=False) as client, Replicator(
        client, replicas=3, settle_s=0
    ) as replicator:
        report = replicator.run_once()
    assert report.diverged == ("x.bin",) and report.copied == () and not report.ok
    assert not (Path(c.root) / "x.bin").exists()  # type: ignore[attr-defined]
