"""Frame codec benchmark: PZF raw / Huffman / sqrt-quant + Huffman / blosc2 fast codec vs memcpy (and pymecompress).

Run: ``.venv/bin/python benchmarks/codecs.py`` (about a minute). Optional peer: PYME's own C codec,
``.venv/bin/pip install cython && .venv/bin/pip install --no-build-isolation pymecompress`` (not a project dependency).

Frames are simulated 2048×2048 uint16 sCMOS frames: a per-pixel offset map 100 ± 2 ADU, 0.45 e⁻/ADU, lognormal read
noise (median 1.6 e⁻), a uniform photon background (5, 20 or 100 photons/px) and 300 Gaussian emitters (σ 1.3 px,
1000 photons each). Throughput is MB/s of raw frame data, the median of ≥ 3 timed runs; "2 threads" runs two frames
concurrently on two threads (what the spooler's sender threads do), and is the number to compare with memcpy
measured in the same run and with the 800 MB/s camera rate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from photonflow.formats import pzf

SHAPE = (2048, 2048)
EPC = 0.45
OFFSET = 100.0
CAMERA_RATE_MBS = 800.0


def simulate_frames(n: int, *, background: float, seed: int = 0) -> list[np.ndarray]:
    """``n`` simulated sCMOS frames (uint16 ADU) with ``background`` photons/px."""
    rng = np.random.default_rng(seed)
    offset_map = rng.normal(OFFSET, 2.0, SHAPE)
    read_noise = rng.lognormal(np.log(1.6), 0.3, SHAPE)  # e⁻
    yy, xx = np.mgrid[-4:5, -4:5]
    psf = np.exp(-(xx**2 + yy**2) / (2 * 1.3**2))
    psf /= psf.sum()
    frames = []
    for _ in range(n):
        expected = np.full(SHAPE, background, np.float64)
        for cx, cy in rng.integers(5, SHAPE[0] - 5, (300, 2)):
            expected[cx - 4 : cx + 5, cy - 4 : cy + 5] += 1000 * psf
        electrons = rng.poisson(expected) + rng.normal(0.0, 1.0, SHAPE) * read_noise
        adu = np.round(offset_map + electrons / EPC)
        frames.append(np.clip(adu, 0, 65535).astype(np.uint16))
    return frames


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (numba compilation, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


Codec = tuple[Callable[[np.ndarray], bytes], Callable[[bytes], object]]


def _codecs(bcl: object | None, quant: pzf.SqrtQuantization) -> dict[str, Codec]:
    codecs: dict[str, Codec] = {
        "PZF raw": (lambda f: pzf.encode(f, compression="raw"), pzf.decode),
        "PZF Huffman (numba)": (lambda f: pzf.encode(f, compression="huffman"), pzf.decode),
        "PZF sqrt-quant 0.5σ + Huffman (lossy)": (
            lambda f: pzf.encode(f, compression="huffman", quantization=quant), pzf.decode),
        "PZF blosc2 ZSTD-1 + shuffle (code 16)": (lambda f: pzf.encode(f, compression="blosc2"), pzf.decode),
    }  # fmt: skip
    if bcl is not None:
        npix = SHAPE[0] * SHAPE[1]
        # pymecompress takes and returns writable uint8 arrays (its blobs are kept as arrays here, no copies)
        codecs["pymecompress Huffman (PYME's C)"] = (
            lambda f: bcl.HuffmanCompress(f.view(np.uint8).ravel()),  # type: ignore[attr-defined]
            lambda b: bcl.HuffmanDecompress(b, 2 * npix),  # type: ignore[attr-defined]
        )
        codecs["pymecompress sqrt-quant + Huffman (lossy)"] = (
            lambda f: bcl.HuffmanCompressQuant(f.ravel(), OFFSET, quant.scale),  # type: ignore[attr-defined]
            lambda b: bcl.HuffmanDecompress(b, npix),  # type: ignore[attr-defined]
        )
    return codecs


def _measure(codec: Codec, frames: list[np.ndarray], pool: ThreadPoolExecutor, repeats: int) -> tuple[float, ...]:
    """(ratio, encode MB/s 1 thread, 2 threads, decode MB/s 1 thread, 2 threads)."""
    enc, dec = codec
    frame_mb = frames[0].nbytes / 1e6
    blobs = [enc(f) for f in frames]
    ratio = frames[0].nbytes / statistics.mean(len(b) for b in blobs)
    e1 = frame_mb / _median_time(lambda: enc(frames[0]), repeats)
    e2 = 2 * frame_mb / _median_time(lambda: list(pool.map(lambda i: enc(frames[i]), (0, 1))), repeats)
    d1 = frame_mb / _median_time(lambda: dec(blobs[0]), repeats)
    d2 = 2 * frame_mb / _median_time(lambda: list(pool.map(lambda i: dec(blobs[i]), (0, 1))), repeats)
    return ratio, e1, e2, d1, d2


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backgrounds", type=float, nargs="+", default=[5.0, 20.0, 100.0])
    args = parser.parse_args()
    try:
        from pymecompress import bcl  # type: ignore[import-not-found]
    except ImportError:
        bcl = None

    frame_mb = SHAPE[0] * SHAPE[1] * 2 / 1e6
    src = np.ones(SHAPE, np.uint16)
    dst = np.empty_like(src)
    memcpy = frame_mb / _median_time(lambda: np.copyto(dst, src), args.repeats * 4)
    print(f"memcpy of one frame (1 thread, same run): {memcpy:.0f} MB/s; camera rate target {CAMERA_RATE_MBS:.0f} MB/s")
    print()
    header = ("| bg ph/px | codec | ratio | enc MB/s 1 thr | enc MB/s 2 thr | dec MB/s 1 thr | dec MB/s 2 thr "
              "| enc 1 thr / memcpy | enc 2 thr / 800 MB/s | dec 2 thr / 800 MB/s |")  # fmt: skip
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    quant = pzf.SqrtQuantization(OFFSET, 0.5 / EPC)  # PYMEAcquire's default: 0.5 σ steps, offset = ADOffset
    with ThreadPoolExecutor(2) as pool:
        for bg in args.backgrounds:
            frames = simulate_frames(2, background=bg)
            for name, codec in _codecs(bcl, quant).items():
                ratio, e1, e2, d1, d2 = _measure(codec, frames, pool, args.repeats)
                print(
                    f"| {bg:g} | {name} | {ratio:.2f} | {e1:.0f} | {e2:.0f} | {d1:.0f} | {d2:.0f} | "
                    f"{e1 / memcpy:.2f} | {e2 / CAMERA_RATE_MBS:.2f} | {d2 / CAMERA_RATE_MBS:.2f} |",
                    flush=True,
                )
    if bcl is None:
        print("\npymecompress not installed: PYME's C codec not measured (see the module docstring to install it).")


if __name__ == "__main__":
    main()
