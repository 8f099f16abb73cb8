"""Take a screenshot of every web UI page into docs/screenshots/ (headless Debian Chromium through Playwright).

Run: ``.venv/bin/python scripts/screenshots.py`` (starts a cluster of one with demo data, runs one localization).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from photonflow.compute.cluster_of_one import ClusterOfOne
from photonflow.storage import ClusterClient
from photonflow.ui import AuthSettings, start_ui
from photonflow.ui._demo import write_demo_results, write_demo_series
from photonflow.ui._rules_client import RulesClient

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = [
    ("files", "/files/demo"),
    ("series", "/series/demo/cell1.pcs"),
    ("launch", "/launch?series=demo/cell1.pcs&series=demo/live.pcs"),
    ("recipe", "/recipe"),
    ("rules", "/rules"),
    ("status", "/status"),
    ("results", None),
]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="photonflow-shots-") as tmp, \
            ClusterOfOne(Path(tmp), "screenshots", workers=1) as c1:
        client = ClusterClient("screenshots", servers=[c1.dataserver_url], registry=False, zeroconf=False)
        write_demo_series(client, "demo/cell1.pcs", n_frames=200)
        write_demo_series(client, "demo/live.pcs", n_frames=40, finalize=False, seed=2)
        write_demo_results(client, "demo/rings_locs.h5r", n=20000)
        rules = RulesClient(c1.api_url)
        rule_id = rules.submit_localization("demo/cell1.pcs", {"threshold": 6.0})
        deadline = time.monotonic() + 120
        while not rules.get_rule(rule_id).finished and time.monotonic() < deadline:
            time.sleep(0.5)
        ui = start_ui(client=client, rules_api_url=c1.api_url, presets_dir=Path(tmp) / "presets")
        locked = start_ui(client=client, auth=AuthSettings(token="example-token"))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                for name, path in PAGES:
                    page.goto(ui.url + (path or "/results/demo/rings_locs.h5r"))
                    page.wait_for_load_state("networkidle") if name != "rules" else page.wait_for_timeout(1500)
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=name != "results")
                    print("wrote", OUT / f"{name}.png")
                page.goto(locked.url + "/files/")
                page.screenshot(path=str(OUT / "login.png"))
                print("wrote", OUT / "login.png")
                browser.close()
        finally:
            ui.stop()
            locked.stop()
            client.close()
            rules.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
