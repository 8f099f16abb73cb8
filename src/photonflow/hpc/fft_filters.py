"""Frequency-domain filters and the noise-floor estimate used by :class:`~photonflow.hpc.signal_filter.SignalFilter`.

Filters are arrays over the FFT-*shifted* frequency axis of a signal of ``N`` samples at rate ``fs``: bin
``N // 2`` is DC (equal to the legacy ``round(N/2)`` for even N; for odd N the legacy code was one bin off).
The bin ranges reproduce pycroscopy's legacy filters exactly (reference/process-hpc.md §6.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf

__all__ = [
    "BandPassFilter",
    "FrequencyFilter",
    "HarmonicPassFilter",
    "HighPassFilter",
    "LowPassFilter",
    "NoiseBandFilter",
    "decompress_condensed",
    "noise_floor",
]


@dataclass(frozen=True)
class FrequencyFilter:
    """Base class: a transfer function over the shifted frequency axis of ``signal_length`` samples."""

    signal_length: int
    samp_rate: float
    value: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.signal_length) != self.signal_length or self.signal_length < 1:
            raise ValueError(f"signal_length must be a whole number ≥ 1, got {self.signal_length}")
        if self.samp_rate <= 0:
            raise ValueError(f"samp_rate must be > 0, got {self.samp_rate}")
        object.__setattr__(self, "value", self._build())

    @property
    def center(self) -> int:
        """Index of the DC bin on the shifted axis."""
        return int(self.signal_length) // 2

    def _bin(self, freq: float) -> int:
        return round(self.signal_length * freq / self.samp_rate)

    def _build(self) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> dict[str, Any]:
        """Every parameter that defines the filter, including its type (no key collides across filters)."""
        return {"type": type(self).__name__, "signal_length": int(self.signal_length), "samp_rate": self.samp_rate}

    def is_compatible(self, other: FrequencyFilter) -> bool:
        return bool(self.signal_length == other.signal_length and self.samp_rate == other.samp_rate)


def _check_nyquist(freq: float, samp_rate: float, what: str) -> None:
    if not 0 < freq < samp_rate / 2:
        raise ValueError(f"{what} must be between 0 and half the sampling rate ({samp_rate / 2}), got {freq}")


@dataclass(frozen=True)
class LowPassFilter(FrequencyFilter):
    """Pass |f| ≤ ``f_cutoff`` with erf-shaped edges ``roll_off·f_cutoff`` wide (float32)."""

    f_cutoff: float = 0.0
    roll_off: float = 0.05

    def _build(self) -> np.ndarray:
        _check_nyquist(self.f_cutoff, self.samp_rate, "f_cutoff")
        n, cent = int(self.signal_length), self.center
        ind = self._bin(self.f_cutoff)
        size = round(n * self.roll_off * self.f_cutoff / self.samp_rate)
        ramp = 0.5 * (1 + erf(np.linspace(-2.5, 2.5, size)))
        value = np.zeros(n, dtype=np.float32)
        value[cent - ind : cent - ind + size] = ramp
        value[cent - ind + size : cent + ind - size + 1] = 1
        value[cent + ind - size + 1 : cent + ind + 1] = 1 - ramp
        return value

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "f_cutoff": self.f_cutoff, "roll_off": self.roll_off}


@dataclass(frozen=True)
class HighPassFilter(FrequencyFilter):
    """The complement of :class:`LowPassFilter`: pass |f| ≥ ``f_cutoff`` (DC removed), float32."""

    f_cutoff: float = 0.0
    roll_off: float = 0.05

    def _build(self) -> np.ndarray:
        low = LowPassFilter(self.signal_length, self.samp_rate, f_cutoff=self.f_cutoff, roll_off=self.roll_off)
        return (1 - low.value).astype(np.float32)

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "f_cutoff": self.f_cutoff, "roll_off": self.roll_off}


@dataclass(frozen=True)
class NoiseBandFilter(FrequencyFilter):
    """Notch out bands around ±``freqs`` (half-widths ``round(center·width/fs)`` bins, as legacy), int16."""

    freqs: tuple[float, ...] = ()
    freq_widths: tuple[float, ...] = ()

    def _build(self) -> np.ndarray:
        if len(self.freqs) != len(self.freq_widths) or not self.freqs:
            raise ValueError("freqs and freq_widths must be non-empty and of equal length")
        cent = self.center
        value = np.ones(int(self.signal_length), dtype=np.int16)
        for freq, width in zip(self.freqs, self.freq_widths, strict=True):
            _check_nyquist(freq, self.samp_rate, "a noise band frequency")
            ind, size = self._bin(freq), round(cent * width / self.samp_rate)
            value[cent - ind - size : cent - ind + size + 1] = 0
            value[cent + ind - size : cent + ind + size + 1] = 0
        return value

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "freqs": list(self.freqs), "freq_widths": list(self.freq_widths)}


@dataclass(frozen=True)
class HarmonicPassFilter(FrequencyFilter):
    """Pass bands around ±k·``first_freq`` for k = 1..``num_harm`` (DC removed), int16."""

    first_freq: float = 0.0
    band_width: float = 0.0
    num_harm: int = 1

    def _build(self) -> np.ndarray:
        cent = self.center
        size = round(cent * self.band_width / self.samp_rate)
        value = np.zeros(int(self.signal_length), dtype=np.int16)
        for k in range(1, int(self.num_harm) + 1):
            _check_nyquist(k * self.first_freq, self.samp_rate, f"harmonic {k}")
            ind = self._bin(k * self.first_freq)
            value[cent - ind - size : cent - ind + size + 1] = 1
            value[cent + ind - size : cent + ind + size + 1] = 1
        value[cent] = 0
        return value

    def parameters(self) -> dict[str, Any]:
        return {
            **super().parameters(),
            "first_freq": self.first_freq,
            "band_width": self.band_width,
            "num_harm": int(self.num_harm),
        }


@dataclass(frozen=True)
class BandPassFilter(FrequencyFilter):
    """Pass ±``f_center`` ± ``f_width``: a boxcar (float32), or the response of a Blackman FIR (``fir=True``)."""

    f_center: float = 0.0
    f_width: float = 0.0
    fir: bool = False
    fir_taps: int = 1999

    def _build(self) -> np.ndarray:
        _check_nyquist(self.f_center, self.samp_rate, "f_center")
        n, cent = int(self.signal_length), self.center
        if self.fir:
            from scipy.signal import firwin

            nyq = self.samp_rate / 2
            band = [(self.f_center - self.f_width) / nyq, (self.f_center + self.f_width) / nyq]
            taps = firwin(self.fir_taps, band, pass_zero=False, window="blackman")
            return np.abs(np.fft.fftshift(np.fft.fft(taps, n=n))).astype(np.float32)
        ind, size = self._bin(self.f_center), round(cent * self.f_width / self.samp_rate)
        value = np.zeros(n, dtype=np.float32)
        value[cent - ind - size : cent - ind + size + 1] = 1
        value[cent + ind - size : cent + ind + size + 1] = 1
        return value

    def parameters(self) -> dict[str, Any]:
        return {
            **super().parameters(),
            "f_center": self.f_center,
            "f_width": self.f_width,
            "fir": self.fir,
            "fir_taps": int(self.fir_taps),
        }


def noise_floor(spectra: np.ndarray, tolerance: float) -> np.ndarray:
    """Per-row noise threshold of shifted spectra, by iterative clipping (legacy ``get_noise_floor``).

    For each row: ``σ = sqrt(Σ|F|²/(2S))``, ``thr = sqrt(2σ²·(−ln tol))``; then, at most 49 times and while
    σ changes by more than 1e-2 (absolute), zero the bins above ``thr`` and recompute σ and ``thr``.

    Parameters
    ----------
    spectra : ndarray of shape (B, S), complex
    tolerance : float
        In (0, 1).

    Returns
    -------
    ndarray of shape (B,)
        The threshold of each row (real dtype of ``spectra``).
    """
    amp = np.abs(np.atleast_2d(spectra))
    n = amp.shape[1]
    scale = -np.log(tolerance)
    prev = np.sqrt(np.sum(amp**2, axis=1) / (2 * n))
    thr = np.sqrt(2 * prev**2 * scale)
    active = np.ones(len(amp), dtype=bool)
    for _ in range(49):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        sub = amp[rows]
        sub[sub > thr[rows, None]] = 0
        amp[rows] = sub
        new = np.sqrt(np.sum(sub**2, axis=1) / (2 * n))
        active[rows] = np.abs(new - prev[rows]) > 1e-2
        thr[rows] = np.sqrt(2 * new**2 * scale)
        prev[rows] = new
    return thr


def decompress_condensed(condensed: np.ndarray, hot_bins: np.ndarray, signal_length: int) -> np.ndarray:
    """Time-domain rows from condensed spectra (DC and positive-frequency bins ``hot_bins`` of the shifted axis).

    The negative frequencies are the complex conjugates of the positive ones (the input was real).
    """
    condensed = np.atleast_2d(condensed)
    cent = signal_length // 2
    full = np.zeros((len(condensed), signal_length), dtype=np.result_type(condensed.dtype, np.complex64))
    full[:, hot_bins] = condensed
    mirror = 2 * cent - hot_bins
    keep = (mirror >= 0) & (mirror < signal_length) & (mirror != hot_bins)
    full[:, mirror[keep]] = np.conj(condensed[:, keep])
    return np.real(np.fft.ifft(np.fft.ifftshift(full, axes=1), axis=1))
