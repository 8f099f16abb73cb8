"""PYME metadata: a flat mapping of dotted keys, serialised as PYME writes ``metadata.json``.

PYME keeps acquisition and analysis metadata as entries with hierarchical, dot-separated names (``Camera.ADOffset``,
``voxelsize.x``, ``Spooler.Version``, ``Analysis.DetectionThreshold``); ``metadata.json`` of a series is one JSON object
of those flat keys, pretty-printed with an indent of 2 and sorted keys (storage-protocol §3.2). Units follow PYME:
``voxelsize.*`` in micrometres, ``Camera.ADOffset`` in ADU, ``Camera.ElectronsPerCount`` in e⁻/ADU,
``Camera.ReadNoise`` in e⁻ RMS.

PYME's encoder turns numpy scalars into Python numbers (``numpy.generic.tolist``) and objects with a ``to_JSON`` method
into that method's result; we do the same when serialising and normalise values when they are set, so a mapping read
from JSON compares equal to the one written. numpy arrays become lists (PYME cannot serialise them at all).

Examples
--------
>>> md = Metadata({"voxelsize.x": 0.107, "voxelsize.y": 0.107, "Camera.ElectronsPerCount": 0.45})
>>> md.pixel_size_nm
(107.0, 107.0)
>>> Metadata.from_json(md.to_json()) == md
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from photonflow.errors import FormatError

__all__ = ["CameraParameters", "Metadata", "series_metadata"]


@dataclass(frozen=True, slots=True)
class CameraParameters:
    """Camera model parameters analysis needs, in PYME's units.

    Attributes
    ----------
    ad_offset : float
        Dark level, ADU (``Camera.ADOffset``; 0 when absent, as in PYME).
    electrons_per_count : float
        Photoelectrons per ADU (``Camera.ElectronsPerCount``).
    read_noise : float
        Read noise, e⁻ RMS (``Camera.ReadNoise``).
    true_em_gain : float
        Real EM gain, 1 for sCMOS (``Camera.TrueEMGain``; 1 when absent).
    noise_factor : float
        Excess noise factor, 1.41 for EMCCD, 1 for sCMOS (``Camera.NoiseFactor``; 1 when absent).
    """

    ad_offset: float
    electrons_per_count: float
    read_noise: float
    true_em_gain: float = 1.0
    noise_factor: float = 1.0


def _normalise(value: Any) -> Any:
    """Return the plain-Python form PYME's JSON encoder would produce for ``value``."""
    if isinstance(value, np.generic | np.ndarray):
        return _normalise(value.tolist())
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    to_json = getattr(value, "to_JSON", None)
    if callable(to_json):
        return _normalise(to_json())
    raise TypeError(f"metadata values must be JSON-like (numbers, strings, lists, dicts), not {type(value).__name__}")


