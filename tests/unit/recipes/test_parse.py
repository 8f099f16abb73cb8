"""Parsing recipes: the YAML shape, module and field names (with PYME's), and every validation error message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from photonflow.errors import ConfigError, NotFoundError, RecipeError
from photonflow.recipes import (
    DerivedColumn,
    FilterTable,
    ModuleRegistry,
    Render,
    SaveHDF,
    SaveImage,
    default_registry,
    load_recipe,
    parse_recipe,
)


def _error(text: str) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text)
    return info.value


def test_parses_modules_with_typed_fields_and_defaults() -> None:
    recipe = parse_recipe(
        """
- FilterTable:
    input: input
    output: filtered
    filters: {x_err: [0, 30], photons: [300, null], frame: [10, 10]}
- Render: {input: filtered, pixel_nm: 20, fov: [0, 0, 1000, 2000]}
"""
    )
    flt, ren = recipe.modules
    assert isinstance(flt, FilterTable) and isinstance(ren, Render)
    assert flt.filters == {"x_err": (0.0, 30.0), "photons": (300.0, None), "frame": (10.0, 10.0)}
    assert ren.pixel_nm == 20.0 and isinstance(ren.pixel_nm, float)
    assert ren.fov == (0.0, 0.0, 1000.0, 2000.0)
    assert ren.method == "gaussian" and ren.output == "image"  # defaults
    assert recipe.external_inputs == ("input",)


def test_accepts_pyme_module_prefixes_and_field_names() -> None:
    recipe = parse_recipe(
        """
- tablefilters.FilterTable: {inputName: FitResults, outputName: filtered, filters: {error_x: [0, 30]}}
- localisations.DensityMapping: {inputLocalizations: filtered, renderingModule: Gaussian, pixelSize: 5.0,
                                 outputImage: image}
- output.ImageOutput: {inputName: image, filePattern: '{output_dir}/{file_stub}.tif'}
- myplugin.DerivedColumn: {input: filtered, output: d, mappings: {r: sqrt(x**2 + y**2)}}
"""
    )
    flt, ren, img, der = recipe.modules
    assert (flt.input, flt.output) == ("FitResults", "filtered")
    assert (ren.method, ren.pixel_nm, ren.output) == ("gaussian", 5.0, "image")
    assert isinstance(img, SaveImage) and img.file_pattern == "{output_dir}/{file_stub}.tif"
    assert isinstance(der, DerivedColumn) and der.columns["r"].columns == {"x", "y"}
    assert recipe.external_inputs == ("FitResults",)


def test_yaml_round_trip_gives_an_equal_recipe() -> None:
    recipe = parse_recipe(
        """
