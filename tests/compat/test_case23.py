"""§9 case 23 both ways: PYME 26.9.3's clusterIO against our data server; our client against PYME's server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from photonflow.errors import AlreadyExistsError
from photonflow.storage import ClusterClient
from photonflow.storage.discovery import read_registry

HERE = Path(__file__).parent
CLUSTER = "TESTCL"


def _pyme_env(tmp: Path) -> dict[str, str]:
    # PYME writes ~/.PYME and keeps its registry in $TMPDIR: keep both inside the test's directory.
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}
    env.update(HOME=str(tmp / "home"), TMPDIR=str(tmp / "tmp"), PYME_COMPUTERNAME="peerhost")
    return env


@pytest.mark.timeout(180)
def test_pyme_clusterio_against_our_server(dataserver: Callable[..., Any], tmp_path: Path) -> None:
    # One server: PYME's client round-robins put_file, and its write-once check is per server (§8 S2), so with two
    # servers the second put of a name would land on the other one.
    servers = [dataserver(cluster=CLUSTER)]
    proc = subprocess.run(
        [
            os.environ["PYME_PYTHON"],
            str(HERE / "_pyme_case23.py"),
            CLUSTER,
            ",".join(f"127.0.0.1:{s.port}" for s in servers),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=_pyme_env(tmp_path),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"PYME driver failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    out = json.loads(lines[0].removeprefix("RESULT "))
    assert out["get"] == "12345678"
    assert out["second_put"].startswith("RuntimeError")
    assert out["many"] == [f"f{i:03d}" for i in range(20)]
    listing = out["listdirectory"]
    assert set(listing) == {"test1.txt", "many/"}
    assert listing["test1.txt"] == [0, 8]
    assert listing["many/"][0] & 1 and listing["many/"][1] >= 1
    assert out["exists"] == [True, False, True]
    assert out["stat_size"] == 8
    assert out["isdir"] == [True, False]
    assert len(out["locate"]) == 1 and out["locate"][0].startswith(tuple(s.url for s in servers))
    assert out["glob"] == [f"cl/many/f00{i}" for i in range(10)]
    assert out["status"] == [True]


@pytest.fixture
def pyme_server(tmp_path: Path) -> Iterator[tuple[ClusterClient, Path]]:
    env = _pyme_env(tmp_path)
    root = tmp_path / "pyme-root"
    root.mkdir()
    registry = tmp_path / "tmp" / "_pyme-http.sqlite"
    log = open(tmp_path / "pyme-server.log", "w")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(
        [os.environ["PYME_DATASERVER"], "-r", str(root), "-f", CLUSTER, "-p", "0", "-a", "local"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (found := read_registry(CLUSTER, path=registry)) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "pyme-server.log").read_text()[-3000:]
            time.sleep(0.2)
        assert found, "PYMEDataServer did not register in its SQLite registry within 60 s"
        # Our client finds PYME's server through PYME's own registry file (§9 case 26).
        with ClusterClient(CLUSTER, registry=registry, zeroconf=False) as client:
            yield client, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.timeout(180)
def test_our_client_against_pyme_server(pyme_server: tuple[ClusterClient, Path]) -> None:
    client, root = pyme_server
    [server] = client.servers()
    assert server.root is None  # PYME's server: no local short-circuit, everything over HTTP
    url = client.put_file("cl/test1.txt", b"12345678")
    assert url.startswith(server.url)
    assert client.get_file("cl/test1.txt") == b"12345678"
    with pytest.raises(AlreadyExistsError):
        client.put_file("cl/test1.txt", b"again")
    client.put_files([(f"cl/many/f{i:03d}", b"x" * (i + 1)) for i in range(20)])
    assert client.listdir("cl/many") == [f"f{i:03d}" for i in range(20)]
    listing = client.listdirectory("cl", fresh=True)
    assert listing["test1.txt"] == (0, 8) and listing["many/"].is_dir
    assert [client.exists(p) for p in ("cl/test1.txt", "cl/missing.txt", "cl/many")] == [True, False, True]
    assert client.stat("cl/test1.txt").st_size == 8
    assert client.isdir("cl/many") and not client.isdir("cl/test1.txt")
    assert client.stat("cl/test1.txt").servers == (server.url,)
    assert client.glob("cl/many/f00*") == [f"cl/many/f00{i}" for i in range(10)]
    [status] = client.status()
    assert status.responsive and status.free is not None
    assert (root / "cl" / "many" / "f019").read_bytes() == b"x" * 20
