"""The worker process: a Dask worker beside one data server that outlives scheduler restarts.

Dask workers close when their scheduler goes away (no reconnection in distributed). This supervisor therefore looks
for the scheduler (discovery or config) until it appears, runs a worker against it, and starts a fresh one when that
worker closes, until SIGINT/SIGTERM. The worker's name carries the data server it sits beside
(:func:`photonflow.compute.locality.worker_name`), which is how tasks are placed next to their data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photonflow.config import Config

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(
    config: Config,
    *,
    dataserver: str | None,
    nthreads: int = 1,
    scheduler: str | None = None,
    host: str = "127.0.0.1",
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run (and re-run) a Dask worker until SIGINT/SIGTERM.

    Parameters
    ----------
    config : Config
        Cluster name and the scheduler's static address, if any.
    dataserver : str, optional
        URL of the data server on this host; tasks on its chunks come here first.
    nthreads : int
        Task threads.
    scheduler : str, optional
        Scheduler address; default: ``config.scheduler_address``, else discovery.
    host : str
        Address the worker listens on.
    ready : callable, optional
        Called with the scheduler address each time a worker has connected.
    """
    asyncio.run(_main(config, dataserver, nthreads, scheduler, host, ready))


async def _main(config: Config, dataserver: str | None, nthreads: int, scheduler: str | None, host: str,
                ready: Callable[[str], None] | None) -> None:
    from distributed import Worker

    from photonflow.compute.discovery import wait_for_scheduler
    from photonflow.compute.locality import worker_name
    from photonflow.compute.tasks import PhotonflowWorkerPlugin

    stop = asyncio.Event()
    stop_flag = threading.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        stop.set()
        stop_flag.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    name = worker_name(dataserver, uuid.uuid4().hex[:8])
    while not stop.is_set():
        address = scheduler
        if address is None:
            found = await asyncio.to_thread(wait_for_scheduler, config.cluster, config=config, stop=stop_flag,
                                            zeroconf=config.advertise == "zeroconf")
            if found is None:
                break
            address = found.address
        worker = Worker(address, nthreads=nthreads, name=name, host=host, dashboard=False, death_timeout=10,
                        plugins=(PhotonflowWorkerPlugin(dataserver=name.split("|")[0] or None),),
                        memory_limit=0)
        try:
            await worker
        except Exception as exc:  # scheduler not (yet) reachable: look again
            log.info("worker could not join %s (%s); retrying", address, exc)
            await worker.close()
            await _sleep_or_stop(stop, 1.0)
            continue
        if ready is not None:
            ready(address)
        closed = asyncio.create_task(worker.finished())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():
            await worker.close(reason="photonflow worker stopped")
            await closed
            break
        log.info("scheduler %s went away; waiting for it to come back", address)
        await _sleep_or_stop(stop, 0.5)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
