"""Sliding-window background estimation over ``BGRange``, fed frames in order.

For frame *t* the window is the frames with indices in ``[t + lo, t + hi)``, clipped to the frames that exist,
**excluding t itself** (PYME's behaviour, compute.md §3.2 steps 1 and 4). The mean is kept incrementally (one
frame added, one removed per step); the percentile mode takes the per-pixel k-th smallest value, 1-based rank
``k = floor(p · n)``, plus PYME's global offset ``median(median image) − median(percentile image)``.

When ``hi > 1`` the background of frame *t* needs later frames, so :meth:`SlidingBackground.push` returns frames
only once their window is complete; :meth:`SlidingBackground.finish` drains the rest at the end of the series.
"""

from __future__ import annotations

from collections import deque

import numba
import numpy as np

from photonflow.errors import AnalysisError

__all__ = ["SlidingBackground"]

_NONE = np.zeros((0, 0), np.float32)
_NONE.setflags(write=False)


@numba.njit(cache=True, nogil=True)
def _slide(
    total: np.ndarray, add: np.ndarray, sub: np.ndarray, excl: np.ndarray, inv_n: float, out: np.ndarray
) -> None:
    """One pass: ``total += add − sub``, then ``out = (total − excl) · inv_n``; empty arrays are left out."""
    nr, nc = total.shape
    has_add = add.shape[0] > 0
    has_sub = sub.shape[0] > 0
    has_excl = excl.shape[0] > 0
    for i in range(nr):
        t = total[i]
        o = out[i]
        for j in range(nc):
            v = t[j]
            if has_add:
                v += add[i, j]
            if has_sub:
                v -= sub[i, j]
            t[j] = v
            if has_excl:
                v -= excl[i, j]
            o[j] = v * inv_n


class SlidingBackground:
    """Incremental per-pixel background over a window of frames relative to the current one.

    Parameters
    ----------
    bg_range : (int, int)
        Window ``[lo, hi)`` relative to the frame (PYME ``Analysis.BGRange``); ``(0, 0)`` means no background.
    percentile : float
        0 for the window mean; in (0, 1] for the per-pixel percentile (PYME ``Analysis.PCTBackground``).
    first_index : int
        Index of the first frame that will be pushed.

    Examples
    --------
    >>> bg = SlidingBackground((-2, 0))
    >>> [t for t, _, _ in bg.push(np.zeros((4, 4), np.float32))]
    [0]
    """

    def __init__(self, bg_range: tuple[int, int] = (-30, 0), *, percentile: float = 0.0, first_index: int = 0):
        lo, hi = int(bg_range[0]), int(bg_range[1])
        if lo > hi:
            raise AnalysisError(f"bg_range must be (lo, hi) with lo <= hi, got {bg_range!r}")
        if not 0.0 <= percentile <= 1.0:
            raise AnalysisError(f"percentile must be in [0, 1] (0 = mean), got {percentile!r}")
        self.lo, self.hi = lo, hi
        self.percentile = float(percentile)
        self._start = int(first_index)
        self._next_in = self._start  # index the next pushed frame gets
        self._next_out = self._start  # next frame whose background is emitted
        self._frames: deque[tuple[int, np.ndarray]] = deque()
        self._sum: np.ndarray | None = None  # float64 sum over window frames currently in the running sum
        self._sum_lo = self._start  # running sum covers indices [_sum_lo, _sum_hi)
        self._sum_hi = self._start

    @property
    def empty_window(self) -> bool:
        """True when the window can never hold a frame (``lo == hi`` or only frame t itself)."""
        return self.lo == self.hi or (self.lo == 0 and self.hi == 1)

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Add the next frame; return ``(index, frame, background)`` for every frame whose window is now complete."""
        frame = np.asarray(frame, dtype=np.float32)
        self._frames.append((self._next_in, frame))
        self._next_in += 1
        out = []
        # frame t is ready once frame t + hi - 1 (its last window member) has arrived
        while self._next_out <= self._next_in - max(self.hi, 1):
            out.append(self._emit(self._next_out, self._next_in))
            self._next_out += 1
        return out

    def finish(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Emit the frames still waiting for later frames, with their windows clipped to the end of the series."""
        out = []
        while self._next_out < self._next_in:
            out.append(self._emit(self._next_out, self._next_in))
            self._next_out += 1
        return out

    # -- internals ----------------------------------------------------------------------------------------------
    def _frame(self, index: int) -> np.ndarray:
        return self._frames[index - self._frames[0][0]][1]

    def _emit(self, t: int, n_available: int) -> tuple[int, np.ndarray, np.ndarray]:
        win_lo = max(t + self.lo, self._start)
        win_hi = min(t + self.hi, n_available)
        frame = self._frame(t)
        members = [i for i in range(win_lo, win_hi) if i != t]
        if not members:
            bg = np.zeros_like(frame)
        elif self.percentile > 0:
            bg = self._percentile(members)
        else:
            bg = self._mean(win_lo, win_hi, t)
        # later frames need frame t + 1 onwards, their windows from t + 1 + lo, and the running sum removes
        # frame t + lo on the next step
        keep_from = min(t + self.lo, t + 1)
        while self._frames and self._frames[0][0] < keep_from:
            self._frames.popleft()
        return t, frame, bg

    def _mean(self, win_lo: int, win_hi: int, t: int) -> np.ndarray:
        if self._sum is None:
            self._sum = np.zeros(self._frame(t).shape, dtype=np.float64)
        # windows only move forward, so the running sum adds at the top and removes at the bottom; all but the
        # last frame in and out are applied here, those two in the same pass that writes the mean
        while self._sum_hi < win_hi - 1:
            self._sum += self._frame(self._sum_hi)
            self._sum_hi += 1
        while self._sum_lo < win_lo - 1:
            self._sum -= self._frame(self._sum_lo)
            self._sum_lo += 1
        add = sub = _NONE
        if self._sum_hi < win_hi:
            add = self._frame(self._sum_hi)
            self._sum_hi += 1
        if self._sum_lo < win_lo:
            sub = self._frame(self._sum_lo)
            self._sum_lo += 1
        n = win_hi - win_lo
        excl = _NONE
        if win_lo <= t < win_hi:
            excl = self._frame(t)
            n -= 1
        out = np.empty(self._sum.shape, np.float32)
        _slide(self._sum, add, sub, excl, 1.0 / n, out)
        return out

    def _percentile(self, members: list[int]) -> np.ndarray:
        stack = np.stack([self._frame(i) for i in members])
        n = len(members)
        k = int(np.floor(self.percentile * n))
        if k == 0:
            return np.zeros(stack.shape[1:], dtype=np.float32)
        pct = np.partition(stack, k - 1, axis=0)[k - 1]
        med = np.median(stack, axis=0)
        offset = np.median(med) - np.median(pct)
        return (pct + offset).astype(np.float32)
