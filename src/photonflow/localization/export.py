"""Export results tables to ThunderSTORM CSV and Picasso HDF5 (+ YAML sidecar), and read both back.

**ThunderSTORM CSV.** The header is the one ThunderSTORM writes for 2-D results, every name double-quoted:
``"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]","bkgstd [photon]",``
``"uncertainty_xy [nm]"`` (:data:`THUNDERSTORM_COLUMNS`). ``id`` and ``frame`` are 1-based (ThunderSTORM numbers
frames from 1); ``offset`` is the background per pixel,
``bkgstd`` its shot-noise standard deviation ``sqrt(bg)``, ``uncertainty_xy`` the quadratic mean of ``x_err`` and
``y_err``. The reader also takes unquoted headers (as Picasso writes them) and the older ``uncertainty [nm]``.

**Picasso HDF5.** Dataset ``/locs``, a structured array written with h5py (pandas' ``to_hdf`` layout makes Picasso
fail, Picasso #406), with ``frame`` (u4, 0-based), ``x``/``y`` in camera pixels with the **pixel centre at an
integer** (Picasso's convention; ours puts it at ``(i + 0.5)·pixel``, so ``x_px = x_nm / pixel − 0.5``),
``photons``, ``sx``/``sy`` (px), ``bg``, ``lpx``/``lpy`` (px), ``ellipticity`` (0: one σ is fitted) and
``net_gradient`` (our ``detection_score``; Picasso uses it only to filter). Beside it ``<name>.yaml`` holds one YAML
document with ``Width``, ``Height``, ``Frames`` and ``Pixelsize`` (nm), which Picasso requires.
"""

from __future__ import annotations

import csv
import math
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from photonflow.errors import FormatError
from photonflow.localization.results import LOCALIZATION_DTYPE, empty_results

__all__ = [
    "PICASSO_DTYPE",
    "THUNDERSTORM_COLUMNS",
    "picasso_yaml_path",
    "read_picasso_hdf5",
    "read_results",
    "read_thunderstorm_csv",
    "write_picasso_hdf5",
    "write_thunderstorm_csv",
]

THUNDERSTORM_COLUMNS = (
    "id",
    "frame",
    "x [nm]",
    "y [nm]",
    "sigma [nm]",
    "intensity [photon]",
    "offset [photon]",
    "bkgstd [photon]",
    "uncertainty_xy [nm]",
)

PICASSO_DTYPE = np.dtype(
    [
        ("frame", "u4"),
        ("x", "f4"),
        ("y", "f4"),
        ("photons", "f4"),
        ("sx", "f4"),
        ("sy", "f4"),
        ("bg", "f4"),
        ("lpx", "f4"),
        ("lpy", "f4"),
        ("ellipticity", "f4"),
        ("net_gradient", "f4"),
    ]
)

# Columns of a results table that a format does not carry are NaN after reading, so they read as "unknown".
_UNKNOWN_FLOAT = ("photons_err", "bg_err", "sigma_err", "loglik", "chi2")


def write_thunderstorm_csv(table: np.ndarray, path: str | PathLike[str]) -> None:
    """Write ``table`` as a ThunderSTORM CSV (see the module docstring for the columns).

    Parameters
    ----------
    table : structured ndarray of LOCALIZATION_DTYPE
    path : str or PathLike
    """
    _check_table(table)
    n = table.size
    out = np.empty((n, len(THUNDERSTORM_COLUMNS)), dtype=np.float64)
    out[:, 0] = np.arange(1, n + 1)
    out[:, 1] = table["frame"].astype(np.int64) + 1
    out[:, 2] = table["x"]
    out[:, 3] = table["y"]
    out[:, 4] = table["sigma"]
    out[:, 5] = table["photons"]
    out[:, 6] = table["bg"]
    out[:, 7] = np.sqrt(np.maximum(table["bg"].astype(np.float64), 0.0))
    out[:, 8] = np.sqrt((table["x_err"].astype(np.float64) ** 2 + table["y_err"].astype(np.float64) ** 2) / 2)
    header = ",".join(f'"{c}"' for c in THUNDERSTORM_COLUMNS)
    # 9 significant digits reproduce every float32 exactly.
    fmt = ["%d", "%d"] + ["%.9g"] * (len(THUNDERSTORM_COLUMNS) - 2)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        np.savetxt(fh, out, fmt=fmt, delimiter=",", header=header, comments="")


