"""``photonflow webdav``: serve the cluster as a WebDAV drive (write-once, authenticated, TLS when configured)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``webdav`` command."""
    parser = subparsers.add_parser(
        "webdav", help="serve the cluster as a WebDAV drive (needs --user/--password-file or webdav users in config)"
    )
    parser.add_argument("--port", type=int, default=9090, help="port to listen on (9090; 0 picks a free one)")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="address to listen on (127.0.0.1; use 0.0.0.0 with --certificate on a network)")
    parser.add_argument("--user", help="user name allowed in (with --password-file)")
    parser.add_argument("--password-file", type=Path, help="file whose first line is --user's password")
    parser.add_argument("--certificate", type=Path, help="TLS certificate (PEM); serve HTTPS")
    parser.add_argument("--private-key", type=Path, help="TLS private key (PEM) for --certificate")
    parser.add_argument("--max-upload", type=int, default=4 << 30, help="largest PUT in bytes (4 GiB)")
    add_cluster_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.errors import ConfigError
    from photonflow.storage import ClusterClient
    from photonflow.webdav import ClusterFiles, WebDAVServer, load_users, make_app

    config = config_from_args(args)
    section = config.extra.get("webdav")
    try:
        users = load_users(section if isinstance(section, dict) else None, user=args.user,
                           password_file=args.password_file)
        certificate = args.certificate or _from_section(section, "certificate")
        private_key = args.private_key or _from_section(section, "private_key")
        client = ClusterClient(config=config, listing_ttl_s=0.0)
        files = ClusterFiles(client, token=config.token)
        server = WebDAVServer(make_app(files, users=users, max_upload=args.max_upload), host=args.bind,
                              port=args.port, certificate=certificate, private_key=private_key)
    except ConfigError as exc:
        print(f"photonflow webdav: {exc}", file=sys.stderr)
        return 2
    if not server.tls and args.bind not in ("127.0.0.1", "localhost", "::1"):
        print("photonflow webdav: warning: serving without TLS on a network address; passwords can be sniffed. "
              "Pass --certificate and --private-key.", file=sys.stderr)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cheroot stops cleanly on KeyboardInterrupt
    print(f"photonflow webdav listening on {server.url} cluster={config.cluster} users={len(users)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    finally:
        files.close()
        client.close()
    return 0


def _from_section(section: object, key: str) -> Path | None:
    value = section.get(key) if isinstance(section, dict) else None
    return Path(str(value)) if value else None
