"""``photonflow recipe run | check | modules`` in-process, and one real subprocess run over a glob."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from photonflow.cli import main
from photonflow.formats.h5r import append_table, read_table

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "recipes"

RECIPE = """
- FilterTable: {filters: {x_err: [0, 10]}}
- Render: {input: filtered, method: histogram, pixel_nm: 50}
- SaveImage: {input: image, file_pattern: '{output_dir}/{file_stub}.tif'}
- SaveHDF: {input: filtered, file_pattern: '{output_dir}/{file_stub}_f.h5r'}
"""


def _inputs(tmp_path: Path, table: np.ndarray, n: int) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(n):
        append_table(folder / f"r{i}.h5r", "FitResults", table[i * 1000 : (i + 1) * 1000])
    return folder


def test_check_prints_the_graph_and_draws_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg = tmp_path / "g.svg"
    assert main(["recipe", "check", str(EXAMPLES / "filter_drift_render.yaml"), "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "8 module(s); inputs to supply: input" in out
    assert "  2. DriftCorrection: good -> corrected, drift" in out
    assert "  4. SaveImage: image -> file {output_dir}/{file_stub}.png" in out
    assert svg.read_text().startswith("<svg")


def test_check_reports_validation_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- FilterTable: {filters: {photons: abc}}\n")
    assert main(["recipe", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "module 1 (FilterTable): field 'filters.photons' must be [min, max]" in err and str(bad) in err


def test_run_applies_the_recipe_to_every_file(
    tmp_path: Path, drifting_table: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _inputs(tmp_path, drifting_table, 3)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    assert main(["recipe", "run", str(recipe), str(folder / "*.h5r"), "--out-dir", str(out), "--no-progress"]) == 0
    assert "3 of 3 file(s) done, 6 output file(s) written, 0 failed" in capsys.readouterr().out
    for i in range(3):
        rows = drifting_table[i * 1000 : (i + 1) * 1000]
        assert read_table(out / f"r{i}_f.h5r", "FitResults").size == np.sum(rows["x_err"] <= 10)
        assert tifffile.imread(out / f"r{i}.tif").sum() == pytest.approx(np.sum(rows["x_err"] <= 10))


def test_run_stops_at_the_first_failure_unless_asked_to_keep_going(
    tmp_path: Path, drifting_table: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _inputs(tmp_path, drifting_table, 2)
    (folder / "r0.h5r").rename(folder / "a_bad.npy")
    (folder / "a_bad.npy").write_bytes(b"not numpy")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    args = ["recipe", "run", str(recipe), str(folder / "*"), "--out-dir", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "a_bad.npy" in captured.err and "0 of 2 file(s) done, 0 output file(s) written, 1 failed" in captured.out
    assert main([*args, "--keep-going"]) == 1
    assert "1 of 2 file(s) done, 2 output file(s) written, 1 failed" in capsys.readouterr().out


def test_run_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    assert main(["recipe", "run", str(recipe), str(tmp_path / "*.none")]) == 2
    assert "no file matches" in capsys.readouterr().err
    assert main(["recipe", "run", str(recipe), "x.npy", "--context", "bad"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_modules_lists_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipe", "modules", "tablefilters.FilterTable"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FilterTable (PYME: tablefilters.FilterTable): Keep the rows")
    assert "    filters [param]: a mapping of column name to [min, max]" in out
    assert main(["recipe", "modules", "Nope"]) == 2


def test_photonflow_recipe_run_in_a_subprocess(tmp_path: Path, drifting_table: np.ndarray) -> None:
    folder = _inputs(tmp_path, drifting_table, 2)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    proc = subprocess.run(
        [sys.executable, "-m", "photonflow", "recipe", "run", str(recipe), *sorted(map(str, folder.iterdir())),
         "--out-dir", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 of 2 file(s) done, 4 output file(s) written, 0 failed" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r0.tif", "r0_f.h5r", "r1.tif", "r1_f.h5r"]
