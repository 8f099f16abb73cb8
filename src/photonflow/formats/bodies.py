"""Decode request bodies for the results endpoints (``PUT /__aggregate_h5r/…``, storage-protocol §1.10).

Three encodings are accepted:

* ``.npy`` (numpy's format, read with ``allow_pickle=False``): what photonflow clients send;
* JSON: a list of records (``[{"a": 1, "b": 2}, …]``) or pandas' column orientation (``{"a": {"0": 1, …}, …}``, or
  ``{"a": [1, …]}``), turned into a structured array;
* a Python pickle of a numpy array, which is what PYME clients send (``ndarray.dumps()``). Pickles run code by
  design, so they go through :class:`RestrictedUnpickler`, which resolves only the handful of numpy callables needed
  to rebuild an array (``_reconstruct``, ``ndarray``, ``dtype``, ``_frombuffer``, ``scalar``) and a latin-1-only
  stand-in for ``_codecs.encode``; any other global (``os.system``, ``eval``, ``subprocess.Popen``, a class with a
  ``__reduce__`` gadget, …) is refused before anything runs. Object arrays are refused too. Callers gate pickles
  behind configuration (``allow_pickle``).

Everything that cannot be decoded raises :class:`~photonflow.errors.FormatError` (the server answers 400).
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from photonflow.errors import FormatError

__all__ = [
    "RestrictedUnpickler",
    "decode_body",
    "decode_json_records",
    "decode_npy",
    "restricted_unpickle",
]

_NPY_MAGIC = b"\x93NUMPY"


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Pickle protocol 2 stores bytes as _codecs.encode(str, "latin1"); nothing else is needed, so nothing else is
    # allowed (arbitrary codec names would reach the codec registry).
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed in a results pickle")
    if not isinstance(text, str):
        raise pickle.UnpicklingError("_codecs.encode expects a str in a results pickle")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Callable[..., Any] | type]:
    multiarray = np._core.multiarray  # type: ignore[attr-defined]
    numeric = np._core.numeric  # type: ignore[attr-defined]
    table: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    # numpy < 2 pickles name numpy.core.*, numpy >= 2 numpy._core.*; both resolve to the same objects.
    for pkg in ("numpy.core", "numpy._core"):
        table[(f"{pkg}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{pkg}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{pkg}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild numpy arrays, dtypes and scalars.

    ``find_class`` answers from a fixed allow-list and raises :class:`pickle.UnpicklingError` for any other name, so a
    malicious pickle fails at its first ``GLOBAL``/``STACK_GLOBAL`` opcode, before any callable is invoked.
    """

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a results pickle") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in a results pickle")


def _check_array(obj: Any, what: str) -> np.ndarray:
    if not isinstance(obj, np.ndarray) or type(obj) is not np.ndarray:
        raise FormatError(f"{what} must hold a numpy array, got {type(obj).__name__}")
    if obj.dtype.hasobject:
        raise FormatError(f"{what} holds an object array, which is not allowed; send plain numeric/string columns")
    return obj


