"""Loading a recipe's inputs from files into its namespace (compute.md §4.1, ``load_inputs``).

Each input is ``key → source``. A source that is already a table (structured array) or any other in-memory value
is injected as ``key`` unchanged. A path is read by its extension:

* ``.npy``: a saved table (never pickles), ``.csv``: ThunderSTORM, ``.hdf5``/``.hdf``: Picasso (with its
  ``.yaml``); read by :func:`photonflow.localization.export.read_results` and injected as ``key``.
* ``.h5r``: a results file. As in PYME, every table is injected as ``<key>_<Table>``, or as plain ``<Table>`` when
  ``key`` is ``input``. In addition ``key`` itself is the localization table from ``FitResults``: photonflow's own
  columns as stored, or PYME's ``FitResults`` records converted using the file's metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from photonflow.errors import FormatError, NotFoundError

__all__ = ["SUPPORTED_SUFFIXES", "load_inputs"]

SUPPORTED_SUFFIXES = (".npy", ".csv", ".hdf5", ".hdf", ".h5r")


def load_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
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
    from photonflow.localization.export import read_results

    if not path.exists():
        raise NotFoundError(f"input '{key}': {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise FormatError(
            f"input '{key}': cannot read {path.name}; supported file types: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if suffix != ".h5r":
        return {key: read_results(path)}
    from photonflow.formats.h5r import list_tables, read_table

    out: dict[str, Any] = {}
    names = list_tables(path)
    for name in names:
        out[name if key == "input" else f"{key}_{name}"] = read_table(path, name)
    if "FitResults" in names:
        out[key] = read_results(path)
    return out
