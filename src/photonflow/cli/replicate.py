"""``photonflow replicate``: keep every file on ``replicas`` data servers (one pass, or a daemon)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``replicate`` command."""
    parser = subparsers.add_parser(
        "replicate",
        help="copy files between data servers until each is on `replicas` of them; repair after a server is lost",
    )
    parser.add_argument("--once", action="store_true", help="run one pass and exit (status 1 if anything is short)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between passes as a daemon (30)")
    parser.add_argument("--replicas", type=int, help="copies wanted (default: 'replicas' in the config)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds a growing results/log file must stay the same size before it is copied (60)")
    parser.add_argument("--workers", type=int, default=8, help="copies made at once (8)")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.storage import ClusterClient
    from photonflow.storage.replication import ReplicationLease, Replicator, default_lease_path

    config = config_from_args(args, replicas=args.replicas)
    if config.replicas < 2:
        print(f"photonflow replicate: replicas is {config.replicas}; set 'replicas: 2' (or more) in the config "
              "or pass --replicas 2", file=sys.stderr)
        return 2
    with ClusterClient(config=config) as client, Replicator(
        client, replicas=config.replicas, token=config.token, settle_s=args.settle, workers=args.workers
    ) as replicator:
        if args.once:
            with ReplicationLease(default_lease_path(config.cluster)):
                report = replicator.run_once()
            print(report.summary())
            for path, reason in report.failed[:20]:
                print(f"  failed /{path}: {reason}", file=sys.stderr)
            for path in report.diverged[:20]:
                print(f"  diverged /{path}: holders disagree on its size", file=sys.stderr)
            return 0 if report.ok else 1
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(f"photonflow replicate: cluster={config.cluster} replicas={config.replicas} every {args.interval:g} s",
              flush=True)
        replicator.run_forever(interval_s=args.interval, stop=stop)
    return 0
