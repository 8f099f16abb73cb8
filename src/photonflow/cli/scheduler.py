"""``photonflow scheduler``: a Dask scheduler plus the rule service (replaces PYME's rule server)."""

from __future__ import annotations

import argparse
from pathlib import Path

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scheduler`` command."""
    parser = subparsers.add_parser(
        "scheduler",
        help="run the Dask scheduler and the rule service",
        description="Run a Dask scheduler and the rule service (HTTP JSON API). Prints one line 'photonflow "
        "scheduler listening on tcp://HOST:PORT api=http://HOST:PORT' once ready; SIGTERM or Ctrl-C stop it. "
        "Unfinished rules in the state file are resumed.",
    )
    parser.add_argument("--port", type=int, default=0, help="Dask scheduler port (default: any free port)")
    parser.add_argument("--api-port", type=int, default=0, help="rule API port (default: any free port)")
    parser.add_argument("--bind", default=None, help="address to listen on (default: bind from config)")
    parser.add_argument("--dashboard", action="store_true", help="serve Dask's dashboard (needs bokeh)")
    parser.add_argument("--state", type=Path,
                        help="rule database (default <dataserver-root>/.photonflow/rules.sqlite)")
    parser.add_argument("--advertise", choices=("zeroconf", "local", "none"),
                        help="announce by mDNS + same-host registry, the registry only, or not at all")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.compute.scheduler import SchedulerReady, run_scheduler

    config = config_from_args(args, bind=args.bind, advertise=args.advertise)
    state = args.state or config.dataserver_root / ".photonflow" / "rules.sqlite"

    def ready(info: SchedulerReady) -> None:
        extra = f" dashboard={info.dashboard}" if info.dashboard else ""
        print(f"photonflow scheduler listening on {info.address} api={info.api} cluster={config.cluster}{extra}",
              flush=True)

    run_scheduler(config, host=config.bind, port=args.port, api_port=args.api_port, dashboard=args.dashboard,
                  state=state, advertise=config.advertise, ready=ready)
    return 0
