"""``photonflow worker``: a Dask worker beside a data server (replaces PYME's node server and its workers)."""

from __future__ import annotations

import argparse

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``worker`` command."""
    parser = subparsers.add_parser(
        "worker",
        help="run an analysis worker beside a data server",
        description="Run a Dask worker. It finds the scheduler by discovery (or --scheduler / config), waits until "
        "it appears, and rejoins after a scheduler restart. Prints 'photonflow worker connected to ADDRESS' each "
        "time it joins. SIGTERM or Ctrl-C stop it.",
    )
    parser.add_argument("--dataserver", help="URL of the data server on this host (tasks on its data come here)")
    parser.add_argument("--nthreads", type=int, default=1, help="task threads (default 1)")
    parser.add_argument("--scheduler", help="scheduler address tcp://host:port (default: config, then discovery)")
    parser.add_argument("--bind", default=None, help="address to listen on (default: bind from config)")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.compute.worker import run_worker

    config = config_from_args(args, bind=args.bind)

    def ready(address: str) -> None:
        print(f"photonflow worker connected to {address}", flush=True)

    run_worker(config, dataserver=args.dataserver, nthreads=args.nthreads,
               scheduler=args.scheduler or config.scheduler_address, host=config.bind, ready=ready)
    return 0