def read_thunderstorm_csv(path: str | PathLike[str]) -> np.ndarray:
    """Read a ThunderSTORM 2-D CSV into a results table (frames become 0-based).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    table : structured ndarray of LOCALIZATION_DTYPE
        ``x_err`` and ``y_err`` both take ``uncertainty_xy``; columns the format lacks are NaN (floats), 0
        (``iterations``) or True (``converged``: exported rows were accepted fits).

    Raises
    ------
    FormatError
        If a required column (frame, x, y) is missing or a value is not a number.
    """
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), None)
    if header is None:
        raise FormatError(f"{path}: empty file; expected a ThunderSTORM CSV header")
    names = [h.strip() for h in header]
    index = {name: i for i, name in enumerate(names)}
    for required in ("frame", "x [nm]", "y [nm]"):
        if required not in index:
            raise FormatError(f"{path}: no column {required!r} in the header {names}; is this a ThunderSTORM CSV?")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy warns on a header-only file
            data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64, quotechar='"')
    except ValueError as exc:
        raise FormatError(f"{path}: a value is not a number ({exc})") from exc
    if data.size == 0:
        data = np.empty((0, len(names)))
    if data.shape[1] != len(names):
        raise FormatError(f"{path}: rows have {data.shape[1]} values but the header names {len(names)} columns")

    def col(*candidates: str) -> np.ndarray | None:
        for c in candidates:
            if c in index:
                return data[:, index[c]]
        return None

    table = empty_results(data.shape[0])
    for name in _UNKNOWN_FLOAT:
        table[name] = np.nan
    table["converged"] = True
    table["frame"] = col("frame").astype(np.int64) - 1  # type: ignore[union-attr]
    table["x"] = col("x [nm]")
    table["y"] = col("y [nm]")
    for dst, src in (
        ("sigma", ("sigma [nm]", "sigma1 [nm]")),
        ("photons", ("intensity [photon]",)),
        ("bg", ("offset [photon]",)),
        ("x_err", ("uncertainty_xy [nm]", "uncertainty [nm]")),
        ("y_err", ("uncertainty_xy [nm]", "uncertainty [nm]")),
    ):
        values = col(*src)
        table[dst] = np.nan if values is None else values
    table["detection_score"] = np.nan
    return table


def picasso_yaml_path(hdf5_path: str | PathLike[str]) -> Path:
    """The sidecar YAML Picasso reads for ``hdf5_path``: same name, extension ``.yaml``."""
    return Path(hdf5_path).with_suffix(".yaml")


