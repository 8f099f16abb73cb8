"""Streamer against real data servers: pipelining, acknowledgement, re-sending, backpressure, fatal errors."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from photonflow.errors import AccessDeniedError, AlreadyExistsError, InsufficientStorageError, ServerUnavailableError
from photonflow.storage import Streamer


def _files(root: Path, sub: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / sub).iterdir()}


def test_every_file_acknowledged_and_stored_once(dataserver) -> None:
    a, b = dataserver(), dataserver()
    payloads = {f"s/f{i:04d}.bin": os.urandom(100 + i) for i in range(400)}
    with Streamer([a.url, b.url], queue_size=4) as streamer:
        for i, (path, data) in enumerate(payloads.items()):
            streamer.put(path, data if i % 2 else (lambda d=data: d), server=(i // 50) % 2)
    stats = streamer.stats()
    assert stats.files_acknowledged == 400 and stats.resent == 0
    assert stats.bytes_acknowledged == sum(map(len, payloads.values()))
    on_a, on_b = _files(Path(a.root), "s"), _files(Path(b.root), "s")
    assert len(on_a) == len(on_b) == 200 and not on_a.keys() & on_b.keys()
    assert {f"s/{k}": v for k, v in {**on_a, **on_b}.items()} == payloads
    assert stats.per_server[a.url].files_acknowledged == 200


def test_lost_answers_are_resent_and_recognised_as_stored(dataserver, cutting_proxy) -> None:
    srv = dataserver()
    proxy = cutting_proxy(srv.port, cut_after=20)
    payloads = {f"r/f{i:04d}.bin": os.urandom(2000) for i in range(300)}
    with Streamer([proxy.url], retry_timeout_s=20) as streamer:
        for path, data in payloads.items():
            streamer.put(path, data)
        streamer.flush(timeout_s=60)
        stats = streamer.stats()
    assert proxy.cut.is_set() and proxy.connections >= 2
    assert stats.reconnects >= 1 and stats.resent >= 1
    # Files the server had stored before the cut but whose answer was dropped come back 405: they count as stored.
    assert stats.per_server[proxy.url].already_stored >= 1
    assert stats.files_acknowledged == 300
    assert {f"r/{k}": v for k, v in _files(Path(srv.root), "r").items()} == payloads


def test_producer_blocks_when_the_server_stalls_then_resumes(dataserver_process) -> None:
    srv = dataserver_process()
    os.kill(srv.proc.pid, signal.SIGSTOP)
    done = threading.Event()
    streamer = Streamer([srv.url], queue_size=2, max_in_flight=2, retry_timeout_s=60)

    def produce() -> None:
        for i in range(50):
            streamer.put(f"bp/f{i:03d}", b"x" * 4096)
        done.set()

    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        time.sleep(1.0)
        # Bounded: at most queue + in-flight + the one being handed over are held; the producer is waiting.
        assert not done.is_set()
        assert streamer.pending <= 2 + 2 + 2
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    producer.join(timeout=30)
    assert done.is_set()
    streamer.close(timeout_s=30)
    assert len(list((srv.root / "bp").iterdir())) == 50


def test_full_disk_is_raised_to_the_producer(dataserver) -> None:
    srv = dataserver(free_space_floor=1 << 62)
    streamer = Streamer([srv.url])
    streamer.put("full/a.bin", b"data")
    with pytest.raises(InsufficientStorageError, match="out of space"):
        streamer.flush(timeout_s=30)
    with pytest.raises(InsufficientStorageError):
        streamer.put("full/b.bin", b"more")
    streamer.abort()


def test_wrong_token_is_raised(dataserver) -> None:
    srv = dataserver(token="sesame")
    streamer = Streamer([srv.url], token="wrong")
    streamer.put("t/a.bin", b"data")
    with pytest.raises(AccessDeniedError, match="token"):
        streamer.flush(timeout_s=30)
    streamer.abort()
    with Streamer([srv.url], token="sesame") as streamer:
        streamer.put("t/a.bin", b"data")
    assert (Path(srv.root) / "t" / "a.bin").read_bytes() == b"data"


def test_existing_name_is_an_error_not_a_silent_skip(dataserver) -> None:
    srv = dataserver()
    (Path(srv.root) / "e").mkdir()
    (Path(srv.root) / "e" / "a.bin").write_bytes(b"someone else's")
    streamer = Streamer([srv.url])
    streamer.put("e/a.bin", b"mine")
    with pytest.raises(AlreadyExistsError, match="new series name"):
        streamer.close(timeout_s=30)


def test_server_gone_past_the_retry_budget(dataserver_process) -> None:
    srv = dataserver_process()
    srv.kill()
    streamer = Streamer([srv.url], retry_timeout_s=0.5)
    streamer.put("gone/a.bin", b"data")
    with pytest.raises(ServerUnavailableError, match="unreachable for more than"):
        streamer.flush(timeout_s=30)
    streamer.abort()