class Metadata(MutableMapping[str, Any]):
    """PYME metadata entries (flat dotted keys → JSON-able values).

    Parameters
    ----------
    entries : mapping, optional
        Initial entries; numpy values are converted to Python numbers/lists.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Any] | None = None, /) -> None:
        self._entries: dict[str, Any] = {}
        if entries is not None:
            self.update(entries)

    # -- mapping protocol -------------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._entries[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise KeyError(f"metadata keys are non-empty dotted names like 'Camera.ADOffset', got {key!r}")
        self._entries[key] = _normalise(value)

    def __delitem__(self, key: str) -> None:
        del self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metadata):
            return self._entries == other._entries
        if isinstance(other, Mapping):
            return self._entries == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable mapping

    def __repr__(self) -> str:
        return f"Metadata({self._entries!r})"

    def copy(self) -> Metadata:
        """Return a shallow copy."""
        return Metadata(self._entries)

    def to_dict(self) -> dict[str, Any]:
        """Return the entries as a plain dict (a copy)."""
        return dict(self._entries)

    def section(self, prefix: str) -> dict[str, Any]:
        """Return the entries under ``prefix.`` with the prefix removed, e.g. ``section("Camera")``."""
        p = prefix.rstrip(".") + "."
        return {k[len(p) :]: v for k, v in self._entries.items() if k.startswith(p)}

    # -- JSON --------------------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """Serialise exactly as PYME writes ``metadata.json``: indent 2, sorted keys, ASCII, NaN allowed."""
        return json.dumps(self._entries, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | bytearray) -> Metadata:
        """Parse ``metadata.json`` text (a JSON object of flat dotted keys).

        Raises
        ------
        FormatError
            The text is not JSON or not a JSON object.
        """
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError(f"metadata is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise FormatError(f"metadata JSON must be an object of dotted keys, got {type(obj).__name__}")
        try:
            return cls(obj)
        except KeyError as exc:
            raise FormatError(f"invalid metadata key: {exc}") from exc

    # -- values analysis needs ---------------------------------------------------------------------------------------
    def _require(self, key: str) -> Any:
        try:
            return self._entries[key]
        except KeyError:
            raise FormatError(f"metadata lacks {key!r}; set it in the series metadata (PYME units)") from None

    def _number(self, key: str, default: float | None = None) -> float:
        value = self._entries.get(key, default) if default is not None else self._require(key)
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise FormatError(f"metadata {key!r} must be a number, got {value!r}") from None
        if not math.isfinite(out):
            raise FormatError(f"metadata {key!r} must be finite, got {value!r}")
        return out

    @property
    def voxelsize_nm(self) -> tuple[float, float, float]:
        """``(x, y, z)`` voxel size in nm from ``voxelsize.*`` (µm); z is 0 when absent, as in PYME."""
        return (
            1e3 * self._number("voxelsize.x"),
            1e3 * self._number("voxelsize.y"),
            1e3 * self._number("voxelsize.z", 0.0),
        )

    @property
    def pixel_size_nm(self) -> tuple[float, float]:
        """``(x, y)`` pixel size in nm."""
        x, y, _ = self.voxelsize_nm
        return (x, y)

    def set_pixel_size_nm(self, x: float, y: float | None = None, *, z: float | None = None) -> None:
        """Store the pixel size (nm) as PYME's ``voxelsize.*`` entries (µm)."""
        self["voxelsize.x"] = x / 1e3
        self["voxelsize.y"] = (x if y is None else y) / 1e3
        if z is not None:
            self["voxelsize.z"] = z / 1e3

    @property
    def camera(self) -> CameraParameters:
        """The camera model (see :class:`CameraParameters` for defaults).

        Raises
        ------
        FormatError
            ``Camera.ElectronsPerCount`` or ``Camera.ReadNoise`` is missing, or a value is not a finite number.
        """
        epc = self._number("Camera.ElectronsPerCount")
        if epc <= 0:
            raise FormatError(f"metadata 'Camera.ElectronsPerCount' must be > 0, got {epc}")
        return CameraParameters(
            ad_offset=self._number("Camera.ADOffset", 0.0),
            electrons_per_count=epc,
            read_noise=self._number("Camera.ReadNoise"),
            true_em_gain=self._number("Camera.TrueEMGain", 1.0),
            noise_factor=self._number("Camera.NoiseFactor", 1.0),
        )

    @property
    def roi_origin(self) -> tuple[int, int]:
        """Camera ROI origin (0-based pixels): ``Camera.ROIOriginX/Y``, else ``Camera.ROIPosX/Y`` − 1, else (0, 0)."""
        if "Camera.ROIOriginX" in self._entries:
            return int(self._number("Camera.ROIOriginX")), int(self._number("Camera.ROIOriginY"))
        if "Camera.ROIPosX" in self._entries:
            return int(self._number("Camera.ROIPosX")) - 1, int(self._number("Camera.ROIPosY")) - 1
        return (0, 0)


def series_metadata(
    *,
    image_id: str,
    pixel_size_nm: float | None = None,
    camera: CameraParameters | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Metadata:
    """Start the metadata of a growing time series the way PYMEAcquire does.

    Sets ``imageID``, ``DimOrder`` = ``"XYCZT"``, ``SizeC`` = 1, ``SizeZ`` = 1, ``SizeT`` = −1 (growing), plus the
    pixel size and camera entries when given, then ``extra`` (which wins).

    Examples
    --------
    >>> md = series_metadata(image_id="abc", pixel_size_nm=100.0)
    >>> md["SizeT"], md["voxelsize.x"]
    (-1, 0.1)
    """
    md = Metadata({"imageID": image_id, "DimOrder": "XYCZT", "SizeC": 1, "SizeZ": 1, "SizeT": -1})
    if pixel_size_nm is not None:
        md.set_pixel_size_nm(pixel_size_nm)
    if camera is not None:
        md["Camera.ADOffset"] = camera.ad_offset
        md["Camera.ElectronsPerCount"] = camera.electrons_per_count
        md["Camera.ReadNoise"] = camera.read_noise
        md["Camera.TrueEMGain"] = camera.true_em_gain
        md["Camera.NoiseFactor"] = camera.noise_factor
    if extra:
        md.update(extra)
    return md