def write_picasso_hdf5(
    table: np.ndarray,
    path: str | PathLike[str],
    *,
    pixel_size_nm: float,
    width: int,
    height: int,
    n_frames: int | None = None,
    extra_info: dict[str, Any] | None = None,
) -> None:
    """Write ``table`` as a Picasso localization file ``path`` (``.hdf5``) plus its ``.yaml`` sidecar.

    Parameters
    ----------
    table : structured ndarray of LOCALIZATION_DTYPE
    path : str or PathLike
        Output file; the YAML goes to :func:`picasso_yaml_path` of it.
    pixel_size_nm : float
        Camera pixel size, nm (``Pixelsize``).
    width, height : int
        Camera frame size in pixels (``Width``, ``Height``); Picasso drops localizations outside it.
    n_frames : int, optional
        Number of frames (``Frames``); by default one more than the largest frame index.
    extra_info : dict, optional
        More keys for the YAML document (plain str/int/float values).

    Raises
    ------
    ValueError
        If the geometry is not positive.
    """
    import h5py
    import yaml

    _check_table(table)
    if not (pixel_size_nm > 0 and math.isfinite(pixel_size_nm)) or width < 1 or height < 1:
        raise ValueError(
            f"pixel_size_nm, width and height must be positive; got {pixel_size_nm!r}, {width!r}, {height!r}"
        )
    if table.size and table["frame"].min() < 0:
        raise ValueError("Picasso stores frames as unsigned integers; the table has negative frame indices")
    frames = n_frames if n_frames is not None else (int(table["frame"].max()) + 1 if table.size else 0)
    locs = np.empty(table.size, dtype=PICASSO_DTYPE)
    px = float(pixel_size_nm)
    locs["frame"] = table["frame"]
    locs["x"] = table["x"] / px - 0.5
    locs["y"] = table["y"] / px - 0.5
    locs["photons"] = table["photons"]
    locs["sx"] = table["sigma"] / px
    locs["sy"] = table["sigma"] / px
    locs["bg"] = table["bg"]
    locs["lpx"] = table["x_err"] / px
    locs["lpy"] = table["y_err"] / px
    locs["ellipticity"] = 0.0
    locs["net_gradient"] = table["detection_score"]
    info: dict[str, Any] = {
        "Generated by": "photonflow",
        "Width": int(width),
        "Height": int(height),
        "Frames": int(frames),
        "Pixelsize": px,
    }
    info.update(extra_info or {})
    with h5py.File(path, "w") as fh:
        fh.create_dataset("locs", data=locs)
    with open(picasso_yaml_path(path), "w", encoding="utf-8") as fh:
        yaml.safe_dump_all([info], fh, default_flow_style=False, sort_keys=False)


