"""``photonflow render``: render a localization results file to a super-resolution PNG (and TIFF)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``render`` command."""
    p = subparsers.add_parser(
        "render",
        help="render localizations (.h5r, .npy, ThunderSTORM .csv, Picasso .hdf5) to a PNG/TIFF image",
        description="Render a localization results file to a super-resolution image.",
    )
    p.add_argument("results", type=Path, help="results file: .h5r, .npy, ThunderSTORM .csv or Picasso .hdf5")
    p.add_argument("--out", type=Path, required=True, help="output PNG")
    p.add_argument("--tiff", type=Path, help="also write the float32 image as this TIFF")
    p.add_argument("--method", choices=("gaussian", "histogram"), default="gaussian", help="default: gaussian")
    p.add_argument("--pixel-nm", type=float, default=10.0, help="output pixel size in nm (default 10)")
    p.add_argument("--min-sigma-nm", type=float, help="smallest Gaussian σ in nm (default: the pixel size)")
    p.add_argument(
        "--fov", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="field of view in nm (default: all)"
    )
    p.add_argument("--colormap", choices=("hot", "gray", "magenta", "cyan"), default="hot")
    p.add_argument("--percentile", type=float, default=99.5, help="percentile of signal pixels shown white")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="COL:MIN:MAX",
        help="keep rows with MIN <= COL <= MAX (leave a bound empty for none), e.g. x_err::30; repeatable",
    )
    p.add_argument("--undrift", action="store_true", help="correct drift by RCC before rendering")
    p.add_argument("--segment-frames", type=int, default=1000, help="RCC segment length in frames (default 1000)")
    p.add_argument("--camera-pixel-nm", type=float, help="camera pixel size, when the file does not record it")
    p.set_defaults(handler=_render)


def _parse_filter(text: str) -> tuple[str, list[float | None]]:
    parts = text.split(":")
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"--filter {text!r}: expected COL:MIN:MAX, e.g. photons:100: or x_err::30")
    try:
        bounds = [float(b) if b.strip() else None for b in parts[1:]]
    except ValueError:
        raise ValueError(f"--filter {text!r}: MIN and MAX must be numbers or empty") from None
    return parts[0], bounds


def _render(args: argparse.Namespace) -> int:
    import numpy as np

    from photonflow.localization.export import read_results
    from photonflow.localization.filters import apply_filters
    from photonflow.localization.render import render, save_png, save_tiff

    try:
        spec = dict(_parse_filter(f) for f in args.filter)
        table = read_results(args.results, pixel_size_nm=args.camera_pixel_nm)
        n_read = table.size
        table = apply_filters(table, spec)
        if args.undrift:
            from photonflow.localization.drift import apply_drift, estimate_drift

            trace = estimate_drift(
                table, segment_frames=args.segment_frames, pixel_size_nm=args.camera_pixel_nm or 100.0
            )
            table = apply_drift(table, trace)
            span = float(np.hypot(np.ptp(trace.x), np.ptp(trace.y)))
            print(f"drift: {trace.method}, {trace.segment_frames.size} segments, span {span:.1f} nm", file=sys.stderr)
        method = args.method
        if method == "gaussian" and not {"x_err", "y_err"} <= set(table.dtype.names or ()):
            method = "histogram"
        image = render(
            table,
            method=method,
            pixel_nm=args.pixel_nm,
            fov=tuple(args.fov) if args.fov else None,
            min_sigma_nm=args.min_sigma_nm,
        )
        save_png(image, args.out, colormap=args.colormap, percentile=args.percentile)
        if args.tiff:
            save_tiff(image, args.tiff, pixel_nm=args.pixel_nm)
    except (ValueError, OSError) as exc:
        print(f"photonflow render: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.out}: {image.shape[1]}×{image.shape[0]} px at {args.pixel_nm:g} nm, {method}, "
        f"{table.size} of {n_read} localizations"
    )
    return 0
