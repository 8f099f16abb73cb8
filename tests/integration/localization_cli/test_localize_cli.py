"""``photonflow localize`` end to end on a simulated TIFF stack, in a subprocess like a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tables
import tifffile
import yaml
from PIL import Image

from photonflow.formats.localizations_h5r import LOCALIZATIONS_TABLE
from photonflow.localization import Camera, LocalizationParams, localize
from photonflow.localization.export import read_results, read_thunderstorm_csv
from photonflow.localization.simulate import simulate


def _assert_same_rows(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same localizations; float columns to float32 rounding (threaded kernels may sum in another order)."""
    assert len(actual) == len(expected)
    actual, expected = np.sort(actual, order=["frame", "x"]), np.sort(expected, order=["frame", "x"])
    for name in expected.dtype.names or ():
        if expected.dtype[name].kind == "f":
            np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photonflow", "localize", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Camera, np.ndarray]:
    camera = Camera(baseline=100.0, electrons_per_count=2.0, read_noise=1.5)
    sim = simulate(n_frames=60, shape=(48, 48), n_emitters=60, active_per_frame=4.0, camera=camera, seed=3)
    path = tmp_path_factory.mktemp("movie") / "movie.tif"
    tifffile.imwrite(path, sim.frames)
    return path, camera, sim.frames


def test_localize_writes_pyme_h5r_csv_picasso_and_png(tmp_path: Path, movie: tuple[Path, Camera, np.ndarray]) -> None:
    path, camera, frames = movie
    camera_yaml = tmp_path / "camera.yaml"
    camera_yaml.write_text(yaml.safe_dump({"ADOffset": 100.0, "ElectronsPerCount": 2.0, "ReadNoise": 1.5}))
    out = tmp_path / "res.h5r"
    result = _run(
        str(path),
        "--out", str(out),
        "--csv", str(tmp_path / "res.csv"),
        "--picasso", str(tmp_path / "res.hdf5"),
        "--render", str(tmp_path / "res.png"),
        "--camera-yaml", str(camera_yaml),
        "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "localizations/s" in result.stdout

    expected = localize(frames, camera=camera, params=LocalizationParams())
    assert len(expected) > 100
    with tables.open_file(str(out)) as h5:
        ours = h5.get_node("/" + LOCALIZATIONS_TABLE).read()
        pyme = h5.get_node("/FitResults").read()
        assert h5.get_node("/MetaData/voxelsize")._v_attrs["x"] == pytest.approx(0.1)
    _assert_same_rows(ours, expected)
    assert len(pyme) == len(expected)
    assert set(pyme["tIndex"]) == set(expected["frame"])
    # The generic reader prefers the lossless Localizations table over PYME's FitResults.
    back = read_results(out)
    _assert_same_rows(back, expected)

    csv = read_thunderstorm_csv(tmp_path / "res.csv")
    assert len(csv) == len(expected)
    assert (tmp_path / "res.yaml").is_file()
    with Image.open(tmp_path / "res.png") as image:
        assert image.size == (480, 480)  # 48 px × 100 nm rendered at 10 nm
        assert np.asarray(image).max() > 0


def test_localize_npy_output_and_lsq(tmp_path: Path, movie: tuple[Path, Camera, np.ndarray]) -> None:
    frames = movie[2]
    movie_npy = tmp_path / "movie.npy"
    np.save(movie_npy, frames)
    out = tmp_path / "res.npy"
    result = _run(str(movie_npy), "--out", str(out), "--method", "lsq", "--electrons-per-count", "2",
                  "--read-noise", "1.5", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = np.load(out)
    assert len(table) > 100
    assert np.isnan(table["loglik"]).all()  # LSQ rows carry no likelihood


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.tif", "--out", "x.h5r"], "does not exist"),
        (["MOVIE", "--out", "x.txt"], "use a .h5r or .npy"),
        (["MOVIE", "--out", "x.h5r", "--roi-size", "6"], "roi_size"),
        (["MOVIE", "--out", "EXISTING"], "already exists"),
    ],
)
def test_localize_errors_are_clear(
    tmp_path: Path, movie: tuple[Path, Camera, np.ndarray], args: list[str], message: str
) -> None:
    existing = tmp_path / "existing.h5r"
    existing.write_bytes(b"keep me")
    args = [
        str(movie[0])
        if a == "MOVIE"
        else str(existing)
        if a == "EXISTING"
        else str(tmp_path / a)
        if a.startswith(("x.", "missing"))
        else a
        for a in args
    ]
    result = _run(*args, "--no-progress")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert existing.read_bytes() == b"keep me"
