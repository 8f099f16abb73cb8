"""Fixtures for photonflow.hpc unit tests: a synthetic h5USID file and small Process subclasses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from photonflow.hpc import Dimension, OutputSpec, Process
from photonflow.hpc.usid import write_ind_val

DATASET = "/Measurement_000/Channel_000/Raw_Data"


def write_usid(path: Path, data: np.ndarray, *, nx: int | None = None) -> Path:
    """A Main dataset ``Raw_Data`` with X fastest (``nx`` per row of Y) and a Time spectroscopic axis."""
    positions, samples = data.shape
    nx = nx or positions
    with h5py.File(path, "a") as f:
        group = f.require_group("Measurement_000/Channel_000")
        dset = group.create_dataset("Raw_Data", data=data)
        dset.attrs["quantity"] = "Current"
        dset.attrs["units"] = "nA"
        dims = [Dimension("X", "um", nx)] + ([Dimension("Y", "um", positions // nx)] if nx != positions else [])
        pos = write_ind_val(group, dims, spectroscopic=False, prefix="Position_")
        spec = write_ind_val(group, [Dimension("Time", "s", samples)], spectroscopic=True, prefix="Spectroscopic_")
        for key, anc in zip(("Position_Indices", "Position_Values"), pos, strict=True):
            dset.attrs[key] = anc.ref
        for key, anc in zip(("Spectroscopic_Indices", "Spectroscopic_Values"), spec, strict=True):
            dset.attrs[key] = anc.ref
    return path


@pytest.fixture
def raw() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((200, 64)).astype(np.float32)


@pytest.fixture
def usid_file(tmp_path: Path, raw: np.ndarray) -> Path:
    """200 positions (X = 20 fastest, Y = 10) × 64 float32 samples."""
    return write_usid(tmp_path / "raw.h5", raw, nx=20)


class MeanProcess(Process):
    """Mean of each row, plus the row's FFT magnitude; counts compute_batch calls and rows."""

    tool = "Mean"
    rows_computed = 0

    def outputs(self) -> list[OutputSpec]:
        return [OutputSpec("Mean", columns=1, quantity="Mean"), OutputSpec("Spectrum")]

    def compute_batch(self, data: np.ndarray) -> dict[str, np.ndarray]:
        type(self).rows_computed += len(data)
        return {"Mean": data.mean(axis=1, keepdims=True), "Spectrum": np.abs(np.fft.fft(data, axis=1))}


@pytest.fixture
def mean_process() -> Callable[..., MeanProcess]:
    def make(source: Path | h5py.Dataset, **kwargs: object) -> MeanProcess:
        MeanProcess.rows_computed = 0
        kwargs.setdefault("progress", False)
        if not isinstance(source, h5py.Dataset):
            kwargs.setdefault("dataset", DATASET)
        return MeanProcess(source, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def usid_writer() -> Callable[..., Path]:
    """``write_usid(path, data, nx=None)`` for tests that need their own data."""
    return write_usid
