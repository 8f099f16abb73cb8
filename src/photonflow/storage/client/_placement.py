"""Where a new file goes: pure policy over free space and recent use (§4.6, fixing §8 C10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["rank_servers"]

# A server with less than this fraction of the emptiest server's free space is only used when the others fail,
# so a nearly full node stops receiving new files long before it answers 507.
_FULLNESS_RATIO = 0.25


def rank_servers(
    servers: Sequence[str],
    *,
    size: int,
    free: Mapping[str, int | None],
    last_used: Mapping[str, float],
) -> list[str]:
    """Order ``servers`` by preference for a new file of ``size`` bytes; try them in this order.

    1. servers known to lack room for ``size`` bytes go last;
    2. servers with under a quarter of the best free space come after the rest;
    3. within a group, the least recently used first (never used before any used), like PYME's round robin;
    4. ties: more free space first, then the given order.

    Parameters
    ----------
    servers : sequence of str
        Candidate server URLs.
    size : int
        Bytes to be written.
    free : mapping
        URL → free bytes (``None`` or missing: unknown, treated as roomy).
    last_used : mapping
        URL → time of the last write chosen for it (missing: never).
    """
    known = [f for s in servers if (f := free.get(s)) is not None]
    best = max(known, default=0)

    def key(item: tuple[int, str]) -> tuple[int, int, float, int, int]:
        index, server = item
        room = free.get(server)
        lacks_room = room is not None and room < size
        low = room is not None and room < best * _FULLNESS_RATIO
        return (int(lacks_room), int(low), last_used.get(server, float("-inf")), -(room or 0), index)

    return [server for _, server in sorted(enumerate(servers), key=key)]
