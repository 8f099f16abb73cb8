"""Result stores: HDF5 in the USID layout, and Zarr. Both record progress in a per-position status vector.

Crash safety (a SIGKILL at any moment): every dataset is created, and its space allocated, before the first
batch, so the data loop only overwrites raw bytes in place and never changes file metadata. Each batch is
written, flushed, and only then flagged done in ``completed_positions`` (flushed again), so a flag never exists
without its data. Zarr chunk files are written to a temporary name and renamed, and a batch is exactly one chunk
of every array, so a batch's status chunk appears only after its data chunks.

Discovery of earlier runs is read-only; repairs (legacy groups without a status vector) happen only on the group
chosen for resume.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from photonflow.errors import HPCError
from photonflow.hpc.outputs import OutputSpec, SourceInfo
from photonflow.hpc.params import flat_attrs
from photonflow.hpc.usid import ANCILLARY_NAMES, bookkeeping_attrs, write_ind_val

__all__ = [
    "STATUS_NAME",
    "Discovery",
    "HDF5Store",
    "ResultWriter",
    "RunIdentity",
    "ZarrStore",
    "contiguous_runs",
    "group_name_pattern",
]

STATUS_NAME = "completed_positions"
HASH_ATTR = "photonflow_parameters_sha256"
RECORD_ATTR = "photonflow_parameters"


@dataclass(frozen=True)
class RunIdentity:
    """What identifies a run: the tool, its parameters (canonical record and hash) and where it reads from."""

    tool: str
    parameters: Mapping[str, Any]
    record: str
    digest: str
    algorithm: str


@dataclass(frozen=True)
class Discovery:
    """Earlier results groups with the same identity, by name, oldest first."""

    complete: tuple[str, ...]
    partial: tuple[str, ...]
    next_index: int


class ResultWriter(Protocol):
    """Writes batches of results into a results group and records them as done."""

    def write(self, positions: np.ndarray, results: Mapping[str, np.ndarray]) -> None: ...

    def mark_done(self, positions: np.ndarray) -> None: ...

    def close(self) -> None: ...


def contiguous_runs(positions: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted positions into runs: ``(offset_in_batch, first_position, stop_position)``."""
    if len(positions) == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(positions)]))
    return [(int(a), int(positions[a]), int(positions[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


def group_name_pattern(source_name: str, tool: str) -> re.Pattern[str]:
    """The exact pattern of results-group names ``<source>-<tool>_NNN``."""
    return re.compile(rf"^{re.escape(source_name)}-{re.escape(tool)}_(\d{{3,}})$")


def _classify(
    names: Sequence[str],
    source: SourceInfo,
    identity: RunIdentity,
    read: Any,
) -> Discovery:
    """Sort candidate groups into complete/partial; ``read(name)`` returns (attrs, status array or None)."""
    pattern = group_name_pattern(source.name, identity.tool)
    indexed = sorted((int(m.group(1)), n) for n in names if (m := pattern.match(n)))
    complete: list[str] = []
    partial: list[str] = []
    legacy_params = flat_attrs(identity.parameters)
    for _, name in indexed:
        attrs, status = read(name)
        digest = attrs.get(HASH_ATTR)
        if digest is not None:
            if str(digest) != identity.digest:
                continue
        elif not all(key in attrs and np.array_equal(attrs[key], value) for key, value in legacy_params.items()):
            continue
        if status is not None:
            if status.shape != (source.positions,):
                continue
            (complete if bool(np.all(status == 1)) else partial).append(name)
        elif "last_pixel" in attrs:
            (complete if int(attrs["last_pixel"]) >= source.positions else partial).append(name)
    next_index = indexed[-1][0] + 1 if indexed else 0
    return Discovery(tuple(complete), tuple(partial), next_index)


def _early_dataset(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any) -> h5py.Dataset:
    """A contiguous dataset whose file space is allocated now, not on first write (no metadata change later)."""
    dtype = np.dtype(dtype)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    # Space is allocated but not zero-filled (that would write the whole output once more); rows are read only
    # once flagged done, and the status vector itself is written explicitly below.
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    space = h5py.h5s.create_simple(shape)
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(dtype, logical=True), space, dcpl=dcpl)
    return h5py.Dataset(dsid)


def _copy_or_ref(
    group: h5py.Group, source: h5py.Dataset, key: str, same_file: bool, copies: dict[str, h5py.Dataset]
) -> h5py.Dataset:
    """The source's ancillary ``key``: itself when in the same file, else one copy in ``group``."""
    target = source.file[source.attrs[key]]
    if same_file:
        return target
    if key not in copies:
        copies[key] = group.create_dataset(key, data=target[()])
        for attr, value in target.attrs.items():
            copies[key].attrs[attr] = value
    return copies[key]


class HDF5Store:
    """Results groups in an HDF5 file, USID layout: ``<target>/<source>-<tool>_NNN``.

    Parameters
    ----------
    target : h5py.Group
        Where results groups live (the source's parent group by default).
    source : h5py.Dataset
        The source Main dataset (already validated).
    info : SourceInfo
    """

    def __init__(self, target: h5py.Group, source: h5py.Dataset, info: SourceInfo) -> None:
        self.target = target
        self.source = source
        self.info = info

    def discover(self, identity: RunIdentity) -> Discovery:
        def read(name: str) -> tuple[dict[str, Any], np.ndarray | None]:
            group = self.target[name]
            status = group.get(STATUS_NAME)
            data = status[()] if isinstance(status, h5py.Dataset) and status.dtype == np.uint8 else None
            return dict(group.attrs), data

        names = [n for n, obj in self.target.items() if isinstance(obj, h5py.Group)]
        return _classify(names, self.info, identity, read)

    def create(
        self,
        name: str,
        identity: RunIdentity,
        outputs: Sequence[OutputSpec],
        statics: Mapping[str, np.ndarray],
        batch_size: int,
    ) -> None:
        """Create the results group with every dataset allocated; the status vector comes last."""
        same_file = self.target.file.filename == self.source.file.filename
        group = self.target.create_group(name)
        attrs: dict[str, Any] = {
            **bookkeeping_attrs(),
            **flat_attrs(identity.parameters),
            "tool": identity.tool,
            "algorithm": identity.algorithm,
            "num_source_dsets": 1,
            RECORD_ATTR: identity.record,
            HASH_ATTR: identity.digest,
            "photonflow_batch_size": batch_size,
        }
        if same_file:
            attrs["source_000"] = self.source.ref
        else:
            attrs["source_file_path"] = str(Path(self.source.file.filename).resolve())
            attrs["source_dataset_path"] = self.source.name
        for key, value in attrs.items():
            group.attrs[key] = value
        copies: dict[str, h5py.Dataset] = {}
        for spec in outputs:
            dset = _early_dataset(group, spec.name, (self.info.positions, spec.width(self.info)), spec.dtype)
            dset.attrs["quantity"] = spec.quantity
            dset.attrs["units"] = spec.units
            for key, value in bookkeeping_attrs().items():
                dset.attrs[key] = value
            for key in ANCILLARY_NAMES[:2]:
                dset.attrs[key] = _copy_or_ref(group, self.source, key, same_file, copies).ref
            if spec.columns is None:
                for key in ANCILLARY_NAMES[2:]:
                    dset.attrs[key] = _copy_or_ref(group, self.source, key, same_file, copies).ref
            else:
                inds, vals = write_ind_val(group, spec.dimensions(), spectroscopic=True, prefix=spec.prefix())
                dset.attrs["Spectroscopic_Indices"] = inds.ref
                dset.attrs["Spectroscopic_Values"] = vals.ref
        for key, value in statics.items():
            group.create_dataset(key, data=value)
        _early_dataset(group, STATUS_NAME, (self.info.positions,), np.uint8)[...] = 0
        self.target.file.flush()

    def pending(self, name: str) -> np.ndarray:
        """Positions still to compute in group ``name``; a legacy group gets its status vector now."""
        group = self.target[name]
        if STATUS_NAME not in group:
            status = _early_dataset(group, STATUS_NAME, (self.info.positions,), np.uint8)
            done = min(int(group.attrs.get("last_pixel", 0)), self.info.positions)
            status[...] = (np.arange(self.info.positions) < done).astype(np.uint8)
            self.target.file.flush()
        status = group[STATUS_NAME]
        if status.shape != (self.info.positions,) or status.dtype != np.uint8:
            raise HPCError(
                f"{status.name} has shape {status.shape} {status.dtype}; expected ({self.info.positions},) uint8"
            )
        return np.flatnonzero(status[()] == 0)

    def batches(self, name: str, pending: np.ndarray, batch_size: int) -> list[np.ndarray]:
        return [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]

    def writer(self, name: str, outputs: Sequence[OutputSpec], *, checkpoint: bool) -> ResultWriter:
        return _HDF5Writer(self.target[name], outputs, checkpoint=checkpoint)


class _HDF5Writer:
    def __init__(self, group: h5py.Group, outputs: Sequence[OutputSpec], *, checkpoint: bool) -> None:
        self._group = group
        self._file = group.file
        self._dsets = {spec.name: group[spec.name] for spec in outputs}
        self._status = group[STATUS_NAME]
        self._checkpoint = checkpoint
        self._deferred: list[np.ndarray] = []

    def write(self, positions: np.ndarray, results: Mapping[str, np.ndarray]) -> None:
        runs = contiguous_runs(positions)
        for name, dset in self._dsets.items():
            values = np.asarray(results[name])
            for offset, start, stop in runs:
                dset[start:stop] = values[offset : offset + stop - start]

    def mark_done(self, positions: np.ndarray) -> None:
        if not self._checkpoint:
            self._deferred.append(positions)
            return
        self._file.flush()
        self._flag(positions)
        self._file.flush()

    def _flag(self, positions: np.ndarray) -> None:
        for _, start, stop in contiguous_runs(positions):
            self._status[start:stop] = 1

    def close(self) -> None:
        if self._deferred:
            self._file.flush()
            self._flag(np.sort(np.concatenate(self._deferred)))
            self._deferred.clear()
        self._file.flush()


class ZarrStore:
    """Results groups in a Zarr (v3) hierarchy: ``<root>/<source>-<tool>_NNN``, one chunk per batch.

    USID metadata lives in attributes (``quantity``, ``units`` and the names of the ancillary arrays, copied from
    the source), so the group converts to h5USID losslessly.

    Parameters
    ----------
    path : str or Path
        The Zarr directory (created when missing).
    info : SourceInfo
    source : h5py.Dataset, optional
        The source dataset; needed only to create groups (to copy its ancillaries).
    """

    def __init__(self, path: str | Path, info: SourceInfo, source: h5py.Dataset | None = None) -> None:
        import zarr

        self._zarr = zarr
        self.path = str(path)
        self.info = info
        self.source = source
        self.root: Any = zarr.open_group(store=self.path, mode="a")

    def discover(self, identity: RunIdentity) -> Discovery:
        def read(name: str) -> tuple[dict[str, Any], np.ndarray | None]:
            group = self.root[name]
            status = group[STATUS_NAME][...] if STATUS_NAME in group.array_keys() else None
            return dict(group.attrs), None if status is None else np.asarray(status)

        return _classify(list(self.root.group_keys()), self.info, identity, read)

    def create(
        self,
        name: str,
        identity: RunIdentity,
        outputs: Sequence[OutputSpec],
        statics: Mapping[str, np.ndarray],
        batch_size: int,
    ) -> None:
        if self.source is None:
            raise HPCError("ZarrStore.create needs the source dataset to copy its ancillaries")
        positions = self.info.positions
        attrs = {
            **bookkeeping_attrs(),
            "tool": identity.tool,
            "algorithm": identity.algorithm,
            "parameters": json.loads(identity.record)["parameters"],
            RECORD_ATTR: identity.record,
            HASH_ATTR: identity.digest,
            "source_file_path": str(Path(self.info.path).resolve()),
            "source_dataset_path": self.info.dataset,
            "photonflow_batch_size": batch_size,
        }
        group = self.root.create_group(name, attributes=attrs)
        for key in ANCILLARY_NAMES:
            anc = self.source.file[self.source.attrs[key]]
            self._small_array(group, key, anc[()], _string_attrs(anc))
        for spec in outputs:
            width = spec.width(self.info)
            ancillaries = {"Position_Indices": "Position_Indices", "Position_Values": "Position_Values"}
            if spec.columns is None:
                ancillaries |= {k: k for k in ANCILLARY_NAMES[2:]}
            else:
                from photonflow.hpc.usid import build_ind_val

                inds, vals, labels, units = build_ind_val(spec.dimensions())
                for suffix, data in (("Indices", inds.T.copy()), ("Values", vals.T.copy())):
                    self._small_array(group, spec.prefix() + suffix, data, {"labels": labels, "units": units})
                ancillaries |= {
                    "Spectroscopic_Indices": spec.prefix() + "Indices",
                    "Spectroscopic_Values": spec.prefix() + "Values",
                }
            group.create_array(
                spec.name,
                shape=(positions, width),
                chunks=(batch_size, width),
                dtype=np.dtype(spec.dtype),
                fill_value=0,
                attributes={"quantity": spec.quantity, "units": spec.units, "ancillaries": ancillaries},
            )
        for key, value in statics.items():
            self._small_array(group, key, np.asarray(value), {})
        group.create_array(STATUS_NAME, shape=(positions,), chunks=(batch_size,), dtype=np.uint8, fill_value=0)

    @staticmethod
    def _small_array(group: Any, name: str, data: np.ndarray, attrs: Mapping[str, Any]) -> None:
        arr = group.create_array(name, shape=data.shape, dtype=data.dtype, fill_value=0, attributes=dict(attrs))
        arr[...] = data

    def pending(self, name: str) -> np.ndarray:
        status = np.asarray(self.root[name][STATUS_NAME][...])
        return np.flatnonzero(status == 0)

    def batches(self, name: str, pending: np.ndarray, batch_size: int) -> list[np.ndarray]:
        """One batch per chunk that still has pending positions (the whole chunk is recomputed)."""
        chunk = int(self.root[name][STATUS_NAME].chunks[0])
        positions = self.info.positions
        return [np.arange(k * chunk, min((k + 1) * chunk, positions)) for k in np.unique(pending // chunk).tolist()]

    def writer(self, name: str, outputs: Sequence[OutputSpec], *, checkpoint: bool) -> ResultWriter:
        return _ZarrWriter(self.root[name], outputs)


def _string_attrs(dset: h5py.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("labels", "units"):
        if key in dset.attrs:
            out[key] = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(dset.attrs[key]).ravel()]
    return out


class _ZarrWriter:
    def __init__(self, group: Any, outputs: Sequence[OutputSpec]) -> None:
        self._arrays = {spec.name: group[spec.name] for spec in outputs}
        self._status = group[STATUS_NAME]

    def write(self, positions: np.ndarray, results: Mapping[str, np.ndarray]) -> None:
        start, stop = int(positions[0]), int(positions[-1]) + 1
        for name, arr in self._arrays.items():
            arr[start:stop] = np.asarray(results[name])

    def mark_done(self, positions: np.ndarray) -> None:
        self._status[int(positions[0]) : int(positions[-1]) + 1] = 1

    def close(self) -> None:
        """Every chunk is already on disk."""
