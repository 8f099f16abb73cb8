"""Protocol fuzzer for the data server: random and mutated requests for a bounded time (issue 8).

Run: ``.venv/bin/python benchmarks/fuzz.py [--seconds 60] [--seed 1]``

Each request goes on a fresh connection (half of them followed by a valid pipelined request on the same one); the
run fails on a dropped connection (no complete, ``Content-Length``-framed response), a hang (no answer in 10 s), a
5xx other than 501/502/505, or a server that stops answering ``/__status``. Prints requests/s beside the rate of
plain valid GETs measured in the same run (the machine's limit for this loop), as a ratio.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "hardening"))
from _wire import Dropped, ResponseReader

from photonflow.storage.server import start_server

_METHODS = [b"GET", b"HEAD", b"PUT", b"POST", b"DELETE", b"G\x00T", b"", b"get", b"PUT" * 50]
_SEGMENTS = [b"a", b"..", b".", b"%2e%2e", b"%00", b"__status", b"__glob", b"__aggregate_txt", b"__aggregate_h5r",
             b"__aggregate_zz", b"__pyramid_x", b".photonflow-tmp", b"x.h5r", b"\xff\xfe", b"%ff", b"d", b"f.txt",
             b"a b", b"d/", b"*"]
_HEADERS = [b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
            b"Content-Length: x", b"Transfer-Encoding: chunked", b"Content-Encoding: gzip", b"Content-Encoding: br",
            b"Range: bytes=0-3", b"Range: bytes=-", b"Range: bytes=9-1", b"Expect: 100-continue",
            b"Connection: close", b"Host: x", b"Authorization: Bearer nope", b"X: " + b"y" * 9000, b"NoColon",
            b": empty", b"Content-Length: 3\r\nContent-Length: 4"]


def _random_request(rng: random.Random) -> bytes:
    method = rng.choice(_METHODS)
    if rng.random() < 0.2:
        target = bytes(rng.getrandbits(8) for _ in range(rng.randrange(60)))
    else:
        target = b"/" + b"/".join(rng.choice(_SEGMENTS) for _ in range(rng.randrange(5)))
        if rng.random() < 0.3:
            target += rng.choice([b"?pattern=", b"?MirrorSource=", b"?"]) + rng.choice([*_SEGMENTS, b"/etc/*"])
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"x", b""])
    headers = [rng.choice(_HEADERS) for _ in range(rng.randrange(4))]
    if rng.random() < 0.2:
        headers.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(40))))
    body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(80)))
    if rng.random() < 0.3 and b"chunked" in b"".join(headers):
        body = b"3\r\nabc\r\n" + rng.choice([b"0\r\n\r\n", b"zz\r\n", b""])
    raw = method + b" " + target + b" " + version + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    if rng.random() < 0.1:  # flip bytes of the whole thing
        buf = bytearray(raw)
        for _ in range(rng.randrange(1, 6)):
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)
        raw = bytes(buf)
    return raw


def _one(host: str, port: int, raw: bytes, *, follow: bool) -> int:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(raw + (b"GET /__status HTTP/1.1\r\n\r\n" if follow else b""))
        if not follow:
            sock.shutdown(socket.SHUT_WR)
        reader = ResponseReader(sock)
        status = reader.read(head=raw.startswith(b"HEAD "))[0]
        if status >= 500 and status not in (501, 502, 505):
            raise AssertionError(f"server error {status} for {raw[:200]!r}")
        return status


def _valid_rate(host: str, port: int, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"GET /f.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
            ResponseReader(sock).read()
        done += 1
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="fuzzing time (60)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "d").mkdir()
        (root / "f.txt").write_bytes(b"hello world")
        srv = start_server(root, cluster="fuzz", max_request_size=1 << 20)
        try:
            statuses: dict[int, int] = {}
            sent, start, failures = 0, time.perf_counter(), []
            while time.perf_counter() - start < args.seconds:
                raw = _random_request(rng)
                try:
                    status = _one(srv.host, srv.port, raw, follow=rng.random() < 0.5)
                    statuses[status] = statuses.get(status, 0) + 1
                except (Dropped, AssertionError, OSError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc} <- {raw[:120]!r}")
                sent += 1
            fuzz_rate = sent / (time.perf_counter() - start)
            rates = [_valid_rate(srv.host, srv.port, 2.0) for _ in range(3)]
            _one(srv.host, srv.port, b"GET /__status HTTP/1.1\r\n\r\n", follow=False)
        finally:
            srv.stop(grace=2)
    valid = statistics.median(rates)
    print(f"fuzz: {sent} requests in {args.seconds:g} s (seed {args.seed}), {len(failures)} failures")
    print(f"  status counts: {dict(sorted(statuses.items()))}")
    print(f"  fuzz rate {fuzz_rate:.0f} req/s vs valid GET rate {valid:.0f} req/s (median of 3): "
          f"ratio {fuzz_rate / valid:.2f}")
    for failure in failures[:20]:
        print("  FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
