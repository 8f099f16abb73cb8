"""Request handling of the data server: the PYME protocol (reference §1) on top of :mod:`._http`.

:class:`DataService` answers one parsed request at a time and is shared by all connection threads; it holds no
per-connection state. Every failure becomes an HTTP status (S3): 400 malformed, 401 no/bad token, 403 outside the
root, 404 missing, 405 exists (write-once) or method not allowed, 409 conflicts (a concurrent writer won, a parent
is a file), 413 too large, 500 unexpected, 507 free-space floor.
"""

from __future__ import annotations

import dataclasses
import email.utils
import errno
import glob
import hmac
import logging
import mimetypes
import os
import posixpath
import shutil
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, quote

from photonflow.storage.server._aggregate import Aggregators, default_aggregators
from photonflow.storage.server._http import Connection, GzipSink, HttpError, Request, Response, error_response
from photonflow.storage.server._http import json_response as _json
from photonflow.storage.server._listing import Listings
from photonflow.storage.server._mirror import fetch_from_member
from photonflow.storage.server._paths import WORK_DIR_NAME, Target, is_inside, parse_target
from photonflow.storage.server._status import status_document
from photonflow.storage.server._writeonce import WorkDir

__all__ = ["Body", "DataService", "ServiceSettings"]

_log = logging.getLogger("photonflow.storage.server")

_SMALL_FILE = 256 * 1024
_SPLICE_MIN = 256 * 1024
_UNAUTHENTICATED_DRAIN = 1 << 20
_AGGREGATE_LIMIT = 256 << 20
_RESERVED = ("__status", "__glob", "__aggregate", "__pyramid")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    """Resolved settings of one data server (see :func:`photonflow.storage.server.start_server`)."""

    root: str
    cluster: str
    host: str
    port: int
    token: str | None
    fsync: bool
    free_space_floor: int
    max_request_size: int
    allow_pickle: bool = False


class Body:
    """The body of the request being handled: streamed once by the handler, the rest drained afterwards."""

    def __init__(self, conn: Connection, request: Request, *, limit: int) -> None:
        self._conn = conn
        self._pieces = conn.read_body(request, limit=limit)
        self._request = request
        self._limit = limit
        self._spliced = False

    def splice_to(self, fd: int) -> bool:
        """Move a large, plain ``Content-Length`` body straight into ``fd``; ``False`` if it does not qualify."""
        length = self._request.content_length
        encoding = self._request.headers.get("content-encoding", "").strip().lower()
        if self._request.chunked or length is None or length < _SPLICE_MIN or encoding not in ("", "identity"):
            return False
        if length > self._limit:
            raise HttpError(413, f"request body larger than the {self._limit}-byte limit", close=True)
        self._spliced = True  # from here on the body is consumed or the connection is broken
        self._conn.splice_body_to(fd, length)
        return True

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The raw (de-chunked) body pieces."""
        return self._pieces

    def decoded(self, *, limit: int) -> Iterator[bytes | memoryview]:
        """The body pieces, gunzipped when the request says ``Content-Encoding: gzip``."""
        encoding = self._request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return self._pieces
        if encoding not in ("gzip", "x-gzip"):
            raise HttpError(400, f"unsupported Content-Encoding {encoding!r}; send gzip or none")
        return _gunzip(self._pieces, limit=limit)

    def finish(self, *, limit: int | None = None) -> bool:
        """Drain what the handler did not read; ``False`` if the body is too large to drain (close instead)."""
        if self._spliced:
            return True
        limit = self._limit if limit is None else limit
        length = self._request.content_length
        if length is not None and length > limit:
            return False
        drained = 0
        for piece in self._pieces:
            drained += len(piece)
            if drained > limit:
                return False
        return True


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``[start, stop)`` of a single ``bytes=`` range of a ``size``-byte file; ``None`` = answer the whole file.

    Multiple ranges and malformed values are ignored (RFC 9110 allows answering 200 with the whole file); a range
    that starts at or beyond the end is answered 416.
    """
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not (first or last) or not all(p.isascii() and p.isdigit() for p in (first, last) if p):
        return None
    if not first:  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise HttpError(416, f"range {value!r} selects no bytes of the {size}-byte file")
        return max(0, size - int(last)), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise HttpError(416, f"range {value!r} starts at or beyond the end of the {size}-byte file")
    return start, min(size, int(last) + 1) if last else size


def _gunzip(pieces: Iterator[bytes | memoryview], *, limit: int) -> Iterator[bytes]:
    sink = GzipSink(limit=limit)
    for piece in pieces:
        out = sink.feed(piece)
        if out:
            yield out
    tail = sink.finish()
    if tail:
        yield tail


