"""Reading files of this host's own data servers straight from disk (§4.5 step 2, fixing §8 C13)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["local_file"]


def local_file(root: Path, path: str) -> Path | None:
    """The file ``root/path`` if it exists and really lies inside ``root``, else ``None``.

    The test is on real paths with a separator, so neither ``..``, a sibling directory sharing a prefix
    (``/data2`` vs ``/data``) nor a symlink pointing out of the root can make the client read a file the server
    would not serve.
    """
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, path))
    if not candidate.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    return Path(candidate) if os.path.isfile(candidate) else None
