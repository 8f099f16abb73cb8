"""Browser-test fixtures: a real cluster of one (data server, scheduler, worker), the UI, headless Chromium.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (never a downloaded browser); ``scripts/test.sh``
installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from photonflow.storage import ClusterClient
from photonflow.ui import AuthSettings, RunningUI, User, hash_password, start_ui
from photonflow.ui._demo import write_demo_results, write_demo_series

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "browser-test-token"
READONLY_PASSWORD = "look-but-do-not-touch"


@dataclass
class Cluster:
    """The running cluster and the UI in front of it."""

    client: ClusterClient
    ui: RunningUI
    api_url: str
    frames: int


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per browser-test module.

    Not per session: while Playwright's sync API is open, its event loop counts as *running* in the main thread, so
    every later test in the process (asyncio.run, libraries that attach to a running loop) would see it.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of one with a finished demo series, a spooling one and a results file; the UI without login."""
    from photonflow.compute.cluster_of_one import ClusterOfOne

    root = tmp_path_factory.mktemp("cluster")
    with ClusterOfOne(root, "browsertest", workers=1) as c1:
        client = ClusterClient("browsertest", servers=[c1.dataserver_url], registry=False, zeroconf=False)
        write_demo_series(client, "demo/cell1.pcs", n_frames=200)
        write_demo_series(client, "demo/live.pcs", n_frames=30, finalize=False, seed=2)
        write_demo_results(client, "demo/old_locs.h5r")
        ui = start_ui(client=client, rules_api_url=c1.api_url, presets_dir=Path(root) / "presets")
        try:
            yield Cluster(client=client, ui=ui, api_url=c1.api_url, frames=200)
        finally:
            ui.stop()
            client.close()


@pytest.fixture(scope="session")
def secured_ui(cluster: Cluster) -> Iterator[RunningUI]:
    """A second UI on the same cluster that needs login: the cluster token, or a read-only user."""
    auth = AuthSettings(users={"viewer": User("viewer", hash_password(READONLY_PASSWORD), "readonly")}, token=TOKEN)
    ui = start_ui(client=cluster.client, rules_api_url=cluster.api_url, auth=auth)
    yield ui
    ui.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; every wait is bounded."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()