class DataService:
    """Answers requests for one served root.

    Parameters
    ----------
    settings : ServiceSettings
        What to serve and how.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.root = os.path.realpath(settings.root)
        os.makedirs(self.root, exist_ok=True)
        self.work = WorkDir(os.path.join(self.root, WORK_DIR_NAME))
        self.work.remove_orphans()
        self.listings = Listings(hidden={self.work.path})
        self.aggregators: Aggregators = default_aggregators(fsync=settings.fsync, allow_pickle=settings.allow_pickle)
        self._token = settings.token.encode() if settings.token else None
        self._started = time.monotonic()

    def close(self) -> None:
        """Release resources held for the life of the server."""
        self.work.close()

    # ------------------------------------------------------------------ entry point

    def handle(self, request: Request, body: Body) -> tuple[Response, bool]:
        """Answer ``request``; return the response and whether to close the connection afterwards.

        The body is always consumed (or the connection closed) before this returns, so pipelined requests stay in
        sync after any answer.
        """
        close = False
        drain_limit: int | None = None
        try:
            if not self._authorised(request):
                drain_limit = _UNAUTHENTICATED_DRAIN
                response = error_response(401, "missing or wrong cluster token; send 'Authorization: Bearer <token>'")
                response.headers.append(("WWW-Authenticate", 'Bearer realm="photonflow"'))
            else:
                response = self._dispatch(request, body)
        except HttpError as exc:
            response, close = error_response(exc.status, exc.message), exc.close
        except OSError as exc:
            response = self._os_error(exc)
        except Exception:
            _log.exception("unexpected error answering %s %s", request.method, request.target)
            response = error_response(500, "internal server error; see the data server's log")
        if not close:
            try:
                close = not body.finish(limit=drain_limit)
            except HttpError as exc:
                response, close = error_response(exc.status, exc.message), True
        return response, close

    def _authorised(self, request: Request) -> bool:
        if self._token is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        candidate = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-photonflow-token", "")
        return hmac.compare_digest(candidate.strip().encode("utf-8", "surrogateescape"), self._token)

    def _os_error(self, exc: OSError) -> Response:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return error_response(507, "no space left on the data server")
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return error_response(404, "not found")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return error_response(403, "permission denied on the data server")
        _log.exception("storage error")
        return error_response(500, f"storage error: {os.strerror(exc.errno) if exc.errno else exc}")

    def _dispatch(self, request: Request, body: Body) -> Response:
        target = parse_target(request.target)
        if target.parts[:1] == [WORK_DIR_NAME]:
            raise HttpError(404, f"not found: /{target.rel}")
        if request.method in ("GET", "HEAD"):
            return self._get(request, target)
        if request.method == "PUT":
            return self._put(request, target, body)
        response = error_response(405, f"method {request.method} not allowed; use GET, HEAD or PUT")
        response.headers.append(("Allow", "GET, HEAD, PUT"))
        return response

    # ------------------------------------------------------------------ GET / HEAD

    def _get(self, request: Request, target: Target) -> Response:
        if target.path == "__status" and not target.query:
            s = self.settings
            return _json(status_document(root=self.root, host=s.host, port=s.port, cluster=s.cluster,
                                         started=self._started))
        if target.path.startswith("__glob"):
            return _json(self._glob(target.query))
        path = os.path.join(self.root, target.rel) if target.rel else self.root
        if not is_inside(self.root, path):
            raise HttpError(403, f"/{target.rel} resolves outside the served root")
        try:
            st = os.stat(path)
        except OSError:
            return self._container_view(target)
        if os.path.isdir(path):
            if not target.trailing_slash:
                location = "/" + quote(target.path) + "/" + (f"?{target.query}" if target.query else "")
                return Response(301, headers=[("Location", location)])
            listing = self.listings.listing_json(path)
            return Response(200, listing, "application/json; charset=utf-8")
        if target.trailing_slash and os.path.isfile(path):
            return self._container_view(target, listing=True)
        if target.trailing_slash or not os.path.isfile(path):
            raise HttpError(404, f"not found: /{target.path}")
        return self._file(path, st, head=request.method == "HEAD", byte_range=request.headers.get("range"))

    def _container_view(self, target: Target, *, listing: bool = False) -> Response:
        # listing: the GET names a file with a trailing '/' (``x.h5r/``), i.e. the inside of a container file.
        parts = [*target.parts, ""] if listing else target.parts
        match = self.aggregators.match_view(parts)
        if match is None:
            raise HttpError(404, f"not found: /{target.rel}")
        view, index = match
        container = os.path.join(self.root, *parts[: index + 1])
        if not os.path.isfile(container):
            raise HttpError(404, f"not found: /{target.rel}")
        inner = "/".join(parts[index + 1 :]) + ("/" if target.trailing_slash else "")
        try:
            answer = view.view(container, inner, target.query)
        except KeyError:
            raise HttpError(404, f"not found: /{target.rel}") from None
        except ValueError as exc:
            raise HttpError(400, f"bad request for /{target.rel}: {exc}") from None
        return Response(answer.status, answer.body, answer.content_type)

    def _file(self, path: str, st: os.stat_result, *, head: bool, byte_range: str | None = None) -> Response:
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        headers = [("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True)), ("Accept-Ranges", "bytes")]
        span = _parse_range(byte_range, st.st_size) if byte_range and not head else None
        if span is not None:
            start, stop = span
            headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{st.st_size}"))
            return Response(206, content_type=content_type, headers=headers, file_path=path,
                            file_size=stop - start, file_offset=start)
        if head or st.st_size > _SMALL_FILE:
            return Response(200, content_type=content_type, headers=headers, file_path=path, file_size=st.st_size)
        with open(path, "rb") as f:
            data = f.read()
        return Response(200, data, content_type, headers)

    def _glob(self, query: str) -> list[str]:
        pattern = parse_qs(query).get("pattern", [""])[0]
        if not pattern or pattern.startswith("/") or ".." in pattern.split("/") or "\x00" in pattern:
            return []
        found = []
        for rel in glob.glob(pattern, root_dir=self.root):
            if rel.split("/", 1)[0] == WORK_DIR_NAME:
                continue
            if is_inside(self.root, os.path.join(self.root, rel)):
                found.append(rel)
        return sorted(found)

    # ------------------------------------------------------------------ PUT

    def _put(self, request: Request, target: Target, body: Body) -> Response:
        first = target.path.split("/", 1)[0]
        if first.startswith("__aggregate"):
            return self._aggregate(target, body)
        if first.startswith(_RESERVED):
            raise HttpError(404 if first.startswith("__pyramid") else 400,
                            f"'{first}' is a reserved name; this server does not support it for PUT")
        if not target.rel:
            raise HttpError(405, "the root directory already exists")
        final = os.path.join(self.root, target.rel)
        mirror = parse_qs(target.query).get("MirrorSource")
        if target.trailing_slash and not mirror:
            return self._mkdir(final, target)
        if os.path.lexists(final):
            raise HttpError(405, f"file already exists: /{target.rel}")
        self._make_parents(final, target)
        declared = request.content_length or 0
        self._check_space(declared)
        with self.work.new_temp(fsync=self.settings.fsync) as tmp:
            if mirror:
                s = self.settings
                tmp.write_all(fetch_from_member(mirror[0], cluster=s.cluster, token=s.token, limit=s.max_request_size))
            elif not tmp.splice_from(body):
                tmp.write_all(body.decoded(limit=self.settings.max_request_size))
            if self.settings.free_space_floor and tmp.size > declared:
                self._check_space(0)
            try:
                tmp.publish(final)
            except FileExistsError:
                raise HttpError(409, f"/{target.rel} was created by a concurrent request") from None
        self.listings.note_entry(final)
        return Response(200)

    def _mkdir(self, final: str, target: Target) -> Response:
        self._make_parents(final, target)
        try:
            os.mkdir(final)
        except FileExistsError:
            raise HttpError(405, f"already exists: /{target.rel}/") from None
        self.listings.note_entry(final)
        return Response(200)

    def _make_parents(self, final: str, target: Target) -> None:
        parent = os.path.dirname(final)
        if not os.path.isdir(parent):
            try:
                os.makedirs(parent, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise HttpError(409, f"a parent of /{target.rel} is a file, not a directory") from None
        if not is_inside(self.root, parent):
            raise HttpError(403, f"/{target.rel} resolves outside the served root")

    def _check_space(self, incoming: int) -> None:
        floor = self.settings.free_space_floor
        if floor and shutil.disk_usage(self.root).free - incoming < floor:
            raise HttpError(507, f"writing would leave less than the {floor}-byte free-space floor on this server")

    def _aggregate(self, target: Target, body: Body) -> Response:
        match = self.aggregators.match(target.path)
        if match is None:
            raise HttpError(404, f"unknown aggregate endpoint '{target.path.split('/', 1)[0]}'")
        handler, rest = match
        parts = [p for p in posixpath.normpath("/" + rest).split("/") if p not in ("", ".", "..")]
        if not parts or parts[0] == WORK_DIR_NAME:
            raise HttpError(400, "aggregate endpoint needs a file path after the prefix")
        rel = "/".join(parts)
        try:
            file_rel = handler.container(rel)
        except ValueError as exc:
            raise HttpError(400, f"cannot append to /{rel}: {exc}") from None
        final = os.path.join(self.root, file_rel)
        sub = Target(path=file_rel, rel=file_rel, trailing_slash=False, query="")
        self._make_parents(final, sub)
        if os.path.isdir(final):
            raise HttpError(409, f"/{file_rel} is a directory")
        self._check_space(0)
        data = b"".join(bytes(p) for p in body.decoded(limit=_AGGREGATE_LIMIT))
        self._check_space(len(data))
        existed = os.path.exists(final)
        try:
            handler.append(final, data, rel=rel)
        except ValueError as exc:
            raise HttpError(400, f"cannot append to /{rel}: {exc}") from None
        self.listings.note_entry(final, created=not existed)
        return Response(200)
