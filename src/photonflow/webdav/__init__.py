"""WebDAV gateway: the cluster as a network drive (Windows, macOS, davfs2), write-once, authenticated.

Public API::

    from photonflow.webdav import ClusterFiles, WebDAVServer, load_users, make_app

    files = ClusterFiles(ClusterClient(config=cfg, listing_ttl_s=0), token=cfg.token)
    with WebDAVServer(make_app(files, users={"alice": "secret"}), port=9090):
        ...

``photonflow webdav`` (``photonflow.cli.webdav``) runs it from the config. See ``docs/webdav.md``.
"""

from __future__ import annotations

from photonflow.webdav._auth import ClusterDomainController, load_users
from photonflow.webdav._cluster import ClusterFiles, RangeReader
from photonflow.webdav._provider import WRITE_ONCE_MESSAGE, ClusterDAVProvider
from photonflow.webdav._server import WebDAVServer, make_app

__all__ = [
    "WRITE_ONCE_MESSAGE",
    "ClusterDAVProvider",
    "ClusterDomainController",
    "ClusterFiles",
    "RangeReader",
    "WebDAVServer",
    "load_users",
    "make_app",
]
