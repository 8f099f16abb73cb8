"""The photonflow data server: PYME's cluster storage protocol over HTTP/1.1 (reference/storage-protocol.md §1).

Public API::

    from photonflow.storage.server import start_server, serve, RunningServer

    with start_server(root, cluster="lab") as srv:   # background threads; returns once listening
        print(srv.url)

:func:`serve` runs one in the foreground from a :class:`photonflow.config.Config` (the CLI uses it).
"""

from __future__ import annotations

from photonflow.storage.server._serve import serve
from photonflow.storage.server._server import RunningServer, start_server

__all__ = ["RunningServer", "serve", "start_server"]