def read_picasso_hdf5(
    path: str | PathLike[str], *, pixel_size_nm: float | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a Picasso localization file into a results table, with its merged YAML metadata.

    Parameters
    ----------
    path : str or PathLike
        The ``.hdf5`` file; its ``.yaml`` sidecar is read too.
    pixel_size_nm : float, optional
        Camera pixel size, nm; by default the ``Pixelsize`` of the YAML.

    Returns
    -------
    table : structured ndarray of LOCALIZATION_DTYPE
        ``sigma`` is the mean of ``sx`` and ``sy``; columns Picasso lacks are NaN (floats), 0 or True (converged).
    info : dict
        All YAML documents merged (later documents win), as Picasso looks keys up.

    Raises
    ------
    FormatError
        If ``/locs`` or a required column is missing, or no pixel size is known.
    """
    import h5py
    import yaml

    info: dict[str, Any] = {}
    sidecar = picasso_yaml_path(path)
    if sidecar.exists():
        with open(sidecar, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if isinstance(doc, dict):
                    info.update(doc)
    px = pixel_size_nm if pixel_size_nm is not None else info.get("Pixelsize")
    if px is None:
        raise FormatError(f"{path}: no Pixelsize in {sidecar.name}; pass pixel_size_nm")
    with h5py.File(path, "r") as fh:
        if "locs" not in fh or not isinstance(fh["locs"], h5py.Dataset):
            raise FormatError(f"{path}: no '/locs' dataset; is this a Picasso localization file?")
        locs = fh["locs"][()]
    names = locs.dtype.names or ()
    missing = [c for c in ("frame", "x", "y") if c not in names]
    if missing:
        raise FormatError(f"{path}: /locs lacks column(s) {missing}")
    px = float(px)

    def col(name: str, scale: float = 1.0) -> np.ndarray | float:
        return locs[name].astype(np.float64) * scale if name in names else np.nan

    table = empty_results(locs.size)
    for name in _UNKNOWN_FLOAT:
        table[name] = np.nan
    table["converged"] = True
    table["frame"] = locs["frame"]
    table["x"] = (locs["x"].astype(np.float64) + 0.5) * px
    table["y"] = (locs["y"].astype(np.float64) + 0.5) * px
    table["photons"] = col("photons")
    table["bg"] = col("bg")
    if "sx" in names and "sy" in names:
        table["sigma"] = (locs["sx"].astype(np.float64) + locs["sy"].astype(np.float64)) / 2 * px
    else:
        table["sigma"] = np.nan
    table["x_err"] = col("lpx", px)
    table["y_err"] = col("lpy", px)
    table["detection_score"] = col("net_gradient")
    return table, info


def _check_table(table: np.ndarray) -> None:
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    missing = [n for n in LOCALIZATION_DTYPE.names or () if n not in names]
    if missing:
        raise ValueError(f"export needs a results table (LOCALIZATION_DTYPE); missing column(s) {missing}")


def read_results(path: str | PathLike[str], *, pixel_size_nm: float | None = None) -> np.ndarray:
    """Read a results table from any supported file, chosen by extension.

    Parameters
    ----------
    path : str or PathLike
        ``.npy`` (a saved results table, or any structured array with ``frame``, ``x``, ``y``), ``.csv``
        (ThunderSTORM), ``.hdf5``/``.hdf`` (Picasso, with its YAML) or ``.h5r`` (photonflow's lossless
        ``Localizations`` table when present, else ``FitResults``: a results table or PYME's ``FitResults``
        records, converted with the file's metadata).
    pixel_size_nm : float, optional
        Camera pixel size for Picasso files without a YAML ``Pixelsize``, or PYME files without ``voxelsize``.

    Returns
    -------
    table : structured ndarray

    Raises
    ------
    FormatError
        If the extension is unknown or the file does not hold a localization table.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            table = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise FormatError(f"{p}: not a plain .npy array ({exc})") from exc
        names = table.dtype.names or ()
        if not {"frame", "x", "y"} <= set(names):
            raise FormatError(f"{p}: the array has columns {list(names)}; a results table needs frame, x, y (nm)")
        return np.asarray(table)
    if suffix == ".csv":
        return read_thunderstorm_csv(p)
    if suffix in (".hdf5", ".hdf"):
        return read_picasso_hdf5(p, pixel_size_nm=pixel_size_nm)[0]
    if suffix == ".h5r":
        return _read_h5r(p, pixel_size_nm)
    raise FormatError(f"{p}: unknown results format {suffix!r}; use .npy, .csv (ThunderSTORM), .hdf5 (Picasso), .h5r")


def _read_h5r(path: Path, pixel_size_nm: float | None) -> np.ndarray:
    from photonflow.formats.h5r import list_tables, read_metadata, read_table
    from photonflow.formats.localizations_h5r import LOCALIZATIONS_TABLE
    from photonflow.formats.pyme_fitresults import from_pyme_fitresults

    # photonflow writes its lossless table beside PYME's FitResults; prefer it when present.
    if LOCALIZATIONS_TABLE in list_tables(path):
        return read_table(path, LOCALIZATIONS_TABLE)
    records = read_table(path, "FitResults")
    names = records.dtype.names or ()
    if {"frame", "x", "y"} <= set(names):
        return records
    metadata = read_metadata(path)
    px = pixel_size_nm
    if px is None:
        px = metadata.pixel_size_nm[0] if "voxelsize.x" in metadata else None
    if px is None:
        raise FormatError(f"{path}: no voxelsize.x in the metadata; pass the camera pixel size")
    # Photon counts need the camera gain; without it they stay in ADU-derived units, which rendering ignores.
    epc = float(metadata.get("Camera.ElectronsPerCount", 1.0))
    gain = float(metadata.get("Camera.TrueEMGain", 1.0))
    return from_pyme_fitresults(records, pixel_size_nm=px, electrons_per_count=epc, true_em_gain=gain)
