"""``photonflow up --demo`` end to end as a user runs it: a subprocess, a small demo, valid outputs, no leftovers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from photonflow.formats.h5r import list_tables, read_table

pytestmark = pytest.mark.timeout(200)


def test_up_demo_runs_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")} | {"TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "photonflow", "up", "--demo", "--root", str(root), "--workers", "1",
         "--demo-frames", "400", "--demo-fps", "2000", "--cluster", "uptest", "--config", os.devnull],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "localizations" in out and "frames/s" in out
    h5r = Path(re.search(r"demo: results (\S+)", out).group(1))  # type: ignore[union-attr]
    png = Path(re.search(r"demo: image (\S+)", out).group(1))  # type: ignore[union-attr]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"FitResults", "Localizations", "Events"} <= set(list_tables(h5r))
    assert read_table(h5r, "Localizations").shape[0] > 100
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(root) in " ".join(p.info["cmdline"] or [])]
    assert not leftovers, "processes left behind"
