"""WsgiDAV provider presenting a cluster as one write-once WebDAV tree.

Method semantics (documented for users in ``docs/webdav.md``):

* PROPFIND, GET (byte ranges, streamed from a holder in blocks), HEAD: the merged namespace.
* PUT of a new name: stored write-once on one data server. PUT over an existing file: **403** (write-once).
* MKCOL: a real directory on a data server. COPY to a new name: a new write-once file (or directory).
* DELETE, MOVE, PROPPATCH, COPY over an existing name: **403** with a message saying cluster files are write-once.
* LOCK/UNLOCK: WsgiDAV's lock manager, after authentication like every other method.
* A zero-byte PUT (the macOS Finder's probe before the real upload) and a LOCK of an unmapped name make a
  *placeholder*: an empty file kept in this gateway's memory only, which the first PUT with content turns into a
  cluster file and which DELETE may remove. Nothing is lost with it: it holds no data.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import tempfile
import threading
from typing import Any

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_METHOD_NOT_ALLOWED,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from photonflow.errors import AlreadyExistsError, InsufficientStorageError, StorageError
from photonflow.storage.client import FileStat, normalize_path
from photonflow.webdav._cluster import ClusterFiles

__all__ = ["WRITE_ONCE_MESSAGE", "ClusterDAVProvider"]

WRITE_ONCE_MESSAGE = (
    "photonflow cluster files are write-once: existing files and directories cannot be deleted, moved, "
    "overwritten or have their properties changed. Store under a new name instead."
)
_SPOOL_MEMORY = 8 << 20
_MAX_PLACEHOLDERS = 10_000


def _refuse(what: str) -> DAVError:
    return DAVError(HTTP_FORBIDDEN, context_info=f"{what} refused. {WRITE_ONCE_MESSAGE}")


def _storage_error(exc: StorageError) -> DAVError:
    if isinstance(exc, AlreadyExistsError):
        return _refuse("Overwriting")
    if isinstance(exc, InsufficientStorageError):
        return DAVError(HTTP_INSUFFICIENT_STORAGE, context_info=str(exc))
    return DAVError(502, context_info=f"cluster storage error: {exc}")


class _Shared:
    """What every resource of one provider uses; WsgiDAV builds resources per request."""

    def __init__(self, files: ClusterFiles, *, max_upload: int) -> None:
        self.files = files
        self.max_upload = max_upload
        self._placeholders: set[str] = set()
        self._lock = threading.Lock()

    def add_placeholder(self, path: str) -> None:
        with self._lock:
            if len(self._placeholders) >= _MAX_PLACEHOLDERS:
                raise DAVError(HTTP_INSUFFICIENT_STORAGE, context_info="too many empty placeholder files")
            self._placeholders.add(normalize_path(path))

    def drop_placeholder(self, path: str) -> None:
        with self._lock:
            self._placeholders.discard(normalize_path(path))

    def is_placeholder(self, path: str) -> bool:
        with self._lock:
            return normalize_path(path) in self._placeholders

    def placeholders_in(self, directory: str) -> list[str]:
        prefix = normalize_path(directory)
        with self._lock:
            return [p.rsplit("/", 1)[-1] for p in self._placeholders if p.rpartition("/")[0] == prefix]


class _Stored:
    """Write-once refusals of a file or directory stored on the cluster (mixed in before WsgiDAV's resource class)."""

    _shared: _Shared

    def handle_delete(self) -> bool:
        raise _refuse("DELETE")

    def delete(self) -> None:
        raise _refuse("DELETE")

    def handle_move(self, dest_path: str) -> bool:
        raise _refuse("MOVE")

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> None:
        raise _refuse("PROPPATCH")

    def _check_copy(self, dest_path: str, *, is_move: bool) -> None:
        """Refuse a MOVE, and a COPY onto a name that exists."""
        if is_move:
            raise _refuse("MOVE")
        if self._shared.files.stat(dest_path) is not None:
            raise _refuse("COPY over an existing name")


class _File(_Stored, DAVNonCollection):
    """An existing cluster file."""

    def __init__(self, path: str, environ: dict[str, Any], shared: _Shared, stat: FileStat) -> None:
        super().__init__(path, environ)
        self._shared = shared
        self._stat = stat
        self._mtime: float | None = None
        self._mtime_known = False

    def get_content_length(self) -> int:
        return self._stat.size

    def get_content_type(self) -> str:
        return mimetypes.guess_type(self.path)[0] or "application/octet-stream"

    def get_creation_date(self) -> float | None:
        return self.get_last_modified()  # write-once: created = last modified

    def get_last_modified(self) -> float | None:
        if not self._mtime_known:
            self._mtime = self._shared.files.last_modified(self.path, self._stat.servers)
            self._mtime_known = True
        return self._mtime

    def get_etag(self) -> str:
        # Write-once: path and size identify the content for its whole life.
        return hashlib.sha256(f"{self.path}\0{self._stat.size}".encode()).hexdigest()[:32]

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> io.RawIOBase:
        return self._shared.files.open(self.path, self._stat)

    def begin_write(self, *, content_type: str | None = None) -> Any:
        raise _refuse("Overwriting")

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> bool:
        self._check_copy(dest_path, is_move=is_move)
        reader = self.get_content()
        data = b"".join(iter(lambda: reader.read(1 << 20), b""))
        try:
            self._shared.files.put(dest_path, data)
        except StorageError as exc:
            raise _storage_error(exc) from exc
        return True


class _NewFile(DAVNonCollection):
    """A name being created (PUT, LOCK) or a placeholder: nothing is on the cluster until a body with content."""

    def __init__(self, path: str, environ: dict[str, Any], shared: _Shared) -> None:
        super().__init__(path, environ)
        self._shared = shared
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = None

    def get_content_length(self) -> int:
        return 0

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def get_etag(self) -> None:
        return None

    def support_etag(self) -> bool:
        return False

    def get_content(self) -> io.BytesIO:
        return io.BytesIO(b"")

    def handle_delete(self) -> bool:
        if not self._shared.is_placeholder(self.path):
            raise _refuse("DELETE")
        self._shared.drop_placeholder(self.path)
        return True

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> None:
        raise _refuse("PROPPATCH")

    def begin_write(self, *, content_type: str | None = None) -> Any:
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)  # noqa: SIM115 - closed in end_write
        return _LimitedWriter(self._spool, self._shared.max_upload)

    def end_write(self, *, with_errors: bool) -> None:
        spool, self._spool = self._spool, None
        if spool is None:
            return
        with spool:
            if with_errors:
                return
            spool.seek(0)
            data = spool.read()
        if not data:
            self._shared.add_placeholder(self.path)
            return
        try:
            self._shared.files.put(self.path, data)
            self._shared.drop_placeholder(self.path)
        except StorageError as exc:
            raise _storage_error(exc) from exc
        except ValueError as exc:  # a reserved name ('__status', '__aggregate…')
            raise DAVError(HTTP_FORBIDDEN, context_info=str(exc)) from exc


