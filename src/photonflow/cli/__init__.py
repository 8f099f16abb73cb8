"""The ``photonflow`` command.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``, which adds its
parser and sets ``handler`` (a function taking the parsed namespace and returning an exit code). Modules whose
name starts with ``_`` are helpers, not commands. Heavy imports happen inside handlers so ``photonflow --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from photonflow import __version__
from photonflow.errors import PhotonflowError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command of this package registered."""
    parser = argparse.ArgumentParser(
        prog="photonflow",
        description="Stream, store and analyse microscopy data on a cluster (PYME-compatible).",
    )
    parser.add_argument("--version", action="version", version=f"photonflow {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``photonflow`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (PhotonflowError, OSError) as exc:
        # Both are failures a user can act on (bad input, missing file, full disk): a message, not a traceback.
        print(f"photonflow: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
