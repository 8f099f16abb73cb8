"""End-to-end recipe runs on synthetic tables, writing real files that are read back; the example recipes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from photonflow.errors import AnalysisError, FormatError, NotFoundError, RecipeError
from photonflow.formats.h5r import append_table, read_table
from photonflow.localization.export import read_thunderstorm_csv, write_thunderstorm_csv
from photonflow.recipes import load_inputs, load_recipe, parse_recipe, run_recipe

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "recipes"


def test_filter_drift_render_save_end_to_end(tmp_path: Path, drifting_table: np.ndarray) -> None:
    source = tmp_path / "in" / "run7.npy"
    source.parent.mkdir()
    np.save(source, drifting_table)
    calls: list[tuple[int, int, str]] = []
    result = run_recipe(
        EXAMPLES / "filter_drift_render.yaml",
        {"input": source},
        context={"output_dir": tmp_path / "out"},
        progress=lambda done, total, label: calls.append((done, total, label)),
    )
    out = tmp_path / "out"
    assert [p.name for p in result.files] == [
        "run7.png", "run7.tif", "run7_corrected.csv", "run7_corrected.h5r", "run7_drift.csv"
    ]  # fmt: skip
    assert result.context == {"file_stub": "run7", "input_dir": str(source.parent), "output_dir": str(out)}
    assert [c[0] for c in calls] == list(range(1, 9)) and calls[0] == (1, 8, "module 1 (FilterTable)")
    assert set(result.timings_s) == {c[2] for c in calls}

    # the filter kept exactly the rows within the recipe's ranges
    t = drifting_table
    keep = (t["x_err"] <= 30) & (t["y_err"] <= 30) & (t["photons"] >= 300) & (t["sigma"] >= 80) & (t["sigma"] <= 200)
    corrected = read_thunderstorm_csv(out / "run7_corrected.csv")
    assert corrected.size == keep.sum() == result.namespace["corrected"].size
    # drift (+45, −30 nm over the run) is removed: late localizations moved back by about that much
    h5 = read_table(out / "run7_corrected.h5r", "FitResults")
    late = t["frame"][keep] > 2700
    assert np.mean(t["x"][keep][late] - h5["x"][late]) == pytest.approx(45 * 2850 / 3000, abs=6)
    assert np.mean(t["y"][keep][late] - h5["y"][late]) == pytest.approx(-30 * 2850 / 3000, abs=6)
    np.testing.assert_allclose(corrected["x"], h5["x"], rtol=1e-5)
    # the image: PNG and TIFF of the same rendering, the TIFF with its full sum (one per localization)
    png = np.asarray(Image.open(out / "run7.png"))
    tif = tifffile.imread(out / "run7.tif")
    assert png.shape[:2] == tif.shape and png.shape[2] == 3
    assert tif.sum() == pytest.approx(keep.sum(), rel=0.01)
    assert np.array_equal(tif, result.namespace["image"].data)
    drift_rows = (out / "run7_drift.csv").read_text().splitlines()
    assert drift_rows[0] == "frame,x,y" and len(drift_rows) == t["frame"].max() - t["frame"].min() + 2


def test_derived_columns_example_on_a_thunderstorm_csv(tmp_path: Path, drifting_table: np.ndarray) -> None:
    source = tmp_path / "ts.csv"
    write_thunderstorm_csv(drifting_table[:5000], source)
    result = run_recipe(EXAMPLES / "derived_columns.yaml", {"input": source}, context={"output_dir": tmp_path})
    sharp = result.namespace["sharp"]
    loaded = result.namespace["input"]
    precision = np.sqrt((loaded["x_err"] ** 2 + loaded["y_err"] ** 2) / 2)
    snr = loaded["photons"] / np.sqrt(loaded["photons"] + 9 * loaded["bg"])
    assert sharp.size == np.sum((precision <= 20) & (snr >= 5)) > 0
    header = (tmp_path / "ts_sharp_all_columns.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["precision", "snr"] and len(header) == len(sharp.dtype.names)
    assert (tmp_path / "ts_sharp.png").stat().st_size > 0


def test_pyme_style_example_on_a_pyme_h5r(tmp_path: Path, drifting_table: np.ndarray) -> None:
    from photonflow.formats.h5r import write_metadata
    from photonflow.formats.pyme_fitresults import to_pyme_fitresults

    source = tmp_path / "pyme.h5r"
    table = drifting_table[:3000]
    append_table(source, "FitResults", to_pyme_fitresults(table, pixel_size_nm=100.0))
    write_metadata(source, {"voxelsize.x": 0.1, "voxelsize.y": 0.1})
    result = run_recipe(EXAMPLES / "pyme_style.yaml", {"input": source}, context={"output_dir": tmp_path})
    assert [p.name for p in result.files] == ["pyme.tif", "pyme_filtered.h5r"]
    again = load_inputs({"input": tmp_path / "pyme_filtered.h5r"})["input"]
    keep = (table["x_err"] <= 30) & (table["y_err"] <= 30)
    np.testing.assert_allclose(again["x"], table["x"][keep], atol=0.01)
    assert tifffile.imread(tmp_path / "pyme.tif").shape[1] == int(np.ceil((table["x"][keep].max() + 5) / 5))


def test_h5r_tables_are_injected_with_pyme_names(tmp_path: Path, small_table: Callable[[], np.ndarray]) -> None:
    path = tmp_path / "r.h5r"
    append_table(path, "FitResults", small_table())
    events = np.zeros(2, dtype=[("EventName", "S32"), ("EventDescr", "S256"), ("Time", "<f8")])
    append_table(path, "Events", events)
    as_input = load_inputs({"input": path})
    assert set(as_input) == {"input", "FitResults", "Events"}
    assert set(load_inputs({"other": path})) == {"other", "other_FitResults", "other_Events"}
    recipe = parse_recipe("- FilterTable: {input: FitResults, filters: {x_err: [0, 10]}}")
    assert run_recipe(recipe, {"input": path}).namespace["filtered"]["frame"].tolist() == [0, 1, 4]


def test_tables_in_memory_are_used_as_they_are(small_table: Callable[[], np.ndarray]) -> None:
    recipe = parse_recipe("- DerivedColumn: {columns: {s: x + y}}")
    table = small_table()
    result = run_recipe(recipe, {"input": table})
    assert result.namespace["input"] is table and result.files == [] and result.context == {}
    np.testing.assert_allclose(result.namespace["derived"]["s"], table["x"] + table["y"])


def test_run_errors_name_the_module(tmp_path: Path, small_table: Callable[[], np.ndarray]) -> None:
    table = small_table()
    with pytest.raises(RecipeError, match=r"module 1 \(FilterTable\): input 'nope' \(field 'input'\) is neither"):
        run_recipe(parse_recipe("- FilterTable: {input: nope}"), {"input": table})
    with pytest.raises(RecipeError, match=r"^module 2 \(SaveCSV\): field 'file_pattern': .* uses \{output_dir\}") as e:
        run_recipe(parse_recipe("- FilterTable: {}\n- SaveCSV: {input: filtered}"), {"input": table})
    assert (e.value.module_index, e.value.field) == (2, "file_pattern")
    with pytest.raises(RecipeError, match=r"^module 1 \(Render\): input 'input' lacks column\(s\) x") as e:
        run_recipe(parse_recipe("- Render: {}"), {"input": table[["frame"]]})
    assert e.value.field == "input"
    with pytest.raises(RecipeError, match=r"^module 1 \(DerivedColumn\): expression 'q' reads unknown column"):
        run_recipe(parse_recipe("- DerivedColumn: {columns: {z: q}}"), {"input": table})
    with pytest.raises(AnalysisError, match=r"^module 1 \(DriftCorrection\) failed: drift estimation needs"):
        run_recipe(parse_recipe("- DriftCorrection: {}"), {"input": table[:1]})
    with pytest.raises(RecipeError, match=r"module 2 \(SaveImage\): input 'filtered' must be an image"):
        run_recipe(
            parse_recipe("- FilterTable: {}\n- SaveImage: {input: filtered}"),
            {"input": table},
            context={"output_dir": tmp_path, "file_stub": "x"},
        )
    assert list(tmp_path.iterdir()) == []


def test_input_files_that_cannot_be_read(tmp_path: Path) -> None:
    recipe = parse_recipe("- FilterTable: {}")
    with pytest.raises(NotFoundError, match=r"input 'input': .*missing.npy does not exist"):
        run_recipe(recipe, {"input": tmp_path / "missing.npy"})
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(FormatError, match=r"cannot read a.txt; supported file types: .npy, .csv, .hdf5, .hdf, .h5r"):
        run_recipe(recipe, {"input": tmp_path / "a.txt"})
    np.save(tmp_path / "img.npy", np.zeros((3, 3)))
    with pytest.raises(FormatError):
        run_recipe(recipe, {"input": tmp_path / "img.npy"})


def test_examples_all_pass_check() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert names == ["derived_columns.yaml", "filter_drift_render.yaml", "pyme_style.yaml"]
    for name in names:
        assert load_recipe(EXAMPLES / name).external_inputs == ("input",)


def test_recipe_file_path_is_accepted_and_rerun_replaces_outputs(
    tmp_path: Path, small_table: Callable[[], np.ndarray]
) -> None:
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text("- SaveHDF: {input: input}\n", encoding="utf-8")
    context = {"output_dir": tmp_path, "file_stub": "s"}
    run_recipe(str(recipe_path), {"input": small_table()}, context=context)
    run_recipe(recipe_path, {"input": small_table()[:1]}, context=context)
    assert read_table(tmp_path / "s.h5r", "FitResults").size == 1
