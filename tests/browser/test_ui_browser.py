"""The web UI in headless Chromium against a real cluster of one (data server, scheduler, worker)."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

from PIL import Image

from photonflow.ui._demo import DEMO_PIXEL_NM, DEMO_SHAPE

from .conftest import READONLY_PASSWORD, TOKEN, Cluster


def test_browse_to_demo_series_and_view_frames(cluster: Cluster, page: Any) -> None:
    page.goto(cluster.ui.url + "/")
    page.get_by_role("link", name="demo/").click()
    row = page.locator("tr.series", has_text="cell1.pcs")
    assert "200 frames" in row.inner_text()
    assert row.locator(".badge").inner_text() == "complete"
    live = page.locator("tr.series", has_text="live.pcs")
    assert live.locator(".badge").inner_text() == "spooling"
    assert "30 frames" in live.inner_text()
    row.get_by_role("link", name="cell1.pcs").click()
    page.wait_for_url(re.compile(r"/series/demo/cell1\.pcs$"))
    assert page.locator("#frame-count").inner_text() == "200"
    assert page.locator("table.meta", has_text="voxelsize.x").count() == 1
    frame = page.locator("#frame")
    page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
    assert frame.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [DEMO_SHAPE[1], DEMO_SHAPE[0]]
    page.locator("#frame-slider").fill("150")
    page.wait_for_function("document.getElementById('frame').src.includes('i=150')")
    page.wait_for_function("document.getElementById('frame').complete && document.getElementById('frame').naturalWidth")


def test_launch_localization_watch_progress_open_results(cluster: Cluster, page: Any) -> None:
    page.goto(cluster.ui.url + "/series/demo/cell1.pcs")
    page.locator("#analyse").click()
    page.wait_for_url(re.compile(r"/launch\?series="))
    assert page.locator("#f-threshold").input_value() == "6.0"
    page.locator("#launch-button").click()
    page.wait_for_url(re.compile(r"/rules$"))
    assert "launched 1 localization rule" in page.locator(".msg.ok").inner_text()
    row = page.locator("tr[data-rule]", has_text="demo/cell1.pcs").first
    # Live updates arrive by server-sent events; the rule must really finish (a real worker runs it).
    row.locator('[role="progressbar"][aria-valuenow="100.0"]').wait_for(timeout=90_000)
    page.locator('tr[data-rule][data-state="complete"]', has_text="demo/cell1.pcs").wait_for(timeout=30_000)
    row.locator("a.results-link").click()
    page.wait_for_url(re.compile(r"/results/.+\.h5r$"))
    count = int(page.locator("#loc-count").inner_text())
    assert count > 100
    src = page.locator("#render").get_attribute("src")
    response = page.request.get(cluster.ui.url + src)
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.body()))
    render_px = 10.0
    expected = tuple(math.ceil(n * DEMO_PIXEL_NM / render_px) for n in (DEMO_SHAPE[1], DEMO_SHAPE[0]))
    assert image.size == expected
    assert image.convert("L").getextrema()[1] > 0, "the rendered image is black"
    for name in ("photons", "precision", "sigma"):
        assert page.locator(f"#hist-{name} svg rect").count() > 0
    csv = page.request.get(cluster.ui.url + page.get_by_role("link", name="ThunderSTORM CSV").get_attribute("href"))
    assert csv.text().count("\n") == count + 1


def test_upload_files_and_create_folder(cluster: Cluster, page: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "notes-a.txt", tmp_path / "notes-b.txt"
    a.write_text("first")
    b.write_text("second")
    page.goto(cluster.ui.url + "/files/demo")
    page.locator('#upload-form input[type="file"]').set_input_files([str(a), str(b)])
    # Each form posts and is redirected back to this same URL, so wait_for_url would return at once: wait for the
    # navigation itself before reading the page it loads.
    with page.expect_navigation(url=re.compile(r"/files/demo$")):
        page.locator("#upload-form button").click()
    assert page.locator(".msg.ok", has_text="notes-a.txt: stored").count() == 1
    assert page.locator(".msg.ok", has_text="notes-b.txt: stored").count() == 1
    assert cluster.client.get_file("demo/notes-a.txt") == b"first"
    # Write-once: the same name again is refused with a message saying why, and the file is unchanged.
    a.write_text("changed")
    page.locator('#upload-form input[type="file"]').set_input_files([str(a)])
    with page.expect_navigation(url=re.compile(r"/files/demo$")):
        page.locator("#upload-form button").click()
    assert "write-once" in page.locator(".msg.error").inner_text()
    assert cluster.client.get_file("demo/notes-a.txt") == b"first"
    page.locator('#mkdir-form input[name="name"]').fill("new-folder")
    with page.expect_navigation(url=re.compile(r"/files/demo$")):
        page.locator("#mkdir-form button").click()
    assert page.locator(".msg.ok", has_text="created folder /demo/new-folder").count() == 1
    page.get_by_role("link", name="new-folder/").click()
    page.wait_for_url(re.compile(r"/files/demo/new-folder$"))
    assert "0 entries" in page.locator("main").inner_text()


def test_validation_message_next_to_the_field(cluster: Cluster, page: Any) -> None:
    page.goto(cluster.ui.url + "/launch?series=demo/cell1.pcs")
    page.locator("#f-roi_size").fill("4")
    page.locator("#launch-button").click()
    error = page.locator(".field.invalid #e-roi_size")
    assert "odd integer" in error.inner_text()
    assert page.locator("#f-roi_size").input_value() == "4"


def test_refused_without_login_when_a_token_is_set(secured_ui: Any, page: Any) -> None:
    page.goto(secured_ui.url + "/files/demo")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert page.request.get(secured_ui.url + "/download/demo/old_locs.h5r").status == 401
    assert page.request.get(secured_ui.url + "/frame/demo/cell1.pcs?i=0").status == 401
    page.locator('input[name="password"]').fill("wrong")
    page.locator('button[type="submit"]').click()
    assert "wrong user name or password" in page.locator("#login-error").inner_text()
    page.locator('input[name="password"]').fill(TOKEN)
    page.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/files/demo$"))
    assert page.locator("#upload-form").count() == 1


def test_readonly_user_sees_no_write_forms_and_is_refused(secured_ui: Any, page: Any) -> None:
    page.goto(secured_ui.url + "/login")
    page.locator('input[name="username"]').fill("viewer")
    page.locator('input[name="password"]').fill(READONLY_PASSWORD)
    page.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/files/$"))
    assert page.locator(".who .badge").inner_text() == "readonly"
    page.goto(secured_ui.url + "/files/demo")
    assert page.locator("#upload-form").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(secured_ui.url + "/mkdir/demo", form={"csrf_token": csrf, "name": "nope"})
    assert refused.status == 403
    assert "read-only" in refused.text()
