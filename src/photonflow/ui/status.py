"""Status: every data server and worker (disk, CPU, memory, network, GPU, responsive), and cluster totals.

A node that does not answer is shown as dead; a status document missing any key shows a dash, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from photonflow.errors import AnalysisError, ServerUnavailableError
from photonflow.storage import ServerStatus
from photonflow.ui._rules_client import WorkerInfo
from photonflow.ui._web import blocking, human_size, page, state_of

__all__ = ["NodeView", "node_from_status", "node_from_worker", "routes", "totals"]


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the status page shows for one node."""

    role: str  # "data server" or "worker"
    name: str
    address: str
    responsive: bool
    error: str = ""
    disk_total: int | None = None
    disk_free: int | None = None
    cpu: tuple[float, ...] = ()
    memory_percent: float | None = None
    memory_total: int | None = None
    network: tuple[tuple[str, str], ...] = ()
    gpu: tuple[tuple[str, float], ...] = ()
    uptime: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def disk_percent(self) -> float | None:
        """Used disk in percent."""
        if not self.disk_total or self.disk_free is None:
            return None
        return 100.0 * (self.disk_total - self.disk_free) / self.disk_total

    @property
    def disk_text(self) -> str:
        """``free of total``."""
        if self.disk_total is None:
            return "–"
        return f"{human_size(self.disk_free)} free of {human_size(self.disk_total)}"


def _floats(value: Any) -> tuple[float, ...]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (float(value),)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool))
    return ()


def _memory(info: Mapping[str, Any]) -> tuple[float | None, int | None]:
    mem = info.get("MemUsage") or info.get("memory")
    if not isinstance(mem, Mapping):
        return None, None
    percent = mem.get("percent")
    total = mem.get("total")
    return (float(percent) if isinstance(percent, int | float) else None,
            int(total) if isinstance(total, int | float) else None)


def _network(info: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    net = info.get("Network") or info.get("network")
    if not isinstance(net, Mapping):
        return ()
    rows = []
    for iface, rates in sorted(net.items()):
        if isinstance(rates, Mapping):
            send, recv = rates.get("send", rates.get("sent")), rates.get("recv", rates.get("received"))
            rows.append((str(iface), f"↑ {human_size(send)}/s ↓ {human_size(recv)}/s"))
    return tuple(rows)


def _gpu(info: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    gpus = info.get("GPUUsage") or info.get("gpu")
    values = _floats(gpus)
    return tuple((f"GPU {i}", v) for i, v in enumerate(values))


def node_from_status(status: ServerStatus) -> NodeView:
    """A data server's row from its ``/__status`` (or from the reason it has none)."""
    if not status.responsive:
        return NodeView("data server", status.name, status.url, False, error=status.error or "no answer")
    info = status.info
    percent, total = _memory(info)
    return NodeView(
        "data server", status.name or str(info.get("ComputerName", "")), status.url, True,
        disk_total=status.total, disk_free=status.free, cpu=_floats(info.get("CPUUsage")),
        memory_percent=percent, memory_total=total, network=_network(info), gpu=_gpu(info),
        uptime=str(info.get("Uptime", "")),
    )


def _worker_memory(info: Mapping[str, Any]) -> tuple[float | None, int | None]:
    """Memory in percent and total: the rule service's ``memory_used``/``memory_limit``, else a status mapping."""
    used, limit = info.get("memory_used"), info.get("memory_limit")
    if isinstance(used, int | float) and isinstance(limit, int | float) and limit > 0:
        return 100.0 * used / limit, int(limit)
    return _memory(info)


_WORKER_EXTRA = {"dataserver": "beside", "nthreads": "threads", "tasks_executing": "tasks", "resources": "resources"}


def node_from_worker(worker: WorkerInfo) -> NodeView:
    """A compute worker's row from what the scheduler reports (``GET /api/workers`` of the rule service)."""
    info = worker.info
    percent, total = _worker_memory(info)
    return NodeView(
        "worker", worker.name, worker.address, worker.responsive, error="" if worker.responsive else "not responding",
        cpu=_floats(info.get("cpu", info.get("CPUUsage"))), memory_percent=percent, memory_total=total,
        gpu=_gpu(info),
        extra={label: info[key] for key, label in _WORKER_EXTRA.items() if info.get(key) not in (None, "", {})},
    )


def totals(nodes: Sequence[NodeView]) -> dict[str, Any]:
    """Cluster totals over the data servers that answered."""
    servers = [n for n in nodes if n.role == "data server"]
    alive = [n for n in servers if n.responsive]
    disk_total = sum(n.disk_total or 0 for n in alive)
    disk_free = sum(n.disk_free or 0 for n in alive)
    return {
        "servers": len(servers),
        "alive": len(alive),
        "dead": len(servers) - len(alive),
        "workers": sum(1 for n in nodes if n.role == "worker"),
        "disk_total": human_size(disk_total),
        "disk_free": human_size(disk_free),
        "disk_percent": 100.0 * (disk_total - disk_free) / disk_total if disk_total else None,
    }


def _collect(request: Request) -> tuple[list[NodeView], str]:
    state = state_of(request)
    nodes = [node_from_status(s) for s in state.client.status(timeout_s=0.5)]
    note = ""
    if state.rules is None:
        note = "no rule service configured: compute workers are not listed"
    else:
        try:
            nodes += [node_from_worker(w) for w in state.rules.workers()]
        except (ServerUnavailableError, AnalysisError) as exc:
            note = f"workers unknown: {exc}"
    return nodes, note


async def status_page(request: Request) -> Response:
    """The status page (one status request per server, 0.5 s timeout each, asked in parallel)."""
    nodes, note = await blocking(_collect, request)
    return page(request, "status.html", {"nodes": nodes, "totals": totals(nodes), "note": note})


routes = [Route("/status", status_page, name="status")]
