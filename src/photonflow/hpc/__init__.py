"""Batch computations over USID datasets on a laptop or an HPC cluster (MPI), with checkpoints and resume.

Public API: :class:`Process` (subclass it), :class:`OutputSpec`, :class:`ProcessResult`, :class:`Dimension`,
:class:`SignalFilter` and its frequency filters (in :mod:`photonflow.hpc.signal_filter`), and
:func:`photonflow.hpc.mpi.get_comm`.
"""

from __future__ import annotations

from photonflow.hpc.outputs import OutputSpec, SourceInfo
from photonflow.hpc.process import Process, ProcessResult
from photonflow.hpc.usid import Dimension

__all__ = ["Dimension", "OutputSpec", "Process", "ProcessResult", "SourceInfo"]
