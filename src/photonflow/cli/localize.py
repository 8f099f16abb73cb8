"""``photonflow localize``: localize every emitter of a movie file and write the results."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from photonflow.config import read_yaml_mapping

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``localize`` command."""
    p = subparsers.add_parser(
        "localize",
        help="localize single molecules in a TIFF stack or .npy movie",
        description=(
            "Detect and fit every emitter of a movie (integrated-Gaussian MLE or weighted least squares) and write "
            "the results as .h5r (PYME FitResults + photonflow Localizations) or .npy, optionally ThunderSTORM CSV, "
            "Picasso HDF5 and a rendered super-resolution PNG."
        ),
    )
    p.add_argument("input", type=Path, help="movie: multi-page TIFF (.tif/.tiff) or a 3-D .npy array of frames")
    p.add_argument("--out", type=Path, required=True, help="results file: .h5r (PYME-readable) or .npy")
    p.add_argument("--csv", type=Path, help="also write ThunderSTORM CSV here")
    p.add_argument("--picasso", type=Path, help="also write Picasso HDF5 (+ YAML sidecar) here")
    p.add_argument("--render", type=Path, help="also render a super-resolution PNG here")
    p.add_argument("--render-pixel-nm", type=float, default=10.0, help="pixel size of the rendered image (nm)")
    p.add_argument("--params", type=Path, help="YAML file of localization parameters (LocalizationParams fields)")
    p.add_argument("--method", choices=("mle", "lsq"), help="fit method (default mle)")
    p.add_argument("--pixel-size", type=float, help="camera pixel size in nm (default 100)")
    p.add_argument("--threshold", type=float, help="detection signal-to-noise threshold (default 6)")
    p.add_argument("--roi-size", type=int, help="fit ROI size in pixels, odd (default 7)")
    p.add_argument("--fixed-sigma", type=float, metavar="NM", help="fit with the PSF sigma fixed at NM nanometres")
    cam = p.add_argument_group("camera (PYME metadata keys; a --camera-yaml file is read first, flags override)")
    cam.add_argument("--camera-yaml", type=Path, help="YAML mapping of Camera.* keys (ADOffset, ElectronsPerCount…)")
    cam.add_argument("--baseline", type=float, help="Camera.ADOffset, ADU (default 100)")
    cam.add_argument("--electrons-per-count", type=float, help="Camera.ElectronsPerCount, e-/ADU (default 1)")
    cam.add_argument("--em-gain", type=float, help="Camera.TrueEMGain (default 1)")
    cam.add_argument("--read-noise", type=float, help="Camera.ReadNoise, e- rms (default 0)")
    cam.add_argument("--noise-factor", type=float, help="Camera.NoiseFactor (default 1; about 1.41 for EMCCD)")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    p.set_defaults(handler=_localize)


def _camera_metadata(args: argparse.Namespace) -> dict[str, float]:
    metadata: dict[str, Any] = {
        "Camera.ADOffset": 100.0,
        "Camera.ElectronsPerCount": 1.0,
        "Camera.TrueEMGain": 1.0,
        "Camera.ReadNoise": 0.0,
        "Camera.NoiseFactor": 1.0,
    }
    if args.camera_yaml is not None:
        for key, value in read_yaml_mapping(args.camera_yaml, what="camera").items():
            metadata[key if str(key).startswith("Camera.") else f"Camera.{key}"] = value
    flags = {
        "Camera.ADOffset": args.baseline,
        "Camera.ElectronsPerCount": args.electrons_per_count,
        "Camera.TrueEMGain": args.em_gain,
        "Camera.ReadNoise": args.read_noise,
        "Camera.NoiseFactor": args.noise_factor,
    }
    metadata.update({k: v for k, v in flags.items() if v is not None})
    return metadata


def _params(args: argparse.Namespace) -> Any:
    from photonflow.localization.params import LocalizationParams

    mapping: dict[str, Any] = read_yaml_mapping(args.params, what="parameters") if args.params else {}
    flags = {
        "method": args.method,
        "pixel_size": args.pixel_size,
        "threshold": args.threshold,
        "roi_size": args.roi_size,
    }
    mapping.update({k: v for k, v in flags.items() if v is not None})
    if args.fixed_sigma is not None:
        mapping.update(fit_sigma=False, psf_sigma=args.fixed_sigma)
    return LocalizationParams.from_mapping(mapping)


