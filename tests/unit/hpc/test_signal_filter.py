"""Frequency filters and SignalFilter against the legacy reference vectors (§6.3, §6.6; §9 30-32)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from photonflow.hpc.fft_filters import (
    BandPassFilter,
    HarmonicPassFilter,
    HighPassFilter,
    LowPassFilter,
    NoiseBandFilter,
    decompress_condensed,
    noise_floor,
)
from photonflow.hpc.signal_filter import SignalFilter


@pytest.mark.parametrize(
    ("n", "fs", "fc", "first", "last", "total"),
    [
        (1000, 1e6, 1e5, 400, 600, 196.0),
        (1024, 1e6, 1e5, 410, 614, 200.0),
        (16384, 4e6, 1e4, 8151, 8233, 81.0),
        (64, 1, 0.2, 19, 45, 26.0),
    ],
)
def test_low_pass_reference(n: int, fs: float, fc: float, first: int, last: int, total: float) -> None:
    value = LowPassFilter(n, fs, f_cutoff=fc).value
    nonzero = np.flatnonzero(value)
    assert (nonzero[0], nonzero[-1]) == (first, last) and value.dtype == np.float32
    assert value.sum() == pytest.approx(total, abs=1e-3)


def test_low_pass_edges_and_high_pass() -> None:
    value = LowPassFilter(1000, 1e6, f_cutoff=1e5).value
    edge = [2.03476e-4, 3.854994e-2, 0.5, 0.96145, 0.9997965]
    np.testing.assert_allclose(value[400:405], edge, rtol=1e-5)
    np.testing.assert_allclose(value[596:601], edge[::-1], rtol=1e-5)
    assert (value == 1).sum() == 191
    high = HighPassFilter(1000, 1e6, f_cutoff=1e5).value
    np.testing.assert_allclose(high + value, 1)
    assert high[500] == 0


def test_noise_band_harmonic_band_pass_reference() -> None:
    zeros = np.flatnonzero(NoiseBandFilter(1000, 1e6, freqs=(2e5,), freq_widths=(1e4,)).value == 0)
    np.testing.assert_array_equal(zeros, np.r_[295:306, 695:706])
    ones = np.flatnonzero(HarmonicPassFilter(1000, 1e6, first_freq=1e4, band_width=2e3, num_harm=3).value)
    np.testing.assert_array_equal(ones, np.r_[469:472, 479:482, 489:492, 509:512, 519:522, 529:532])
    ones = np.flatnonzero(BandPassFilter(1000, 1e6, f_center=1e5, f_width=1e4).value)
    np.testing.assert_array_equal(ones, np.r_[395:406, 595:606])
    fir = BandPassFilter(1000, 1e6, f_center=1e5, f_width=1e4, fir=True, fir_taps=101).value
    assert fir.argmax() in (400, 600) and fir[500] < 1e-3
    with pytest.raises(ValueError):
        LowPassFilter(1000, 1e6, f_cutoff=6e5)


def _reference_input() -> np.ndarray:
    n, fs = 1000, 1e6
    t = np.arange(n) / fs
    noise = np.random.default_rng(42).standard_normal((3, n))
    rows = [np.sin(2 * np.pi * 1e4 * (k + 1) * t) + 0.5 * np.sin(2 * np.pi * 3e5 * t) for k in range(3)]
    return (np.array(rows) + 0.1 * noise).astype(np.float32)


def test_signal_filter_matches_reference_run(tmp_path: Path, usid_writer: Callable[..., Path]) -> None:
    path = usid_writer(tmp_path / "sf.h5", _reference_input())
    lpf = LowPassFilter(1000, 1e6, f_cutoff=1e5)
    process = SignalFilter(
        path,
        dataset="/Measurement_000/Channel_000/Raw_Data",
        frequency_filters=[lpf],
        noise_threshold=1e-4,
        write_condensed=True,
        progress=False,
    )
    result = process.compute()
    with h5py.File(path, "r") as f:
        group = f[result.group]
        assert result.group.endswith("Raw_Data-FFT_Filtering_000")
        np.testing.assert_allclose(group["Noise_Floors"][:, 0], [9.482849, 9.759085, 9.754359], rtol=1e-5)
        filtered = group["Filtered_Data"][()]
        np.testing.assert_allclose(filtered[0, :5], [-0.006363, 0.05644, 0.119019, 0.18113, 0.242525], atol=2e-6)
        np.testing.assert_allclose(np.sqrt((filtered**2).mean(axis=1)), [0.707115, 0.70885, 0.707652], rtol=1e-5)
        bins = group["Condensed_Bins"][()]
        np.testing.assert_array_equal(bins, np.arange(500, 601))
        restored = decompress_condensed(group["Condensed_Data"][()], bins.astype(np.int64), 1000)
        np.testing.assert_allclose(restored, filtered, atol=1e-5)
        np.testing.assert_array_equal(group["Composite_Filter"][()], lpf.value)


def test_noise_floor_is_row_independent() -> None:
    spectra = np.fft.fftshift(np.fft.fft(_reference_input(), axis=1), axes=1)
    together = noise_floor(spectra, 1e-4)
    apart = np.concatenate([noise_floor(spectra[i : i + 1], 1e-4) for i in range(3)])
    np.testing.assert_array_equal(together, apart)


def test_filter_parameters_do_not_collide(tmp_path: Path, usid_writer: Callable[..., Path]) -> None:
    path = usid_writer(tmp_path / "sf.h5", _reference_input())
    bands = [
        NoiseBandFilter(1000, 1e6, freqs=(2e5,), freq_widths=(1e4,)),
        NoiseBandFilter(1000, 1e6, freqs=(3e5,), freq_widths=(2e4,)),
    ]
    process = SignalFilter(
        path, dataset="/Measurement_000/Channel_000/Raw_Data", frequency_filters=bands, progress=False
    )
    result = process.compute()
    with h5py.File(path, "r") as f:
        attrs = f[result.group].attrs
        assert list(attrs["filters/0/freqs"]) == [2e5] and list(attrs["filters/1/freqs"]) == [3e5]
    other = SignalFilter(
        path, dataset="/Measurement_000/Channel_000/Raw_Data", frequency_filters=bands[:1], progress=False
    )
    assert other.find_results().complete == ()


def test_signal_filter_validation(tmp_path: Path, usid_writer: Callable[..., Path]) -> None:
    path = usid_writer(tmp_path / "sf.h5", _reference_input())
    kwargs = {"dataset": "/Measurement_000/Channel_000/Raw_Data"}
    with pytest.raises(ValueError):
        SignalFilter(path, **kwargs)
    with pytest.raises(ValueError):
        SignalFilter(path, noise_threshold=1.5, **kwargs)
    with pytest.raises(TypeError):
        SignalFilter(path, frequency_filters=["low"], **kwargs)  # type: ignore[list-item]
    with pytest.raises(ValueError):
        SignalFilter(path, frequency_filters=[LowPassFilter(512, 1e6, f_cutoff=1e5)], **kwargs)
    with pytest.raises(ValueError):
        SignalFilter(path, noise_threshold=1e-3, num_pix=2, **kwargs)
