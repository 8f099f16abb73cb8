"""Mapping request targets to paths under the served root, without ever leaving it.

Follows PYME's translation (reference §1.2): the query and fragment are dropped, the path is percent-decoded as
UTF-8 and normalised, and empty, ``.`` and ``..`` components are discarded, so ``/../../etc/x`` names ``<root>/etc/x``.
On top of that, NUL bytes are refused, the server's own work directory is hidden, and a path whose real location
(after symlinks) lies outside the root is refused.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from pathlib import Path
from urllib.parse import unquote

from photonflow.storage.server._http import HttpError

__all__ = ["WORK_DIR_NAME", "Target", "is_inside", "parse_target"]

WORK_DIR_NAME = ".photonflow-tmp"


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A request target split into its parts.

    Attributes
    ----------
    path : str
        Decoded path, without the leading ``/``, without query (PYME compares this against ``__status`` etc.).
    rel : str
        Normalised root-relative path (components joined by ``/``; ``""`` is the root).
    trailing_slash : bool
        Whether the decoded path ended with ``/``.
    query : str
        Raw query string (after ``?``), ``""`` if none.
    """

    path: str
    rel: str
    trailing_slash: bool
    query: str

    @property
    def parts(self) -> list[str]:
        """The components of :attr:`rel`."""
        return self.rel.split("/") if self.rel else []


def parse_target(target: str) -> Target:
    """Split and decode a request target.

    Raises
    ------
    HttpError
        400 for a target that is not a path, is not valid UTF-8 once decoded, or contains NUL.
    """
    if target.startswith(("http://", "https://")):
        # absolute-form (RFC 9112 §3.2.2): keep only the path.
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    if not target.startswith("/"):
        raise HttpError(400, "request target must start with '/'")
    raw, _, query = target.partition("?")
    raw = raw.partition("#")[0]
    query = query.partition("#")[0]
    try:
        path = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise HttpError(400, "percent-decoded path is not valid UTF-8") from None
    if "\x00" in path:
        raise HttpError(400, "path contains a NUL byte")
    trailing = path.endswith("/")
    parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
    return Target(path=path.lstrip("/"), rel="/".join(parts), trailing_slash=trailing, query=query)


def is_inside(root_real: str, path: Path | str) -> bool:
    """Whether the real location of ``path`` (symlinks resolved) is ``root_real`` or below it."""
    real = _real_path(path)
    return real == root_real or real.startswith(root_real.rstrip("/") + "/")


def _real_path(path: Path | str) -> str:
    # The kernel resolves an existing path in one open(O_PATH); /proc names what it resolved to. That is 3 system
    # calls whatever the depth, where os.path.realpath makes one lstat per component (it matters per small PUT).
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return os.path.realpath(path)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(fd)
