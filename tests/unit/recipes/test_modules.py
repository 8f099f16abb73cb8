"""Each built-in module on small synthetic tables with known answers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from photonflow.errors import RecipeError
from photonflow.formats.h5r import list_tables, read_metadata, read_table
from photonflow.localization.export import read_picasso_hdf5, read_thunderstorm_csv
from photonflow.localization.results import LOCALIZATION_DTYPE, empty_results
from photonflow.recipes import (
    DerivedColumn,
    DriftCorrection,
    FilterTable,
    Render,
    RenderedImage,
    SaveCSV,
    SaveHDF,
    SaveImage,
    build_module,
    load_inputs,
    parse_expression,
)
from photonflow.recipes.library.output import resolve_output_path

Table = Callable[[], np.ndarray]


def test_filter_table_keeps_rows_within_inclusive_ranges_and_drops_nan(small_table: Table) -> None:
    table = small_table()
    module = build_module(FilterTable, {"filters": {"x_err": [0, 30], "photons": [400, None]}})
    out = module.apply({"input": table})["output"]  # type: ignore[attr-defined]
    assert out["frame"].tolist() == [1, 2]  # photons 400 (bound included) and 900; NaN photons dropped
    assert out.dtype == table.dtype
    assert table.size == 5  # the input is not modified


def test_filter_table_accepts_pyme_column_names(small_table: Table) -> None:
    module = build_module(FilterTable, {"filters": {"error_x": [None, 6], "error_y": [5, None]}})
    assert module.apply({"input": small_table()})["output"]["frame"].tolist() == [1, 4]  # type: ignore[attr-defined]


def test_filter_table_on_a_missing_column_lists_the_columns(small_table: Table) -> None:
    module = FilterTable(filters={"nope": (0.0, 1.0)})
    with pytest.raises(RecipeError, match=r"input 'input' lacks column\(s\) nope; it has: frame, x, y, photons"):
        module.apply({"input": small_table()})


def test_filter_table_without_filters_passes_everything(small_table: Table) -> None:
    assert FilterTable().apply({"input": small_table()})["output"].size == 5


def test_derived_columns_are_added_in_order_and_replacements_keep_dtype(small_table: Table) -> None:
    table = small_table()
    module = build_module(
        DerivedColumn, {"columns": {"r": "sqrt(x_err**2 + y_err**2)", "r2": "r * 2", "x": "x + 0.5", "one": 1}}
    )
    out = module.apply({"input": table})["output"]  # type: ignore[attr-defined]
    np.testing.assert_allclose(out["r"][:3], [5.0, 10.0, 50.0])
    np.testing.assert_allclose(out["r2"], 2 * out["r"])
    np.testing.assert_allclose(out["x"], table["x"] + 0.5)
    np.testing.assert_array_equal(out["one"], 1.0)
    assert out.dtype["r"] == np.float64 and out.dtype["x"] == np.float32
    assert out.dtype.names[: len(LOCALIZATION_DTYPE.names)] == LOCALIZATION_DTYPE.names
    np.testing.assert_array_equal(out["photons"], table["photons"])
    assert "r" not in table.dtype.names


def test_derived_column_on_a_strided_view_and_an_empty_table(small_table: Table) -> None:
    table = small_table()
    module = DerivedColumn(columns={"s": parse_expression("x + y")})
    out = module.apply({"input": table[::2]})["output"]
    np.testing.assert_allclose(out["s"], [150.0, 370.0, 590.0])
    np.testing.assert_array_equal(out["frame"], [0, 2, 4])
    assert module.apply({"input": table[:0]})["output"].dtype.names[-1] == "s"


def test_derived_column_reading_an_unknown_column_names_it(small_table: Table) -> None:
    module = build_module(DerivedColumn, {"columns": {"z": "photons / brightness"}})
    with pytest.raises(RecipeError, match=r"unknown column\(s\) brightness; available columns: bg, bg_err, chi2"):
        module.apply({"input": small_table()})  # type: ignore[attr-defined]


def test_drift_correction_recovers_a_known_linear_drift(drifting_table: np.ndarray) -> None:
    module = build_module(
        DriftCorrection,
        {"output_drift": "drift", "segment_frames": 500, "pixel_size_nm": 100, "min_events_per_segment": 500},
    )
    out = module.apply({"input": drifting_table})  # type: ignore[attr-defined]
    drift = out["output_drift"]
    assert drift.dtype.names == ("frame", "x", "y")
    assert drift["frame"][0] == 0 and drift["frame"][-1] == drifting_table["frame"].max()
    true_x = 45 * drift["frame"] / 3000
    true_y = -30 * drift["frame"] / 3000
    assert np.sqrt(np.mean((drift["x"] - true_x) ** 2 + (drift["y"] - true_y) ** 2)) < 5.0  # nm
    corrected = out["output"]
    assert corrected.dtype == drifting_table.dtype and corrected.size == drifting_table.size
    shift = drifting_table["x"] - corrected["x"]
    np.testing.assert_allclose(shift, np.interp(drifting_table["frame"], drift["frame"], drift["x"]), atol=1e-3)


def test_drift_correction_needs_frames(small_table: Table) -> None:
    table = small_table()[["x", "y"]]
    with pytest.raises(RecipeError, match=r"lacks column\(s\) frame"):
        DriftCorrection().apply({"input": table})


def test_render_histogram_counts_localizations_per_pixel() -> None:
    table = empty_results(3)
    table["x"] = [5, 15, 15]
    table["y"] = [5, 5, 5]
    module = build_module(Render, {"method": "histogram", "pixel_nm": 10, "fov": [0, 0, 20, 10]})
    image = module.apply({"input": table})["output"]  # type: ignore[attr-defined]
    assert isinstance(image, RenderedImage)
    assert image.data.tolist() == [[1.0, 2.0]]
    assert (image.pixel_nm, image.x_min, image.y_min) == (10.0, 0.0, 0.0)


def test_render_gaussian_conserves_one_unit_per_localization() -> None:
    table = empty_results(4)
    table["x"] = [305, 505, 705, 505]  # pixel centres
    table["y"] = [505, 305, 505, 705]
    table["x_err"] = table["y_err"] = 15
    image = Render(pixel_nm=10, fov=(0, 0, 1000, 1000)).apply({"input": table})["output"]
    assert image.data.shape == (100, 100)
    assert image.data.sum() == pytest.approx(4.0, rel=1e-4)
    assert np.unravel_index(np.argmax(image.data), image.data.shape) in {(50, 30), (30, 50), (50, 70), (70, 50)}


def test_render_refuses_an_image_as_input() -> None:
    with pytest.raises(RecipeError, match=r"input 'input' must be a table \(1-D structured array\), got array of"):
        Render().apply({"input": np.zeros((4, 4))})


# -- output modules --------------------------------------------------------------------------------------------------


def test_output_paths_are_formatted_from_the_context(tmp_path: Path) -> None:
    context = {"output_dir": str(tmp_path), "file_stub": "run1"}
    assert resolve_output_path("{output_dir}/{file_stub}.csv", context) == tmp_path / "run1.csv"
    with pytest.raises(RecipeError, match=r"uses \{sim_tag\}, which this run does not provide; context has: "):
        resolve_output_path("{output_dir}/{sim_tag}.csv", context)


def test_pyme_cluster_scheme_writes_under_the_data_root(tmp_path: Path) -> None:
    context = {"data_root": str(tmp_path), "output_dir": "analysis/day1", "file_stub": "s"}
    path = resolve_output_path("{output_dir}/{file_stub}.h5r", context, scheme="pyme-cluster://")
    assert path == tmp_path.resolve() / "analysis/day1/s.h5r"
    with pytest.raises(RecipeError, match="leaves the data root"):
        resolve_output_path("../{file_stub}.h5r", context, scheme="pyme-cluster://")
    with pytest.raises(RecipeError, match="the context has no data_root"):
        resolve_output_path("x.h5r", {}, scheme="pyme-cluster://")


def test_save_csv_thunderstorm_and_plain(tmp_path: Path, small_table: Table) -> None:
    table = small_table()
    context = {"output_dir": str(tmp_path), "file_stub": "t"}
    (path,) = SaveCSV(input="t").save({"input": table}, context)
    back = read_thunderstorm_csv(path)
    np.testing.assert_allclose(back["x"], table["x"], rtol=1e-6)
    np.testing.assert_array_equal(back["frame"], table["frame"])
    drift = DriftCorrection(output_drift="d", segment_frames=1, min_events_per_segment=100).apply(
        {"input": _shifting_table()}
    )["output_drift"]
    np.testing.assert_allclose(drift["x"], [0, 10, 20, 30], atol=1.5)  # nm: the sites move 10 nm per frame
    (path,) = SaveCSV(input="d", file_pattern="{output_dir}/drift.csv").save({"input": drift}, context)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "x", "y"]
    assert len(rows) == drift.size + 1 and float(rows[-1][0]) == drift["frame"][-1]
    with pytest.raises(ValueError, match="format 'thunderstorm' needs a localization table; input lacks bg"):
        SaveCSV(input="d", format="thunderstorm").save({"input": drift}, context)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift.csv", "t.csv"]  # no temporary files left


def _shifting_table() -> np.ndarray:
    """200 sites seen in each of 4 frames, moving 10 nm in x per frame."""
    rng = np.random.default_rng(0)
    sites = rng.uniform(500, 4500, (200, 2))
    table = empty_results(800)
    table["frame"] = np.repeat(np.arange(4), 200)
    table["x"] = np.tile(sites[:, 0], 4) + np.repeat(np.arange(4) * 10.0, 200)
    table["y"] = np.tile(sites[:, 1], 4)
    return table


def test_save_hdf_h5r_native_pyme_and_picasso(tmp_path: Path, small_table: Table) -> None:
    table = small_table()
    context = {"output_dir": str(tmp_path), "file_stub": "t"}
    (native,) = SaveHDF(input="t").save({"input": table}, context)
    assert list_tables(native) == ["FitResults"]
    stored = read_table(native, "FitResults")
    assert stored.dtype == table.dtype
    for name in table.dtype.names:
        np.testing.assert_array_equal(stored[name], table[name])

    pyme = SaveHDF(input="t", file_pattern="{output_dir}/pyme.h5r", layout="pyme", pixel_size_nm=100.0)
    (path,) = pyme.save({"input": table}, context)
    assert "fitResults" in read_table(path, "FitResults").dtype.names
    assert read_metadata(path).pixel_size_nm == pytest.approx((100.0, 100.0))
    loaded = load_inputs({"input": path})
    np.testing.assert_allclose(loaded["input"]["x"], table["x"], atol=1e-3)  # converted back from PYME records
    assert "FitResults" in loaded

    picasso = SaveHDF(input="t", file_pattern="{output_dir}/t.hdf5", pixel_size_nm=100.0)
    paths = picasso.save({"input": table}, context)
    assert [p.name for p in paths] == ["t.hdf5", "t.yaml"]
    back, info = read_picasso_hdf5(paths[0])
    assert info["Pixelsize"] == 100.0 and info["Width"] == 5 and info["Height"] == 1
    np.testing.assert_allclose(back["y"], table["y"], atol=1e-3)


def test_save_hdf_replaces_instead_of_appending(tmp_path: Path, small_table: Table) -> None:
    context = {"output_dir": str(tmp_path), "file_stub": "t"}
    module = SaveHDF(input="t")
    module.save({"input": small_table()}, context)
    (path,) = module.save({"input": small_table()[:2]}, context)
    assert read_table(path, "FitResults").size == 2


def test_save_image_png_and_tiff(tmp_path: Path) -> None:
    data = np.zeros((8, 12), dtype=np.float32)
    data[2, 3] = 5.0
    image = RenderedImage(data, 10.0, 0.0, 0.0)
    context = {"output_dir": str(tmp_path), "file_stub": "img"}
    (png,) = SaveImage(input="i").save({"input": image}, context)
    rgb = np.asarray(Image.open(png))
    assert rgb.shape == (8, 12, 3) and tuple(rgb[2, 3]) == (255, 255, 255) and rgb[0, 0].sum() == 0
    (tif,) = SaveImage(input="i", file_pattern="{output_dir}/img.tif").save({"input": image}, context)
    with tifffile.TiffFile(tif) as fh:
        np.testing.assert_array_equal(fh.asarray(), data)
        x_res = fh.pages[0].tags["XResolution"].value
    assert x_res[0] / x_res[1] == pytest.approx(100.0)  # pixels per µm at 10 nm
    (plain,) = SaveImage(input="i", file_pattern="{output_dir}/raw.tiff").save({"input": data}, context)
    np.testing.assert_array_equal(tifffile.imread(plain), data)
    with pytest.raises(RecipeError, match=r"must be an image \(from Render\), got ndarray|got array of shape \(5,\)"):
        SaveImage(input="i").save({"input": empty_results(5)}, context)
