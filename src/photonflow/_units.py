"""Numbers as people read them, shared by the command line and the web UI."""

from __future__ import annotations

__all__ = ["human_size"]


def human_size(size: int | float | None, *, missing: str = "-") -> str:
    """Bytes in binary units: ``512 B``, ``12.3 MiB`` (up to TiB); ``missing`` when the size is unknown."""
    if size is None:
        return missing
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
