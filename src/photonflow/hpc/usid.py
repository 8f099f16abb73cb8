"""The USID data model in HDF5 ("h5USID"): Main datasets, their four ancillaries, and results groups.

A Main dataset is 2-D (positions × spectroscopic points), carries ``quantity`` and ``units``, and links four
ancillary datasets by object reference: ``Position_Indices``/``Position_Values`` (P × n_pos_dims, uint32/float32,
one row per position) and ``Spectroscopic_Indices``/``Spectroscopic_Values`` (n_spec_dims × S). Ancillary columns
(rows for spectroscopic) are stored slowest → fastest, so position ``p`` of dims ``[X(4), Y(3)]`` is
``p = y·4 + x``, as pyUSID 0.0.12 writes them.
"""

from __future__ import annotations

import platform
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from photonflow import __version__
from photonflow.errors import FormatError

__all__ = [
    "ANCILLARY_NAMES",
    "Dimension",
    "bookkeeping_attrs",
    "build_ind_val",
    "check_main",
    "is_main",
    "sort_order",
    "write_ind_val",
    "write_strings_attr",
]

ANCILLARY_NAMES = ("Position_Indices", "Position_Values", "Spectroscopic_Indices", "Spectroscopic_Values")


@dataclass(frozen=True)
class Dimension:
    """One dimension of a position or spectroscopic grid.

    Parameters
    ----------
    name : str
        Label, e.g. ``"X"`` or ``"Bias"``.
    units : str
        Units of the values (``""`` when dimensionless).
    values : int or sequence of float
        The coordinate values, or a count ``n`` meaning ``0 .. n-1``.
    """

    name: str
    units: str
    values: int | Sequence[float] | np.ndarray

    def array(self) -> np.ndarray:
        """The coordinate values as a 1-D float array."""
        if isinstance(self.values, int | np.integer):
            return np.arange(int(self.values), dtype=np.float64)
        return np.asarray(self.values, dtype=np.float64).ravel()


