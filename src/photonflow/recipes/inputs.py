"""Loading a recipe's inputs from files into its namespace (compute.md §4.1, ``load_inputs``).

Each input is ``key → source``. A source that is already a table (structured array) or any other in-memory value
is injected as ``key`` unchanged. A path is read by its extension:

* ``.npy``: a saved table (never pickles), injected as ``key``.
* ``.csv``: a ThunderSTORM CSV, converted to a localization table, injected as ``key``.
* ``.hdf5``: a Picasso localization file (with its ``.yaml``), injected as ``key``.
* ``.h5r``/``.hdf``: a results file. As in PYME, every table is injected as ``<key>_<Table>``, or as plain
  ``<Table>`` when ``key`` is ``input``. In addition ``key`` itself is the localization table from ``FitResults``:
  photonflow's own columns as stored, or PYME's ``FitResults`` records converted using the file's
  ``voxelsize`` metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from photonflow.errors import FormatError, NotFoundError

__all__ = ["SUPPORTED_SUFFIXES", "load_inputs"]

SUPPORTED_SUFFIXES = (".npy", ".csv", ".hdf5", ".h5r", ".hdf")

PathOrValue = str | os.PathLike[str] | Any


def load_inputs(inputs: Mapping[str, PathOrValue]) -> dict[str, Any]:
    """Load every input into one namespace.

    Raises
    ------
    NotFoundError
        A path does not exist.
    FormatError
        A file's extension is not supported, or its content is not a table.
    """
    namespace: dict[str, Any] = {}
    for key, source in inputs.items():
        if isinstance(source, str | os.PathLike):
            namespace.update(_load_path(key, Path(source)))
        else:
            namespace[key] = source
    return namespace


def _load_path(key: str, path: Path) -> dict[str, Any]:
    if not path.exists():
        raise NotFoundError(f"input '{key}': {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        table = np.load(path, allow_pickle=False)
        if table.dtype.names is None or table.ndim != 1:
            raise FormatError(f"input '{key}': {path} holds an array of shape {table.shape}, not a table")
        return {key: table}
    if suffix == ".csv":
        from photonflow.localization.export import read_thunderstorm_csv

        return {key: read_thunderstorm_csv(path)}
    if suffix == ".hdf5":
        from photonflow.localization.export import read_picasso_hdf5

        return {key: read_picasso_hdf5(path)[0]}
    if suffix in (".h5r", ".hdf"):
        return _load_h5r(key, path)
    raise FormatError(f"input '{key}': cannot read {path.name}; supported file types: {', '.join(SUPPORTED_SUFFIXES)}")


def _load_h5r(key: str, path: Path) -> dict[str, Any]:
    from photonflow.formats.h5r import list_tables, read_metadata, read_table
    from photonflow.formats.pyme_fitresults import from_pyme_fitresults
    from photonflow.localization.results import LOCALIZATION_DTYPE

    out: dict[str, Any] = {}
    for name in list_tables(path):
        out[name if key == "input" else f"{key}_{name}"] = read_table(path, name)
    fit = out.get("FitResults" if key == "input" else f"{key}_FitResults")
    if fit is None:
        return out
    names = set(fit.dtype.names or ())
    if set(LOCALIZATION_DTYPE.names or ()) <= names:
        out[key] = fit
    elif {"tIndex", "fitResults"} <= names:
        metadata = read_metadata(path)
        try:
            pixel = metadata.pixel_size_nm
        except FormatError as exc:
            raise FormatError(
                f"input '{key}': {path} holds PYME FitResults but no voxelsize metadata to convert them ({exc})"
            ) from None
        camera: dict[str, float] = {}
        camera_keys = (("Camera.ElectronsPerCount", "electrons_per_count"), ("Camera.TrueEMGain", "true_em_gain"))
        for meta_key, arg in camera_keys:
            if meta_key in metadata:
                camera[arg] = float(metadata[meta_key])
        out[key] = from_pyme_fitresults(fit, pixel_size_nm=pixel, **camera)
    return out
