"""The WSGI app and a cheroot server around it (with TLS when given a certificate)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.wsgidav_app import WsgiDAVApp

from photonflow.errors import ConfigError
from photonflow.webdav._auth import USERS_CONFIG_KEY, ClusterDomainController
from photonflow.webdav._cluster import ClusterFiles
from photonflow.webdav._provider import ClusterDAVProvider

__all__ = ["WebDAVServer", "make_app"]

_log = logging.getLogger("photonflow.webdav")


def make_app(files: ClusterFiles, *, users: Mapping[str, str], max_upload: int = 4 << 30) -> WsgiDAVApp:
    """The WsgiDAV application serving the cluster at ``/``, for ``users`` only.

    Raises
    ------
    ConfigError
        ``users`` is empty (there is no anonymous or default account).
    """
    if not users:
        raise ConfigError("the WebDAV gateway needs at least one user; there is no default account")
    config: dict[str, Any] = {
        "provider_mapping": {"/": ClusterDAVProvider(files, max_upload=max_upload)},
        "http_authenticator": {
            "domain_controller": ClusterDomainController,
            "accept_basic": True,
            "accept_digest": True,
            "default_to_digest": True,
        },
        USERS_CONFIG_KEY: dict(users),
        "dir_browser": {"enable": False},
        "lock_storage": True,
        "property_manager": None,
        "verbose": 1,
        "logging": {"enable": False},
        "suppress_version_info": True,
    }
    return WsgiDAVApp(config)


class WebDAVServer:
    """A cheroot server running the gateway in background threads.

    Parameters
    ----------
    app : WsgiDAVApp
        From :func:`make_app`.
    host : str
        Address to bind.
    port : int
        Port (0 picks a free one; see :attr:`port`).
    certificate, private_key : Path, optional
        PEM files; when both are given the gateway speaks HTTPS only.
    threads : int
        Worker threads (concurrent requests).
    """

    def __init__(self, app: WsgiDAVApp, *, host: str = "127.0.0.1", port: int = 9090,
                 certificate: Path | None = None, private_key: Path | None = None, threads: int = 16) -> None:
        if (certificate is None) != (private_key is None):
            raise ConfigError("TLS needs both --certificate and --private-key")
        self._server = wsgi.Server((host, port), app, numthreads=threads, timeout=60)
        self.tls = certificate is not None
        if certificate is not None and private_key is not None:
            self._server.ssl_adapter = BuiltinSSLAdapter(str(certificate), str(private_key))
        self._server.prepare()
        self.host = host
        self.port: int = self._server.bind_addr[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{host if ':' not in host else f'[{host}]'}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> WebDAVServer:
        """Serve in a background thread; returns at once (already listening)."""
        self._thread = threading.Thread(target=self._server.serve, name="photonflow-webdav", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (from a signal handler or another thread)."""
        self._server.serve()

    def stop(self) -> None:
        """Stop accepting and close connections."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> WebDAVServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
