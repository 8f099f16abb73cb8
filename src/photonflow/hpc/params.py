"""Run parameters: a canonical record that identifies a run exactly, and its storage as HDF5/Zarr attributes.

pyUSID matched earlier runs loosely (substring group names, ``np.allclose``, ``None`` skipped, nested dicts
dropped). Here a run is identified by the SHA-256 of a canonical JSON record (sorted keys, exact types: ``1``
and ``1.0`` differ, floats are written with full precision) of the tool, its version and the parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["canonical_json", "flat_attrs", "parameters_hash"]


def _canonical(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return _canonical(value.item(), path)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # repr keeps every bit, and tagging keeps 1.0 distinct from 1 after a JSON round trip.
        return {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": str(value.dtype), "shape": list(value.shape), "data": _canonical(value.tolist(), path)}
    if isinstance(value, list | tuple):
        return [_canonical(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"parameter keys must be strings; {path}{key!r} is {type(key).__name__}")
            out[key] = _canonical(item, f"{path}{key}.")
        return out
    raise TypeError(
        f"parameter {path.rstrip('.') or 'value'} has type {type(value).__name__}; use numbers, strings, "
        "booleans, None, lists, dicts or numpy arrays"
    )


def canonical_json(tool: str, version: str, parameters: Mapping[str, Any]) -> str:
    """The canonical JSON record of a run (sorted keys, exact types)."""
    record = {"tool": tool, "version": version, "parameters": _canonical(dict(parameters), "")}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def parameters_hash(record: str) -> str:
    """SHA-256 (hex) of a canonical record."""
    return hashlib.sha256(record.encode()).hexdigest()


def flat_attrs(parameters: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Parameters flattened to attribute-friendly values (nested keys joined with ``/``), for readers like pyUSID.

    ``None`` becomes the string ``"None"``; lists of strings become byte-string arrays; anything else numpy can
    hold becomes an array or scalar. These are informative only: matching uses the canonical record.
    """
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_attrs(value, prefix=f"{name}/"))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            out.update(flat_attrs({str(i): v for i, v in enumerate(value)}, prefix=f"{name}/"))
        elif value is None:
            out[name] = "None"
        elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            out[name] = np.array([v.encode() for v in value])
        elif isinstance(value, str | bool | int | float | complex | np.generic):
            out[name] = value
        else:
            array = np.asarray(value)
            # Mixed or object lists have no HDF5 type: keep them readable as their canonical JSON.
            out[name] = array if array.dtype.kind not in "UO" else json.dumps(_canonical(value, name), sort_keys=True)
    return out
