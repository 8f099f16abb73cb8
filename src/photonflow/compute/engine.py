"""The rule engine: expands rules into Dask tasks placed beside their data, follows them, assembles results.

It runs in the scheduler process, on its own thread, with a synchronous :class:`distributed.Client`:

* localization rule: the series is re-listed every ``poll_s``; each spool chunk whose frames (and the frames its
  background window reaches after it) have landed is released and submitted with ``workers=[workers beside the
  server holding the chunk]``, ``allow_other_workers=True``; the release completes when the series does
  (``events.json``); when every chunk is done the ``.h5r`` is assembled once from the write-once parts;
* recipe rule: one task per input file, placed beside the server holding it;
* chaining: a localization rule's ``then`` (a recipe) becomes a recipe rule on its ``.h5r`` when it completes;
* retries: a failed task (an exception, or Dask giving up after losing workers) is resubmitted until
  ``max_attempts``;
* restart: state lives in :class:`~photonflow.compute.store.RuleStore`; running tasks are resubmitted and chunks
  whose part file exists are counted done without running again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from photonflow.compute import rules as R
from photonflow.compute.locality import chunk_server, workers_by_server
from photonflow.compute.monitor import Throughput
from photonflow.compute.tasks import ChunkTask, RecipeTask, frame_span, part_name, run_chunk, run_recipe_task
from photonflow.errors import AlreadyExistsError, NotFoundError, PhotonflowError, RecipeError

if TYPE_CHECKING:
    from distributed import Client, Future

    from photonflow.compute.store import RuleStore
    from photonflow.storage import ClusterClient

__all__ = ["EngineSettings", "RuleEngine", "default_results_path"]

log = logging.getLogger(__name__)

_FRAME_PREFIX, _FRAME_SUFFIX = "frame", ".pzf"
_CAMERA_KEYS = ("Camera.ADOffset", "Camera.ElectronsPerCount", "Camera.TrueEMGain", "Camera.ReadNoise",
                "Camera.NoiseFactor")  # fmt: skip


@dataclass(frozen=True)
class EngineSettings:
    """Knobs of the engine.

    Attributes
    ----------
    max_attempts : int
        Runs of a task before it counts as failed.
    poll_s : float
        Period of the engine loop (series re-listing, submission).
    """

    max_attempts: int = 3
    poll_s: float = 0.25


def default_results_path(series: str) -> str:
    """PYME's place for a series' results: ``<series dir>/analysis/<series stem>.h5r``."""
    parent, _, name = series.rstrip("/").rpartition("/")
    stem = PurePosixPath(name).stem
    return f"{parent}/analysis/{stem}.h5r" if parent else f"analysis/{stem}.h5r"


def _cluster_path(path: str) -> str:
    from photonflow.storage.client import normalize_path, parse_uri

    return parse_uri(path).path if "://" in path else normalize_path(path)


def _frame_index(name: str) -> int | None:
    if name.startswith(_FRAME_PREFIX) and name.endswith(_FRAME_SUFFIX):
        digits = name[len(_FRAME_PREFIX) : -len(_FRAME_SUFFIX)]
        if digits.isdigit():
            return int(digits)
    return None


class RuleEngine:
    """Rules → Dask tasks; thread-safe public methods (the HTTP service calls them from its threads).

    Parameters
    ----------
    store : RuleStore
        Persistence.
    cluster : ClusterClient
        The cluster's files (series listings, parts, results).
    dask : distributed.Client
        Client of the Dask scheduler.
    worker_names : callable
        Returns ``{worker address: worker name}`` of the workers connected now.
    settings : EngineSettings, optional
    """

    def __init__(
        self,
        *,
        store: RuleStore,
        cluster: ClusterClient,
        dask: Client,
        worker_names: Callable[[], Mapping[str, str]],
        settings: EngineSettings | None = None,
    ) -> None:
        self._store = store
        self._cc = cluster
        self._dask = dask
        self._worker_names = worker_names
        self._settings = settings or EngineSettings()
        self._lock = threading.RLock()
        self._rules: dict[str, R.Rule] = {}
        self._serial = store.next_serial()
        self._futures: dict[tuple[str, int], Future] = {}
        self._servers_of: dict[tuple[str, int], str | None] = {}
        self._metadata: dict[str, dict[str, Any]] = {}
        self._throughput: dict[str, Throughput] = {}
        self._events: queue.Queue[tuple[str, int, Future]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for rule in store.load():
            self._rules[rule.id] = rule
            if rule.status == "active":
                resumed = [t for t in rule.tasks.values() if t.status == "running"]
                for task in resumed:
                    task.status = "pending"  # its future died with the previous scheduler
                store.save_tasks(rule.id, resumed)

    # ------------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the engine thread."""
        self._thread = threading.Thread(target=self._run, name="pf-rule-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the engine thread (running Dask tasks are left to Dask)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ------------------------------------------------------------------------------------------------ API

    def submit_localization(
        self,
        series: str,
        *,
        params: Mapping[str, Any] | None = None,
        results: str | None = None,
        then: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a localization rule over ``series`` (which may still be spooling).

        Parameters
        ----------
        series : str
            Cluster path or ``PYME-CLUSTER://`` URI of the ``.pcs`` series; its ``metadata.json`` must exist.
        params : mapping, optional
            :class:`~photonflow.localization.LocalizationParams` fields.
        results : str, optional
            Cluster path of the ``.h5r``; default ``<series dir>/analysis/<stem>.h5r`` (``_1``, ``_2``… if taken).
        then : mapping, optional
            A recipe to chain on the results: ``{"recipe": YAML text, "output_dir": cluster dir}``.

        Raises
        ------
        NotFoundError
            No series there.
        ConfigError, AnalysisError, RecipeError
            Invalid parameters, camera metadata or chained recipe.
        """
        from photonflow.formats.metadata import Metadata
        from photonflow.localization import Camera, LocalizationParams

        path = _cluster_path(series)
        try:
            metadata = dict(Metadata.from_json(self._cc.get_file(f"{path}/metadata.json")))
        except NotFoundError:
            raise NotFoundError(f"/{path} is not a series on cluster {self._cc.cluster!r} (no metadata.json); "
                                "start spooling first, or check the path") from None
        merged = dict(params or {})
        if "pixel_size" not in merged and "voxelsize.x" in metadata:
            merged["pixel_size"] = float(metadata["voxelsize.x"]) * 1e3
        checked = LocalizationParams.from_mapping(merged)
        Camera.from_metadata(metadata)
        if then is not None:
            self._check_recipe(str(then.get("recipe", "")))
        if results is None:
            results = default_results_path(path)
            stem = results[: -len(".h5r")]
            n = 0
            while self._cc.exists(results) or self._cc.exists(f"{results[:-4]}.parts"):
                n += 1
                results = f"{stem}_{n}.h5r"
        results = _cluster_path(results)
        params_doc: dict[str, Any] = {f.name: getattr(checked, f.name) for f in fields(checked)}
        params_doc["bg_range"] = list(params_doc["bg_range"])
        spec: dict[str, Any] = {
            "series": path,
            "params": params_doc,
            "results": results,
            "parts": results[: -len(".h5r")] + ".parts",
            "chunk_size": int(metadata.get("Spooler.ChunkSize", 50)),
            "then": dict(then) if then is not None else None,
        }
        with self._lock:
            rule = R.new_rule(self._next_serial(), "localization", spec)
            self._metadata[rule.id] = metadata
            self._rules[rule.id] = rule
            self._store.save_rule(rule)
            return rule.to_dict(with_tasks=False)

    def submit_recipe(
        self, recipe: str, inputs: Sequence[str], *, output_dir: str, parent: str | None = None
    ) -> dict[str, Any]:
        """Create a recipe rule: ``recipe`` (YAML text) on each cluster file of ``inputs``.

        Raises
        ------
        RecipeError
            The recipe does not parse or validate.
        ValueError
            No inputs.
        """
        self._check_recipe(recipe)
        if not inputs:
            raise ValueError("a recipe rule needs at least one input file")
        spec = {"recipe": recipe, "inputs": [_cluster_path(p) for p in inputs], "output_dir": _cluster_path(output_dir)}
        with self._lock:
            rule = R.new_rule(self._next_serial(), "recipe", spec, parent=parent)
            R.release(rule, range(len(spec["inputs"])))
            R.mark_release_complete(rule)
            self._rules[rule.id] = rule
            self._store.save_rule(rule)
            self._store.save_tasks(rule.id, list(rule.tasks.values()))
            return rule.to_dict(with_tasks=False)

    def list_rules(self) -> list[dict[str, Any]]:
        """Every rule, oldest first, without per-task detail."""
        with self._lock:
            return [self._doc(r, with_tasks=False) for r in self._rules.values()]

    def get_rule(self, rule_id: str) -> dict[str, Any]:
        """One rule with its tasks (states, attempts, errors: the failure log).

        Raises
        ------
        NotFoundError
            No such rule.
        """
        with self._lock:
            return self._doc(self._get(rule_id), with_tasks=True)

    def cancel_rule(self, rule_id: str) -> dict[str, Any]:
        """Cancel a rule: pending tasks are dropped and running ones cancelled in Dask."""
        with self._lock:
            rule = self._get(rule_id)
            if R.cancel(rule):
                for (rid, _), fut in list(self._futures.items()):
                    if rid == rule_id:
                        fut.cancel()
                self._store.save_rule(rule)
                self._store.save_tasks(rule.id, list(rule.tasks.values()))
            return self._doc(rule, with_tasks=False)

    def _doc(self, rule: R.Rule, *, with_tasks: bool) -> dict[str, Any]:
        """``Rule.to_dict`` plus the throughput this engine measured (``None`` until known; localization only)."""
        doc = rule.to_dict(with_tasks=with_tasks)
        meter = self._throughput.get(rule.id)
        fps, lps = meter.rates(time.monotonic(), ended=rule.status != "active") if meter else (None, None)
        doc["frames_per_s"], doc["localizations_per_s"] = fps, lps
        return doc

    def _get(self, rule_id: str) -> R.Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise NotFoundError(f"no rule {rule_id!r}; 'photonflow rules' lists them") from None

    def _next_serial(self) -> int:
        serial, self._serial = self._serial, self._serial + 1
        return serial

    @staticmethod
    def _check_recipe(text: str) -> None:
        from photonflow.recipes import parse_recipe

        if not text.strip():
            raise RecipeError("the chained recipe is empty; give its YAML text")
        parse_recipe(text)

    # ------------------------------------------------------------------------------------------------ loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep the engine alive; the rule that failed is retried on the next tick
                log.exception("rule engine tick failed")
            self._stop.wait(self._settings.poll_s)

    def tick(self) -> None:
        """One round: collect finished tasks, release and submit new ones, finish rules."""
        with self._lock:
            self._collect()
            placement = workers_by_server(self._worker_names())
            for rule in list(self._rules.values()):
                if rule.status == "active":
                    try:
                        self._advance(rule, placement)
                    except (PhotonflowError, OSError) as exc:
                        log.warning("rule %s: %s (will retry)", rule.id, exc)
                if rule.status == "assembling":
                    self._assemble(rule)

    def _collect(self) -> None:
        while True:
            try:
                rule_id, index, fut = self._events.get_nowait()
            except queue.Empty:
                return
            key = (rule_id, index)
            if self._futures.get(key) is fut:
                del self._futures[key]
            rule = self._rules.get(rule_id)
            if rule is None or index not in rule.tasks:
                continue
            if fut.status == "finished":
                outcome = fut.result()
                server = self._servers_of.get(key)
                local = None if server is None or outcome.dataserver is None else outcome.dataserver == server
                if R.task_done(rule, index, worker=None, local=local, rows=outcome.rows, seconds=outcome.elapsed_s):
                    rule.tasks[index].worker = outcome.dataserver
                    if rule.kind == "localization":
                        self._throughput.setdefault(rule.id, Throughput()).add(
                            time.monotonic(), frames=self._chunk_frames(rule, index), rows=outcome.rows)
                    if outcome.outputs:
                        rule.outputs.extend(o for o in outcome.outputs if o not in rule.outputs)
                        self._store.save_rule(rule)
            elif rule.status == "active":
                error = "cancelled by Dask" if fut.status == "cancelled" else repr(fut.exception())
                if R.fail_task(rule, index, error, max_attempts=self._settings.max_attempts):
                    log.info("rule %s task %d failed (%s); retrying", rule_id, index, error)
                else:
                    log.warning("rule %s task %d failed for good: %s", rule_id, index, error)
            fut.release()
            self._store.save_tasks(rule_id, [rule.tasks[index]])

    @staticmethod
    def _chunk_frames(rule: R.Rule, index: int) -> int:
        cs = int(rule.spec["chunk_size"])
        return max(min((index + 1) * cs, rule.frames) - index * cs, 0)

    def _advance(self, rule: R.Rule, placement: Mapping[str, list[str]]) -> None:
        if rule.kind == "localization":
            self._release_chunks(rule)
            locations = self._locations(rule)
        else:
            locations = {}
        for task in sorted((t for t in rule.tasks.values() if t.status == "pending"), key=lambda t: t.index):
            self._submit(rule, task.index, locations, placement)
        if R.is_finished(rule):
            R.finish(rule)
            self._store.save_rule(rule)

    def _series_metadata(self, rule: R.Rule) -> dict[str, Any]:
        from photonflow.formats.metadata import Metadata

        if rule.id not in self._metadata:
            text = self._cc.get_file(f"{rule.spec['series']}/metadata.json")
            self._metadata[rule.id] = dict(Metadata.from_json(text))
        return self._metadata[rule.id]

    def _release_chunks(self, rule: R.Rule) -> None:
        if rule.release_complete:
            return
        spec = rule.spec
        listing = self._cc.listdirectory(spec["series"], fresh=True)
        present = {i for name in listing if (i := _frame_index(name)) is not None}
        n = 0
        while n in present:
            n += 1
        complete = "events.json" in listing
        rule.frames = n
        cs = int(spec["chunk_size"])
        _, after = frame_span(spec["params"]["bg_range"])
        ready = math.ceil(n / cs) if complete else max((n - after) // cs, 0)
        new = R.release(rule, range(ready))
        if new and rule.parent is None and len(rule.tasks) == len(new):
            self._mark_existing_parts(rule)  # a resubmitted rule whose parts survive counts them once
        if complete:
            R.mark_release_complete(rule)
        if new or complete:
            self._store.save_rule(rule)
            self._store.save_tasks(rule.id, [rule.tasks[i] for i in new])

    def resume_existing_parts(self) -> None:
        """Count as done every released chunk whose part file exists (after a scheduler restart)."""
        with self._lock:
            for rule in self._rules.values():
                if rule.status == "active" and rule.kind == "localization":
                    self._mark_existing_parts(rule)

    def _mark_existing_parts(self, rule: R.Rule) -> None:
        try:
            names = set(self._cc.listdirectory(rule.spec["parts"], fresh=True))
        except NotFoundError:
            return
        changed = []
        for task in rule.tasks.values():
            if task.status != "done" and part_name(task.index) in names:
                rows = self._part(rule, task.index).shape[0]
                R.task_done(rule, task.index, worker=None, local=None, rows=int(rows))
                changed.append(task)
        if changed:
            self._store.save_tasks(rule.id, changed)

    def _locations(self, rule: R.Rule) -> dict[int, str | None]:
        spec = rule.spec
        cs = int(spec["chunk_size"])
        listing = self._cc.listdirectory(spec["series"])
        by_chunk: dict[int, list[tuple[str, ...]]] = {}
        for name, urls in listing.locations.items():
            i = _frame_index(name)
            if i is not None:
                by_chunk.setdefault(i // cs, []).append(tuple(urls))
        return {c: chunk_server(locs) for c, locs in by_chunk.items()}

    def _submit(
        self, rule: R.Rule, index: int, locations: Mapping[int, str | None], placement: Mapping[str, list[str]]
    ) -> None:
        servers = tuple(s.url for s in self._cc.servers())
        token = self._cc.token
        task: ChunkTask | RecipeTask
        fn: Callable[..., Any]
        if rule.kind == "localization":
            spec = rule.spec
            cs = int(spec["chunk_size"])
            metadata = self._series_metadata(rule)
            server = locations.get(index)
            task = ChunkTask(
                series=spec["series"], index=index, start=index * cs, stop=min((index + 1) * cs, rule.frames),
                n_frames=rule.frames, params=spec["params"],
                camera={k: metadata[k] for k in _CAMERA_KEYS if k in metadata}, parts_dir=spec["parts"],
                cluster=self._cc.cluster, servers=servers, token=token,
            )
            fn = run_chunk
        else:
            source = rule.spec["inputs"][index]
            server = self._file_server(source)
            task = RecipeTask(input=source, recipe=rule.spec["recipe"], output_dir=rule.spec["output_dir"],
                              cluster=self._cc.cluster, servers=servers, token=token)
            fn = run_recipe_task
        attempt = rule.tasks[index].attempts + 1
        workers = placement.get(server) if server else None
        # Beside the data when such a worker is connected; anywhere else if it is busy or gone.
        where: dict[str, Any] = {"workers": workers, "allow_other_workers": True} if workers else {}
        fut = self._dask.submit(fn, task, key=f"pf-{rule.id}-{index}-{attempt}", pure=False, **where)
        R.start_task(rule, index)
        self._futures[(rule.id, index)] = fut
        self._servers_of[(rule.id, index)] = server
        fut.add_done_callback(lambda f, r=rule.id, i=index: self._events.put((r, i, f)))
        if rule.kind == "localization":
            self._throughput.setdefault(rule.id, Throughput()).start(time.monotonic())
        self._store.save_tasks(rule.id, [rule.tasks[index]])

    def _file_server(self, path: str) -> str | None:
        parent, _, name = path.rpartition("/")
        try:
            listing = self._cc.listdirectory(parent)
        except NotFoundError:
            return None
        return chunk_server([listing.locations.get(name, ())])

    # ------------------------------------------------------------------------------------------------ results

    def _part(self, rule: R.Rule, index: int) -> np.ndarray:
        raw = self._cc.get_file(f"{rule.spec['parts']}/{part_name(index)}")
        return np.load(io.BytesIO(raw), allow_pickle=False)

    def _assemble(self, rule: R.Rule) -> None:
        try:
            if rule.kind == "localization":
                results = rule.spec["results"]
                self._write_results(rule)
                rule.outputs = [results]
                then = rule.spec.get("then")
                if then and rule.child is None:
                    out_dir = then.get("output_dir") or str(PurePosixPath(results).parent)
                    child = self.submit_recipe(str(then["recipe"]), [results], output_dir=out_dir, parent=rule.id)
                    rule.child = child["id"]
            rule.status = "complete"
        except (PhotonflowError, OSError) as exc:
            log.warning("rule %s: assembling results failed (%s); will retry", rule.id, exc)
            return
        self._store.save_rule(rule)

    def _write_results(self, rule: R.Rule) -> None:
        from photonflow.formats.h5r import H5RFile, events_to_records
        from photonflow.formats.pyme_fitresults import to_pyme_fitresults
        from photonflow.localization import empty_results

        results = rule.spec["results"]
        if self._cc.exists(results):
            return  # assembled before a restart: the file is write-once and complete
        tables = [self._part(rule, i) for i in sorted(rule.tasks)]
        table = np.concatenate(tables) if tables else empty_results()
        table = table[np.argsort(table["frame"], kind="stable")]
        params = rule.spec["params"]
        metadata = dict(self._series_metadata(rule))
        metadata.setdefault("voxelsize.x", params["pixel_size"] / 1e3)
        metadata.setdefault("voxelsize.y", params["pixel_size"] / 1e3)
        metadata.update({f"Analysis.{k}": v for k, v in params.items()})
        metadata["Analysis.RuleID"] = rule.id
        try:
            events = json.loads(self._cc.get_file(f"{rule.spec['series']}/events.json"))
        except NotFoundError:
            events = []
        pyme = to_pyme_fitresults(
            table, pixel_size_nm=params["pixel_size"],
            electrons_per_count=float(metadata.get("Camera.ElectronsPerCount", 1.0)),
            true_em_gain=float(metadata.get("Camera.TrueEMGain", 1.0)), roi_half_size=int(params["roi_size"]) // 2,
        )
        with tempfile.TemporaryDirectory(prefix="pf-h5r-") as tmp:
            path = Path(tmp) / "results.h5r"
            with H5RFile(path, "w") as h5:
                h5.write_metadata(metadata)
                h5.append("FitResults", pyme)
                h5.append("Localizations", table)
                if events:
                    h5.append("Events", events_to_records(events))
            # AlreadyExists: written by an earlier run of this step, from the same parts
            with contextlib.suppress(AlreadyExistsError):
                self._cc.put_file(results, path.read_bytes())

