"""Communicator abstraction: one interface for serial runs and MPI (mpi4py, SPMD) runs.

``mpi4py`` is imported only here, and only when the process was started by an MPI launcher with more than one
rank, so a laptop run never initialises MPI (importing mpi4py calls ``MPI_Init``, which is slow or fails on some
login nodes).

Point-to-point waits are polled (test, then a short sleep) rather than blocking in MPI: a blocked Open MPI call
spins on a core that another rank on the same node needs, and a poll loop can notice a peer that died (a rank on
the same node whose process is gone), which a blocking receive would wait for forever when the launcher does not
kill the job (``srun`` without ``--kill-on-bad-exit``, ``mpiexec --enable-recovery``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

__all__ = [
    "ANY_SOURCE",
    "AtomicCounter",
    "Comm",
    "MPIComm",
    "SerialComm",
    "get_comm",
    "launcher_world_size",
]

ANY_SOURCE = -1
POLL_S = 0.0005  # sleep between polls of a pending message: far below a batch's time, far above a spin

# Launchers and the environment variable each one sets to the world size: Open MPI, PMIx (Slurm srun --mpi=pmix,
# Open MPI 5), PMI-1/2 (MPICH/Hydra, Intel MPI, srun --mpi=pmi2).
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE")


class Request(Protocol):
    """A pending non-blocking send."""

    def wait(self) -> Any: ...

    def test(self) -> tuple[bool, Any]:
        """``(True, value)`` once complete, else ``(False, None)``; never blocks."""
        ...


class Comm(Protocol):
    """What :mod:`photonflow.hpc` needs from a communicator (a subset of ``mpi4py.MPI.Comm``)."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def local_size(self) -> int:
        """Number of ranks on this node (they share its memory)."""
        ...

    def barrier(self) -> None: ...

    def bcast(self, obj: Any, *, root: int = 0) -> Any: ...

    def allreduce_max(self, value: float) -> float: ...

    def isend(self, obj: Any, *, dest: int, tag: int) -> Request: ...

    def recv(self, *, source: int = ANY_SOURCE, tag: int) -> tuple[Any, int]:
        """Receive one object; return it with the sender's rank."""
        ...

    def iprobe(self, *, source: int = ANY_SOURCE, tag: int) -> bool: ...

    def try_recv(self, *, tag: int) -> tuple[Any, int] | None:
        """Receive one pending message from any rank, with its sender's rank; None when none is pending.

        Raises :class:`~photonflow.errors.HPCError` when the sender dies before the message has arrived.
        """
        ...

    def alive(self, rank: int) -> bool:
        """False when ``rank`` is known to have died (checked for ranks on this node; others count as alive)."""
        ...

    def abort(self, code: int) -> None: ...

    def counter(self) -> AtomicCounter: ...


class AtomicCounter(Protocol):
    """A shared counter: every call of :meth:`next` on any rank returns a distinct, increasing integer."""

    def next(self) -> int: ...

    def free(self) -> None: ...


