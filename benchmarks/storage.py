"""Data server benchmark: PUT/GET throughput, small-file rates and listing time, beside loopback TCP.

Run: ``.venv/bin/python benchmarks/storage.py [--root DIR] [--runs 3]``

Starts ``photonflow dataserver`` (fsync off, so writes go to the page cache) as a child process and drives it with
raw sockets from this process, so client and server do not share a GIL. Every figure is the median of ``--runs``
runs and is printed beside the loopback TCP figure measured in the same run by the same kind of client
(raw ``sendall``/``recv`` between this process and a child process), with the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

BIG = 8 << 20
SMALL = 4096


# ---------------------------------------------------------------- loopback peer (the machine's limit)


def _sink_server(sock: socket.socket, mode: str) -> None:
    conn, _ = sock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = memoryview(bytearray(1 << 20))
    if mode == "stream":
        while conn.recv_into(buf):
            pass
    else:  # ping-pong: read SMALL bytes, answer 1 byte
        while True:
            got = 0
            while got < SMALL:
                n = conn.recv_into(buf[: SMALL - got])
                if not n:
                    return
                got += n
            conn.sendall(b"k")


def loopback_stream_gbps(total: int) -> float:
    """Bytes/s from this process to a child process over one loopback TCP connection (8 MiB sendall calls)."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        child = mp.get_context("fork").Process(target=_sink_server, args=(lsock, "stream"))
        child.start()
        block = os.urandom(BIG)
        with socket.create_connection(lsock.getsockname()) as s:
            t = time.perf_counter()
            for _ in range(total // BIG):
                s.sendall(block)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            dt = time.perf_counter() - t
        child.join()
    return total / dt / 1e9


def loopback_pingpong_rate(n: int) -> float:
    """4 KiB request / 1-byte reply round trips per second over loopback TCP."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        child = mp.get_context("fork").Process(target=_sink_server, args=(lsock, "pingpong"))
        child.start()
        msg = os.urandom(SMALL)
        with socket.create_connection(lsock.getsockname()) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = time.perf_counter()
            for _ in range(n):
                s.sendall(msg)
                s.recv(1)
            dt = time.perf_counter() - t
        child.join()
    return n / dt


def fs_small_create_rate(directory: Path, n: int) -> float:
    """4 KiB files created the server's way (O_TMPFILE, write, linkat) per second, with no HTTP: the disk's limit."""
    directory.mkdir()
    work = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    proc_fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    data = os.urandom(SMALL)
    t = time.perf_counter()
    for i in range(n):
        fd = os.open(directory, os.O_WRONLY | os.O_TMPFILE, 0o644)
        os.write(fd, data)
        os.link(str(fd), directory / f"f{i:06d}", src_dir_fd=proc_fd, follow_symlinks=True)
        os.close(fd)
    dt = time.perf_counter() - t
    os.close(work)
    os.close(proc_fd)
    shutil.rmtree(directory)
    return n / dt


# ---------------------------------------------------------------- data server client (raw sockets)


class Raw:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        while len(self.buf) < length:
            self.buf += self.sock.recv(1 << 20)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(head.split(b" ", 2)[1]), body

    def close(self) -> None:
        self.sock.close()


def put_head(path: str, size: int) -> bytes:
    return f"PUT {path} HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode()


def bench_big_puts(port: int, prefix: str, n: int, *, pipelined: bool) -> float:
    body = os.urandom(BIG)
    c = Raw(port)
    t = time.perf_counter()
    if pipelined:
        def send() -> None:
            for i in range(n):
                c.sock.sendall(put_head(f"/{prefix}/f{i}", BIG))
                c.sock.sendall(body)

        sender = threading.Thread(target=send)
        sender.start()
        statuses = [c.response()[0] for _ in range(n)]
        sender.join()
    else:
        statuses = []
        for i in range(n):
            c.sock.sendall(put_head(f"/{prefix}/f{i}", BIG))
            c.sock.sendall(body)
            statuses.append(c.response()[0])
    dt = time.perf_counter() - t
    c.close()
    assert statuses == [200] * n, statuses[:5]
    return n * BIG / dt / 1e9


def bench_small_puts(port: int, prefix: str, n: int) -> float:
    body = os.urandom(SMALL)
    c = Raw(port)
    t = time.perf_counter()
    for i in range(n):
        c.sock.sendall(put_head(f"/{prefix}/f{i:06d}", SMALL) + body)
        status, _ = c.response()
        assert status == 200, status
    dt = time.perf_counter() - t
    c.close()
    return n / dt


def bench_small_gets(port: int, prefix: str, n: int) -> float:
    c = Raw(port)
    t = time.perf_counter()
    for i in range(n):
        c.sock.sendall(f"GET /{prefix}/f{i:06d} HTTP/1.1\r\n\r\n".encode())
        status, body = c.response()
        assert status == 200 and len(body) == SMALL
    dt = time.perf_counter() - t
    c.close()
    return n / dt


def time_listing(port: int, path: str) -> tuple[float, int]:
    c = Raw(port)
    t = time.perf_counter()
    c.sock.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
    status, body = c.response()
    dt = time.perf_counter() - t
    c.close()
    assert status == 200
    return dt, body.count(b"],")+1


# ---------------------------------------------------------------- harness


@contextlib.contextmanager
def data_server(root: Path) -> Iterator[int]:
    cmd = [sys.executable, "-m", "photonflow", "dataserver", "--root", str(root), "--cluster", "bench",
           "--port", "0", "--advertise", "none", "--no-fsync", "--free-space-floor", "0", "--config", os.devnull]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on http://[^:]+:(\d+)", line)
        if not match:
            raise RuntimeError(f"data server did not start: {line!r}")
        yield int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def median_of(runs: int, fn: Callable[[int], float]) -> float:
    return statistics.median(fn(i) for i in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, help="directory to serve (default: a temporary dir under /tmp)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-count", type=int, default=48, help="8 MiB PUTs per run")
    parser.add_argument("--small-count", type=int, default=3000, help="4 KiB PUTs/GETs per run")
    parser.add_argument("--listing-entries", type=int, default=100_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pf-bench-", dir=args.root))
    try:
        run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)  # keep dirty page cache bounded between runs


def run(root: Path, args: argparse.Namespace) -> None:
    r = args.runs
    print(f"photonflow data server benchmark (root {root}, {os.cpu_count()} CPUs, medians of {r} runs)")
    with data_server(root) as port:
        loop_gb = median_of(r, lambda i: loopback_stream_gbps(args.big_count * BIG))

        def big(i: int, pipelined: bool) -> float:
            prefix = f"big{'p' if pipelined else 's'}{i}"
            try:
                return bench_big_puts(port, prefix, args.big_count, pipelined=pipelined)
            finally:
                _clear(root / prefix)

        put_one = median_of(r, lambda i: big(i, False))
        put_pipe = median_of(r, lambda i: big(i, True))
        print(f"loopback TCP stream (8 MiB sendall)  {loop_gb:7.2f} GB/s   (load average {os.getloadavg()[0]:.1f})")
        print(f"8 MiB PUT, one connection            {put_one:7.2f} GB/s   {put_one / loop_gb:6.0%} of loopback")
        print(f"8 MiB PUT, pipelined                 {put_pipe:7.2f} GB/s   {put_pipe / loop_gb:6.0%} of loopback")

        n = args.small_count
        ping = median_of(r, lambda i: loopback_pingpong_rate(n))
        fs_rate = median_of(r, lambda i: fs_small_create_rate(root / f"fs{i}", n))
        small_put = median_of(r, lambda i: bench_small_puts(port, f"small{i}", n))
        small_get = median_of(r, lambda i: bench_small_gets(port, f"small{i}", n))
        print(f"loopback 4 KiB round trips           {ping:7.0f} /s")
        print(f"4 KiB file creates, no HTTP          {fs_rate:7.0f} /s     (the file system's own limit)")
        print(f"4 KiB PUT, one connection            {small_put:7.0f} /s     {small_put / ping:6.0%} of loopback, "
              f"{small_put / fs_rate:.0%} of file creates")
        print(f"4 KiB GET, one connection            {small_get:7.0f} /s     {small_get / ping:6.0%} of loopback")

        big_dir = root / "listing"
        big_dir.mkdir()
        for i in range(args.listing_entries):
            os.close(os.open(big_dir / f"frame{i:06d}.pzf", os.O_CREAT | os.O_WRONLY, 0o644))
        t = time.perf_counter()
        with os.scandir(big_dir) as it:
            scandir_n = sum(1 for e in it if e.stat().st_size >= 0)
        scandir_s = time.perf_counter() - t

        def cold(i: int) -> float:
            (big_dir / f"external{i}").touch()  # changes the mtime: forces a full re-scan
            return time_listing(port, "/listing/")[0]

        def after_put(i: int) -> float:
            c = Raw(port)
            c.sock.sendall(put_head(f"/listing/put{i}", 1) + b"x")
            assert c.response()[0] == 200
            c.close()
            return time_listing(port, "/listing/")[0]

        cold_s = median_of(r, cold)
        put_s = median_of(r, after_put)
        warm_s = median_of(r, lambda i: time_listing(port, "/listing/")[0])
        entries = time_listing(port, "/listing/")[1]
        print(f"os.scandir + stat of {scandir_n} files             {scandir_s:7.3f} s   (the file system's own cost)")
        for label, value in (("after an external change", cold_s), ("after a PUT", put_s), ("cached", warm_s)):
            print(f"listing {entries} entries, {label:<24} {value:7.3f} s   "
                  f"{value / 0.2:6.0%} of the 0.2 s target, {value / scandir_s:6.0%} of scandir+stat")

if __name__ == "__main__":
    main()
