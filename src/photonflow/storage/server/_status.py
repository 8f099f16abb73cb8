"""The ``/__status`` document (reference §1.6): PYME's keys plus photonflow's ``Cluster``."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import time
from typing import Any

__all__ = ["status_document"]


def status_document(*, root: str, host: str, port: int, cluster: str, started: float) -> dict[str, Any]:
    """Build the status JSON object for a server.

    Parameters
    ----------
    root : str
        Served root (its file system's usage is reported under ``Disk``).
    host, port : str, int
        Bound address.
    cluster : str
        Cluster name.
    started : float
        ``time.monotonic()`` at server start.
    """
    usage = shutil.disk_usage(root)
    doc: dict[str, Any] = {
        "IPAddress": _advertised_ip(host),
        "BindAddress": [host, port],
        "Port": port,
        "Protocol": "1.1",
        "TestMode": False,
        "ComputerName": socket.gethostname(),
        "Cluster": cluster,
        "Disk": {"total": usage.total, "used": usage.used, "free": usage.free},
        "Uptime": str(datetime.timedelta(seconds=time.monotonic() - started)),
        "PID": os.getpid(),
    }
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency; status degrades gracefully without it
        return doc
    doc["CPUUsage"] = psutil.cpu_percent(percpu=True)
    doc["MemUsage"] = psutil.virtual_memory()._asdict()
    return doc


def _advertised_ip(host: str) -> str:
    if host not in ("", "0.0.0.0"):
        return host
    # The address a packet to a routable destination would leave from; no packet is sent (UDP connect).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
