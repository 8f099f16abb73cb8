"""Bounded load test of one data server: 16 connections of mixed GET / PUT / listing (issue 8).

Run: ``.venv/bin/python benchmarks/load.py [--seconds 8] [--connections 16] [--runs 3]``

Each connection is a keep-alive ``http.client`` connection in its own thread doing 60 % GETs of existing 4 KiB
files, 20 % PUTs of new 4 KiB files, 20 % directory listings. Reports p50/p99 latency per kind and total
requests/s (medians of ``--runs`` runs), beside a GET-only run against the peer Python's stdlib
``ThreadingHTTPServer`` serving the same files in the same run (its GET-only rate is the reference), as ratios.
Fails (exit 1) on any error answer or dropped connection.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import http.server
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from photonflow.storage.server import start_server

_N_FILES = 512
_SIZE = 4096


def _worker(host: str, port: int, seconds: float, seed: int, mix: tuple[float, float],
            out: dict[str, list[float]], errors: list[str], tag: str) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = os.urandom(_SIZE)
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        r = rng.random()
        if r < mix[0]:
            kind, method, target, payload = "get", "GET", f"/data/f{rng.randrange(_N_FILES):04d}.bin", None
        elif r < mix[1]:
            kind, method, target, payload = "put", "PUT", f"/new/{tag}-{seed}-{n}.bin", body
        else:
            kind, method, target, payload = "list", "GET", "/data/", None
        n += 1
        t0 = time.perf_counter()
        try:
            conn.request(method, target, body=payload)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{kind}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        out[kind].append(time.perf_counter() - t0)
        if resp.status != 200:
            errors.append(f"{kind} {target}: HTTP {resp.status}")
    conn.close()


def _run(host: str, port: int, *, seconds: float, connections: int, mix: tuple[float, float],
         tag: str) -> tuple[dict[str, list[float]], float, list[str]]:
    outs = [{"get": [], "put": [], "list": []} for _ in range(connections)]
    errors: list[str] = []
    threads = [threading.Thread(target=_worker, args=(host, port, seconds, i, mix, outs[i], errors, tag))
               for i in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - start
    merged: dict[str, list[float]] = {k: [x for o in outs for x in o[k]] for k in ("get", "put", "list")}
    return merged, sum(len(v) for v in merged.values()) / elapsed, errors


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


class _Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        for i in range(_N_FILES):
            (root / "data" / f"f{i:04d}.bin").write_bytes(os.urandom(_SIZE))
        srv = start_server(root, cluster="load")
        peer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
        peer_thread = threading.Thread(target=peer.serve_forever, daemon=True)
        peer_thread.start()
        mixed, ours_get, peer_get, errors = [], [], [], []
        try:
            for run in range(args.runs):
                lat, rate, errs = _run(srv.host, srv.port, seconds=args.seconds, connections=args.connections,
                                       mix=(0.6, 0.8), tag=f"r{run}")
                mixed.append((lat, rate))
                errors += errs
                ours_get.append(_run(srv.host, srv.port, seconds=args.seconds / 2, connections=args.connections,
                                     mix=(1.0, 1.0), tag="g")[1])
                peer_get.append(_run("127.0.0.1", peer.server_address[1], seconds=args.seconds / 2,
                                     connections=args.connections, mix=(1.0, 1.0), tag="p")[1])
        finally:
            srv.stop(grace=2)
            peer.shutdown()
    print(f"load: {args.connections} connections, {args.seconds:g} s per run, {args.runs} runs (medians)")
    for kind in ("get", "put", "list"):
        p50 = statistics.median(_pct(lat[kind], 0.50) for lat, _ in mixed)
        p99 = statistics.median(_pct(lat[kind], 0.99) for lat, _ in mixed)
        count = statistics.median(len(lat[kind]) for lat, _ in mixed)
        print(f"  mixed {kind:4s}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({count:.0f} requests per run)")
    rate = statistics.median(r for _, r in mixed)
    ours, theirs = statistics.median(ours_get), statistics.median(peer_get)
    print(f"  mixed throughput {rate:.0f} req/s; GET-only {ours:.0f} req/s vs stdlib ThreadingHTTPServer "
          f"{theirs:.0f} req/s: ratio {ours / theirs:.2f}; mixed / peer GET-only {rate / theirs:.2f}")
    print(f"  errors: {len(errors)}")
    for e in errors[:10]:
        print("  ERROR", e)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
