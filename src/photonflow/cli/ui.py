"""``photonflow ui``: serve the web UI for a cluster (``--hash-password`` makes a ``ui_users`` password hash)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from photonflow.cli._common import add_cluster_options, config_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``ui`` command."""
    ui = subparsers.add_parser("ui", help="serve the web UI (files, series, launch, rules, status, results)")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other "
                                                        "needs a cluster token or ui_users)")
    ui.add_argument("--port", type=int, default=8789, help="port (default 8789)")
    ui.add_argument("--rules-url", help="rule service URL (default: the config's scheduler_api)")
    ui.add_argument("--presets-dir", type=Path, help="where saved localization presets live "
                                                     "(default ~/.photonflow/presets)")
    ui.add_argument("--hash-password", action="store_true",
                    help="read a password (prompt, or stdin when piped), print its hash for ui_users, and exit")
    add_cluster_options(ui)
    ui.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    from photonflow.errors import ConfigError
    from photonflow.ui.auth import auth_from_config, hash_password

    if args.hash_password:
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        try:
            print(hash_password(password))
        except ValueError as exc:
            print(f"photonflow: error: {exc}", file=sys.stderr)
            return 2
        return 0

    from photonflow.storage import ClusterClient
    from photonflow.ui import serve_ui

    config = config_from_args(args)
    try:
        auth = auth_from_config(config.ui_users, token=config.token, secret=config.ui_secret)
        rules_url = args.rules_url or config.scheduler_api
        presets = args.presets_dir or Path.home() / ".photonflow" / "presets"
        with ClusterClient(config=config) as client:
            print(f"photonflow ui on http://{args.host}:{args.port}/ (cluster {config.cluster!r}, "
                  f"login {'required' if auth.required else 'off'}, rules {rules_url or 'not configured'})",
                  flush=True)
            serve_ui(host=args.host, port=args.port, client=client, rules_api_url=rules_url, auth=auth,
                     presets_dir=presets)
    except ConfigError as exc:
        print(f"photonflow: error: {exc}", file=sys.stderr)
        return 2
    return 0
