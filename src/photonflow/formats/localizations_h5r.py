"""Write a localization results table as an ``.h5r`` file that PYME and photonflow both read.

The file holds three things:

``FitResults``
    PYME's record layout (:data:`~photonflow.formats.pyme_fitresults.PYME_FITRESULTS_DTYPE`), so PYME's
    visualisation and recipes open it;
``Localizations``
    photonflow's own :data:`~photonflow.localization.results.LOCALIZATION_DTYPE` rows, which keep the columns
    PYME's layout has no room for (log-likelihood, iterations, detection score);
``/MetaData``
    the series metadata (camera keys, ``voxelsize.*``) plus the analysis parameters under ``Analysis.*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from photonflow.errors import AlreadyExistsError
from photonflow.formats.h5r import H5RFile
from photonflow.formats.pyme_fitresults import to_pyme_fitresults

__all__ = ["LOCALIZATIONS_TABLE", "write_localizations"]

LOCALIZATIONS_TABLE = "Localizations"


def write_localizations(
    path: str | os.PathLike[str],
    table: np.ndarray,
    *,
    pixel_size_nm: float,
    metadata: Mapping[str, Any] | None = None,
    electrons_per_count: float = 1.0,
    true_em_gain: float = 1.0,
    roi_size: int = 7,
) -> None:
    """Create ``path`` holding ``table`` as PYME ``FitResults`` and photonflow ``Localizations``, durably.

    Parameters
    ----------
    path : str or PathLike
        The ``.h5r`` file to create; it must not exist (results are written once).
    table : ndarray of LOCALIZATION_DTYPE
        The localizations.
    pixel_size_nm : float
        Camera pixel size, stored as ``voxelsize.x``/``voxelsize.y`` (µm) and used for PYME's pixel units.
    metadata : mapping, optional
        Dotted PYME metadata keys to store (for example the series' metadata and ``Analysis.*`` parameters).
    electrons_per_count, true_em_gain : float
        Camera gain, so PYME's amplitudes come out in ADU as PYME computes them.
    roi_size : int
        Fit ROI size in pixels (PYME's ``Analysis.ROISize`` is its half-size).

    Raises
    ------
    AlreadyExistsError
        ``path`` already exists (a ``FileExistsError``).
    """
    if os.path.exists(path):
        raise AlreadyExistsError(f"{path} already exists; results files are written once — choose another name")
    entries = dict(metadata or {})
    entries["voxelsize.x"] = pixel_size_nm / 1e3
    entries["voxelsize.y"] = pixel_size_nm / 1e3
    entries.setdefault("voxelsize.units", "um")
    pyme = to_pyme_fitresults(
        table,
        pixel_size_nm=pixel_size_nm,
        electrons_per_count=electrons_per_count,
        true_em_gain=true_em_gain,
        roi_half_size=roi_size // 2,
    )
    with H5RFile(path, "w") as f:
        f.write_metadata(entries)
        f.append("FitResults", pyme)
        f.append(LOCALIZATIONS_TABLE, table)
        f.flush(durable=True)
