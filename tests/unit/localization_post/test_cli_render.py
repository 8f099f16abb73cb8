"""``photonflow render`` end to end in a real subprocess, and the format-dispatching reader it uses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photonflow.errors import FormatError
from photonflow.formats.h5r import append_table, write_metadata
from photonflow.formats.pyme_fitresults import to_pyme_fitresults
from photonflow.localization.export import read_results, write_picasso_hdf5, write_thunderstorm_csv


@pytest.fixture
def table(sites_table: Callable[..., np.ndarray]) -> np.ndarray:
    t = sites_table(n_frames=100, n_sites=100, p_on=0.2, drift=lambda f: (f * 0, f * 0))
    t["bg"] = 10.0
    return t


def test_read_results_dispatches_by_extension(tmp_path: Path, table: np.ndarray) -> None:
    np.save(tmp_path / "t.npy", table)
    write_thunderstorm_csv(table, tmp_path / "t.csv")
    write_picasso_hdf5(table, tmp_path / "t.hdf5", pixel_size_nm=100, width=100, height=100)
    append_table(tmp_path / "ours.h5r", "FitResults", table, durable=False)
    append_table(tmp_path / "pyme.h5r", "FitResults", to_pyme_fitresults(table, pixel_size_nm=100), durable=False)
    write_metadata(tmp_path / "pyme.h5r", {"voxelsize.x": 0.1, "voxelsize.y": 0.1}, durable=False)
    for name in ("t.npy", "t.csv", "t.hdf5", "ours.h5r", "pyme.h5r"):
        back = read_results(tmp_path / name)
        assert back.size == table.size, name
        np.testing.assert_allclose(back["x"], table["x"], atol=1e-2, err_msg=name)
        np.testing.assert_array_equal(back["frame"], table["frame"], err_msg=name)
    with pytest.raises(FormatError, match="unknown results format"):
        read_results(tmp_path / "t.txt")
    np.save(tmp_path / "plain.npy", np.zeros((3, 3)))
    with pytest.raises(FormatError, match="frame, x, y"):
        read_results(tmp_path / "plain.npy")


def _photonflow(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photonflow", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_cli_renders_png_and_tiff(tmp_path: Path, table: np.ndarray) -> None:
    src = tmp_path / "t.csv"
    write_thunderstorm_csv(table, src)
    out, tif = tmp_path / "img.png", tmp_path / "img.tif"
    proc = _photonflow(
        "render", src, "--out", out, "--tiff", tif, "--pixel-nm", "20", "--fov", "0", "0", "10000", "10000",
        "--filter", "photons:1000:", "--filter", "x_err::30",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    kept = int(np.count_nonzero(table["photons"] >= 1000))
    assert f"500×500 px at 20 nm, gaussian, {kept} of {table.size} localizations" in proc.stdout
    with Image.open(out) as im:
        assert im.size == (500, 500) and im.mode == "RGB"
    import tifffile

    image = tifffile.imread(tif)
    assert image.shape == (500, 500) and image.sum() == pytest.approx(kept, rel=0.01)


def test_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    proc = _photonflow("render", tmp_path / "missing.csv", "--out", tmp_path / "x.png")
    assert proc.returncode == 1
    assert "photonflow render: error:" in proc.stderr and "Traceback" not in proc.stderr
    src = tmp_path / "t.csv"
    src.write_text('"frame","x [nm]","y [nm]"\n1,10,10\n')
    proc = _photonflow("render", src, "--out", tmp_path / "x.png", "--filter", "photons")
    assert proc.returncode == 1 and "COL:MIN:MAX" in proc.stderr
