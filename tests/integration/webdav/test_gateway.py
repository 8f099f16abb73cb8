"""``photonflow webdav`` beyond litmus: credentials required, ranges streamed, refusals explained, TLS."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from photonflow.storage import ClusterClient
from photonflow.webdav import WRITE_ONCE_MESSAGE

from ..._http import http_request
from .conftest import PASSWORD, USER, Gateway, start_webdav, wait_url

_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def _request(url: str, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return http_request(host, int(port), method, path, body=body, headers=headers, timeout=20)


def test_refuses_to_start_without_credentials() -> None:
    cmd = [sys.executable, "-m", "photonflow", "webdav", "--port", "0", "--cluster", "dav",
           "--servers", "http://127.0.0.1:9", "--config", os.devnull]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")})
    assert proc.returncode == 2
    assert "refuses to start without credentials" in proc.stderr and "no default account" in proc.stderr


@pytest.mark.parametrize("method", ["PROPFIND", "GET", "PUT", "LOCK", "UNLOCK", "MKCOL", "DELETE"])
def test_every_method_needs_authentication(gateway: Gateway, method: str) -> None:
    status, headers, _ = _request(gateway.url, method, "/x", body=b"")
    assert status == 401 and "www-authenticate" in headers
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode()}
    assert _request(gateway.url, method, "/x", wrong, b"")[0] == 401


def test_ranges_are_streamed_from_the_cluster(gateway: Gateway) -> None:
    data = os.urandom(3 << 20)
    with ClusterClient("dav", servers=[s.url for s in gateway.servers], registry=False, zeroconf=False) as client:
        client.put_file("big/blob.bin", data)
    status, headers, body = _request(gateway.url, "GET", "/big/blob.bin", {**_AUTH, "Range": "bytes=1500000-2600000"})
    assert status == 206 and body == data[1500000:2600001]
    assert headers["content-range"] == f"bytes 1500000-2600000/{len(data)}"
    status, _, body = _request(gateway.url, "GET", "/big/blob.bin", _AUTH)
    assert status == 200 and body == data


def test_write_once_put_and_refusals_say_why(gateway: Gateway) -> None:
    assert _request(gateway.url, "PUT", "/a.txt", _AUTH, b"first")[0] == 201
    assert _request(gateway.url, "GET", "/a.txt", _AUTH)[2] == b"first"
    for method, headers in (("PUT", {}), ("DELETE", {}), ("MOVE", {"Destination": f"{gateway.url}/b.txt"})):
        status, _, body = _request(gateway.url, method, "/a.txt", {**_AUTH, **headers},
                                   b"second" if method == "PUT" else None)
        assert status == 403, method
        assert WRITE_ONCE_MESSAGE.split(":")[0].encode() in body, method
    assert _request(gateway.url, "GET", "/a.txt", _AUTH)[2] == b"first"
    assert _request(gateway.url, "MKCOL", "/newdir", _AUTH)[0] == 201
    assert any((Path(s.root) / "newdir").is_dir() for s in gateway.servers)  # a real directory


def test_stored_files_and_directories_refuse_changes_and_copy_to_new_names(gateway: Gateway) -> None:
    assert _request(gateway.url, "PUT", "/c.txt", _AUTH, b"kept")[0] == 201
    assert _request(gateway.url, "MKCOL", "/cdir", _AUTH)[0] == 201
    proppatch = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop>'
                 b"<Z:tag>v</Z:tag></D:prop></D:set></D:propertyupdate>")
    for path, other in (("/c.txt", "/cdir"), ("/cdir", "/c.txt")):
        refused = (("DELETE", {}, None), ("MOVE", {"Destination": f"{gateway.url}/moved"}, None),
                   ("COPY", {"Destination": f"{gateway.url}{other}", "Overwrite": "T"}, None),
                   ("PROPPATCH", {"Content-Type": "application/xml"}, proppatch))
        for method, headers, body in refused:
            status, _, answer = _request(gateway.url, method, path, {**_AUTH, **headers}, body)
            if method == "PROPPATCH":  # refused per property inside a 207 multistatus
                assert status == 207 and b"403" in answer, path
            else:
                assert status == 403 and WRITE_ONCE_MESSAGE.split(":")[0].encode() in answer, (method, path)
    assert _request(gateway.url, "COPY", "/c.txt", {**_AUTH, "Destination": f"{gateway.url}/c2.txt"})[0] == 201
    assert _request(gateway.url, "GET", "/c2.txt", _AUTH)[2] == b"kept"
    assert _request(gateway.url, "COPY", "/cdir", {**_AUTH, "Destination": f"{gateway.url}/cdir2", "Depth": "0"})[0] \
        == 201
    assert any((Path(s.root) / "cdir2").is_dir() for s in gateway.servers)
    assert _request(gateway.url, "GET", "/c.txt", _AUTH)[2] == b"kept"


def test_zero_byte_probe_then_upload_like_finder(gateway: Gateway) -> None:
    assert _request(gateway.url, "PUT", "/f.bin", _AUTH, b"")[0] == 201
    assert _request(gateway.url, "PROPFIND", "/f.bin", {**_AUTH, "Depth": "0"})[0] == 207
    assert not any((Path(s.root) / "f.bin").exists() for s in gateway.servers)  # a placeholder only
    assert _request(gateway.url, "PUT", "/f.bin", _AUTH, b"content")[0] in (201, 204)
    assert _request(gateway.url, "GET", "/f.bin", _AUTH)[2] == b"content"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_tls_when_given_a_certificate(dataserver: object, tmp_path: Path) -> None:
    server = dataserver(cluster="dav")  # type: ignore[operator]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    proc = start_webdav([server], tmp_path, extra=["--certificate", str(cert), "--private-key", str(key)])
    try:
        url = wait_url(proc)
        assert url.startswith("https://")
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=20)
        conn.request("PROPFIND", "/", headers={**_AUTH, "Depth": "0"})
        assert conn.getresponse().status == 207
        conn.close()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_cluster_token_is_sent_to_data_servers(dataserver: object, tmp_path: Path) -> None:
    server = dataserver(cluster="dav", token="cluster-secret")  # type: ignore[operator]
    proc = start_webdav([server], tmp_path, extra=["--token", "cluster-secret"])
    try:
        url = wait_url(proc)
        assert _request(url, "PUT", "/t.txt", _AUTH, b"tok")[0] == 201
        assert _request(url, "GET", "/t.txt", _AUTH)[2] == b"tok"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
