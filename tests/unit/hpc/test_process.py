"""Process: validation, computation, results groups, duplicates/partials/override, discovery (§9 1-17, 24)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import pytest
import zarr

from photonflow.errors import FormatError, HPCError
from photonflow.hpc import OutputSpec, Process, stores
from photonflow.hpc.usid import is_main

DATASET = "/Measurement_000/Channel_000/Raw_Data"
GROUP = "/Measurement_000/Channel_000/Raw_Data-Mean_000"


def _expected(raw: np.ndarray) -> dict[str, np.ndarray]:
    return {"Mean": raw.mean(axis=1, keepdims=True), "Spectrum": np.abs(np.fft.fft(raw, axis=1)).astype(np.float32)}


def test_rejects_non_main_and_bad_arguments(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(usid_file, "a") as f:
        f.create_dataset("plain", data=np.zeros((4, 4)))
        f.create_dataset("three_d", data=np.zeros((2, 2, 2)))
    for name in ("plain", "three_d", "/Measurement_000/Channel_000/Position_Indices"):
        with pytest.raises(FormatError):
            mean_process(usid_file, dataset=name)
    with h5py.File(usid_file, "a") as f:
        del f[DATASET].attrs["units"]
    with pytest.raises(ValueError, match="units"):
        mean_process(usid_file)
    with pytest.raises(TypeError):
        mean_process(usid_file, name=3)
    with pytest.raises(TypeError):
        mean_process(usid_file, parameters=[1, 2])


def test_none_parameters_mean_empty(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    assert mean_process(usid_file, parameters=None).parameters == {}


def test_read_only_target_is_refused_before_computing(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(usid_file, "r") as f, pytest.raises(HPCError, match="read-only"):
        mean_process(f[DATASET])


def test_missing_hook_writes_nothing(usid_file: Path) -> None:
    class NoCompute(Process):
        tool = "Nothing"

        def outputs(self) -> list[OutputSpec]:
            return [OutputSpec("X", columns=1)]

    before = hashlib.sha256(usid_file.read_bytes()).hexdigest()
    with pytest.raises(NotImplementedError):
        NoCompute(usid_file, dataset=DATASET, progress=False).compute()
    assert hashlib.sha256(usid_file.read_bytes()).hexdigest() == before


def test_test_returns_one_position_and_writes_nothing(usid_file: Path, raw: np.ndarray, mean_process) -> None:  # type: ignore[no-untyped-def]
    before = hashlib.sha256(usid_file.read_bytes()).hexdigest()
    row = mean_process(usid_file).test(17)
    assert hashlib.sha256(usid_file.read_bytes()).hexdigest() == before
    result = mean_process(usid_file, batch_size=6).compute()
    with h5py.File(usid_file, "r") as f:
        np.testing.assert_array_equal(f[result.group]["Mean"][17], row["Mean"])
        np.testing.assert_array_equal(f[result.group]["Spectrum"][17], row["Spectrum"])


@pytest.mark.parametrize(("batch_size", "workers"), [(1, 1), (6, 2), (199, 1), (200, 4), (1000, 2), (7, 3)])
def test_output_equals_in_memory_reference(
    usid_file: Path, raw: np.ndarray, mean_process, batch_size: int, workers: int
) -> None:  # type: ignore[no-untyped-def]
    result = mean_process(usid_file, batch_size=batch_size, workers=workers).compute()
    assert (result.computed, result.resumed, result.group) == (200, False, GROUP)
    with h5py.File(usid_file, "r") as f:
        for name, expected in _expected(raw).items():
            np.testing.assert_array_equal(f[GROUP][name][()], expected.astype(np.float32))


def test_process_pool_gives_the_same_bits(
    usid_file: Path, raw: np.ndarray, mean_process, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # Spawned workers unpickle MeanProcess by its module name (tests.unit.hpc.conftest): make the repository
    # root importable in them, as it is not with pytest's importlib mode.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    mean_process(usid_file, batch_size=50, workers=2, executor="process").compute()
    with h5py.File(usid_file, "r") as f:
        np.testing.assert_array_equal(f[GROUP]["Spectrum"][()], _expected(raw)["Spectrum"])


def test_results_group_layout(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file, parameters={"alpha": 1.5, "tags": ["a", "b"]}, batch_size=33).compute()
    with h5py.File(usid_file, "r") as f:
        group, source = f[GROUP], f[DATASET]
        assert group.attrs["tool"] == "Mean" and group.attrs["alpha"] == 1.5
        assert list(group.attrs["tags"]) == [b"a", b"b"]
        assert f[group.attrs["source_000"]] == source
        status = group["completed_positions"]
        assert status.shape == (200,) and status.dtype == np.uint8 and status[()].all()
        for name in ("Mean", "Spectrum"):
            assert is_main(group[name])
            assert f[group[name].attrs["Position_Indices"]] == f[source.attrs["Position_Indices"]]
        assert f[group["Spectrum"].attrs["Spectroscopic_Values"]] == f[source.attrs["Spectroscopic_Values"]]


def test_results_in_another_file_copy_ancillaries(usid_file: Path, tmp_path: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.h5"
    result = mean_process(usid_file, target=out, batch_size=64).compute()
    assert result.path == str(out) and result.group == "/Raw_Data-Mean_000"
    with h5py.File(out, "r") as f:
        group = f[result.group]
        assert group.attrs["source_dataset_path"] == DATASET
        assert Path(group.attrs["source_file_path"]) == usid_file.resolve()
        assert is_main(group["Mean"]) and is_main(group["Spectrum"])
        assert "Position_Indices" in group


def test_same_parameters_return_the_same_group_without_computing(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    first = mean_process(usid_file, parameters={"a": 1}).compute()
    process = mean_process(usid_file, parameters={"a": 1})
    second = process.compute()
    assert second.group == first.group and second.computed == 0
    assert type(process).rows_computed == 0


def test_other_parameters_and_override_make_new_groups(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file, parameters={"a": 1}).compute()
    with h5py.File(usid_file, "r") as f:
        old = f[GROUP]["Mean"][()]
    assert mean_process(usid_file, parameters={"a": 2}).compute().group.endswith("_001")
    assert mean_process(usid_file, parameters={"a": 1}).compute(override=True).group.endswith("_002")
    with h5py.File(usid_file, "r") as f:
        np.testing.assert_array_equal(f[GROUP]["Mean"][()], old)


def test_parameter_matching_is_exact(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file, parameters={"a": 1.0}).compute()
    for other in ({"a": 1.0000001}, {"a": 1}, {"a": 1.0, "b": None}):
        assert mean_process(usid_file, parameters=other).find_results().complete == ()
    nested = {"a": [1.0, "x"], "b": {"c": np.arange(3)}, "d": None}
    mean_process(usid_file, parameters=nested).compute()
    assert mean_process(usid_file, parameters=nested).find_results().complete == ("Raw_Data-Mean_001",)


def _make_partial(path: Path, group: str, done: int) -> None:
    with h5py.File(path, "a") as f:
        status = f[group]["completed_positions"]
        status[done:] = 0


def test_partial_runs_resume_and_complete_ones_win(usid_file: Path, raw: np.ndarray, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file).compute()
    mean_process(usid_file).compute(override=True)
    mean_process(usid_file).compute(override=True)
    _make_partial(usid_file, GROUP[:-3] + "001", 50)
    _make_partial(usid_file, GROUP[:-3] + "002", 120)
    found = mean_process(usid_file).find_results()
    assert found.complete == ("Raw_Data-Mean_000",) and found.partial == ("Raw_Data-Mean_001", "Raw_Data-Mean_002")
    assert mean_process(usid_file).compute().group == GROUP  # complete beats partial
    with pytest.raises(HPCError, match="not a partial run"):
        mean_process(usid_file).compute(resume="Raw_Data-Mean_000")
    resumed = mean_process(usid_file, batch_size=9).compute(resume="Raw_Data-Mean_002")
    assert resumed.resumed and resumed.computed == 80
    with h5py.File(usid_file, "r") as f:
        np.testing.assert_array_equal(f[resumed.group]["Mean"][()], _expected(raw)["Mean"])


def test_most_recent_partial_is_resumed_by_default(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file).compute()
    mean_process(usid_file).compute(override=True)
    _make_partial(usid_file, GROUP, 10)
    _make_partial(usid_file, GROUP[:-3] + "001", 30)
    result = mean_process(usid_file).compute()
    assert result.group.endswith("_001") and result.computed == 170


def test_resume_with_non_contiguous_gaps_keeps_row_order(usid_file: Path, raw: np.ndarray, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file).compute()
    with h5py.File(usid_file, "a") as f:
        group = f[GROUP]
        holes = np.array([0, 3, 4, 5, 77, 150, 199])
        for hole in holes.tolist():
            group["Mean"][hole] = -1
            group["Spectrum"][hole] = -1
            group["completed_positions"][hole] = 0
    result = mean_process(usid_file, batch_size=4).compute()
    assert result.computed == len(holes)
    with h5py.File(usid_file, "r") as f:
        np.testing.assert_array_equal(f[GROUP]["Spectrum"][()], _expected(raw)["Spectrum"])


def test_legacy_groups(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(usid_file, "a") as f:
        parent = f["/Measurement_000/Channel_000"]
        parent.create_group("Raw_Data-Mean_000").attrs["last_pixel"] = 200  # complete
        parent.create_group("Raw_Data-Mean_001")  # neither marker: ignored
    found = mean_process(usid_file).find_results()
    assert found.complete == ("Raw_Data-Mean_000",) and found.partial == ()
    with h5py.File(usid_file, "a") as f:
        f["/Measurement_000/Channel_000/Raw_Data-Mean_000"].attrs["last_pixel"] = 40
    assert mean_process(usid_file).find_results().partial == ("Raw_Data-Mean_000",)


def test_discovery_is_read_only(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    mean_process(usid_file).compute()
    _make_partial(usid_file, GROUP, 10)
    before = hashlib.sha256(usid_file.read_bytes()).hexdigest()
    process = mean_process(usid_file)
    assert process.find_results().partial == ("Raw_Data-Mean_000",)
    assert hashlib.sha256(usid_file.read_bytes()).hexdigest() == before


def test_budget_below_one_position_is_a_clear_error(usid_file: Path, mean_process) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HPCError, match="max_mem_mb"):
        mean_process(usid_file, max_mem_mb=0.0001).compute()


def test_zarr_store_resume(usid_file: Path, tmp_path: Path, raw: np.ndarray, mean_process) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out.zarr"
    result = mean_process(usid_file, target=target, batch_size=16).compute()
    group = zarr.open_group(str(target), mode="r+")[result.group]
    assert group["Mean"].chunks == (16, 1) and group.attrs["tool"] == "Mean"
    group["completed_positions"][32:64] = 0
    again = mean_process(usid_file, target=target, batch_size=16).compute()
    assert (again.resumed, again.computed) == (True, 32)
    np.testing.assert_array_equal(np.asarray(group["Spectrum"][...]), _expected(raw)["Spectrum"])


class _SleepyProcess(Process):
    """Costs 20 ms per position (sleeping, so the cost holds on a busy machine); records its batch sizes."""

    tool = "Sleepy"
    batch_rows: ClassVar[list[int]] = []

    def outputs(self) -> list[OutputSpec]:
        return [OutputSpec("Sum", columns=1)]

    def compute_batch(self, data: np.ndarray) -> dict[str, np.ndarray]:
        type(self).batch_rows.append(len(data))
        time.sleep(0.02 * len(data))
        return {"Sum": data.sum(axis=1, keepdims=True)}


def test_time_based_checkpoint_interval(tmp_path: Path, usid_writer, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    data = np.random.default_rng(3).standard_normal((60, 8)).astype(np.float32)
    path = usid_writer(tmp_path / "raw.h5", data)
    checkpoints: list[float] = []
    original = stores._HDF5Writer.mark_done

    def timed(self, positions):  # type: ignore[no-untyped-def]
        original(self, positions)
        checkpoints.append(time.monotonic())

    monkeypatch.setattr(stores._HDF5Writer, "mark_done", timed)
    _SleepyProcess.batch_rows = []
    interval = 0.3
    # batch_size=60 alone would be one batch (no checkpoint for 1.2 s); the interval caps it.
    process = _SleepyProcess(path, dataset=DATASET, batch_size=60, checkpoint_interval_s=interval, progress=False)
    start = time.monotonic()
    process.compute()
    trial, *batches = _SleepyProcess.batch_rows
    assert trial <= 4 and sum(batches) == 60  # the timed trial is not written; every position once
    assert max(batches) <= int(interval * 0.5 / 0.02)
    gaps = np.diff([start, *checkpoints])
    assert len(checkpoints) == len(batches) and gaps.max() <= interval, gaps
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(f["/Measurement_000/Channel_000/Raw_Data-Sleepy_000/Sum"][:, 0], data.sum(axis=1))
    with pytest.raises(ValueError, match="checkpoint_interval_s"):
        _SleepyProcess(path, dataset=DATASET, checkpoint_interval_s=0)