def build_ind_val(dims: Sequence[Dimension]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Cartesian index and value matrices for ``dims`` given fastest → slowest.

    Returns
    -------
    indices : ndarray of shape (n, len(dims)), uint32
        Columns ordered slowest → fastest.
    values : ndarray of shape (n, len(dims)), float32
    labels, units : list of str
        Slowest → fastest, matching the columns.
    """
    if not dims:
        raise ValueError("build_ind_val needs at least one Dimension")
    slow_to_fast = list(reversed(dims))
    sizes = [len(d.array()) for d in slow_to_fast]
    grids = np.indices(sizes).reshape(len(sizes), -1).T
    values = np.column_stack([d.array()[grids[:, i]] for i, d in enumerate(slow_to_fast)])
    return (
        grids.astype(np.uint32),
        values.astype(np.float32),
        [d.name for d in slow_to_fast],
        [d.units for d in slow_to_fast],
    )


def write_strings_attr(obj: h5py.HLObject, name: str, strings: Sequence[str]) -> None:
    """Store a list of strings as a fixed-length byte-string array (what pyUSID reads back)."""
    width = max([1, *(len(s.encode()) for s in strings)])
    obj.attrs[name] = np.array([s.encode() for s in strings], dtype=f"S{width}")


def write_ind_val(
    group: h5py.Group, dims: Sequence[Dimension], *, spectroscopic: bool, prefix: str
) -> tuple[h5py.Dataset, h5py.Dataset]:
    """Create ``<prefix>Indices`` and ``<prefix>Values`` in ``group`` for ``dims`` (fastest → slowest).

    Position ancillaries are tall (P × n_dims); spectroscopic ancillaries are wide (n_dims × S).
    """
    inds, vals, labels, units = build_ind_val(dims)
    if spectroscopic:
        inds, vals = inds.T.copy(), vals.T.copy()
    made = []
    for suffix, data in (("Indices", inds), ("Values", vals)):
        dset = group.create_dataset(prefix + suffix, data=data)
        write_strings_attr(dset, "labels", labels)
        write_strings_attr(dset, "units", units)
        made.append(dset)
    return made[0], made[1]


def bookkeeping_attrs() -> dict[str, str]:
    """The provenance attributes written on results groups and Main datasets."""
    return {
        "machine_id": socket.getfqdn(),
        "timestamp": time.strftime("%Y_%m_%d-%H_%M_%S"),
        "platform": platform.platform(),
        "photonflow_version": __version__,
    }


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel()]
    return value


def check_main(dset: Any) -> None:
    """Raise :class:`~photonflow.errors.FormatError` (a ``ValueError``) unless ``dset`` is a USID Main dataset.

    Checks: 2-D; ``quantity`` and ``units`` are strings; the four ancillary references resolve to datasets whose
    shapes match (positions: first dim = P; spectroscopic: second dim = S); labels/units agree in length.
    """
    if not isinstance(dset, h5py.Dataset):
        raise FormatError(f"expected an h5py.Dataset, got {type(dset).__name__}")
    if dset.ndim != 2:
        raise FormatError(f"{dset.name}: a Main dataset is 2-D (positions × spectroscopic), this one is {dset.ndim}-D")
    for key in ("quantity", "units"):
        if not isinstance(_decode(dset.attrs.get(key)), str):
            raise FormatError(f"{dset.name}: the string attribute {key!r} is missing")
    ancillaries: dict[str, h5py.Dataset] = {}
    for key in ANCILLARY_NAMES:
        ref = dset.attrs.get(key)
        if not isinstance(ref, h5py.Reference) or not ref:
            raise FormatError(f"{dset.name}: the reference attribute {key!r} is missing")
        target = dset.file[ref]
        if not isinstance(target, h5py.Dataset):
            raise FormatError(f"{dset.name}: {key!r} does not point to a dataset")
        ancillaries[key] = target
    n_pos, n_spec = dset.shape
    pos_i, pos_v = ancillaries["Position_Indices"], ancillaries["Position_Values"]
    spec_i, spec_v = ancillaries["Spectroscopic_Indices"], ancillaries["Spectroscopic_Values"]
    if pos_i.shape != pos_v.shape or pos_i.ndim != 2 or pos_i.shape[0] != n_pos:
        raise FormatError(f"{dset.name}: position ancillaries {pos_i.shape}/{pos_v.shape} do not match {n_pos} rows")
    if spec_i.shape != spec_v.shape or spec_i.ndim != 2 or spec_i.shape[1] != n_spec:
        raise FormatError(
            f"{dset.name}: spectroscopic ancillaries {spec_i.shape}/{spec_v.shape} do not match {n_spec} columns"
        )
    for inds, vals, n_dims in ((pos_i, pos_v, pos_i.shape[1]), (spec_i, spec_v, spec_i.shape[0])):
        labels = _decode(inds.attrs.get("labels"))
        units = _decode(inds.attrs.get("units"))
        if not isinstance(labels, list) or not isinstance(units, list) or not len(labels) == len(units) == n_dims:
            raise FormatError(f"{inds.name}: 'labels'/'units' must list one entry per dimension ({n_dims})")
        if labels != _decode(vals.attrs.get("labels")):
            raise FormatError(f"{inds.name} and {vals.name} carry different labels")


def is_main(dset: Any) -> bool:
    """True when :func:`check_main` accepts ``dset``."""
    try:
        check_main(dset)
    except FormatError:
        return False
    return True


def sort_order(indices: np.ndarray, *, spectroscopic: bool = False) -> list[int]:
    """Columns (rows if ``spectroscopic``) of an index matrix ordered fastest → slowest.

    A dimension changes more often the faster it varies, so this infers the order instead of assuming it.
    """
    mat = np.asarray(indices)
    if spectroscopic:
        mat = mat.T
    changes = (np.diff(mat, axis=0) != 0).sum(axis=0)
    return [int(i) for i in np.argsort(-changes, kind="stable")]
