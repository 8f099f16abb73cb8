"""Run a data server in the foreground until SIGTERM/SIGINT (used by ``photonflow dataserver``)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from photonflow.config import Config
from photonflow.storage.server._server import RunningServer, start_server

__all__ = ["serve"]


def serve(config: Config, *, ready: Callable[[RunningServer], None] | None = None) -> None:
    """Serve ``config.dataserver_root`` until SIGTERM or Ctrl-C, then stop cleanly.

    Parameters
    ----------
    config : Config
        Uses ``dataserver_root``, ``cluster``, ``bind``, ``dataserver_port``, ``token``, ``fsync``,
        ``free_space_floor``, ``max_request_size`` and ``allow_pickle``.
    ready : callable, optional
        Called with the running server once it listens (e.g. to print its address or advertise it).
    """
    srv = start_server(
        config.dataserver_root, cluster=config.cluster, host=config.bind, port=config.dataserver_port,
        token=config.token, fsync=config.fsync, free_space_floor=config.free_space_floor,
        max_request_size=config.max_request_size, allow_pickle=config.allow_pickle,
    )
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    try:
        if in_main:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, _on_signal)
        if ready is not None:
            ready(srv)
        while not stop.wait(0.5):
            pass
    finally:
        srv.stop()
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
