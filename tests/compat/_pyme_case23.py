"""Runs inside the PYME venv: drive PYME 26.9.3's own clusterIO against given servers, print results as JSON.

Usage: python _pyme_case23.py FILTER HOST:PORT[,HOST:PORT...]
Discovery is replaced by a fixed list (no mDNS, no 5-8 s wait), the way reference/pyme-peer.md §4 describes.
"""

import collections
import json
import os
import socket
import sys
import types

_Info = collections.namedtuple("_Info", "name address port creation_time URI")


class _FixedNS:
    def __init__(self, servers, cluster):
        self._svcs = [
            (
                f"PYMEDataServer [{cluster}]:peer{i} - PID:{int(p)}",
                _Info(f"peer{i}", socket.inet_aton(h), int(p), 0.0, ""),
            )
            for i, (h, p) in enumerate(servers)
        ]

    def get_advertised_services(self):
        return list(self._svcs)

    def list(self, filterby=""):
        return [n for n, _ in self._svcs if filterby in n]


def _clusterio(cluster, servers):
    sys.modules.setdefault("sphinx", types.ModuleType("sphinx"))  # PYME skips its discovery thread under Sphinx
    from PYME.IO import cluster_directory

    cluster_directory._ns = _FixedNS(servers, cluster)
    sys.modules.pop("sphinx", None)
    from PYME.IO import clusterIO

    clusterIO._dir_managers.clear()
    return clusterIO


def main():
    cluster = sys.argv[1]
    servers = [tuple(s.rsplit(":", 1)) for s in sys.argv[2].split(",")]
    cio = _clusterio(cluster, servers)
    out = {}
    cio.put_file("cl/test1.txt", b"12345678", cluster)
    out["get"] = cio.get_file("cl/test1.txt", cluster, local_short_circuit=False, use_file_cache=False).decode()
    try:
        cio.put_file("cl/test1.txt", b"again", cluster)
        out["second_put"] = "no error"
    except RuntimeError as exc:
        out["second_put"] = f"RuntimeError: {exc}"
    cio.put_files([(f"cl/many/f{i:03d}", b"x" * (i + 1)) for i in range(20)], cluster)
    out["many"] = sorted(cio.listdir("cl/many", cluster))
    out["listdirectory"] = {k: [v.type, v.size] for k, v in cio.listdirectory("cl", cluster).items()}
    out["exists"] = [cio.exists(p, cluster) for p in ("cl/test1.txt", "cl/missing.txt", "cl/many")]
    out["stat_size"] = cio.stat("cl/test1.txt", cluster).st_size
    out["isdir"] = [cio.isdir("cl/many", cluster), cio.isdir("cl/test1.txt", cluster)]
    out["locate"] = [u for u, _ in cio.locate_file("cl/test1.txt", cluster)]
    out["glob"] = sorted(cio.cglob("cl/many/f00*", cluster))
    out["status"] = [bool(s.get("Responsive")) for s in cio.get_status(cluster)]
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # PYME leaves non-daemon pool/poller threads behind