def restricted_unpickle(body: bytes | bytearray | memoryview) -> np.ndarray:
    """Rebuild a numpy array from a pickle, running no code but numpy's array constructors.

    Raises
    ------
    FormatError
        The pickle names anything but the allowed numpy callables, is malformed, or does not hold a plain
        (non-object) ``numpy.ndarray``.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(body)).load()
    except pickle.UnpicklingError as exc:
        raise FormatError(f"refused results pickle: {exc}") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError,
            RecursionError, UnicodeError) as exc:  # fmt: skip
        raise FormatError(f"malformed results pickle: {type(exc).__name__}: {exc}") from exc
    return _check_array(obj, "the pickle")


def decode_npy(body: bytes | bytearray | memoryview) -> np.ndarray:
    """Read a ``.npy`` body (object arrays refused).

    Raises
    ------
    FormatError
        Not a valid ``.npy`` file, or it holds an object array.
    """
    try:
        arr = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
    except (ValueError, EOFError, OSError, TypeError, SyntaxError, MemoryError) as exc:
        raise FormatError(f"malformed .npy body: {exc}") from exc
    return _check_array(arr, "the .npy body")


def _column_dtype(name: str, values: list[Any]) -> np.dtype:
    if all(isinstance(v, bool) for v in values):
        return np.dtype("?")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.dtype("<i8")
    if all((isinstance(v, int | float) and not isinstance(v, bool)) or v is None for v in values):
        return np.dtype("<f8")
    if all(isinstance(v, str) for v in values):
        width = max((len(v.encode()) for v in values), default=1)
        return np.dtype(f"S{max(width, 1)}")
    raise FormatError(f"JSON column {name!r} mixes types or holds nested values; use numbers or strings")


def decode_json_records(body: bytes | bytearray | memoryview | str) -> np.ndarray:
    """Turn a JSON body into a structured array.

    Accepts a list of flat records, or a mapping of column → values where values is a list or an index-keyed mapping
    (pandas' "columns" orientation, rows ordered by integer index). Integers become int64, numbers float64 (``null``
    → NaN), booleans bool, strings UTF-8 bytes (``S<n>``).

    Raises
    ------
    FormatError
        Not JSON, or not one of the shapes above, or columns of unequal length or mixed types.
    """
    try:
        obj = json.loads(bytes(body) if not isinstance(body, str) else body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"results body is not valid JSON: {exc}") from exc
    columns: dict[str, list[Any]]
    if isinstance(obj, list):
        if not all(isinstance(r, dict) for r in obj):
            raise FormatError("a JSON results list must hold objects (records)")
        names = list(obj[0]) if obj else []
        if any(list(r) != names and set(r) != set(names) for r in obj):
            raise FormatError("JSON records must all have the same keys")
        columns = {n: [r[n] for r in obj] for n in names}
    elif isinstance(obj, dict):
        columns = {}
        for name, col in obj.items():
            if isinstance(col, list):
                columns[name] = col
            elif isinstance(col, dict):
                try:
                    items = sorted(col.items(), key=lambda kv: int(kv[0]))
                except ValueError:
                    raise FormatError(f"JSON column {name!r} must be indexed by integers") from None
                columns[name] = [v for _, v in items]
            else:
                raise FormatError(f"JSON column {name!r} must be a list or an index-keyed object")
    else:
        raise FormatError("a JSON results body must be a list of records or an object of columns")
    if not columns:
        raise FormatError("a JSON results body has no columns")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise FormatError(f"JSON columns have unequal lengths {sorted(lengths)}")
    dtype = np.dtype([(str(n), _column_dtype(n, v)) for n, v in columns.items()])
    out = np.zeros(lengths.pop(), dtype)
    for name, values in columns.items():
        col = out[name]
        if col.dtype.kind == "S":
            col[:] = [v.encode() for v in values]
        elif col.dtype.kind == "f":
            col[:] = [np.nan if v is None else v for v in values]
        else:
            col[:] = values
    return out


def decode_body(
    body: bytes | bytearray | memoryview,
    *,
    fmt: Literal["auto", "npy", "json", "pickle"] = "auto",
    allow_pickle: bool = False,
) -> np.ndarray:
    """Decode a results request body into a numpy array.

    Parameters
    ----------
    body : bytes-like
        The (already gunzipped) body.
    fmt : {"auto", "npy", "json", "pickle"}
        ``"auto"`` sniffs: ``\\x93NUMPY`` → npy, a pickle protocol marker (``\\x80``) → pickle, otherwise JSON.
    allow_pickle : bool
        Accept pickles (through :func:`restricted_unpickle`). Off by default.

    Raises
    ------
    FormatError
        The body cannot be decoded, or is a pickle while ``allow_pickle`` is False.
    """
    head = bytes(memoryview(body)[:8])
    if fmt == "auto":
        if head.startswith(_NPY_MAGIC):
            fmt = "npy"
        elif head[:1] == b"\x80":
            fmt = "pickle"
        else:
            fmt = "json"
    if fmt == "npy":
        return decode_npy(body)
    if fmt == "pickle":
        if not allow_pickle:
            raise FormatError("pickled results bodies are disabled on this server; send .npy or JSON")
        return restricted_unpickle(body)
    if fmt == "json":
        return decode_json_records(body)
    raise ValueError(f"unknown body format {fmt!r}; use 'auto', 'npy', 'json' or 'pickle'")
