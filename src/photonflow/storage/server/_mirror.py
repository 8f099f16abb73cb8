"""``PUT <path>?MirrorSource=<url>``: copy a file from another server of the same cluster (reference §1.5, §6).

Fixes S10: the source must be an ``http://`` data server whose ``/__status`` names the same cluster (so the server
cannot be used to fetch arbitrary URLs or store error pages), the file must come back ``200`` with exactly its
``Content-Length`` bytes, and it is streamed into a temporary file before being published write-once.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

from photonflow.storage.server._http import HttpError

__all__ = ["fetch_from_member"]

_TIMEOUT_S = 10.0
_PIECE = 1 << 20


def fetch_from_member(url: str, *, cluster: str, token: str | None, limit: int) -> Iterator[bytes]:
    """Yield the bytes of ``url`` after checking its server belongs to ``cluster``.

    Raises
    ------
    HttpError
        400 for a URL that is not ``http://host:port/path``; 403 when the source is not a member of the cluster;
        502 when the source does not answer, answers non-200, or sends a body of the wrong length.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.path.startswith("/"):
        raise HttpError(400, "MirrorSource must be an http://host:port/path URL of a data server")
    if parts.path.lstrip("/").startswith("__"):
        raise HttpError(400, "MirrorSource must name a plain file")
    port = parts.port or 80
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn = http.client.HTTPConnection(parts.hostname, port, timeout=_TIMEOUT_S)
    try:
        try:
            conn.request("GET", "/__status", headers=headers)
            status_resp = conn.getresponse()
            status_body = status_resp.read(1 << 20)
        except (OSError, http.client.HTTPException) as exc:
            raise HttpError(502, f"mirror source {parts.hostname}:{port} did not answer: {exc}") from None
        try:
            member = status_resp.status == 200 and json.loads(status_body).get("Cluster") == cluster
        except (ValueError, AttributeError):
            member = False
        if not member:
            raise HttpError(403, f"mirror source {parts.hostname}:{port} is not a data server of cluster {cluster!r}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise HttpError(502, f"mirror source did not answer the file request: {exc}") from None
        if resp.status != 200:
            raise HttpError(502 if resp.status >= 500 else 404, f"mirror source answered {resp.status} for the file")
        length_text = resp.getheader("Content-Length")
        if length_text is None or not length_text.isdigit():
            raise HttpError(502, "mirror source sent no Content-Length")
        length = int(length_text)
        if length > limit:
            raise HttpError(413, f"mirrored file larger than the {limit}-byte limit")
        received = 0
        while received < length:
            try:
                piece = resp.read(min(_PIECE, length - received))
            except (OSError, http.client.HTTPException) as exc:
                raise HttpError(502, f"mirror source failed mid-transfer: {exc}") from None
            if not piece:
                raise HttpError(502, f"mirror source sent {received} of {length} bytes")
            received += len(piece)
            yield piece
    finally:
        conn.close()
