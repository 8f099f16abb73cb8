"""Cases 25 and 26 of reference §9 from the server's side: two servers behind one client, same-host registry."""

from __future__ import annotations

import json
import urllib.request

from photonflow.storage.client import ClusterClient
from photonflow.storage.discovery import read_registry


def test_case25_two_servers_one_cluster(dataserver):
    p = dataserver(cluster="c25")
    q = dataserver(cluster="c25")
    client = ClusterClient("c25", servers=[p.url, q.url], registry=False, zeroconf=False, local_reads=False)
    try:
        for i in range(6):
            client.put_file(f"six/f{i}.txt", f"file {i}".encode())
        on_p = sorted(x.name for x in (p.root / "six").iterdir())
        on_q = sorted(x.name for x in (q.root / "six").iterdir())
        assert len(on_p) == len(on_q) == 3 and not set(on_p) & set(on_q)
        assert sorted(client.listdir("six")) == [f"f{i}.txt" for i in range(6)]
        # each server reports its own part; the client sums directory sizes across servers
        for srv, names in ((p, on_p), (q, on_q)):
            root_listing = json.loads(urllib.request.urlopen(f"{srv.url}/", timeout=10).read())
            assert root_listing["six/"] == [1, len(names)]
    finally:
        client.close()


def test_case26_cli_registers_in_same_host_registry(dataserver_process, tmp_path):
    registry_dir = tmp_path / "reg"
    registry_dir.mkdir()
    server = dataserver_process(cluster="c26", args=["--advertise", "local"], env={"TMPDIR": str(registry_dir)})
    registry = registry_dir / "_pyme-http.sqlite"
    found = read_registry("c26", path=registry)
    assert [info.url for info in found] == [f"http://127.0.0.1:{server.port}"]
    assert "c26" in found[0].name
    assert server.terminate() == 0
    assert read_registry("c26", path=registry, prune=False) == []  # unregistered on a clean stop
