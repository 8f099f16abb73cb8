"""A same-host service registry in PYME's SQLite layout, one file per service type.

PYME's ``_pyme-http.sqlite`` holds one table ``dns(name, address, port, creation_time, URI)``; photonflow's data
servers and its scheduler each keep such a file (reference/storage-protocol.md §4.1). Side tables keyed by ``name``
(PYME ignores them) carry what photonflow adds, and are cleared with the ``dns`` rows they belong to.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalRegistry"]

_DNS_SCHEMA = "CREATE TABLE IF NOT EXISTS dns (name TEXT, address TEXT, port INTEGER, creation_time FLOAT, URI TEXT)"
_PROBE_TIMEOUT_S = 0.5
_SQLITE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class LocalRegistry:
    """The registry file of one service type.

    Attributes
    ----------
    filename : str
        File name inside the temporary directory (``_pyme-http.sqlite`` for data servers).
    side_tables : tuple of (str, str)
        Extra tables as (table name, column list), each with a ``name`` column; created with ``dns`` and cleared by
        name when a service is unregistered or pruned.
    """

    filename: str
    side_tables: tuple[tuple[str, str], ...] = ()

    def path(self, environ: Mapping[str, str] | None = None) -> Path:
        """``<temp dir>/<filename>``, trying ``TMPDIR``, ``TEMP``, ``TMP`` first (as PYME does)."""
        environ = os.environ if environ is None else environ
        for var in ("TMPDIR", "TEMP", "TMP"):
            value = environ.get(var)
            if value and os.path.isdir(value):
                return Path(value) / self.filename
        return Path(tempfile.gettempdir()) / self.filename

    @contextlib.contextmanager
    def open(self, path: Path) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction, with the tables created if missing; closed on exit."""
        conn = sqlite3.connect(path, timeout=_SQLITE_TIMEOUT_S)
        try:
            with conn:
                conn.execute(_DNS_SCHEMA)
                for table, columns in self.side_tables:
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
                yield conn
        finally:
            conn.close()

    @staticmethod
    def insert(conn: sqlite3.Connection, name: str, *, address: str, port: int, uri: str = "") -> None:
        """Add the ``dns`` row of a service, stamped now."""
        conn.execute("INSERT INTO dns VALUES (?, ?, ?, ?, ?)", (name, address, port, time.time(), uri))

    def delete(self, conn: sqlite3.Connection, name: str) -> None:
        """Remove every row of ``name``, side tables included."""
        conn.execute("DELETE FROM dns WHERE name = ?", (name,))
        self._delete_side(conn, name)

    def alive(self, conn: sqlite3.Connection, name: str, *, address: str, port: int) -> bool:
        """Whether the service still listens (0.5 s probe at most); if not, delete its rows at that port."""
        try:
            with socket.create_connection((address, port), timeout=_PROBE_TIMEOUT_S):
                return True
        except OSError:
            pass
        conn.execute("DELETE FROM dns WHERE name = ? AND port = ?", (name, port))
        self._delete_side(conn, name)
        return False

    def _delete_side(self, conn: sqlite3.Connection, name: str) -> None:
        for table, _ in self.side_tables:
            conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))
