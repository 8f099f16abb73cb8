"""What a Dask task runs: localize one spool chunk, or run a recipe on one file; results are write-once files.

Exactly-once results: a chunk task writes its rows as one write-once cluster file ``<parts>/chunk_NNNNNN.npy``. A
retried or duplicated task finds the file there (HTTP 409) and writes nothing, so no row is ever counted twice; the
rule engine assembles the ``.h5r`` once, from one part per chunk.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from distributed import WorkerPlugin

from photonflow.errors import AlreadyExistsError

__all__ = [
    "PLUGIN_NAME",
    "ChunkTask",
    "PhotonflowWorkerPlugin",
    "RecipeTask",
    "TaskOutcome",
    "frame_span",
    "part_name",
    "run_chunk",
    "run_recipe_task",
]

PLUGIN_NAME = "photonflow"


def part_name(index: int) -> str:
    """File name of chunk ``index``'s rows inside a rule's parts directory."""
    return f"chunk_{index:06d}.npy"


def frame_span(bg_range: Sequence[int]) -> tuple[int, int]:
    """Frames a chunk needs before and after itself for its background window ``[lo, hi)``."""
    lo, hi = int(bg_range[0]), int(bg_range[1])
    return max(-lo, 0), max(hi - 1, 0)


@dataclass(frozen=True)
class ChunkTask:
    """Localize frames ``start..stop-1`` of a series (one spool chunk).

    Attributes
    ----------
    series : str
        Cluster path of the ``.pcs`` series.
    index, start, stop : int
        Chunk number and frame range.
    n_frames : int
        Frames present in the series when the task was made (bounds the look-ahead of the background window).
    params : dict
        :class:`~photonflow.localization.LocalizationParams` fields.
    camera : dict
        PYME ``Camera.*`` metadata keys.
    parts_dir : str
        Cluster directory of the rule's write-once part files.
    cluster : str
        Cluster name.
    servers : tuple of str
        Data server URLs, in case the worker has no client of its own for this cluster.
    token : str or None
        Cluster token.
    """

    series: str
    index: int
    start: int
    stop: int
    n_frames: int
    params: dict[str, Any]
    camera: dict[str, Any]
    parts_dir: str
    cluster: str
    servers: tuple[str, ...] = ()
    token: str | None = None


@dataclass(frozen=True)
class RecipeTask:
    """Run a recipe (YAML text) on one cluster file, writing its outputs into ``output_dir`` on the cluster."""

    input: str
    recipe: str
    output_dir: str
    cluster: str
    servers: tuple[str, ...] = ()
    token: str | None = None


@dataclass(frozen=True)
class TaskOutcome:
    """What a task reports back (small: the data stay on the cluster).

    Attributes
    ----------
    rows : int
        Localizations (chunk) or files written (recipe).
    dataserver : str or None
        The data server the executing worker sits beside.
    duplicate : bool
        The result was already there (a retry or duplicate): nothing written.
    elapsed_s : float
        Time inside the task.
    outputs : tuple of str
        Cluster paths written (recipe tasks).
    """

    rows: int
    dataserver: str | None
    duplicate: bool
    elapsed_s: float
    outputs: tuple[str, ...] = ()


class PhotonflowWorkerPlugin(WorkerPlugin):
    """Per-worker state: the data server this worker sits beside and its cluster clients (one per cluster).

    Registered on every ``photonflow worker``; tasks reach it through ``get_worker().plugins["photonflow"]``.

    Parameters
    ----------
    dataserver : str, optional
        URL of the data server beside this worker.
    """

    name = PLUGIN_NAME

    def __init__(self, dataserver: str | None = None) -> None:
        self.dataserver = dataserver
        self._clients: dict[tuple[str, tuple[str, ...], str | None], Any] = {}
        self._lock = threading.Lock()

    def setup(self, worker: Any) -> None:
        """Dask plugin hook (nothing to prepare: clients are opened on first use)."""

    def teardown(self, worker: Any) -> None:
        """Dask plugin hook: close the cluster clients."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def client(self, cluster: str, servers: Sequence[str], token: str | None) -> Any:
        """A shared :class:`~photonflow.storage.ClusterClient` for ``cluster`` (thread-safe)."""
        from photonflow.storage import ClusterClient

        key = (cluster, tuple(servers), token)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = ClusterClient(cluster, list(servers), token=token, zeroconf=False)
            return self._clients[key]


def _plugin() -> PhotonflowWorkerPlugin:
    try:
        from distributed import get_worker

        plugin = get_worker().plugins.get(PLUGIN_NAME)
    except ValueError:  # not inside a Dask worker (a direct call)
        plugin = None
    return plugin if isinstance(plugin, PhotonflowWorkerPlugin) else PhotonflowWorkerPlugin()


def run_chunk(task: ChunkTask) -> TaskOutcome:
    """Localize one chunk and store its rows write-once; a second run of the same chunk writes nothing."""
    from photonflow.formats import pzf
    from photonflow.formats.series import frame_name
    from photonflow.localization import Camera, LocalizationParams, localize_chunk

    t0 = time.perf_counter()
    plugin = _plugin()
    client = plugin.client(task.cluster, task.servers, task.token)
    target = f"{task.parts_dir}/{part_name(task.index)}"
    if client.exists(target):
        return TaskOutcome(0, plugin.dataserver, True, time.perf_counter() - t0)
    params = LocalizationParams.from_mapping(task.params)
    before, after = frame_span(params.bg_range)
    lo = max(task.start - before, 0)
    hi = min(task.stop + after, task.n_frames)

    def frame(i: int) -> np.ndarray:
        return pzf.decode(client.get_file(f"{task.series}/{frame_name(i)}"))[0]

    table = localize_chunk(
        (frame(i) for i in range(task.start, task.stop)),
        task.start,
        camera=Camera.from_metadata(task.camera),
        params=params,
        preceding=[frame(i) for i in range(lo, task.start)],
        following=(frame(i) for i in range(task.stop, hi)),
    )
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    try:
        client.put_file(target, buf.getvalue())
        duplicate = False
    except AlreadyExistsError:
        duplicate = True  # another attempt of this chunk got there first; its rows count, ours are dropped
    return TaskOutcome(int(table.shape[0]), plugin.dataserver, duplicate, time.perf_counter() - t0)


def run_recipe_task(task: RecipeTask) -> TaskOutcome:
    """Fetch one input file, run the recipe on it, and store each output file write-once under ``output_dir``."""
    from photonflow.recipes import parse_recipe, run_recipe

    t0 = time.perf_counter()
    plugin = _plugin()
    client = plugin.client(task.cluster, task.servers, task.token)
    with tempfile.TemporaryDirectory(prefix="pf-recipe-") as tmp:
        source = Path(tmp) / "in" / Path(task.input).name
        source.parent.mkdir()
        source.write_bytes(client.get_file(task.input))
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        result = run_recipe(parse_recipe(task.recipe), {"input": str(source)}, context={"output_dir": str(out_dir)})
        written: list[str] = []
        duplicate = False
        for path in result.files:
            rel = Path(path).resolve().relative_to(out_dir.resolve()).as_posix()
            target = f"{task.output_dir.rstrip('/')}/{rel}"
            try:
                client.put_file(target, Path(path).read_bytes())
            except AlreadyExistsError:
                duplicate = True
            written.append(target)
    return TaskOutcome(len(written), plugin.dataserver, duplicate, time.perf_counter() - t0, tuple(written))
