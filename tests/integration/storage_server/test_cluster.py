"""Two servers of one cluster: mirroring (case 19) and the CLI's contract."""

from __future__ import annotations

import http.client
import json
import urllib.request


def _put(port, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("PUT", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_case19_mirror_from_cluster_member(dataserver):
    p = dataserver(cluster="lab")
    q = dataserver(cluster="lab")
    assert _put(p.port, "/two/f0.txt", b"mirrored bytes")[0] == 200
    status, _ = _put(q.port, f"/two/f0.txt?MirrorSource={p.url}/two/f0.txt")
    assert status == 200
    assert urllib.request.urlopen(f"{q.url}/two/f0.txt", timeout=10).read() == b"mirrored bytes"
    assert json.loads(urllib.request.urlopen(f"{q.url}/two/", timeout=10).read()) == {"f0.txt": [0, 14]}
    assert _put(q.port, f"/two/f0.txt?MirrorSource={p.url}/two/f0.txt")[0] == 405


def test_mirror_of_missing_file_is_an_error_and_stores_nothing(dataserver):
    p = dataserver(cluster="lab")
    q = dataserver(cluster="lab")
    status, _ = _put(q.port, f"/two/missing.txt?MirrorSource={p.url}/two/missing.txt")
    assert status == 404
    assert not (q.root / "two" / "missing.txt").exists()


def test_mirror_refuses_other_clusters_and_non_servers(dataserver):
    p = dataserver(cluster="other")
    q = dataserver(cluster="lab")
    _put(p.port, "/f.txt", b"x")
    assert _put(q.port, f"/f.txt?MirrorSource={p.url}/f.txt")[0] == 403
    assert _put(q.port, "/g.txt?MirrorSource=file:///etc/passwd")[0] == 400
    assert _put(q.port, "/h.txt?MirrorSource=http://127.0.0.1:1/x")[0] == 502
    assert not any((q.root / n).exists() for n in ("f.txt", "g.txt", "h.txt"))


def test_mirror_passes_the_token(dataserver):
    p = dataserver(cluster="lab", token="tok")
    q = dataserver(cluster="lab", token="tok")
    auth = {"Authorization": "Bearer tok"}
    assert _put(p.port, "/f.txt", b"secret data", auth)[0] == 200
    assert _put(q.port, f"/f.txt?MirrorSource={p.url}/f.txt", b"", auth)[0] == 200
    assert (q.root / "f.txt").read_bytes() == b"secret data"


def test_cli_prints_listening_line_and_serves(dataserver_process, tmp_path):
    server = dataserver_process(tmp_path / "r", cluster="clitest")
    assert server.proc.poll() is None
    status = json.loads(urllib.request.urlopen(f"{server.url}/__status", timeout=10).read())
    assert status["Cluster"] == "clitest" and status["Port"] == server.port
    assert server.terminate() == 0


def test_cli_token_and_no_fsync_flags(dataserver_process):
    server = dataserver_process(token="abc", args=["--no-fsync", "--free-space-floor", "0"])
    assert _put(server.port, "/x", b"1")[0] == 401
    assert _put(server.port, "/x", b"1", {"X-Photonflow-Token": "abc"})[0] == 200
