"""Results endpoint benchmark: durable ``__aggregate_h5r`` appends beside the same appends made without HTTP.

Run: ``.venv/bin/python benchmarks/h5r.py [--runs 3] [--requests 150] [--rows 500]``

Starts ``photonflow dataserver`` as a child process (fsync on, then off) and appends ``--requests`` batches of
``--rows`` FitResults-like rows (20 float32 columns, 80 bytes/row) over one keep-alive connection. Beside each figure,
measured in the same run on the same disk:

* ``local open-append-close`` — what the server does per request (PyTables open, append, flush, close, fsync), with
  no HTTP: the limit of the server's design;
* ``local kept open`` — one file held open, flushed (and fsynced) per batch: what keeping files open between requests
  would gain, the question behind PYME's ``h5r-flush_interval``;
* ``__aggregate_txt`` — the same bytes appended to a text file through the server: the HTTP/append floor.

Every figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tables

from photonflow.formats.h5r import H5RFile

DTYPE = np.dtype([(f"c{i}", "<f4") for i in range(20)])


def _records(rows: int) -> np.ndarray:
    return np.random.default_rng(0).random((rows, 20), dtype=np.float32).view(DTYPE).reshape(-1)


def _npy(recs: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, recs, allow_pickle=False)
    return buf.getvalue()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _server(root: Path, *, fsync: bool) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "photonflow", "dataserver", "--root", str(root), "--cluster", "bench", "--port", "0",
           "--advertise", "none", "--config", os.devnull, "--free-space-floor", "0"]
    if not fsync:
        cmd.append("--no-fsync")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(match.group(1))


def _http_appends(port: int, target: str, body: bytes, n: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    for _ in range(n):
        conn.request("PUT", target, body=body)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"PUT {target} answered {response.status}")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _local_open_close(path: Path, recs: np.ndarray, n: int, *, fsync: bool) -> float:
    start = time.perf_counter()
    for _ in range(n):
        with H5RFile(path, "a") as f:
            f.append("FitResults", recs)
            f.flush(durable=False)
        if fsync:
            _fsync(path)
    return time.perf_counter() - start


def _local_kept_open(path: Path, recs: np.ndarray, n: int, *, fsync: bool) -> float:
    start = time.perf_counter()
    with H5RFile(path, "a") as f:
        for _ in range(n):
            f.append("FitResults", recs)
            f.flush(durable=False)
            if fsync:
                _fsync(path)
    return time.perf_counter() - start


def _median(fn: Callable[[int], float], runs: int) -> float:
    return statistics.median(fn(k) for k in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--root", type=Path, default=None, help="directory on the disk to measure (default: tmp)")
    args = parser.parse_args()
    recs = _records(args.rows)
    body = _npy(recs)
    n, mb = args.requests, args.requests * recs.nbytes / 1e6
    print(f"{n} appends of {args.rows} rows ({recs.nbytes / 1e3:.0f} kB) per run, median of {args.runs} runs; "
          f"tables {tables.__version__}")
    with tempfile.TemporaryDirectory(dir=args.root) as tmp:
        root = Path(tmp)
        for fsync in (True, False):
            proc, port = _server(root / f"srv-{fsync}", fsync=fsync)
            try:
                served = _median(
                    lambda k, p=port: _http_appends(p, f"/__aggregate_h5r/b/r{k}.h5r/FitResults", body, n), args.runs)
                text = _median(lambda k, p=port: _http_appends(p, f"/__aggregate_txt/b/t{k}.bin", body, n), args.runs)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            local = _median(lambda k, on=fsync: _local_open_close(root / f"lo-{on}-{k}.h5r", recs, n, fsync=on),
                            args.runs)
            kept = _median(lambda k, on=fsync: _local_kept_open(root / f"lk-{on}-{k}.h5r", recs, n, fsync=on),
                           args.runs)
            print(f"\nfsync {'on' if fsync else 'off'}:")
            print(f"  __aggregate_h5r           {n / served:8.0f} req/s {mb / served:7.1f} MB/s")
            for label, t in (("local open-append-close", local), ("local kept open", kept),
                             ("__aggregate_txt (same bytes)", text)):
                print(f"  {label:28s}{n / t:8.0f} req/s {mb / t:7.1f} MB/s   h5r endpoint / this = {t / served:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
