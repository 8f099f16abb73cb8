"""ThunderSTORM CSV and Picasso HDF5/YAML: exact headers, content, and round trips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from photonflow.errors import FormatError
from photonflow.localization.export import (
    PICASSO_DTYPE,
    THUNDERSTORM_COLUMNS,
    picasso_yaml_path,
    read_picasso_hdf5,
    read_thunderstorm_csv,
    write_picasso_hdf5,
    write_thunderstorm_csv,
)
from photonflow.localization.results import LOCALIZATION_DTYPE, empty_results

TS_HEADER = (
    '"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]","bkgstd [photon]",'
    '"uncertainty_xy [nm]"'
)


@pytest.fixture
def table(sites_table: Callable[..., np.ndarray]) -> np.ndarray:
    t = sites_table(n_frames=50, n_sites=40, p_on=0.2, drift=lambda f: (f * 0, f * 0))
    rng = np.random.default_rng(2)
    t["bg"] = rng.uniform(5, 50, t.size)
    t["x_err"] = rng.uniform(3, 20, t.size)
    t["y_err"] = t["x_err"]
    t["detection_score"] = rng.uniform(1, 10, t.size)
    return t


def test_thunderstorm_header_and_first_row_are_exact(tmp_path: Path) -> None:
    t = empty_results(1)
    t[0] = (0, 1234.5, 678.25, 1000.0, 16.0, 130.0, 7.5, 7.5, 0, 0, 0, 0, 0, 5, True, 3.0)
    path = tmp_path / "r.csv"
    write_thunderstorm_csv(t, path)
    lines = path.read_text().splitlines()
    assert lines[0] == TS_HEADER
    assert THUNDERSTORM_COLUMNS[-1] == "uncertainty_xy [nm]"
    assert lines[1] == "1,1,1234.5,678.25,130,1000,16,4,7.5"
    assert len(lines) == 2


def test_thunderstorm_round_trip(tmp_path: Path, table: np.ndarray) -> None:
    path = tmp_path / "r.csv"
    write_thunderstorm_csv(table, path)
    back = read_thunderstorm_csv(path)
    assert back.dtype == LOCALIZATION_DTYPE and back.size == table.size
    for name in ("frame", "x", "y", "sigma", "photons", "bg", "x_err", "y_err"):
        np.testing.assert_array_equal(back[name], table[name], err_msg=name)
    assert np.isnan(back["loglik"]).all() and back["converged"].all()


def test_thunderstorm_reader_takes_unquoted_legacy_header(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text("id,frame,x [nm],y [nm],sigma [nm],intensity [photon],uncertainty [nm]\n7,3,10.5,20.5,120,500,9\n")
    back = read_thunderstorm_csv(path)
    assert back["frame"].tolist() == [2]
    assert back["x"].tolist() == [10.5] and back["x_err"].tolist() == [9.0]
    assert np.isnan(back["bg"][0])


def test_thunderstorm_reader_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('"id","x [nm]"\n1,2\n')
    with pytest.raises(FormatError, match="'frame'"):
        read_thunderstorm_csv(bad)
    bad.write_text('"frame","x [nm]","y [nm]"\n1,abc,3\n')
    with pytest.raises(FormatError, match="not a number"):
        read_thunderstorm_csv(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text(TS_HEADER + "\n")
    assert read_thunderstorm_csv(empty).size == 0


def test_picasso_file_layout_and_yaml(tmp_path: Path, table: np.ndarray) -> None:
    path = tmp_path / "locs.hdf5"
    write_picasso_hdf5(table, path, pixel_size_nm=100.0, width=128, height=96)
    with h5py.File(path, "r") as fh:
        assert list(fh.keys()) == ["locs"]
        locs = fh["locs"][()]
    assert locs.dtype == PICASSO_DTYPE
    assert list(locs.dtype.names) == [
        "frame", "x", "y", "photons", "sx", "sy", "bg", "lpx", "lpy", "ellipticity", "net_gradient"
    ]  # fmt: skip
    i = 5
    assert locs["x"][i] == pytest.approx(table["x"][i] / 100 - 0.5)  # Picasso: pixel centres at integers
    assert locs["lpx"][i] == pytest.approx(table["x_err"][i] / 100)
    assert locs["sx"][i] == pytest.approx(table["sigma"][i] / 100)
    assert picasso_yaml_path(path) == tmp_path / "locs.yaml"
    docs = list(yaml.safe_load_all(picasso_yaml_path(path).read_text()))
    assert len(docs) == 1
    assert docs[0]["Width"] == 128 and docs[0]["Height"] == 96 and docs[0]["Pixelsize"] == 100.0
    assert docs[0]["Frames"] == int(table["frame"].max()) + 1


def test_picasso_round_trip(tmp_path: Path, table: np.ndarray) -> None:
    path = tmp_path / "locs.hdf5"
    write_picasso_hdf5(table, path, pixel_size_nm=108.0, width=100, height=100, n_frames=60, extra_info={"k": "v"})
    back, info = read_picasso_hdf5(path)
    assert info["Frames"] == 60 and info["k"] == "v"
    np.testing.assert_array_equal(back["frame"], table["frame"])
    for name in ("x", "y", "sigma", "x_err", "y_err"):
        np.testing.assert_allclose(back[name], table[name], rtol=1e-5, atol=1e-3, err_msg=name)
    for name in ("photons", "bg", "detection_score"):
        np.testing.assert_array_equal(back[name], table[name], err_msg=name)


def test_picasso_errors(tmp_path: Path, table: np.ndarray) -> None:
    with pytest.raises(ValueError, match="positive"):
        write_picasso_hdf5(table, tmp_path / "a.hdf5", pixel_size_nm=0, width=10, height=10)
    neg = table.copy()
    neg["frame"][0] = -1
    with pytest.raises(ValueError, match="negative frame"):
        write_picasso_hdf5(neg, tmp_path / "a.hdf5", pixel_size_nm=100, width=10, height=10)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as fh:
        fh.create_dataset("data", data=np.zeros(3))
    with pytest.raises(FormatError, match="Pixelsize"):
        read_picasso_hdf5(other)
    with pytest.raises(FormatError, match="/locs"):
        read_picasso_hdf5(other, pixel_size_nm=100)
    with pytest.raises(ValueError, match="results table"):
        write_thunderstorm_csv(np.zeros(2, dtype=[("x", "f4")]), tmp_path / "x.csv")
