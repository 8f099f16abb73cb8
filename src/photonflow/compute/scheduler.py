"""The scheduler process: a Dask scheduler, the rule engine and the rule API, advertised for discovery."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photonflow.config import Config

__all__ = ["SchedulerReady", "run_scheduler"]


@dataclass(frozen=True)
class SchedulerReady:
    """Where a started scheduler listens."""

    address: str  # tcp://host:port (Dask)
    api: str  # http://host:port (rules)
    dashboard: str | None


def _quiet_uvicorn(app: Any, host: str, port: int) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the scheduler owns SIGINT/SIGTERM
            yield

    return _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))


def run_scheduler(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_port: int = 0,
    dashboard: bool = False,
    state: Path,
    advertise: str = "local",
    ready: Callable[[SchedulerReady], None] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM.

    Parameters
    ----------
    config : Config
        Cluster name, data servers, token, retries.
    host, port : str, int
        Address of the Dask scheduler (``0``: a free port).
    api_port : int
        Port of the rule API on ``host`` (``0``: a free port).
    dashboard : bool
        Serve Dask's dashboard (needs bokeh) on a free port.
    state : Path
        SQLite file of the rules; unfinished rules in it are resumed.
    advertise : {"zeroconf", "local", "none"}
        How to announce the scheduler.
    ready : callable, optional
        Called once everything listens.
    """
    asyncio.run(_main(config, host, port, api_port, dashboard, state, advertise, ready))


async def _main(config: Config, host: str, port: int, api_port: int, dashboard: bool, state: Path, advertise: str,
                ready: Callable[[SchedulerReady], None] | None) -> None:
    from distributed import Scheduler

    from photonflow.compute.discovery import advertise_scheduler
    from photonflow.compute.service import build_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    kwargs: dict[str, Any] = {"dashboard": dashboard, "dashboard_address": f"{host}:0" if dashboard else None}
    async with Scheduler(host=host, port=port, **kwargs) as scheduler:
        # The engine uses a synchronous client and a thread of its own, so it is built off the event loop.
        engine, dask_client, store = await asyncio.to_thread(_make_engine, config, scheduler, state)
        app = build_app(engine, scheduler_address=scheduler.address, workers=lambda: scheduler.workers.values())
        server = _quiet_uvicorn(app, host, api_port)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()[1]
        api = f"http://{host}:{bound}"
        dash = None
        if dashboard and scheduler.http_server is not None:
            dash = f"http://{host}:{scheduler.http_server.port}/status"
        sched_port = int(scheduler.address.rsplit(":", 1)[1])
        try:
            with advertise_scheduler(cluster=config.cluster, host=host, port=sched_port, api=api,
                                     mode=advertise, interfaces=config.interfaces or None):  # type: ignore[arg-type]
                if ready is not None:
                    ready(SchedulerReady(scheduler.address, api, dash))
                await stop.wait()
        finally:
            server.should_exit = True
            await serving
            await asyncio.to_thread(_close_engine, engine, dask_client, store)


def _make_engine(config: Config, scheduler: Any, state: Path) -> tuple[Any, Any, Any]:
    from distributed import Client

    from photonflow.compute.engine import EngineSettings, RuleEngine
    from photonflow.compute.store import RuleStore
    from photonflow.storage import ClusterClient

    def worker_names() -> dict[str, str]:
        # dict() copies atomically under the GIL while the scheduler's loop may add or drop workers
        return {addr: str(ws.name) for addr, ws in dict(scheduler.workers).items()}

    store = RuleStore(state)
    dask_client = Client(scheduler.address, set_as_default=False)
    cluster = ClusterClient(config=config, zeroconf=bool(not config.servers and config.advertise == "zeroconf"))
    engine = RuleEngine(store=store, cluster=cluster, dask=dask_client, worker_names=worker_names,
                        settings=EngineSettings(max_attempts=config.task_retries + 1))
    engine.resume_existing_parts()
    engine.start()
    return engine, dask_client, store


def _close_engine(engine: Any, dask_client: Any, store: Any) -> None:
    engine.stop()
    dask_client.close()
    store.close()
