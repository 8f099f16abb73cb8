"""Results request bodies: npy, JSON, and pickles through the restricted unpickler (malicious ones refused)."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

from photonflow.errors import FormatError
from photonflow.formats.bodies import decode_body, decode_json_records, decode_npy, restricted_unpickle
from photonflow.formats.pyme_fitresults import PYME_FITRESULTS_DTYPE

REC = np.zeros(10, [("a", "<f4"), ("b", "<f4")])
REC["a"] = np.arange(10)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol(protocol: int) -> None:
    for arr in (REC, np.zeros(3, PYME_FITRESULTS_DTYPE), np.arange(12, dtype=">u2").reshape(3, 4),
                np.asfortranarray(np.ones((3, 4), np.float32)), np.zeros(4, "S8")):  # fmt: skip
        body = pickle.dumps(arr, protocol=protocol)
        got = decode_body(body, allow_pickle=True)
        assert got.dtype == pickle.loads(body).dtype  # our own, trusted pickle: the reference result
        np.testing.assert_array_equal(got, arr)


def test_pyme_client_style_dumps() -> None:
    np.testing.assert_array_equal(restricted_unpickle(REC.dumps()), REC)


def test_pickle_refused_unless_allowed() -> None:
    with pytest.raises(FormatError, match="disabled"):
        decode_body(pickle.dumps(REC))


def test_npy_and_json() -> None:
    buf = io.BytesIO()
    np.save(buf, REC)
    np.testing.assert_array_equal(decode_body(buf.getvalue()), REC)
    cols = decode_body(b'{"a": {"0": 1.0, "2": 3.0, "1": 2.0}, "b": {"0": 1, "1": 2, "2": 3}}')
    assert cols["a"].tolist() == [1.0, 2.0, 3.0] and cols["b"].dtype == np.int64
    recs = decode_json_records('[{"x": 1, "name": "ab", "ok": true}, {"x": null, "name": "c", "ok": false}]')
    assert recs.dtype.names == ("x", "name", "ok")
    assert np.isnan(recs["x"][1]) and recs["name"].tolist() == [b"ab", b"c"] and recs["ok"].tolist() == [True, False]
    assert decode_body(b'{"a": [1, 2]}', fmt="json")["a"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "body",
    [b"{", b"[1, 2]", b'{"a": 1}', b'{"a": [1], "b": [1, 2]}', b'[{"a": 1}, {"b": 2}]', b'{"a": [[1]]}',
     b'{"a": {"x": 1}}', b"{}", b'{"a": [1, "s"]}'],
)  # fmt: skip
def test_bad_json(body: bytes) -> None:
    with pytest.raises(FormatError):
        decode_body(body)


def test_bad_npy() -> None:
    with pytest.raises(FormatError):
        decode_npy(b"\x93NUMPY\x01\x00garbage")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError):
        decode_body(buf.getvalue())


# -- malicious pickles -----------------------------------------------------------------------------------------------
class _System:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",))


class _Popen:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (subprocess.Popen, (["touch", str(self.marker)],))


class _Gadget:
    """A class whose own __reduce__ would run code if its global were resolved."""

    def __reduce__(self) -> tuple:
        return (_Gadget, ())


def _hand_written(marker: Path) -> bytes:
    # protocol-0 GLOBAL + REDUCE: os.system("touch marker")
    return f"cos\nsystem\n(V touch {marker}\ntR.".encode()


def _nested_in_array(marker: Path) -> bytes:
    # an object array whose element is a gadget: the array machinery is allowed, the element's global is not
    arr = np.empty(1, dtype=object)
    arr[0] = _System(marker)
    return pickle.dumps(arr, protocol=2)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: pickle.dumps(_System(m)),
        lambda m: pickle.dumps(_Eval(m)),
        lambda m: pickle.dumps(_Popen(m)),
        lambda m: pickle.dumps(_Gadget()),
        lambda m: pickle.dumps([REC, _System(m)]),
        _hand_written,
        _nested_in_array,
        lambda m: b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
        lambda m: pickle.dumps({"a": 1}),
        lambda m: pickle.dumps(np.float32(3.0)),
        lambda m: b"\x80\x02cbuiltins\ngetattr\n.",
        lambda m: b"\x80\x02\x8a\x01\x01P.",  # persistent id
        lambda m: b"\x80\x02garbage",
        lambda m: b"\x80",
    ],
    ids=["os.system", "eval", "subprocess.Popen", "reduce-gadget", "list-with-gadget", "protocol0-global",
         "object-array", "codec-rot13", "dict", "numpy-scalar", "getattr", "persistent-id", "garbage", "empty"],
)  # fmt: skip
def test_malicious_or_foreign_pickles_refused_and_nothing_runs(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    body = make(marker)
    with pytest.raises(FormatError):
        decode_body(body, allow_pickle=True)
    assert not marker.exists()
