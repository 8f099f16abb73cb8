"""End to end: `photonflow ls|get|put|status` in subprocesses, and finding real servers through the registry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photonflow.storage import ClusterClient
from photonflow.storage.discovery import advertise

Factory = Callable[..., Any]


def _photonflow(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}
    # Loopback-only mDNS, in case a command browses; no user config.
    base.update({"PHOTONFLOW_INTERFACES": "127.0.0.1"}, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "photonflow", *args, "--config", os.devnull],
        capture_output=True,
        timeout=60,
        env=base,
        cwd=cwd,
    )


def test_cli_put_ls_get_status(dataserver: Factory, tmp_path: Path) -> None:
    a, b = dataserver(cluster="cli"), dataserver(cluster="cli")
    opts = ["--cluster", "cli", "--servers", f"{a.url},{b.url}"]
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(25):
        (src / "sub" / f"f{i:02d}.txt").write_text(f"file {i}\n")
    (src / "top.bin").write_bytes(os.urandom(3000))

    put = _photonflow("put", str(src), "up", *opts)
    assert put.returncode == 0, put.stderr
    assert b"stored 26 file(s)" in put.stderr
    assert b"100%" in put.stderr  # 26 files: the progress bar is shown

    ls = _photonflow("ls", "up/src", *opts)
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.decode().split() == ["sub/", "top.bin"]
    long = _photonflow("ls", "-l", "PYME-CLUSTER://cli/up/src/sub", *opts)
    assert long.returncode == 0 and long.stdout.decode().count("\n") == 25

    one = _photonflow("get", "up/src/sub/f07.txt", "-", *opts)
    assert one.returncode == 0 and one.stdout == b"file 7\n"
    out = tmp_path / "out"
    tree = _photonflow("get", "-r", "up/src", str(out), *opts)
    assert tree.returncode == 0, tree.stderr
    assert (out / "top.bin").read_bytes() == (src / "top.bin").read_bytes()
    assert (out / "sub" / "f24.txt").read_text() == "file 24\n"

    again = _photonflow("put", str(src / "top.bin"), "up/src", *opts)
    assert again.returncode == 1 and b"already exists" in again.stderr

    status = _photonflow("status", *opts)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["SERVER", "RESPONSIVE", "FREE"]
    assert {line.split()[0] for line in lines[1:]} == {a.url, b.url}
    assert all(line.split()[1] == "yes" for line in lines[1:])


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    missing = _photonflow("get", "a/../b", "-", "--cluster", "x", "--servers", "http://127.0.0.1:9")
    assert missing.returncode == 2 and b"'..'" in missing.stderr and b"Traceback" not in missing.stderr
    down = _photonflow("ls", "--cluster", "x", "--servers", "http://127.0.0.1:9")
    assert down.returncode == 1 and b"no data server" in down.stderr and b"Traceback" not in down.stderr
    status = _photonflow("status", "--cluster", "x", "--servers", "http://127.0.0.1:9")
    assert status.returncode == 1 and b"NO" in status.stdout


def test_cli_finds_server_through_same_host_registry(dataserver: Factory, tmp_path: Path) -> None:
    srv = dataserver(cluster="reg")
    registry = tmp_path / "_pyme-http.sqlite"
    with advertise(cluster="reg", host=srv.host, port=srv.port, mode="local", root=srv.root, registry=registry):
        with ClusterClient("reg", [srv.url], registry=False, zeroconf=False) as writer:
            writer.put_file("r/x.txt", b"via registry")
        with ClusterClient("reg", registry=registry, zeroconf=False) as client:
            [found] = client.servers()
            assert found.url == srv.url and found.root == srv.root
            assert client.get_file("r/x.txt") == b"via registry"
            assert client.listdir("r") == ["x.txt"]
        got = _photonflow("get", "r/x.txt", "-", "--cluster", "reg", env={"TMPDIR": str(tmp_path)})
        assert got.returncode == 0, got.stderr
        assert got.stdout == b"via registry"
    gone = _photonflow("ls", "--cluster", "reg", env={"TMPDIR": str(tmp_path)})
    assert gone.returncode == 1 and b"no data server of cluster 'reg'" in gone.stderr