- FilterTable: {filters: {x_err: [null, 30]}}
- DerivedColumn: {input: filtered, columns: {snr: photons / sqrt(bg + 1), two: 2}}
- DriftCorrection: {input: derived, output_drift: drift, segment_frames: 200}
- Render: {input: corrected, method: histogram, fov: [0, 0, 100, 100]}
- SaveImage: {input: image}
- SaveCSV: {input: drift, format: plain}
- SaveHDF: {input: corrected, file_pattern: 'x.hdf5', pixel_size_nm: 107}
"""
    )
    again = parse_recipe(recipe.to_yaml())
    assert again == recipe
    assert again.to_yaml() == recipe.to_yaml()


def test_schema_describes_fields_for_user_interfaces() -> None:
    schema = FilterTable.schema()
    assert schema["name"] == "FilterTable" and "tablefilters.FilterTable" in schema["pyme_names"]
    by_name = {f["name"]: f for f in schema["fields"]}
    assert by_name["input"]["role"] == "input" and by_name["output"]["role"] == "output"
    assert by_name["filters"]["expected"] == "a mapping of column name to [min, max]"
    assert by_name["output"]["default"] == "filtered" and not by_name["output"]["required"]
    assert {f["name"] for f in SaveImage.schema()["fields"] if f["required"]} == {"input"}
    assert {c.name for c in default_registry().classes()} >= {
        "FilterTable", "DerivedColumn", "DriftCorrection", "Render", "SaveCSV", "SaveHDF", "SaveImage"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- FilterTable: [", r"recipe is not valid YAML"),
        ("", r"recipe is empty; it should be a YAML list of modules"),
        ("FilterTable: {}", r"a recipe must be a YAML list of modules, got a dict"),
        ("[]", r"recipe has no modules"),
        ("- FilterTable", r"module 1: each list item must be a single 'ModuleName: \{parameters\}' mapping"),
        ("- {FilterTable: {}, Render: {}}", r"module 1: each list item must be a single"),
        ("- FilterTable: [1, 2]", r"module 1 \(FilterTable\): parameters must be a mapping of field: value"),
        # field values
        (
            "- Render: {}\n- FilterTable: {filters: {photons: abc}}",
            r"module 2 \(FilterTable\): field 'filters.photons' must be \[min, max\] .*, got 'abc'",
        ),
        ("- FilterTable: {filters: {photons: [1, 2, 3]}}", r"field 'filters.photons' must be \[min, max\]"),
        (
            "- FilterTable: {filters: {photons: [5, 1]}}",
            r"field 'filters.photons' must be \[min, max\] \(numbers, min ≤ max",
        ),
        ("- FilterTable: {filters: {photons: [null, null]}}", r"field 'filters.photons' must be \[min, max\]"),
        ("- FilterTable: {filters: {photons: [a, 1]}}", r"field 'filters.photons' must be \[min, max\]"),
        ("- FilterTable: {filters: {photons: [true, 1]}}", r"field 'filters.photons' must be \[min, max\]"),
        (
            "- FilterTable: {filters: [1, 2]}",
            r"field 'filters' must be a mapping of column name to \[min, max\], got \[1, 2\]",
        ),
        ("- FilterTable: {filters: {'x err': [1, 2]}}", r"field 'filters.x err' must be a column name"),
        ("- Render: {pixel_nm: -1}", r"module 1 \(Render\): field 'pixel_nm' must be a number > 0, got -1"),
        ("- Render: {pixel_nm: '10'}", r"field 'pixel_nm' must be a number > 0, got '10'"),
        ("- Render: {pixel_nm: .nan}", r"field 'pixel_nm' must be a number > 0, got nan"),
        ("- Render: {pixel_nm: true}", r"field 'pixel_nm' must be a number > 0, got True"),
        ("- Render: {method: splat}", r"field 'method' must be one of 'histogram', 'gaussian', got 'splat'"),
        (
            "- Render: {fov: [0, 0, 10]}",
            r"field 'fov' must be \[x_min, y_min, x_max, y_max\] in nm with max > min or null",
        ),
        ("- Render: {fov: [10, 0, 0, 10]}", r"field 'fov' must be \[x_min, y_min, x_max, y_max\]"),
        ("- Render: {min_sigma_nm: 0}", r"field 'min_sigma_nm' must be a number > 0 or null, got 0"),
        ("- Render: {input: ''}", r"field 'input' must be a data name .*, got ''"),
        ("- Render: {output: 'a b'}", r"field 'output' must be a data name .*, got 'a b'"),
        ("- Render: {input: 3}", r"field 'input' must be a data name"),
        ("- DriftCorrection: {segment_frames: 1.5}", r"field 'segment_frames' must be an integer ≥ 1, got 1.5"),
        ("- DriftCorrection: {segment_frames: 0}", r"field 'segment_frames' must be an integer ≥ 1, got 0"),
        ("- DriftCorrection: {blur_px: -0.5}", r"field 'blur_px' must be a number ≥ 0, got -0.5"),
        ("- DerivedColumn: {columns: {}}", r"field 'columns' must be a mapping of new column name to an arithmetic"),
        (
            "- DerivedColumn: {columns: {r: 'x.__class__'}}",
            r"module 1 \(DerivedColumn\): field 'columns.r' must be an arithmetic expression over columns, got "
            r"'x.__class__' \(unexpected '\.' at position 1",
        ),
        ("- DerivedColumn: {columns: {r: [1]}}", r"field 'columns.r' must be an arithmetic expression \(a string\)"),
        ("- DerivedColumn: {columns: {1r: x}}", r"field 'columns.1r' must be a column name"),
        (
            "- SaveCSV: {input: t, file_pattern: '{output_dir.__class__}/x.csv'}",
            r"field 'file_pattern' must be a file pattern .*\(field \{output_dir.__class__\} is not a plain name\)",
        ),
        ("- SaveCSV: {input: t, file_pattern: '{a[0]}.csv'}", r"field 'file_pattern' must be a file pattern"),
        ("- SaveCSV: {input: t, file_pattern: '{oops.csv'}", r"field 'file_pattern' must be a file pattern .*\(.*'\}'"),
        ("- SaveCSV: {input: t, file_pattern: ''}", r"field 'file_pattern' must be a file pattern"),
        ("- SaveCSV: {input: t, scheme: ftp}", r"field 'scheme' must be one of 'File', 'pyme-cluster://', got 'ftp'"),
        (
            "- SaveImage: {input: t, file_pattern: 'a.jpg'}",
            r"module 1 \(SaveImage\): field 'format' must be 'png' or 'tiff' when",
        ),
        ("- SaveImage: {input: t, percentile: 101}", r"field 'percentile' must be a number > 0 and ≤ 100, got 101"),
        (
            "- SaveHDF: {input: t, file_pattern: 'a.txt'}",
            r"module 1 \(SaveHDF\): field 'format' must be 'h5r' or 'picasso'",
        ),
        (
            "- SaveHDF: {input: t, file_pattern: 'a.hdf5'}",
            r"field 'pixel_size_nm' must be a number > 0 for picasso output",
        ),
        (
            "- SaveHDF: {input: t, layout: pyme}",
            r"field 'pixel_size_nm' must be a number > 0 for h5r output in pyme layout",
        ),
        # names and presence
        ("- SaveCSV: {}", r"module 1 \(SaveCSV\): field 'input' is required \(a data name"),
        (
            "- DerivedColumn: {input: t}",
            r"module 1 \(DerivedColumn\): field 'columns' is required \(a mapping of new column",
        ),
        (
            "- FilterTable: {filtres: {}}",
            r"module 1 \(FilterTable\): unknown field 'filtres'; did you mean 'filters'\? "
            r"\(fields: input, output, filters\)",
        ),
        ("- FilterTable: {zzz: 1}", r"unknown field 'zzz' \(fields: input, output, filters\)"),
        ("- FilterTable: {input: a, inputName: b}", r"field 'input' is given twice \(as 'inputName' and an alias\)"),
        (
            "- Render: {}\n- FiltreTable: {}",
            r"module 2: unknown module 'FiltreTable'; did you mean 'FilterTable'\? known modules: DerivedColumn, "
            r"DriftCorrection, FilterTable, Render, SaveCSV, SaveHDF, SaveImage",
        ),
        ("- filtertable: {}", r"unknown module 'filtertable'; did you mean 'FilterTable'\?"),
        ("- output.CSVOutputt: {}", r"unknown module 'output.CSVOutputt'; did you mean 'SaveCSV'\?"),
        ("- Frobnicate: {}", r"module 1: unknown module 'Frobnicate'; known modules: DerivedColumn"),
    ],
)
def test_validation_errors_name_the_module_and_field(text: str, message: str) -> None:
    error = _error(text)
    assert re.search(message, str(error)), f"{message!r} not found in {str(error)!r}"
    assert isinstance(error, ConfigError) and isinstance(error, ValueError)


def test_errors_carry_module_and_field_as_attributes() -> None:
    error = _error("- Render: {}\n- FilterTable: {filters: {photons: abc}}")
    assert (error.module_index, error.module_name, error.field) == (2, "FilterTable", "filters.photons")
    error = _error("- Nope: {}")
    assert (error.module_index, error.module_name, error.field) == (1, "Nope", None)


def test_yaml_is_read_safely_without_python_tags() -> None:
    error = _error("- !!python/object/apply:os.system ['true']")
    assert "not valid YAML" in str(error)


def test_load_recipe_prefixes_the_path_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("- Render: {pixel_nm: 0}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=rf"^{re.escape(str(path))}: module 1 \(Render\): field 'pixel_nm'") as info:
        load_recipe(path)
    assert info.value.field == "pixel_nm"
    with pytest.raises(NotFoundError, match=r"recipe file .* does not exist"):
        load_recipe(tmp_path / "missing.yaml")


def test_registry_rejects_duplicates_and_resolves_aliases() -> None:
    registry = ModuleRegistry()
    registry.register(FilterTable)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FilterTable)
    assert registry.resolve("tablefilters.FilterTable") is FilterTable
    assert registry.resolve("anything.FilterTable") is FilterTable
    with pytest.raises(RecipeError, match="unknown module 'SaveHDF'; known modules: FilterTable"):
        registry.resolve("SaveHDF")
    assert parse_recipe("- FilterTable: {}", registry=registry).modules[0] == FilterTable()


def test_save_hdf_infers_format_from_extension() -> None:
    recipe = parse_recipe(
        "- SaveHDF: {input: t, file_pattern: a.h5r}\n- SaveHDF: {input: t, file_pattern: a.hdf5, pixel_size_nm: 100}"
    )
    assert [m._flavour() for m in recipe.modules if isinstance(m, SaveHDF)] == ["h5r", "picasso"]