def _open_movie(path: Path) -> tuple[Iterator[Any], int, tuple[int, int]]:
    """Frames of ``path`` one at a time (never the whole movie in memory), how many there are, and their shape."""
    import numpy as np

    from photonflow.errors import FormatError

    suffix = path.suffix.lower()
    if not path.is_file():
        raise FormatError(f"input {path} does not exist or is not a file")
    if suffix == ".npy":
        movie = np.load(path, mmap_mode="r", allow_pickle=False)
        if movie.ndim != 3:
            raise FormatError(f"{path}: expected a 3-D array (frames, rows, cols), got shape {movie.shape}")
        return iter(movie), int(movie.shape[0]), (int(movie.shape[1]), int(movie.shape[2]))
    if suffix in (".tif", ".tiff"):
        import tifffile

        try:
            tif = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, ValueError) as exc:
            raise FormatError(f"{path} is not a readable TIFF: {exc}") from exc
        pages = tif.pages
        if len(pages) == 0:
            raise FormatError(f"{path} holds no image")
        shape = tuple(int(n) for n in pages[0].shape)
        if len(shape) != 2:
            raise FormatError(f"{path}: pages of shape {shape} are not single 2-D frames")

        def frames() -> Iterator[Any]:
            with tif:
                for page in pages:
                    image = page.asarray()
                    if image.ndim != 2:
                        raise FormatError(f"{path}: page of shape {image.shape} is not a single 2-D frame")
                    yield image

        return frames(), len(pages), (shape[0], shape[1])
    raise FormatError(f"{path}: unknown movie format {suffix!r}; use a multi-page .tif/.tiff or a 3-D .npy")


def _localize(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from photonflow.errors import AlreadyExistsError, FormatError
    from photonflow.localization import Camera, localize

    out_suffix = args.out.suffix.lower()
    if out_suffix not in (".h5r", ".npy"):
        raise FormatError(f"--out {args.out}: use a .h5r or .npy file name")
    for target in (args.out, args.csv, args.picasso, args.render):
        if target is not None and target.exists():
            raise AlreadyExistsError(f"{target} already exists; remove it or choose another name")
    camera_metadata = _camera_metadata(args)
    camera = Camera.from_metadata(camera_metadata)
    params = _params(args)
    frames, n_frames, frame_shape = _open_movie(args.input)

    started = time.perf_counter()
    bar = tqdm(total=n_frames, unit="frame", disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
    state = {"frames": 0}

    def progress(frames_done: int, n_locs: int) -> None:
        bar.update(frames_done - state["frames"])
        state["frames"] = frames_done
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.set_postfix(locs=n_locs, loc_per_s=f"{n_locs / elapsed:,.0f}", refresh=False)

    with bar:
        table = localize(frames, camera=camera, params=params, progress=progress)
    elapsed = max(time.perf_counter() - started, 1e-9)

    if out_suffix == ".h5r":
        from photonflow.formats.localizations_h5r import write_localizations

        analysis = {f"Analysis.{k}": _plain(v) for k, v in vars(params).items()}
        write_localizations(
            args.out,
            table,
            pixel_size_nm=params.pixel_size,
            metadata={**camera_metadata, **analysis},
            electrons_per_count=camera.electrons_per_count,
            true_em_gain=camera.em_gain,
            roi_size=params.roi_size,
        )
    else:
        np.save(args.out, table, allow_pickle=False)
    if args.csv is not None:
        from photonflow.localization.export import write_thunderstorm_csv

        write_thunderstorm_csv(table, args.csv)
    if args.picasso is not None:
        from photonflow.localization.export import write_picasso_hdf5

        write_picasso_hdf5(
            table,
            args.picasso,
            pixel_size_nm=params.pixel_size,
            width=frame_shape[1],
            height=frame_shape[0],
            n_frames=n_frames,
        )
    if args.render is not None:
        from photonflow.localization.render import render, save_png

        frame_fov = (0.0, 0.0, frame_shape[1] * params.pixel_size, frame_shape[0] * params.pixel_size)
        save_png(render(table, method="gaussian", pixel_nm=args.render_pixel_nm, fov=frame_fov), args.render)
    print(
        f"{len(table)} localizations in {state['frames']} frames, {elapsed:.1f} s "
        f"({state['frames'] / elapsed:,.0f} frames/s, {len(table) / elapsed:,.0f} localizations/s) -> {args.out}"
    )
    return 0


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