class _LimitedWriter(io.RawIOBase):
    """Write side of a PUT: refuses bodies over the upload limit; WsgiDAV closes it when the body is in."""

    def __init__(self, spool: Any, limit: int) -> None:
        super().__init__()
        self._spool = spool
        self._limit = limit
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._size += len(data)
        if self._size > self._limit:
            raise DAVError(413, context_info=f"upload larger than the {self._limit}-byte limit of this gateway")
        self._spool.write(data)
        return len(data)

    def close(self) -> None:  # the spool outlives this writer; _NewFile.end_write reads it
        super().close()


class _Directory(_Stored, DAVCollection):
    """A directory of the merged namespace (the root included)."""

    def __init__(self, path: str, environ: dict[str, Any], shared: _Shared) -> None:
        super().__init__(path, environ)
        self._shared = shared

    def _cluster_path(self, name: str) -> str:
        return self.path.rstrip("/") + "/" + name

    def get_member_names(self) -> list[str]:
        try:
            listing = self._shared.files.listdir(normalize_path(self.path))
        except StorageError as exc:
            raise _storage_error(exc) from exc
        return sorted({name.rstrip("/") for name in listing} | set(self._shared.placeholders_in(self.path)))

    def get_member(self, name: str) -> _Directory | _File | _NewFile | None:
        path = self._cluster_path(name)
        stat = self._shared.files.stat(path)
        if stat is None:
            return _NewFile(path, self.environ, self._shared) if self._shared.is_placeholder(path) else None
        if stat.is_dir:
            return _Directory(path, self.environ, self._shared)
        return _File(path, self.environ, self._shared, stat)

    def get_etag(self) -> None:
        return None

    def support_etag(self) -> bool:
        return False

    def get_last_modified(self) -> None:
        return None

    def create_empty_resource(self, name: str) -> _NewFile:
        path = self._cluster_path(name)
        if self.environ.get("REQUEST_METHOD") == "LOCK":  # RFC 4918 §9.10.4: a lock makes an empty resource
            self._shared.add_placeholder(path)
        return _NewFile(path, self.environ, self._shared)

    def create_collection(self, name: str) -> None:
        try:
            self._shared.files.mkdir(self._cluster_path(name))
        except AlreadyExistsError as exc:
            raise DAVError(HTTP_METHOD_NOT_ALLOWED, context_info=f"{exc}") from exc
        except StorageError as exc:
            raise _storage_error(exc) from exc
        except ValueError as exc:
            raise DAVError(HTTP_FORBIDDEN, context_info=str(exc)) from exc

    def support_recursive_delete(self) -> bool:
        return False

    def support_recursive_move(self, dest_path: str) -> bool:
        return False

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> bool:
        self._check_copy(dest_path, is_move=is_move)
        try:
            self._shared.files.mkdir(dest_path)
        except StorageError as exc:
            raise _storage_error(exc) from exc
        return True


class ClusterDAVProvider(DAVProvider):
    """WebDAV view of a cluster, write-once.

    Parameters
    ----------
    files : ClusterFiles
        Cluster access (see :class:`photonflow.webdav.ClusterFiles`).
    max_upload : int
        Largest PUT body accepted (HTTP 413 above it); bodies over 8 MiB are spooled to a temporary file.
    """

    def __init__(self, files: ClusterFiles, *, max_upload: int = 4 << 30) -> None:
        super().__init__()
        self._shared = _Shared(files, max_upload=max_upload)

    def is_readonly(self) -> bool:
        return False

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> _Directory | _File | _NewFile | None:
        self._count_get_resource_inst += 1
        try:
            clean = normalize_path(path)
        except ValueError as exc:
            raise DAVError(HTTP_BAD_REQUEST, context_info=str(exc)) from exc
        if not clean:
            return _Directory("/", environ, self._shared)
        stat = self._shared.files.stat(clean)
        if stat is None:
            return _NewFile("/" + clean, environ, self._shared) if self._shared.is_placeholder(clean) else None
        if stat.is_dir:
            return _Directory("/" + clean, environ, self._shared)
        return _File("/" + clean, environ, self._shared, stat)
