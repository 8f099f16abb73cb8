"""What a Process declares about its outputs, and what it knows about its source dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from photonflow.hpc.usid import Dimension

__all__ = ["OutputSpec", "SourceInfo"]


@dataclass(frozen=True)
class SourceInfo:
    """The source Main dataset, described without holding it open (picklable, shipped to every rank).

    Attributes
    ----------
    path : str
        HDF5 file holding the source.
    dataset : str
        Absolute path of the Main dataset inside the file.
    shape : tuple of int
        (positions, spectroscopic points).
    dtype : numpy.dtype
    quantity, units : str
    """

    path: str
    dataset: str
    shape: tuple[int, int]
    dtype: np.dtype
    quantity: str
    units: str

    @property
    def name(self) -> str:
        """The dataset's own name (last path component), used in results-group names."""
        return self.dataset.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.dataset.rstrip("/").rsplit("/", 1)[0] or "/"

    @property
    def positions(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class OutputSpec:
    """One result dataset of shape (positions, columns), written as a USID Main dataset.

    Parameters
    ----------
    name : str
        Dataset name inside the results group.
    columns : int, optional
        Values per position. ``None`` means the source's spectroscopic length, and the output then shares the
        source's spectroscopic ancillaries.
    dtype : numpy dtype-like
        Stored dtype; results are cast to it on write.
    quantity, units : str
        The Main dataset's ``quantity`` and ``units``.
    spec_dims : tuple of Dimension
        Spectroscopic dimensions (fastest first) when ``columns`` is given; default ``Dimension(name, "", columns)``.
    spec_prefix : str, optional
        Name prefix of new spectroscopic ancillaries (default ``"<name>_Spectroscopic_"``).
    """

    name: str
    columns: int | None = None
    dtype: np.dtype | type | str = np.float32
    quantity: str = "Value"
    units: str = "a.u."
    spec_dims: tuple[Dimension, ...] = field(default=())
    spec_prefix: str | None = None

    def width(self, source: SourceInfo) -> int:
        return source.shape[1] if self.columns is None else int(self.columns)

    def dimensions(self) -> tuple[Dimension, ...]:
        if self.spec_dims:
            return self.spec_dims
        return (Dimension(self.name, "", int(self.columns or 1)),)

    def prefix(self) -> str:
        return self.spec_prefix if self.spec_prefix is not None else f"{self.name}_Spectroscopic_"
