"""Options and config loading shared by the sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from photonflow.config import Config, load_config

__all__ = ["add_cluster_options", "config_from_args"]


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cluster``, ``--servers``, ``--token`` and ``--config`` to ``parser``."""
    group = parser.add_argument_group("cluster")
    group.add_argument("--cluster", help="cluster name (PYME's dataserver-filter); default from config")
    group.add_argument(
        "--servers",
        help="comma-separated data server URLs (http://host:port) to use besides discovery",
    )
    group.add_argument("--token", help="cluster token (default from config or PHOTONFLOW_TOKEN)")
    group.add_argument("--config", type=Path, help="read this YAML config file instead of the default ones")


def config_from_args(args: argparse.Namespace, **extra_overrides: Any) -> Config:
    """Load the config once, with the command line's cluster options and ``extra_overrides`` on top."""
    overrides: dict[str, Any] = {
        "cluster": getattr(args, "cluster", None),
        "servers": getattr(args, "servers", None),
        "token": getattr(args, "token", None),
    }
    overrides.update(extra_overrides)
    config_file: Path | None = getattr(args, "config", None)
    paths: list[Path] | None = [config_file] if config_file is not None else None
    return load_config(paths=paths, overrides=_drop_none(overrides))


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
