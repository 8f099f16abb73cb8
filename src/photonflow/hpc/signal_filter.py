"""``SignalFilter``: FFT-domain filtering of every position's time series, the worked example of a Process.

Per batch X (B × S): ``F = fftshift(fft(X))``; the noise floor of each row is estimated on the *unfiltered*
spectrum; ``F`` is multiplied by the composite filter (the product of every filter's transfer function);
bins below the row's floor are set to 1e-16; outputs are the filtered time series ``real(ifft(ifftshift(F)))``,
the noise floors, and optionally the condensed spectrum (DC and positive-frequency bins that the filter passes).
FFTs run in the input's precision (complex64 for float32 data, as numpy ≥ 2 does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from photonflow.hpc.fft_filters import FrequencyFilter, noise_floor
from photonflow.hpc.outputs import OutputSpec
from photonflow.hpc.process import Process
from photonflow.hpc.usid import Dimension

__all__ = ["SignalFilter"]


class SignalFilter(Process):
    """Filter every row of a Main dataset in the frequency domain (pycroscopy's legacy SignalFilter).

    Parameters
    ----------
    source : str, Path or h5py.Dataset
        As for :class:`~photonflow.hpc.process.Process`.
    frequency_filters : sequence of FrequencyFilter, optional
        Multiplied together into the composite filter; all must match the source's length and sampling rate.
    noise_threshold : float, optional
        Tolerance in (0, 1) of the per-row noise floor; bins below the floor are suppressed.
    write_filtered : bool
        Write ``Filtered_Data`` (same shape and dtype as the source, sharing its ancillaries).
    write_condensed : bool
        Write ``Condensed_Data`` (complex64, the passed DC/positive-frequency bins). Needs filters.
    num_pix : int
        Positions per effective pixel; only 1 is supported (the legacy code never implemented more).
    **process_kwargs
        Passed to :class:`~photonflow.hpc.process.Process` (``target``, ``batch_size``, ``workers``, ...).
    """

    tool = "FFT_Filtering"
    algorithm = "photonflow_SignalFilter"

    def __init__(
        self,
        source: str | Path | h5py.Dataset,
        *,
        frequency_filters: Sequence[FrequencyFilter] | None = None,
        noise_threshold: float | None = None,
        write_filtered: bool = True,
        write_condensed: bool = False,
        num_pix: int = 1,
        **process_kwargs: Any,
    ) -> None:
        filters = list(frequency_filters or [])
        if not filters and noise_threshold is None:
            raise ValueError("give frequency_filters, noise_threshold, or both")
        if noise_threshold is not None and not 0 < noise_threshold < 1:
            raise ValueError(f"noise_threshold must be in (0, 1), got {noise_threshold}")
        for f in filters:
            if not isinstance(f, FrequencyFilter):
                raise TypeError(f"frequency_filters must be FrequencyFilter objects, got {type(f).__name__}")
            if not f.is_compatible(filters[0]):
                raise ValueError("all frequency filters must share signal_length and samp_rate")
        if not filters:
            write_condensed = False
        if not (write_filtered or write_condensed):
            raise ValueError("write_filtered or write_condensed (with filters) must be True")
        if num_pix != 1:
            raise ValueError("num_pix must be 1: combining positions into effective pixels is not supported")
        parameters: dict[str, Any] = {
            "filters": [f.parameters() for f in filters],
            "noise_threshold": noise_threshold,
            "write_filtered": write_filtered,
            "write_condensed": write_condensed,
            "num_pix": num_pix,
        }
        process_kwargs.setdefault("mem_multiplier", 6.0)  # complex spectrum, its magnitude and the outputs
        super().__init__(source, parameters=parameters, **process_kwargs)
        length = self.source.shape[1]
        if filters and filters[0].signal_length != length:
            raise ValueError(f"the filters are for {filters[0].signal_length} samples; the source rows have {length}")
        self.noise_threshold = noise_threshold
        self.write_filtered = write_filtered
        self.write_condensed = write_condensed
        self.samp_rate = filters[0].samp_rate if filters else 1.0
        self.composite: np.ndarray | None = None
        self.hot_bins = np.zeros(0, dtype=np.int64)
        if filters:
            composite = np.ones(length, dtype=np.float32)
            for f in filters:
                composite = composite * f.value
            self.composite = composite.astype(np.float32)
            hot = np.flatnonzero(self.composite > 0)
            self.hot_bins = hot[len(hot) // 2 :]

    def outputs(self) -> Sequence[OutputSpec]:
        specs = []
        if self.noise_threshold is not None:
            specs.append(
                OutputSpec(
                    "Noise_Floors",
                    columns=1,
                    dtype=np.float32,
                    quantity="Noise",
                    units="a.u.",
                    spec_dims=(Dimension("arb", "", [1.0]),),
                    spec_prefix="Noise_Spec_",
                )
            )
        if self.write_filtered:
            specs.append(
                OutputSpec(
                    "Filtered_Data", dtype=self.source.dtype, quantity=self.source.quantity, units=self.source.units
                )
            )
        if self.write_condensed:
            length = self.source.shape[1]
            freqs = (self.hot_bins - length // 2) * self.samp_rate / length
            specs.append(
                OutputSpec(
                    "Condensed_Data",
                    columns=len(self.hot_bins),
                    dtype=np.complex64,
                    quantity=self.source.quantity,
                    units=self.source.units,
                    spec_dims=(Dimension("hot_frequencies", "Hz", freqs),),
                    spec_prefix="Condensed_Spec_",
                )
            )
        return specs

    def static_datasets(self) -> Mapping[str, np.ndarray]:
        if self.composite is None:
            return {}
        return {"Composite_Filter": self.composite, "Condensed_Bins": self.hot_bins.astype(np.uint32)}

    def compute_batch(self, data: np.ndarray) -> Mapping[str, np.ndarray]:
        spectra = np.fft.fftshift(np.fft.fft(data, axis=1), axes=1)
        out: dict[str, np.ndarray] = {}
        floors = None
        if self.noise_threshold is not None:
            floors = noise_floor(spectra, self.noise_threshold)
            out["Noise_Floors"] = floors[:, None]
        if self.composite is not None:
            spectra *= self.composite
        if floors is not None:
            spectra[np.abs(spectra) < floors[:, None]] = 1e-16
        if self.write_condensed:
            out["Condensed_Data"] = spectra[:, self.hot_bins]
        if self.write_filtered:
            out["Filtered_Data"] = np.real(np.fft.ifft(np.fft.ifftshift(spectra, axes=1), axis=1))
        return out
