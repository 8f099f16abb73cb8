"""``photonflow dataserver``: serve a directory to the cluster (PYME's ``PYMEDataServer``)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dataserver`` command."""
    parser = subparsers.add_parser(
        "dataserver",
        help="serve a directory to the cluster over PYME's HTTP storage protocol",
        description="Serve DIR to the cluster. Prints one line 'photonflow dataserver listening on URL ...' once "
        "it listens; SIGTERM or Ctrl-C stop it cleanly.",
    )
    parser.add_argument("--root", type=Path, help="directory to serve (default: dataserver-root from config)")
    parser.add_argument("--port", type=int, help="TCP port (0 = any free port; default: dataserver-port)")
    parser.add_argument("--bind", help="address to listen on (default 127.0.0.1; non-loopback needs --token)")
    parser.add_argument("--advertise", choices=("zeroconf", "local", "none"),
                        help="announce by mDNS + same-host registry, the registry only, or not at all")
    parser.add_argument("--no-fsync", dest="fsync", action="store_false", default=None,
                        help="acknowledge writes before they are flushed to disk (faster, less durable)")
    parser.add_argument("--free-space-floor", type=int, metavar="BYTES",
                        help="refuse writes (HTTP 507) that would leave less than BYTES free")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.storage.server import RunningServer, serve

    config = config_from_args(
        args, dataserver_root=args.root, dataserver_port=args.port, bind=args.bind, advertise=args.advertise,
        fsync=args.fsync, free_space_floor=args.free_space_floor,
    )
    with contextlib.ExitStack() as stack:

        def ready(srv: RunningServer) -> None:
            if config.advertise != "none":
                from photonflow.storage.discovery import advertise

                # Registered only now: with --port 0 the port is known once the server listens.
                stack.enter_context(advertise(cluster=srv.cluster, host=srv.host, port=srv.port,
                                              mode=config.advertise, root=srv.root))
            # Printed last, so whoever waits for this line can also find the server through discovery.
            print(f"photonflow dataserver listening on {srv.url} cluster={srv.cluster} root={srv.root}", flush=True)

        serve(config, ready=ready)
    return 0
