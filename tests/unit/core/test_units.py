"""Human-readable sizes, as the command line and the web UI print them."""

from __future__ import annotations

from photonflow._units import human_size
from photonflow.ui._web import human_size as ui_human_size


def test_sizes_in_binary_units() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1024) == "1.0 KiB"
    assert human_size(int(12.34 * 2**20)) == "12.3 MiB"
    assert human_size(3 * 2**50) == "3072.0 TiB"  # TiB is the largest unit


def test_unknown_size_placeholder_differs_between_cli_and_ui() -> None:
    assert human_size(None) == "-"
    assert ui_human_size(None) == "–"
    assert ui_human_size(2048) == human_size(2048) == "2.0 KiB"
