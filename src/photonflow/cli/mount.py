"""``photonflow mount MOUNTPOINT``: the cluster as a read-only FUSE file system."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``mount`` command."""
    parser = subparsers.add_parser("mount", help="mount the cluster read-only with FUSE (unmount: fusermount3 -u)")
    parser.add_argument("mountpoint", help="empty directory to mount on")
    parser.add_argument("--allow-other", action="store_true",
                        help="let other users read the mount (needs user_allow_other in /etc/fuse.conf)")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    if not os.path.exists("/dev/fuse"):
        print("photonflow mount: /dev/fuse is missing; load the fuse module or run where FUSE is available",
              file=sys.stderr)
        return 2
    try:
        from photonflow.storage.mount import mount
    except (ImportError, OSError) as exc:  # fusepy raises OSError/EnvironmentError when libfuse is absent
        print(f"photonflow mount: FUSE library not usable ({exc}); install libfuse2 (Debian: apt install libfuse2)",
              file=sys.stderr)
        return 2
    from photonflow.storage import ClusterClient
    from photonflow.webdav import ClusterFiles

    config = config_from_args(args)
    with ClusterClient(config=config) as client:
        files = ClusterFiles(client, token=config.token)
        print(f"photonflow mount: cluster {config.cluster} read-only at {args.mountpoint}", flush=True)
        try:
            mount(files, args.mountpoint, allow_other=args.allow_other)
        except RuntimeError as exc:
            print(f"photonflow mount: mounting {args.mountpoint} failed ({exc}); is it an empty directory?",
                  file=sys.stderr)
            return 1
        finally:
            files.close()
    return 0
