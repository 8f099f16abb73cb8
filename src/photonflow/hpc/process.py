"""The ``Process`` base class: batched, checkpointed, resumable computation over every position of a Main dataset.

A scientist subclasses :class:`Process`, declares the outputs (:meth:`Process.outputs`) and writes the per-batch
computation (:meth:`Process.compute_batch`, rows in → rows out, vectorised). :meth:`Process.compute` does the
rest, the same way on a laptop (``python script.py``) and on a cluster (``mpiexec python script.py``):

1. rank 0 finds earlier runs (read-only): a complete run with the same parameters is returned as is, a partial
   one is resumed, otherwise a new results group ``<source>-<tool>_NNN`` is created with every dataset allocated;
   the plan (group, batches) or the error is broadcast, so every rank fails or proceeds together;
2. batches are handed out dynamically (a one-sided MPI atomic counter, no rank serves it); with
   ``checkpoint_interval_s`` a timed trial of a few positions caps the batch so that a checkpoint is written at
   least that often;
3. HDF5: rank 0 is the only writer and holds the file; other ranks read the source read-only and send results
   to rank 0, which writes, flushes and then flags each batch done. Zarr: every rank writes its own chunks;
4. SIGTERM/SIGUSR1 (e.g. Slurm's ``--signal``) stop taking new batches; the run ends with a clean checkpoint and
   :class:`~photonflow.errors.ComputeInterruptedError`;
5. waits for other ranks are polled, so a rank that died (on the same node) is noticed: the job is aborted at
   once instead of waiting for the launcher, and a re-run resumes from the last checkpoint.

Every row must be computed independently of the other rows of its batch: that is what makes a resumed run
(with other batch boundaries, or another number of ranks) bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, cast

import h5py
import numpy as np

from photonflow.errors import ComputeInterruptedError, HPCError
from photonflow.hpc.memory import batch_size_for, memory_budget
from photonflow.hpc.mpi import POLL_S, Comm, Request, get_comm
from photonflow.hpc.outputs import OutputSpec, SourceInfo
from photonflow.hpc.params import canonical_json, parameters_hash
from photonflow.hpc.stores import (
    STATUS_NAME,
    Discovery,
    HDF5Store,
    ResultWriter,
    RunIdentity,
    ZarrStore,
    contiguous_runs,
)
from photonflow.hpc.usid import check_main

__all__ = ["Process", "ProcessResult"]

_T = TypeVar("_T")
_TAG = 61
# Rank 0 polls for results between slices of its own batches, at most this many: each slice is a smaller, less
# efficient compute_batch call (measured: FFT rows of 16384 samples cost 24 % more in slices of 16 than of 64), so
# rank 0 slices only as much as there are other ranks sending to it; each of them keeps 2 sends in flight.
_SLICES_ON_WRITER = 4
_ALIVE_EVERY_S = 0.05  # how often a waiting rank checks that its peers live (a check reads /proc)
_TRIAL_POSITIONS = 4  # positions timed to size batches for checkpoint_interval_s
_TRIAL_MARGIN = 0.5  # batches take at most this share of the interval: writing and a slower row need the rest


@dataclass(frozen=True)
class ProcessResult:
    """Where a run's results are, and what this call did.

    Attributes
    ----------
    path : str
        The HDF5 file or Zarr directory holding the results group.
    group : str
        Path of the results group inside it.
    store : {"hdf5", "zarr"}
    computed : int
        Positions computed by this call (0 when an identical complete run was found).
    resumed : bool
        True when this call continued a partial run.
    """

    path: str
    group: str
    store: str
    computed: int
    resumed: bool


@dataclass(frozen=True)
class _Plan:
    group: str
    batches: list[np.ndarray]
    resumed: bool
    complete: bool


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Process:
    """Base class of a batch computation over the positions (rows) of a USID Main dataset.

    Subclasses set :attr:`tool` (the results-group name part) and implement :meth:`outputs` and
    :meth:`compute_batch`; optionally :meth:`static_datasets`.

    Parameters
    ----------
    source : str, Path or h5py.Dataset
        The HDF5 file holding the Main dataset (with ``dataset``), or the dataset itself (serial runs only: under
        MPI the framework must open the file on each rank itself).
    dataset : str, optional
        Path of the Main dataset inside ``source`` when ``source`` is a file path.
    parameters : dict, optional
        The run's parameters. They identify the run exactly (``None`` → ``{}``).
    name : str, optional
        Tool name; default :attr:`tool`. ``-`` is replaced by ``_``.
    target : str, Path or h5py.Group, optional
        Where results go: default the source's parent group; an HDF5 file path (its root group); an
        ``h5py.Group``; or a directory ending in ``.zarr`` for a Zarr store.
    max_mem_mb : float, optional
        Memory cap for the node in MiB (the job's limit and the available memory also apply).
    mem_multiplier : float
        Working memory per position as a multiple of its input plus output bytes (≥ 1).
    batch_size : int, optional
        Positions per batch; default from the memory budget, with several batches per rank.
    workers : int
        Worker threads or processes for each batch on this rank (1: compute in the calling thread).
    executor : {"thread", "process"}
        Threads suit numpy/numba code that releases the GIL; processes (spawned, never forked) suit pure Python.
    comm : Comm, optional
        Communicator; default :func:`photonflow.hpc.mpi.get_comm` (MPI when launched by ``mpiexec``).
    progress : bool
        Show a progress bar (positions/s) on rank 0.
    checkpoint : bool
        Flush and flag every batch (default). False defers the flags to the end: faster, but a kill loses all.
    checkpoint_interval_s : float, optional
        Longest time between checkpoints: batches are capped to the positions that half this interval holds,
        from a timed trial of ``compute_batch`` on a few positions (not written) before the run.
    """

    tool: ClassVar[str] = ""
    algorithm: ClassVar[str] = ""
    version: ClassVar[str] = "1"

    def __init__(
        self,
        source: str | Path | h5py.Dataset,
        *,
        dataset: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        target: str | Path | h5py.Group | None = None,
        max_mem_mb: float | None = None,
        mem_multiplier: float = 2.0,
        batch_size: int | None = None,
        workers: int = 1,
        executor: Literal["thread", "process"] = "thread",
        comm: Comm | None = None,
        progress: bool = True,
        checkpoint: bool = True,
        checkpoint_interval_s: float | None = None,
    ) -> None:
        tool = name if name is not None else (type(self).tool or type(self).__name__)
        if not isinstance(tool, str) or not tool:
            raise TypeError(f"name must be a non-empty string, got {tool!r}")
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, Mapping):
            raise TypeError(f"parameters must be a dict, got {type(parameters).__name__}")
        if mem_multiplier < 1:
            raise ValueError(f"mem_multiplier must be ≥ 1, got {mem_multiplier}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if checkpoint_interval_s is not None and not checkpoint_interval_s > 0:
            raise ValueError(f"checkpoint_interval_s must be > 0, got {checkpoint_interval_s}")
        if workers < 1 or executor not in ("thread", "process"):
            raise ValueError(f"workers must be ≥ 1 and executor 'thread' or 'process'; got {workers}, {executor!r}")
        self.tool_name = tool.replace("-", "_")
        self.parameters = dict(parameters)
        record = canonical_json(self.tool_name, type(self).version, self.parameters)
        self.identity = RunIdentity(
            tool=self.tool_name,
            parameters=self.parameters,
            record=record,
            digest=parameters_hash(record),
            algorithm=type(self).algorithm or f"photonflow.{type(self).__name__}",
        )
        self.comm: Comm = comm if comm is not None else get_comm()
        self._handle: h5py.Dataset | None = None
        self._target_handle: h5py.Group | None = None
        if isinstance(source, h5py.Dataset):
            if self.comm.size > 1:
                raise HPCError(
                    "under MPI pass the file path (source='file.h5', dataset='/path'), not an open h5py handle: "
                    "each rank must open the file itself"
                )
            self._handle = source
            self.source = _describe(source)
        else:
            if dataset is None:
                raise TypeError("give dataset= (the Main dataset's path in the file) with a file path source")
            with h5py.File(source, "r", locking=False) as f:
                if dataset not in f:
                    raise HPCError(f"{source} has no dataset {dataset!r}")
                self.source = _describe(f[dataset])
        self.store_kind = "hdf5"
        self.target_path = self.source.path
        self.target_group = self.source.parent
        if isinstance(target, h5py.Group):
            if self.comm.size > 1:
                raise HPCError("under MPI pass target as a file path, not an open h5py.Group")
            self._target_handle = target
            self.target_path, self.target_group = target.file.filename, target.name
        elif target is not None:
            self.target_path, self.target_group = str(target), "/"
            if str(target).rstrip("/").endswith(".zarr"):
                self.store_kind = "zarr"
        if self.store_kind == "hdf5":
            writable = self._target_handle.file if self._target_handle is not None else None
            if writable is None and self._handle is not None and _same_file(self.target_path, self.source.path):
                writable = self._handle.file
            if writable is not None and writable.mode != "r+":
                raise HPCError(f"{writable.filename} is open read-only; open it with mode 'r+' to write results")
        self.max_mem_mb = max_mem_mb
        self.mem_multiplier = float(mem_multiplier)
        self.batch_size = batch_size
        self.workers = workers
        self.executor = executor
        self.progress = progress
        self.checkpoint = checkpoint
        self.checkpoint_interval_s = checkpoint_interval_s

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes need the parameters and compute_batch, not the open handles or the communicator.
        state = dict(self.__dict__)
        state.update(_handle=None, _target_handle=None, comm=None)
        return state

    # ---- hooks -----------------------------------------------------------------------------------------------

    def outputs(self) -> Sequence[OutputSpec]:
        """The result datasets, one row per position. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__} must define outputs()")

    def compute_batch(self, data: np.ndarray) -> Mapping[str, np.ndarray]:
        """Compute one batch: ``data`` is (B, S); return ``{output name: array of shape (B, columns)}``.

        Must be overridden, and must treat rows independently.
        """
        raise NotImplementedError(f"{type(self).__name__} must define compute_batch()")

    def static_datasets(self) -> Mapping[str, np.ndarray]:
        """Datasets written once into the results group (e.g. a filter's transfer function)."""
        return {}

    # ---- public API --------------------------------------------------------------------------------------------

    def test(self, position: int) -> dict[str, np.ndarray]:
        """Compute one position in memory and return its outputs (rows of length ``columns``); writes nothing."""
        if not 0 <= position < self.source.positions:
            raise IndexError(f"position {position} is outside 0..{self.source.positions - 1}")
        with self._source_dataset() as dset:
            row = dset[position : position + 1]
        return {k: np.asarray(v)[0] for k, v in self._checked(self.compute_batch(row), 1).items()}

    def find_results(self) -> Discovery:
        """Earlier complete and partial results groups of this run (same tool and parameters). Read-only."""
        with self._store(write=False) as store:
            return store.discover(self.identity)

    def compute(self, *, override: bool = False, resume: str | None = None) -> ProcessResult:
        """Compute every position not yet done, and return where the results are.

        Parameters
        ----------
        override : bool
            Start a new results group even when an identical run exists.
        resume : str, optional
            Name of the partial group to resume (default: the most recent partial one).

        Raises
        ------
        NotImplementedError
            When a hook is missing (nothing is written).
        ComputeInterruptedError
            When SIGTERM/SIGUSR1 stopped the run; everything computed is checkpointed.
        """
        outputs = self._checked_outputs()
        stop = threading.Event()
        writes = self.comm.rank == 0 or self.store_kind == "zarr"
        with self._files(mode="write" if writes else "source") as files, _signals_set(stop):
            plan: _Plan = self._on_root(lambda: self._prepare(files, outputs, override=override, resume=resume))
            result_path = self.target_path
            if plan.complete:
                return ProcessResult(result_path, self._group_path(plan.group), self.store_kind, 0, False)
            computed = self._run(files, plan, outputs, stop)
        interrupted = self.comm.allreduce_max(1.0 if stop.is_set() else 0.0) > 0
        if interrupted:
            raise ComputeInterruptedError(
                f"stopped by a signal after {computed} positions on rank {self.comm.rank}; "
                "run the same command again to resume"
            )
        return ProcessResult(result_path, self._group_path(plan.group), self.store_kind, computed, plan.resumed)

    # ---- internals ---------------------------------------------------------------------------------------------

    def _group_path(self, group: str) -> str:
        return f"{self.target_group.rstrip('/')}/{group}" if self.store_kind == "hdf5" else group

    def _checked_outputs(self) -> list[OutputSpec]:
        if type(self).compute_batch is Process.compute_batch:
            raise NotImplementedError(f"{type(self).__name__} must define compute_batch()")
        outputs = list(self.outputs())
        names = [o.name for o in outputs]
        if not outputs or len(set(names)) != len(names) or STATUS_NAME in names:
            raise HPCError(f"outputs() must declare distinct dataset names (not {STATUS_NAME!r}); got {names}")
        return outputs

    def _checked(self, results: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        out = {}
        for spec in self._checked_outputs():
            if spec.name not in results:
                raise HPCError(f"compute_batch() returned no {spec.name!r} (it returned {sorted(results)})")
            value = np.asarray(results[spec.name])
            if value.ndim == 1:
                value = value[:, None]
            if value.shape != (rows, spec.width(self.source)):
                raise HPCError(
                    f"compute_batch() returned {spec.name!r} of shape {value.shape}; "
                    f"expected {(rows, spec.width(self.source))}"
                )
            out[spec.name] = value.astype(spec.dtype, copy=False)
        return out

    def _on_root(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on rank 0 and broadcast its result, or its exception so every rank raises it."""
        value: Any = None
        if self.comm.rank == 0:
            try:
                value = fn()
            except BaseException as exc:  # re-raised below on every rank, so no rank is left waiting
                value = _Failure(exc)
        value = self.comm.bcast(value, root=0)
        if isinstance(value, _Failure):
            raise value.exc
        return cast(_T, value)

    @contextlib.contextmanager
    def _source_dataset(self) -> Iterator[h5py.Dataset]:
        if self._handle is not None:
            yield self._handle
            return
        with h5py.File(self.source.path, "r", locking=False) as f:
            yield f[self.source.dataset]

    @contextlib.contextmanager
    def _store(self, *, write: bool) -> Iterator[HDF5Store | ZarrStore]:
        with self._files(mode="write" if write else "read") as files:
            yield files.store_for(self)

    @contextlib.contextmanager
    def _files(self, *, mode: Literal["write", "read", "source"]) -> Iterator[_Files]:
        """Open this rank's files; if any rank fails to, every rank raises (none is left waiting)."""
        files: _Files | None = None
        error: BaseException | None = None
        try:
            files = _Files(self, mode=mode)
        except BaseException as exc:  # shared with the other ranks below, then re-raised
            error = exc
        if self.comm.allreduce_max(1.0 if error is not None else 0.0) > 0:
            if files is not None:
                files.close()
            raise error if error is not None else HPCError("another rank could not open its files; see its error")
        assert files is not None
        try:
            yield files
        finally:
            files.close()

    def _prepare(self, files: _Files, outputs: list[OutputSpec], *, override: bool, resume: str | None) -> _Plan:
        store = files.store_for(self)
        found = store.discover(self.identity)
        if resume is not None and resume not in found.partial:
            raise HPCError(f"{resume!r} is not a partial run of these parameters; partial runs: {list(found.partial)}")
        if not override and resume is None and found.complete:
            return _Plan(found.complete[-1], [], False, True)
        chosen = resume if resume is not None else (found.partial[-1] if found.partial and not override else None)
        cap = self._time_cap(files.reader(self)) if self.checkpoint_interval_s is not None else None

        def sized(positions: int | None = None) -> int:
            size = self._batch_size(outputs, positions)
            return size if cap is None else min(size, cap)

        if chosen is None:
            chosen = f"{self.source.name}-{self.tool_name}_{found.next_index:03d}"
            store.create(chosen, self.identity, outputs, self.static_datasets(), sized())
        pending = store.pending(chosen)
        batches = store.batches(chosen, pending, sized(len(pending)))
        return _Plan(chosen, batches, chosen in found.partial, len(pending) == 0)

    def _time_cap(self, reader: h5py.Dataset) -> int:
        """Positions per batch that keep a batch within the share of ``checkpoint_interval_s`` it may take."""
        assert self.checkpoint_interval_s is not None
        rows = np.arange(min(_TRIAL_POSITIONS, self.source.positions))
        data = _read_rows(reader, rows)
        start = time.perf_counter()
        self._checked(self.compute_batch(data), len(rows))
        per_position = (time.perf_counter() - start) / len(rows)
        return max(1, int(self.checkpoint_interval_s * _TRIAL_MARGIN / max(per_position, 1e-9)))

    def _batch_size(self, outputs: Sequence[OutputSpec], positions: int | None = None) -> int:
        if self.batch_size is not None:
            return self.batch_size
        source_bytes = self.source.dtype.itemsize * self.source.shape[1]
        out_bytes = sum(np.dtype(o.dtype).itemsize * o.width(self.source) for o in outputs)
        budget = memory_budget(max_mem_mb=self.max_mem_mb, ranks_on_node=self.comm.local_size)
        return batch_size_for(
            bytes_per_position=(source_bytes + out_bytes) * self.mem_multiplier * self.workers,
            budget_bytes=budget,
            positions=self.source.positions if positions is None else positions,
            ranks=self.comm.size,
        )

    def _run(self, files: _Files, plan: _Plan, outputs: list[OutputSpec], stop: threading.Event) -> int:
        reader = files.reader(self)
        writer = files.writer_for(self, plan.group, outputs)
        # Created last: it synchronises the ranks, so none starts taking batches while another still opens files.
        counter = self.comm.counter()
        total = sum(len(b) for b in plan.batches)
        bar = _progress_bar(total, enabled=self.progress and self.comm.rank == 0, resumed=plan.resumed)
        pool = _make_pool(self.workers, self.executor)
        done = 0
        try:
            compute = _BatchComputer(self, reader, pool)
            if self.comm.size > 1 and self.store_kind == "hdf5":
                if self.comm.rank == 0:
                    done = self._coordinate(plan, compute, writer, counter, stop, bar)
                else:
                    done = self._work_for_rank0(plan, compute, counter, stop)
            else:
                while not stop.is_set() and (i := counter.next()) < len(plan.batches):
                    positions = plan.batches[i]
                    assert writer is not None
                    writer.write(positions, compute(positions))
                    writer.mark_done(positions)
                    done += len(positions)
                    bar.update(len(positions))
            if writer is not None:
                writer.close()
        except BaseException:
            if self.comm.size > 1:
                # Another rank may be waiting for this one: abort the job instead of hanging it. Every batch
                # already flagged done is on disk, so a re-run resumes.
                traceback.print_exc()
                sys.stderr.flush()
                self.comm.abort(1)
            raise
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown()
        counter.free()
        self.comm.barrier()
        return done

    def _coordinate(
        self,
        plan: _Plan,
        compute: _BatchComputer,
        writer: ResultWriter | None,
        counter: Any,
        stop: threading.Event,
        bar: Any,
    ) -> int:
        """Rank 0 with HDF5: compute batches too, and write every rank's results as they arrive."""
        assert writer is not None
        working = set(range(1, self.comm.size))
        watch = _Watch(self.comm)
        slices = min(_SLICES_ON_WRITER, self.comm.size - 1)
        done = 0

        def handle(message: tuple[Any, ...], source: int) -> None:
            if message[0] == "done":
                working.discard(source)
                return
            _, positions, results = message
            writer.write(positions, results)
            writer.mark_done(positions)
            bar.update(len(positions))

        def drain() -> bool:
            received = False
            while (got := self.comm.try_recv(tag=_TAG)) is not None:
                handle(*got)
                received = True
            watch.check(working)  # also between rank 0's own batches: a dead rank ends the job now
            return received

        while not stop.is_set() and (i := counter.next()) < len(plan.batches):
            positions = plan.batches[i]
            parts = [compute(piece, after=drain) for piece in np.array_split(positions, slices) if len(piece)]
            results = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            writer.write(positions, results)
            writer.mark_done(positions)
            done += len(positions)
            bar.update(len(positions))
            drain()
        while working:
            if not drain():
                time.sleep(POLL_S)
        return done

    def _work_for_rank0(self, plan: _Plan, compute: _BatchComputer, counter: Any, stop: threading.Event) -> int:
        """A rank other than 0 with HDF5: compute batches and send the results to rank 0 (at most 2 in flight)."""
        pending: deque[Any] = deque()
        watch = _Watch(self.comm)
        done = 0
        while not stop.is_set() and (i := counter.next()) < len(plan.batches):
            positions = plan.batches[i]
            pending.append(self.comm.isend(("result", positions, compute(positions)), dest=0, tag=_TAG))
            done += len(positions)
            while len(pending) > 2:
                _wait_sent(watch, pending.popleft())
        while pending:
            _wait_sent(watch, pending.popleft())
        _wait_sent(watch, self.comm.isend(("done",), dest=0, tag=_TAG))
        return done


class _Watch:
    """Raises when a peer rank died; checks at most every ``_ALIVE_EVERY_S``."""

    def __init__(self, comm: Comm) -> None:
        self._comm = comm
        self._next = 0.0

    def check(self, ranks: set[int]) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _ALIVE_EVERY_S
        dead = sorted(r for r in ranks if not self._comm.alive(r))
        if dead:
            raise HPCError(f"rank(s) {dead} died; every batch flagged done is on disk: run the job again to resume")


def _wait_sent(watch: _Watch, request: Request) -> None:
    """Wait for a send to rank 0 without spinning in MPI, and give up if rank 0 died."""
    while not request.test()[0]:
        watch.check({0})
        time.sleep(POLL_S)


class _BatchComputer:
    """Reads a batch of positions and computes it, split over the rank's worker pool when there is one."""

    def __init__(self, process: Process, reader: h5py.Dataset, pool: Executor | None) -> None:
        self._process = process
        self._reader = reader
        self._pool = pool
        self._workers = process.workers

    def __call__(self, positions: np.ndarray, *, after: Callable[[], object] | None = None) -> dict[str, np.ndarray]:
        data = _read_rows(self._reader, positions)
        if self._pool is None or len(positions) < 2:
            results = self._process.compute_batch(data)
        else:
            blocks = [b for b in np.array_split(data, self._workers) if len(b)]
            parts = list(self._pool.map(self._process.compute_batch, blocks))
            results = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
        checked = self._process._checked(results, len(positions))
        if after is not None:
            after()
        return checked


def _read_rows(dset: h5py.Dataset, positions: np.ndarray) -> np.ndarray:
    runs = contiguous_runs(positions)
    if len(runs) == 1:
        return np.asarray(dset[runs[0][1] : runs[0][2]])
    return np.concatenate([dset[start:stop] for _, start, stop in runs])


def _make_pool(workers: int, kind: str) -> Executor | None:
    if workers == 1:
        return None
    if kind == "process":
        return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photonflow-batch")


class _NoBar:
    def update(self, n: int) -> None:
        """No progress bar on this rank."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(total: int, *, enabled: bool, resumed: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="pos", desc="resuming" if resumed else "computing", mininterval=1.0)


@contextlib.contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """While computing, SIGTERM and SIGUSR1 ask for a clean stop after the current batch."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _describe(dset: h5py.Dataset) -> SourceInfo:
    check_main(dset)
    quantity, units = (dset.attrs[k] for k in ("quantity", "units"))
    return SourceInfo(
        path=str(Path(dset.file.filename).resolve()),
        dataset=dset.name,
        shape=(int(dset.shape[0]), int(dset.shape[1])),
        dtype=np.dtype(dset.dtype),
        quantity=quantity.decode() if isinstance(quantity, bytes) else str(quantity),
        units=units.decode() if isinstance(units, bytes) else str(units),
    )


class _Files:
    """The files one rank holds open during a run.

    Rank 0 opens the HDF5 target for writing; other ranks open only the source, read-only and without HDF5 file
    locking (rank 0 holds the lock; they read the source dataset, which nobody writes, and nothing else).
    """

    def __init__(self, process: Process, *, mode: Literal["write", "read", "source"]) -> None:
        self._owned: list[h5py.File] = []
        self._source: h5py.Dataset | None = process._handle
        self._target: h5py.Group | None = process._target_handle
        self._zarr: ZarrStore | None = None
        self._writer = mode == "write"
        same = _same_file(process.target_path, process.source.path)
        if process.store_kind == "hdf5" and mode != "source" and self._target is None:
            if same and self._source is not None:
                self._target = self._source.file[process.target_group]
            elif mode == "read" and not Path(process.target_path).exists():
                self._target = None
            else:
                file_mode = ("r+" if same else "a") if self._writer else "r"
                f = self._open(process.target_path, file_mode, locking=self._writer)
                self._target = f.require_group(process.target_group) if self._writer else f[process.target_group]
                if same:
                    self._source = f[process.source.dataset]
        if self._source is None:
            self._source = self._open(process.source.path, "r", locking=False)[process.source.dataset]

    def _open(self, path: str, mode: str, *, locking: bool) -> h5py.File:
        f = h5py.File(path, mode, locking=locking)
        self._owned.append(f)
        return f

    def store_for(self, process: Process) -> HDF5Store | ZarrStore:
        assert self._source is not None
        if process.store_kind == "zarr":
            if self._zarr is None:
                self._zarr = ZarrStore(process.target_path, process.source, self._source)
            return self._zarr
        if self._target is None:
            raise HPCError(f"no HDF5 results store is open on rank {process.comm.rank} ({process.target_path})")
        return HDF5Store(self._target, self._source, process.source)

    def reader(self, process: Process) -> h5py.Dataset:
        assert self._source is not None
        return self._source

    def writer_for(self, process: Process, group: str, outputs: Sequence[OutputSpec]) -> ResultWriter | None:
        if not self._writer:
            return None
        return self.store_for(process).writer(group, outputs, checkpoint=process.checkpoint)

    def close(self) -> None:
        for f in reversed(self._owned):
            f.close()
        self._owned.clear()
