"""The app over HTTP (Starlette TestClient) against a real in-process data server."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from photonflow.errors import ConfigError
from photonflow.storage import ClusterClient
from photonflow.ui import AuthSettings, User, hash_password, start_ui
from photonflow.ui._rules_client import RulesClient

from .conftest import csrf_of

App = Callable[..., Any]


@pytest.mark.parametrize("path", [
    "/files/", "/files/demo", "/series/demo/cell1.pcs", "/series/demo/live.pcs", "/launch?series=demo/cell1.pcs",
    "/recipe", "/rules", "/status", "/results/demo/locs.h5r",
])
def test_every_page_renders(make_app: App, path: str) -> None:
    response = make_app().get(path)
    assert response.status_code == 200, response.text[:500]
    assert "<!doctype html>" in response.text and "/static/app.js" in response.text


def test_listing_shows_series_frames_badges_and_series_path_redirects(make_app: App) -> None:
    app = make_app()
    html = app.get("/files/demo").text
    assert "60 frames" in html and "10 frames" in html and "spooling" in html and "complete" in html
    assert app.get("/files/demo/cell1.pcs", follow_redirects=False).headers["location"] == "/series/demo/cell1.pcs"
    assert app.get("/files/nothing-here").status_code == 404
    assert app.get("/files/a/../../etc").status_code in (400, 404)


def test_frames_png_count_and_tiff(make_app: App) -> None:
    app = make_app()
    png = app.get("/frame/demo/cell1.pcs?i=59&lo=1&hi=99")
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (64, 64)
    assert app.get("/frame/demo/cell1.pcs?i=60").status_code == 404
    assert app.get("/frame/demo/cell1.pcs?i=1&lo=90&hi=10").status_code == 400
    assert app.get("/series-count/demo/live.pcs").json() == {"frames": 10, "complete": False}
    tiff = app.get("/tiff/demo/cell1.pcs")
    import tifffile

    with tifffile.TiffFile(io.BytesIO(tiff.content)) as tif:
        assert len(tif.pages) == 60 and tif.pages[0].shape == (64, 64)


def test_every_post_needs_the_csrf_token(make_app: App) -> None:
    app = make_app()
    for path in ("/upload/demo", "/mkdir/demo", "/launch", "/recipe", "/rules/x/cancel", "/logout"):
        response = app.post(path, data={"name": "x"})
        assert response.status_code == 403, path
    token = csrf_of(app)
    assert app.post("/mkdir/demo", data={"name": "x", "csrf_token": "wrong"}).status_code == 403
    assert app.post("/mkdir/demo", data={"name": "csrf-ok", "csrf_token": token}).status_code == 200


def test_upload_is_write_once_and_mkdir_checks_names(make_app: App, demo_client: ClusterClient) -> None:
    app = make_app()
    token = csrf_of(app)
    files = [("files", ("u1.txt", b"one")), ("files", ("u2.txt", b"two"))]
    html = app.post("/upload/demo", data={"csrf_token": token}, files=files).text
    assert "u1.txt: stored" in html and "u2.txt: stored" in html
    html = app.post("/upload/demo", data={"csrf_token": token}, files=[("files", ("u1.txt", b"new"))]).text
    assert "write-once" in html
    assert demo_client.get_file("demo/u1.txt") == b"one"
    for bad in ("..", "a/b", "__glob"):
        assert "folder name must be" in app.post("/mkdir/demo", data={"csrf_token": token, "name": bad}).text
    assert "created folder /demo/made" in app.post("/mkdir/demo", data={"csrf_token": token, "name": "made"}).text
    assert "already exists" in app.post("/mkdir/demo", data={"csrf_token": token, "name": "made"}).text


def test_login_required_with_token_and_read_only_role(make_app: App) -> None:
    auth = AuthSettings(users={"ro": User("ro", hash_password("pw"), "readonly")}, token="tok")
    app = make_app(auth=auth)
    assert app.get("/files/", follow_redirects=False).headers["location"] == "/login?next=/files/"
    assert app.get("/download/demo/locs.h5r", headers={"accept": "*/*"}).status_code == 401
    assert app.get("/rules/events", headers={"accept": "text/event-stream"}).status_code == 401
    assert app.get("/healthz").status_code == 200
    token = csrf_of(app, "/login")
    assert app.post("/login", data={"csrf_token": token, "password": "tok", "next": "//evil.example/"},
                    follow_redirects=False).headers["location"] == "/files/"
    app.cookies.clear()
    token = csrf_of(app, "/login")
    assert app.post("/login", data={"csrf_token": token, "username": "ro", "password": "pw"}).status_code == 200
    token = csrf_of(app)
    refused = app.post("/mkdir/demo", data={"csrf_token": token, "name": "ro-folder"})
    assert refused.status_code == 403 and "read-only" in refused.text


def test_non_loopback_without_login_is_refused(demo_client: ClusterClient) -> None:
    with pytest.raises(ConfigError, match="without login"):
        start_ui(client=demo_client, host="0.0.0.0")


def test_launch_without_rule_service_says_so(make_app: App) -> None:
    app = make_app()
    token = csrf_of(app)
    form = {"csrf_token": token, "series": "demo/cell1.pcs", "threshold": "6", "min_distance": "2", "sigma_low": "1",
            "sigma_high": "3", "bg_range": "-30, 0", "bg_percentile": "0", "method": "mle", "likelihood": "poisson",
            "psf_sigma": "130", "max_iter": "50", "roi_size": "7", "pixel_size": ""}
    response = app.post("/launch", data=form)
    assert response.status_code == 503 and "no rule service is configured" in response.text
    # Presets: save, then load into the form.
    saved = app.post("/launch", data=form | {"action": "save-preset", "preset_name": "bright", "threshold": "9"})
    assert "saved preset" in saved.text
    assert 'value="9"' in app.get("/launch?preset=bright").text
    assert app.get("/rules").status_code == 200 and "no rule service configured" in app.get("/rules").text


def test_unreachable_rule_service_is_reported_not_raised(make_app: App) -> None:
    app = make_app(rules_client=RulesClient("http://127.0.0.1:9", timeout_s=0.5))
    assert "did not answer" in app.get("/rules").text
    assert "workers unknown" in app.get("/status").text


def test_status_shows_a_dead_server(make_app: App, demo_client: ClusterClient) -> None:
    url = demo_client.servers()[0].url
    with ClusterClient("uitest", servers=[url, "http://127.0.0.1:9"], registry=False, zeroconf=False) as two:
        app = make_app()
        app.app.state.ui.client = two
        html = app.get("/status").text
    assert "1 of 2 data servers answering" in html and "dead" in html


def test_results_image_downloads_and_recipe_graph(make_app: App) -> None:
    app = make_app()
    image = Image.open(io.BytesIO(app.get("/results-image/demo/locs.h5r?px=20").content))
    assert image.size == (320, 320)  # 64 px × 100 nm / 20 nm
    csv = app.get("/results-download/demo/locs.h5r?format=csv").text
    assert csv.startswith('"id","frame"') and csv.count("\n") == 2001
    with zipfile.ZipFile(io.BytesIO(app.get("/results-download/demo/locs.h5r?format=picasso").content)) as z:
        assert sorted(z.namelist()) == ["locs.hdf5", "locs.yaml"]
    assert app.get("/results-download/demo/locs.h5r?format=h5r").content[:4] == b"\x89HDF"
    assert app.get("/results/demo/cell1.pcs").status_code == 400
    assert app.get("/results-drift/demo/locs.h5r").text.startswith("<svg")
    svg = app.post("/recipe/svg", content=b"- FilterTable: {filters: {photons: [100, null]}}")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "error" in app.post("/recipe/svg", content=b"- NoSuchModule: {}").json()
    assert app.get("/recipe/inputs?glob=demo/*.h5r").json() == ["demo/locs.h5r"]


def test_status_lists_the_workers_of_the_rule_service(make_app: App) -> None:
    """The real rule-service app (``GET /api/workers`` over the scheduler's worker table) served on loopback."""
    import threading
    import time
    from types import SimpleNamespace

    import uvicorn

    from photonflow.compute.service import build_app

    now = time.time()
    states = [
        SimpleNamespace(name="http://127.0.0.1:8001|ab12", address="tcp://127.0.0.1:4000", nthreads=2,
                        memory_limit=4 << 30, status=SimpleNamespace(name="running"), last_seen=now,
                        metrics={"cpu": 25.0, "memory": 1 << 30}, processing={"t1"}),
        SimpleNamespace(name="|gone", address="tcp://127.0.0.1:4001", nthreads=1, memory_limit=0,
                        status=SimpleNamespace(name="running"), last_seen=now - 3600, metrics={}, processing=set()),
    ]
    engine = SimpleNamespace(list_rules=lambda: [])
    service = uvicorn.Server(uvicorn.Config(build_app(engine, scheduler_address="tcp://127.0.0.1:1",  # type: ignore[arg-type]
                                                      workers=lambda: states),
                                            host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not service.started:
            assert time.monotonic() < deadline and thread.is_alive(), "rule service did not start"
            time.sleep(0.02)
        port = service.servers[0].sockets[0].getsockname()[1]
        app = make_app(rules_client=RulesClient(f"http://127.0.0.1:{port}", timeout_s=5))
        html = app.get("/status").text
    finally:
        service.should_exit = True
        thread.join(timeout=10)
    assert "HTTP 404" not in html and "workers unknown" not in html
    assert "2 workers" in html
    assert "http://127.0.0.1:8001|ab12" in html and "tcp://127.0.0.1:4000" in html
    assert "beside http://127.0.0.1:8001" in html and "threads 2" in html and "tasks 1" in html
    assert 'value="25.0"' in html and "25 %" in html  # CPU meter; memory 1 GiB of 4 GiB
    assert html.count("not responding") == 1  # the worker silent for an hour
