"""Pure parts of the HDF5 container endpoints and the single-file series format."""

from __future__ import annotations

import numpy as np
import pytest
import tables

from photonflow.errors import FormatError
from photonflow.formats import pzf
from photonflow.formats.h5series import H5Series, parse_frame_name
from photonflow.storage.server._h5r import flat_columns
from photonflow.storage.server._hdf5 import split_container


@pytest.mark.parametrize(
    ("rel", "suffixes", "expected"),
    [
        ("r/x.h5r/FitResults", (".h5r", ".hdf"), ("r/x.h5r", "FitResults")),
        ("x.hdf/T", (".h5r", ".hdf"), ("x.hdf", "T")),
        ("a.h5r/b.h5r/T", (".h5r",), ("a.h5r", "b.h5r/T")),  # PYME splits at the first .h5r
        ("r/x.h5r", (".h5r",), ("r/x.h5r", "")),
        ("s/x.h5/frame00001.pzf", (".h5",), ("s/x.h5", "frame00001.pzf")),
    ],
)
def test_split_container(rel, suffixes, expected):
    assert split_container(rel, suffixes) == expected


@pytest.mark.parametrize("rel", ["r/x.txt/T", "r/.h5r/T", "x.h5rr/T"])
def test_split_container_needs_a_container(rel):
    with pytest.raises(ValueError, match="must name"):
        split_container(rel, (".h5r",))


def test_flat_columns_names_nested_fields_like_pyme():
    dtype = np.dtype([("t", "<i4"), ("fitResults", [("x0", "<f4"), ("y0", "<f4")]), ("fitError", [("x0", "<f4")])])
    names = [name for name, _ in flat_columns(np.zeros(2, dtype))]
    assert names == ["t", "fitResults_x0", "fitResults_y0", "fitError_x0"]


def test_parse_frame_name():
    assert parse_frame_name("frame00042.pzf") == 42
    assert parse_frame_name("frame1000000.pzf") == 1_000_000
    assert parse_frame_name("frame.pzf") is None and parse_frame_name("metadata.json") is None


def test_h5series_round_trip_and_components(tmp_path):
    path = tmp_path / "s.h5"
    frames = [np.full((5, 4), i, np.uint16) for i in range(3)]
    with H5Series(path, "a") as s:
        assert s.put("metadata.json", b'{"Camera.ADOffset": 100}')
        for i in (2, 0, 1):  # arrival order need not be frame order
            assert s.put(f"frame{i:05d}.pzf", pzf.encode(frames[i], frame_num=i))
        assert not s.put("final_metadata.json", b"{}")
        assert s.put("events.json", b'[["StartAq", "x", 2.5]]')
    with H5Series(path) as s:
        assert s.frame_numbers() == [0, 1, 2] and len(s) == 3
        for i in range(3):
            np.testing.assert_array_equal(s.frame(i), frames[i])
        assert s.read_metadata() == {"Camera.ADOffset": 100}
        assert s.events() == [("StartAq", "x", 2.5)]
        with pytest.raises(KeyError):
            s.frame_blob(3)


def test_h5series_refuses_bad_bodies(tmp_path):
    with H5Series(tmp_path / "s.h5", "a") as s:
        with pytest.raises(FormatError):
            s.put("frame00000.pzf", b"garbage")
        with pytest.raises(FormatError):
            s.put("events.json", b'[["only two", 1]]')
        with pytest.raises(FormatError):
            s.put("metadata.json", b"[]")
        assert s.frame_numbers() == [] and not s.has_events()


def test_raw_imagedata_frames_are_served_as_huffman_pzf(tmp_path):
    path = tmp_path / "pyme_hdf_spool.h5"
    data = np.arange(3 * 6 * 5, dtype=np.uint16).reshape(3, 6, 5)
    with tables.open_file(str(path), "w") as f:
        f.create_earray("/", "ImageData", obj=data)
    with H5Series(path) as s:
        assert s.frame_numbers() == [0, 1, 2]
        blob = s.frame_blob(2)
        header = pzf.decode_header(blob)
        assert header.compression == pzf.Compression.HUFFMAN and header.frame_num == 2
        np.testing.assert_array_equal(pzf.decode(blob)[0], data[2])
