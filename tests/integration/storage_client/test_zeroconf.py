"""mDNS discovery, bound to the loopback interface only (no multicast leaves the machine)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from photonflow.storage.discovery import SERVICE_TYPE, ServerDirectory, advertise, find_servers

LOOPBACK = ["127.0.0.1"]


@pytest.mark.timeout(60)
def test_zeroconf_advertise_and_browse_on_loopback(tmp_path: Path, listener: int) -> None:
    registry = tmp_path / "empty.sqlite"  # keep the registry out of it: only mDNS can find the server
    with advertise(
        cluster="zc-test",
        host="127.0.0.1",
        port=listener,
        mode="zeroconf",
        interfaces=LOOPBACK,
        registry=tmp_path / "r",
    ) as ad:
        found = find_servers("zc-test", registry=registry, interfaces=LOOPBACK, timeout=20)
        assert [(s.url, s.cluster, s.source) for s in found] == [
            (f"http://127.0.0.1:{listener}", "zc-test", "zeroconf")
        ]
        assert found[0].name == ad.name
        # The TXT record makes the match exact: another cluster name does not see it.
        assert find_servers("zc", registry=registry, interfaces=LOOPBACK, timeout=0.5) == []


@pytest.mark.timeout(60)
def test_pyme_style_service_without_txt_is_matched_by_name(tmp_path: Path, listener: int) -> None:
    from zeroconf import IPVersion, ServiceInfo, Zeroconf

    zc = Zeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
    name = "PYMEDataServer [pymecl]:peer - PID:7"
    info = ServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", addresses=[socket.inet_aton("127.0.0.1")], port=listener)
    zc.register_service(info)
    try:
        with ServerDirectory("pymecl", registry=False, zeroconf=True, interfaces=LOOPBACK) as directory:
            [server] = directory.servers(timeout=20)
        assert server.name == name and server.cluster == "pymecl"
    finally:
        zc.unregister_service(info)
        zc.close()


@pytest.mark.timeout(60)
def test_blocking_discovery_called_inside_a_running_event_loop(tmp_path: Path, listener: int) -> None:
    # Callers with a loop running in their thread (an asyncio server, Jupyter, Playwright's sync API) use the
    # blocking API; zeroconf must run on its own loop, not on the caller's, which the blocking call starves.
    async def advertise_and_browse() -> tuple[str, list[tuple[str, str | None]]]:
        with advertise(cluster="zc-loop", host="127.0.0.1", port=listener, mode="zeroconf", interfaces=LOOPBACK,
                       registry=tmp_path / "r") as ad:
            found = find_servers("zc-loop", registry=tmp_path / "empty.sqlite", interfaces=LOOPBACK, timeout=20)
            return ad.name, [(s.url, s.cluster) for s in found]

    name, found = asyncio.run(advertise_and_browse())
    assert found == [(f"http://127.0.0.1:{listener}", "zc-loop")]
    assert name.startswith("PYMEDataServer [zc-loop]:")
