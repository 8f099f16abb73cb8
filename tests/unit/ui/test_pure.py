"""Pure parts of the UI: password hashes, form parsing, paging, frame counts, charts, node and rule views."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import ConfigError
from photonflow.storage import DirectoryListing, Entry, ServerStatus
from photonflow.ui._charts import histogram_svg, trace_svg
from photonflow.ui._rules_client import rule_from_json
from photonflow.ui.auth import AuthSettings, User, auth_from_config, hash_password, verify_password
from photonflow.ui.files import list_page, series_frame_count
from photonflow.ui.launch import params_from_form
from photonflow.ui.series import frame_png
from photonflow.ui.status import node_from_status, totals


def test_password_hash_round_trip_and_salt() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second  # salted
    assert verify_password("s3cret", first)
    assert not verify_password("S3cret", first)
    assert not verify_password("s3cret", "plain-text-password")
    with pytest.raises(ValueError):
        hash_password("")


def test_auth_required_only_with_token_or_users_and_roles() -> None:
    assert not AuthSettings().required
    assert AuthSettings(token="t").required
    auth = AuthSettings(users={"ro": User("ro", hash_password("pw"), "readonly")}, token="tok")
    assert auth.authenticate("ro", "pw") == "readonly"
    assert auth.authenticate("ro", "bad") is None
    assert auth.authenticate("", "tok") == "user"
    assert auth.authenticate("", "") is None
    assert auth.authenticate("nobody", "pw") is None
    with pytest.raises(ConfigError, match="role"):
        User("x", hash_password("pw"), "root")
    with pytest.raises(ConfigError, match="hash-password"):
        auth_from_config({"x": {"password_hash": "plain"}}, token=None, secret=None)
    with pytest.raises(ConfigError, match="password_hash"):
        auth_from_config({"x": {"role": "user"}}, token=None, secret=None)


def _form(**changes: str) -> dict[str, str]:
    base = {"threshold": "6", "min_distance": "2", "sigma_low": "1", "sigma_high": "3", "bg_range": "-30, 0",
            "bg_percentile": "0", "method": "mle", "likelihood": "poisson", "fit_sigma": "on", "psf_sigma": "130",
            "max_iter": "50", "roi_size": "7", "pixel_size": ""}
    return base | changes


def test_params_from_form_defaults_and_errors_named_by_field() -> None:
    params, errors = params_from_form(_form())
    assert errors == {} and params is not None
    assert params.bg_range == (-30, 0) and params.fit_sigma and params.pixel_size == 100.0
    _, errors = params_from_form(_form(threshold="abc", bg_range="1"))
    assert set(errors) == {"threshold", "bg_range"}
    _, errors = params_from_form(_form(roi_size="4"))
    assert list(errors) == ["roi_size"] and "odd" in errors["roi_size"]
    _, errors = params_from_form(_form(sigma_high="0.5"))
    assert list(errors) == ["sigma_high"]
    _, errors = params_from_form(_form(likelihood="scmos", method="lsq"))
    assert list(errors) == ["likelihood"]


def test_list_page_orders_dirs_first_and_pages_100000_entries() -> None:
    entries = {f"frame{i:05d}.pzf": Entry(0, 10) for i in range(100_000)}
    entries["sub/"] = Entry(1, 3)
    entries["run.pcs/"] = Entry(0x07, 103)
    listing = DirectoryListing(path="big", entries=entries, locations={})
    rows, pages = list_page(listing, page_number=1, page_size=500)
    assert pages == 201 and len(rows) == 500
    assert [r.kind for r in rows[:2]] == ["series", "dir"]
    assert rows[0].frames == 100 and rows[0].complete and rows[0].path == "big/run.pcs"
    last, _ = list_page(listing, page_number=999, page_size=500)
    assert last[-1].name == "frame99999.pzf" and len(last) == 2


def test_series_frame_count_from_listing_flags() -> None:
    assert series_frame_count(103, 0x07) == 100  # metadata, final_metadata, events
    assert series_frame_count(11, 0x03) == 10  # spooling: metadata only
    assert series_frame_count(0, 0x03) == 0


def test_frame_png_is_grey_with_contrast_and_checks_limits() -> None:
    from io import BytesIO

    from PIL import Image

    frame = np.arange(64 * 32, dtype=np.uint16).reshape(64, 32)  # axis 0 = x
    image = Image.open(BytesIO(frame_png(frame)))
    assert image.size == (64, 32) and image.mode == "L"
    assert image.getextrema() == (0, 255)
    with pytest.raises(ValueError, match="contrast"):
        frame_png(frame, lo_pct=50, hi_pct=10)


def test_charts_are_svg_and_survive_empty_or_nan() -> None:
    svg = histogram_svg(np.array([1.0, 2, 2, 3, np.nan]), label="photons")
    assert svg.startswith("<svg") and svg.count("<rect") == 40 and "median 2" in svg
    assert "no finite" in histogram_svg(np.array([np.nan]), label="σ")
    trace = trace_svg(np.arange(10), {"x": np.arange(10.0), "y": -np.arange(10.0)}, label="drift")
    assert trace.count("<polyline") == 2
    assert "too few" in trace_svg(np.arange(1), {"x": np.zeros(1)}, label="drift")


def test_dead_node_is_shown_not_crashing() -> None:
    dead = node_from_status(ServerStatus(url="http://10.0.0.9:1", name="n9", responsive=False, error="timed out"))
    odd = node_from_status(ServerStatus(url="http://a:1", name="a", responsive=True, info={"CPUUsage": "?"}))
    alive = node_from_status(ServerStatus(url="http://b:1", name="b", responsive=True, free=50, total=100,
                                          info={"CPUUsage": [10, 20], "MemUsage": {"percent": 40, "total": 8},
                                                "GPUUsage": [70], "Network": {"eth0": {"send": 1024, "recv": 0}}}))
    assert not dead.responsive and dead.error == "timed out" and dead.disk_percent is None
    assert odd.cpu == () and odd.memory_percent is None
    assert alive.disk_percent == 50 and alive.cpu == (10.0, 20.0) and alive.gpu == (("GPU 0", 70.0),)
    assert alive.network[0][0] == "eth0"
    summary = totals([dead, odd, alive])
    assert (summary["servers"], summary["alive"], summary["dead"]) == (3, 2, 1)


def test_rule_from_service_document() -> None:
    doc = {"id": "000001-ab", "kind": "localization", "status": "active", "release_complete": False,
           "spec": {"series": "demo/a.pcs", "results": "demo/analysis/a.h5r"}, "frames": 120,
           "counts": {"released": 3, "done": 1, "failed": 0, "rows": 500}, "outputs": [], "tasks": None}
    rule = rule_from_json(doc)
    assert rule.total is None and rule.percent is None and not rule.finished  # still spooling
    done = rule_from_json(doc | {"status": "complete", "release_complete": True,
                                 "counts": {"released": 3, "done": 3, "rows": 900}})
    assert done.percent == 100.0 and done.finished and done.outputs == ("demo/analysis/a.h5r",)
    failed = rule_from_json(doc | {"status": "failed", "error": "1 task(s) failed",
                                   "tasks": [{"index": 2, "attempts": 3, "error": "boom"}]})
    assert failed.failures == ({"index": 2, "attempts": 3, "error": "boom"},)
