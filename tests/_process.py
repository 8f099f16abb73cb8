"""Helpers for tests that run photonflow commands as child processes."""

from __future__ import annotations

import selectors
import subprocess
import time
from collections.abc import Iterator

__all__ = ["stdout_lines"]


def stdout_lines(proc: subprocess.Popen[str], *, timeout: float) -> Iterator[str]:
    """Lines the child prints on stdout, as they come, until it closes stdout, exits, or ``timeout`` s have passed.

    Never blocks past the deadline on a child that prints nothing (a plain ``readline`` would).
    """
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.2):
                if proc.poll() is not None:
                    return
                continue
            line = proc.stdout.readline()
            if not line:
                return
            yield line
