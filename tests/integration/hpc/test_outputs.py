"""HDF5 outputs: results in a separate file under MPI (§9 28), and pyUSID 0.0.12 reading our files (§9 34).

The pyUSID check runs pyUSID in its own virtual environment (``.venv-pyusid`` at the repository root; pyUSID
0.0.12 needs numpy < 2) through a subprocess, and is skipped, saying so, where that environment is absent.
Make it as ``benchmarks/hpc.py``'s docstring says, then run ``.venv/bin/pytest tests/integration/hpc``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from photonflow.hpc.usid import is_main

from .conftest import GROUP, H5_GROUP, OUTPUTS, read_results

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[3]
PYUSID_PYTHON = ROOT / ".venv-pyusid" / "bin" / "python"

PYUSID_READER = r"""
import json, sys
import h5py, numpy as np
from pyUSID import USIDataset
from pyUSID.io.hdf_utils import check_if_main

path, group = sys.argv[1], sys.argv[2]
report = {}
with h5py.File(path, "r") as f:
    for name in sys.argv[3:]:
        dset = f[group][name]
        usid = USIDataset(dset)
        report[name] = {
            "main": bool(check_if_main(dset)),
            "pos_labels": [str(x) for x in usid.pos_dim_labels],
            "spec_labels": [str(x) for x in usid.spec_dim_labels],
            "n_dim_shape": list(usid.get_n_dim_form().shape),
            "abs_sum": float(np.abs(usid[()].astype(np.complex128)).sum()),
        }
print("REPORT", json.dumps(report))
"""


@pytest.fixture(scope="module")
def outputs(source_template: Path, tmp_path_factory: pytest.TempPathFactory, job_runner) -> dict[str, tuple[Path, str]]:  # type: ignore[no-untyped-def]
    """One run with results in the source file (serial) and one into a separate file (2 MPI ranks)."""
    work = tmp_path_factory.mktemp("hpc-outputs")
    src = work / "raw.h5"
    shutil.copy(source_template, src)
    code, _, out = job_runner(["run", str(src), "same", "17"], ranks=None, cwd=work)
    assert code == 0, out
    other_src = work / "raw-other.h5"
    shutil.copy(source_template, other_src)
    other = work / "results.h5"
    code, records, out = job_runner(["run", str(other_src), str(other), "17"], ranks=2, cwd=work)
    assert code == 0, out
    assert {r["path"] for r in records} == {str(other)} and sum(r["computed"] for r in records) == 203
    return {"same": (src, H5_GROUP), "separate": (other, f"/{GROUP}"), "source_of_separate": (other_src, "")}


def test_separate_results_file_under_mpi_is_valid(outputs, reference) -> None:  # type: ignore[no-untyped-def]
    other, group = outputs["separate"]
    results = read_results(other)
    for name in (*OUTPUTS, "completed_positions"):
        np.testing.assert_array_equal(results[name], reference[name], err_msg=name)
    with h5py.File(other, "r") as f:
        for name in OUTPUTS:
            assert is_main(f[group][name]), name
            # Ancillaries are copies inside the results file, not references into the source file.
            assert f[f[group][name].attrs["Position_Indices"]].file.filename == str(other)
        assert f[group].attrs["source_dataset_path"] == "/Measurement_000/Channel_000/Raw_Data"
    source, _ = outputs["source_of_separate"]
    with h5py.File(source, "r") as f:
        assert GROUP not in f["/Measurement_000/Channel_000"], "the source file got a results group"


@pytest.mark.skipif(not PYUSID_PYTHON.exists(), reason=f"pyUSID 0.0.12 environment absent ({PYUSID_PYTHON})")
@pytest.mark.parametrize("which", ["same", "separate"])
def test_pyusid_reads_our_files(which: str, outputs, reference) -> None:  # type: ignore[no-untyped-def]
    path, group = outputs[which]
    proc = subprocess.run(
        [str(PYUSID_PYTHON), "-c", PYUSID_READER, str(path), group, *OUTPUTS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    for name in OUTPUTS:
        assert report[name]["main"], f"pyUSID's check_if_main rejects {name}"
        assert report[name]["pos_labels"] == ["X"], report[name]
        expected = reference[name]
        assert report[name]["n_dim_shape"] == [expected.shape[0], expected.shape[1]], report[name]
        np.testing.assert_allclose(report[name]["abs_sum"], np.abs(expected.astype(np.complex128)).sum(), rtol=1e-12)
    assert report["Filtered_Data"]["spec_labels"] == ["Time"]
    assert report["Condensed_Data"]["spec_labels"] == ["hot_frequencies"]
