"""Path confinement and the cluster token."""

from __future__ import annotations

import http.client
import json
import logging

import pytest

from photonflow.storage.server import start_server


def _req(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/a/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/..%2f..%2fsecret.txt",
     "//secret.txt", "/./../secret.txt"],
)
def test_traversal_never_leaves_root(dataserver, tmp_path, path):
    root = tmp_path / "root"
    (tmp_path / "secret.txt").write_bytes(b"SECRET")
    srv = dataserver(root)
    status, body = _req(srv, "GET", path)
    assert status in (400, 403, 404)
    assert b"SECRET" not in body
    status, _ = _req(srv, "PUT", path, b"overwrite")
    assert (tmp_path / "secret.txt").read_bytes() == b"SECRET"
    if status == 200:  # '..' is discarded as PYME does: the file lands inside the root
        assert (root / "secret.txt").read_bytes() == b"overwrite"


def test_symlinks_out_of_root_are_refused(dataserver, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"SECRET")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / "filelink").symlink_to(outside / "secret.txt")
    srv = dataserver(root)
    assert _req(srv, "GET", "/link/secret.txt")[0] == 403
    assert _req(srv, "GET", "/filelink")[0] == 403
    assert _req(srv, "GET", "/link/")[0] == 403
    assert _req(srv, "PUT", "/link/new.txt", b"x")[0] == 403
    assert not (outside / "new.txt").exists()
    assert json.loads(_req(srv, "GET", "/__glob?pattern=link/*")[1]) == []


def test_work_dir_is_hidden(dataserver):
    srv = dataserver()
    assert ".photonflow-tmp/" not in json.loads(_req(srv, "GET", "/")[1])
    assert _req(srv, "GET", "/.photonflow-tmp/")[0] == 404
    assert _req(srv, "PUT", "/.photonflow-tmp/x", b"x")[0] == 404


def test_put_under_a_file_is_409(dataserver):
    srv = dataserver()
    assert _req(srv, "PUT", "/a/b/c.txt", b"x")[0] == 200
    assert _req(srv, "PUT", "/a/b/c.txt/d.txt", b"x")[0] == 409
    assert _req(srv, "PUT", "/a/b/c.txt/sub/", b"")[0] == 409


def test_token_required_when_set(dataserver):
    srv = dataserver(token="s3cret")
    status, body = _req(srv, "GET", "/")
    assert status == 401 and "token" in json.loads(body)["error"]
    assert _req(srv, "PUT", "/x", b"data")[0] == 401
    assert _req(srv, "GET", "/", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert _req(srv, "PUT", "/x", b"data", {"Authorization": "Bearer s3cret"})[0] == 200
    assert _req(srv, "GET", "/x", headers={"X-Photonflow-Token": "s3cret"}) == (200, b"data")
    assert not (srv.root / "y").exists()


def test_unauthenticated_pipelined_requests_stay_in_sync(dataserver, raw_client):
    srv = dataserver(token="t")
    client = raw_client(srv.port)
    auth = "Authorization: Bearer t\r\n"
    client.send(client.put_request("/a", b"123") + client.put_request("/b", b"45", extra=auth))
    assert client.read_response().status == 401
    assert client.read_response().status == 200
    assert not (srv.root / "a").exists() and (srv.root / "b").read_bytes() == b"45"


def test_non_loopback_without_token_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="photonflow.storage.server"):
        srv = start_server(tmp_path, cluster="warn", host="0.0.0.0", port=0)
        srv.stop()
    assert any("without a cluster token" in r.getMessage() for r in caplog.records)