@dataclass
class _LocalCounter:
    value: int = 0

    def next(self) -> int:
        self.value += 1
        return self.value - 1

    def free(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class _DoneRequest:
    def wait(self) -> None:
        """A serial send completes immediately."""

    def test(self) -> tuple[bool, Any]:
        return True, None


@dataclass
class SerialComm:
    """The communicator of a run without MPI: one rank, collectives are identities."""

    _mailbox: list[tuple[int, Any]] = field(default_factory=list)

    rank: int = 0
    size: int = 1
    local_size: int = 1

    def barrier(self) -> None:
        """Nothing to wait for."""

    def bcast(self, obj: Any, *, root: int = 0) -> Any:
        return obj

    def allreduce_max(self, value: float) -> float:
        return value

    def isend(self, obj: Any, *, dest: int, tag: int) -> Request:
        self._mailbox.append((tag, obj))
        return _DoneRequest()

    def recv(self, *, source: int = ANY_SOURCE, tag: int) -> tuple[Any, int]:
        for i, (t, obj) in enumerate(self._mailbox):
            if t == tag:
                del self._mailbox[i]
                return obj, 0
        raise RuntimeError("SerialComm.recv: no message was sent to this rank (a single rank cannot wait)")

    def iprobe(self, *, source: int = ANY_SOURCE, tag: int) -> bool:
        return any(t == tag for t, _ in self._mailbox)

    def try_recv(self, *, tag: int) -> tuple[Any, int] | None:
        return self.recv(tag=tag) if self.iprobe(tag=tag) else None

    def alive(self, rank: int) -> bool:
        return True

    def abort(self, code: int) -> None:
        os._exit(code)

    def counter(self) -> AtomicCounter:
        return _LocalCounter()


class _RMACounter:
    """A counter in a one-sided MPI window on rank 0, incremented with ``MPI_Fetch_and_op`` (no rank serves it)."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self._win = MPI.Win.Allocate(8 if comm.Get_rank() == 0 else 0, 8, comm=comm)
        if comm.Get_rank() == 0:
            self._win.Lock(0, MPI.LOCK_EXCLUSIVE)
            np.frombuffer(cast(Any, self._win.tomemory()), dtype=np.int64)[0] = 0
            self._win.Unlock(0)
        comm.Barrier()
        self._one = np.ones(1, dtype=np.int64)
        self._result = np.zeros(1, dtype=np.int64)

    def next(self) -> int:
        mpi = self._mpi
        self._win.Lock(0, mpi.LOCK_SHARED)
        self._win.Fetch_and_op(self._one, self._result, 0, 0, mpi.SUM)
        self._win.Unlock(0)
        return int(self._result[0])

    def free(self) -> None:
        self._win.Free()


class MPIComm:
    """A :class:`Comm` over an ``mpi4py`` communicator (``COMM_WORLD`` by default)."""

    def __init__(self, comm: Any = None) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self._comm = MPI.COMM_WORLD if comm is None else comm
        self._local_size = int(self._comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size())
        self._host = MPI.Get_processor_name()
        peers: list[tuple[str, int]] = self._comm.allgather((self._host, os.getpid()))
        # Only peers this process can see now are watched (same host name and PID namespace); the others count as
        # alive for ever, so a container with its own PID namespace never reads as a dead rank.
        self._watched = {rank: pid for rank, (host, pid) in enumerate(peers) if host == self._host and _running(pid)}

    @property
    def rank(self) -> int:
        return int(self._comm.Get_rank())

    @property
    def size(self) -> int:
        return int(self._comm.Get_size())

    @property
    def local_size(self) -> int:
        return self._local_size

    def barrier(self) -> None:
        self._comm.Barrier()

    def bcast(self, obj: Any, *, root: int = 0) -> Any:
        return self._comm.bcast(obj, root=root)

    def allreduce_max(self, value: float) -> float:
        return float(self._comm.allreduce(value, op=self._mpi.MAX))

    def isend(self, obj: Any, *, dest: int, tag: int) -> Request:
        return cast(Request, self._comm.isend(obj, dest=dest, tag=tag))

    def recv(self, *, source: int = ANY_SOURCE, tag: int) -> tuple[Any, int]:
        status = self._mpi.Status()
        src = self._mpi.ANY_SOURCE if source == ANY_SOURCE else source
        obj = self._comm.recv(source=src, tag=tag, status=status)
        return obj, int(status.Get_source())

    def iprobe(self, *, source: int = ANY_SOURCE, tag: int) -> bool:
        src = self._mpi.ANY_SOURCE if source == ANY_SOURCE else source
        return bool(self._comm.iprobe(source=src, tag=tag))

    def try_recv(self, *, tag: int) -> tuple[Any, int] | None:
        from photonflow.errors import HPCError

        status = self._mpi.Status()
        message = self._comm.improbe(source=self._mpi.ANY_SOURCE, tag=tag, status=status)
        if message is None:
            return None
        source = int(status.Get_source())
        request = message.irecv()
        while True:
            done, obj = request.test()
            if done:
                return obj, source
            if not self.alive(source):
                raise HPCError(f"rank {source} died while sending its results; run the job again to resume")
            time.sleep(POLL_S)

    def alive(self, rank: int) -> bool:
        pid = self._watched.get(rank)
        return True if pid is None else _running(pid)  # another node: only its launcher can tell

    def abort(self, code: int) -> None:
        self._comm.Abort(code)

    def counter(self) -> AtomicCounter:
        return _RMACounter(self._comm)


def _running(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (``/proc`` where there is one, else ``kill(pid, 0)``)."""
    if Path("/proc/self").exists():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def launcher_world_size(environ: Mapping[str, str] | None = None) -> int:
    """World size announced by an MPI launcher in the environment (1 when not launched by one).

    Parameters
    ----------
    environ : mapping, optional
        The environment to inspect (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    for name in _SIZE_VARIABLES:
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def get_comm(environ: Mapping[str, str] | None = None) -> Comm:
    """The communicator for this process: :class:`MPIComm` under a multi-rank launcher, else :class:`SerialComm`.

    ``mpiexec -n 1 python script.py`` and ``python script.py`` both give a serial communicator.
    """
    if launcher_world_size(environ) > 1:
        comm = MPIComm()
        if comm.size > 1:
            return comm
    return SerialComm()
