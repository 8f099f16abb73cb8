"""``.h5r`` results files: appends, reads, metadata, checked by reading the files back independently with PyTables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tables

from photonflow.errors import FormatError, NotFoundError
from photonflow.formats import h5r
from photonflow.formats.pyme_fitresults import PYME_FITRESULTS_DTYPE

AB = np.dtype([("a", "<f4"), ("b", "<f4")])


def _rows(n: int, start: int = 0) -> np.ndarray:
    r = np.zeros(n, AB)
    r["a"] = np.arange(start, start + n)
    r["b"] = 1.0
    return r


def test_append_read_and_independent_pytables_view(tmp_path: Path) -> None:
    path = tmp_path / "r" / "x.h5r"
    for k in range(3):
        assert h5r.append_table(path, "FitResults", _rows(10, 10 * k)) == 10 * (k + 1)
    got = h5r.read_table(path, "FitResults", start=25)
    np.testing.assert_array_equal(got["a"], np.arange(25, 30))
    np.testing.assert_array_equal(h5r.read_table(path, "FitResults", start=0, stop=3)["b"], [1, 1, 1])
    assert h5r.read_table(path, "FitResults", start=40).shape == (0,)
    with tables.open_file(str(path)) as f:
        table = f.root.FitResults
        assert isinstance(table, tables.Table) and table.nrows == 30
        assert table.filters.complib == "zlib" and table.filters.complevel == 5 and table.filters.shuffle
        np.testing.assert_array_equal(table.read()["a"], np.arange(30))


def test_nested_fitresults_table_and_events(tmp_path: Path) -> None:
    path = tmp_path / "fit.h5r"
    recs = np.zeros(4, PYME_FITRESULTS_DTYPE)
    recs["tIndex"] = [3, 1, 2, 0]
    recs["fitResults"]["x0"] = [1.5, 2.5, 3.5, 4.5]
    recs["slicesUsed"]["y"]["stop"] = 7
    h5r.append_table(path, "FitResults", recs)
    events = h5r.events_to_records([["StartAq", "0", 1.75e9], ["ProtocolTask", "step 1", 1.75e9 + 1]])
    h5r.append_table(path, "Events", events)
    assert h5r.list_tables(path) == ["Events", "FitResults"]
    with tables.open_file(str(path)) as f:
        assert f.root.FitResults.description.fitResults._v_names == ["A", "x0", "y0", "sigma", "background", "bx", "by"]
        col = f.root.FitResults.col("fitResults/x0")
        np.testing.assert_array_equal(col, [1.5, 2.5, 3.5, 4.5])
        assert f.root.FitResults.dtype.itemsize == 108
        assert f.root.Events.read()["EventName"].tolist() == [b"StartAq", b"ProtocolTask"]
    back = h5r.read_table(path, "FitResults")
    assert back.dtype == PYME_FITRESULTS_DTYPE
    np.testing.assert_array_equal(back, recs)
    with pytest.raises(FormatError):
        h5r.events_to_records([["only two", 1]])


def test_metadata_group_layout_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.h5r"
    h5r.write_metadata(path, {"voxelsize.x": 0.1, "Camera.ADOffset": np.float32(100.5), "imageID": "abc"})
    h5r.write_metadata(path, {"Analysis.BGRange": [-30, 0], "a.b.c.d": 3, "Camera.ADOffset": 101.0})
    with tables.open_file(str(path)) as f:
        assert float(f.get_node_attr("/MetaData/voxelsize", "x")) == pytest.approx(0.1)
        assert int(f.get_node_attr("/MetaData/a/b/c", "d")) == 3
        assert str(f.get_node_attr("/MetaData", "imageID")) == "abc"
    md = h5r.read_metadata(path)
    assert md.to_dict() == {
        "voxelsize.x": 0.1,
        "Camera.ADOffset": 101.0,
        "imageID": "abc",
        "Analysis.BGRange": [-30, 0],
        "a.b.c.d": 3,
    }


def test_metadata_written_by_plain_pytables_is_read(tmp_path: Path) -> None:
    path = tmp_path / "pyme.h5r"
    with tables.open_file(str(path), "w") as f:
        g = f.create_group("/", "MetaData")
        cam = f.create_group(g, "Camera")
        cam._f_setattr("ElectronsPerCount", 0.45)
        g._f_setattr("imageID", b"bytes-id")
    md = h5r.read_metadata(path)
    assert md["Camera.ElectronsPerCount"] == 0.45 and md["imageID"] == "bytes-id"
    assert h5r.list_tables(path) == []


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.h5r"
    with pytest.raises(NotFoundError):
        h5r.read_table(path, "FitResults")
    h5r.append_table(path, "FitResults", _rows(2))
    with pytest.raises(NotFoundError, match="DriftResults"):
        h5r.read_table(path, "DriftResults")
    with pytest.raises(FormatError, match="columns"):
        h5r.append_table(path, "FitResults", np.zeros(2, [("c", "<f4")]))
    with pytest.raises(FormatError, match="structured"):
        h5r.append_table(path, "FitResults", np.zeros(2))
    with pytest.raises(FormatError, match="table name"):
        h5r.append_table(path, "../evil", _rows(1))
    # same field names, different types: converted to the table's types
    wide = np.zeros(1, [("a", "<f8"), ("b", "<i8")])
    assert h5r.append_table(path, "FitResults", wide) == 3
    garbage = tmp_path / "g.h5r"
    garbage.write_bytes(b"not hdf5 at all")
    with pytest.raises(FormatError):
        h5r.list_tables(garbage)


def test_append_is_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Observe the fsyncs the append performs (the file, then its new directory) and that the data are complete on
    # disk when append_table returns, read through a fresh, independent handle.
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "new" / "d.h5r"
    h5r.append_table(path, "FitResults", _rows(5))
    assert synced == [str(path), str(path.parent)]
    synced.clear()
    h5r.append_table(path, "FitResults", _rows(5, 5))
    assert synced == [str(path)]
    with tables.open_file(str(path)) as f:
        np.testing.assert_array_equal(f.root.FitResults.col("a"), np.arange(10))
    synced.clear()
    h5r.append_table(path, "FitResults", _rows(1), durable=False)
    assert synced == []


def test_h5rfile_handle_keeps_file_open(tmp_path: Path) -> None:
    path = tmp_path / "h.h5r"
    with h5r.H5RFile(path, "a") as f:
        for k in range(5):
            f.append("FitResults", _rows(2, 2 * k))
        f.flush()
        assert f.nrows("FitResults") == 10 and f.nrows("Nope") == 0
        assert f.read("FitResults", start=-2)["a"].tolist() == [8, 9]
    with pytest.raises(ValueError):
        h5r.H5RFile(path, "x")  # type: ignore[arg-type]
