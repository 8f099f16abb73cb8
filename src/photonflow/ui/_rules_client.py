"""A small synchronous client of the rule service's HTTP JSON API (``photonflow.compute.service``).

The UI only needs: list rules, inspect one, submit, cancel, read a failure log, list workers. Every answer is read
leniently into plain dataclasses so a field the service adds later does not break a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from photonflow.errors import AnalysisError, ServerUnavailableError

__all__ = ["RuleInfo", "RulesClient", "WorkerInfo"]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One rule as the UI shows it."""

    id: str
    kind: str
    state: str
    description: str = ""
    total: int | None = None
    done: int = 0
    failed: int = 0
    frames: int = 0
    rows: int = 0
    frames_per_s: float | None = None
    localizations_per_s: float | None = None
    outputs: tuple[str, ...] = ()
    failures: tuple[Mapping[str, Any], ...] = ()
    error: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> float | None:
        """Done fraction in percent, or None while the total is unknown (a series still spooling)."""
        if not self.total:
            return 100.0 if self.state == "complete" else None
        return min(100.0, 100.0 * self.done / self.total)

    @property
    def finished(self) -> bool:
        """No more work will happen."""
        return self.state in ("complete", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One compute worker as the scheduler reports it."""

    name: str
    address: str
    responsive: bool = True
    info: Mapping[str, Any] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def rule_from_json(doc: Mapping[str, Any]) -> RuleInfo:
    """Read one rule document of the service (``Rule.to_dict``: ``status``, ``counts``, ``tasks``) leniently."""
    counts = doc.get("counts") if isinstance(doc.get("counts"), Mapping) else {}
    assert isinstance(counts, Mapping)
    released = counts.get("released")
    # The total is only known once every task is released (a live series keeps adding chunks).
    total = int(released) if doc.get("release_complete") and isinstance(released, int) else None
    tasks = doc.get("tasks") or []
    failures = tuple(
        {"index": t.get("index"), "attempts": t.get("attempts"), "error": t.get("error")}
        for t in tasks
        if isinstance(t, Mapping) and t.get("error")
    )
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    target = spec.get("series") or spec.get("inputs") or ""
    outputs = [str(o) for o in doc.get("outputs") or ()]
    if not outputs and doc.get("status") == "complete" and spec.get("results"):
        outputs = [str(spec["results"])]
    return RuleInfo(
        id=str(doc.get("id", "")),
        kind=str(doc.get("kind", "")),
        state=str(doc.get("status", "unknown")),
        description=str(target if isinstance(target, str) else ", ".join(map(str, target))),
        total=total,
        done=int(counts.get("done", 0) or 0),
        failed=int(counts.get("failed", 0) or 0),
        frames=int(doc.get("frames", 0) or 0),
        rows=int(counts.get("rows", 0) or 0),
        frames_per_s=_number(doc.get("frames_per_s")),
        localizations_per_s=_number(doc.get("localizations_per_s")),
        outputs=tuple(outputs),
        failures=failures,
        error=str(doc.get("error") or ""),
        raw=dict(doc),
    )


class RulesClient:
    """Talk to the rule service at ``base_url`` (``http://host:port``).

    Parameters
    ----------
    base_url : str
        Where the rule service listens.
    token : str, optional
        Cluster token sent as ``Authorization: Bearer``.
    timeout_s : float
        Per-request timeout; the UI must stay responsive when the service hangs.

    Raises
    ------
    ServerUnavailableError
        (from every method) the service did not answer.
    AnalysisError
        (from every method) the service refused the request; the message is the service's.
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 3.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, *, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(f"rule service {self.base_url} did not answer {method} {path}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            raise AnalysisError(f"rule service refused {method} {path} (HTTP {response.status_code}): {message}")
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def list_rules(self) -> list[RuleInfo]:
        """Every rule the service knows, newest first."""
        body = self._call("GET", "/api/rules")
        items = body.get("rules", []) if isinstance(body, Mapping) else body or []
        return [rule_from_json(doc) for doc in items if isinstance(doc, Mapping)]

    def get_rule(self, rule_id: str) -> RuleInfo:
        """One rule."""
        return rule_from_json(self._call("GET", f"/api/rules/{rule_id}"))

    def submit(self, spec: Mapping[str, Any]) -> str:
        """Submit a rule document; return its id."""
        body = self._call("POST", "/api/rules", json=dict(spec))
        return str(body.get("id", "")) if isinstance(body, Mapping) else str(body)

    def submit_localization(self, series: str, params: Mapping[str, Any], *, results: str | None = None) -> str:
        """Localize one series (cluster path) with ``params`` (LocalizationParams fields); return the rule id."""
        spec: dict[str, Any] = {"kind": "localization", "series": series, "params": dict(params)}
        if results:
            spec["results"] = results
        return self.submit(spec)

    def submit_recipe(self, recipe: str, inputs: Sequence[str], *, output_dir: str) -> str:
        """Run a recipe (YAML text) on each of ``inputs`` (cluster paths), writing into ``output_dir``."""
        return self.submit({"kind": "recipe", "recipe": recipe, "inputs": list(inputs), "output_dir": output_dir})

    def cancel(self, rule_id: str) -> None:
        """Cancel a rule; its finished tasks keep their results."""
        self._call("POST", f"/api/rules/{rule_id}/cancel")

    def log(self, rule_id: str) -> str:
        """The failure log of a rule: every task's last error (the service keeps them per task)."""
        rule = self.get_rule(rule_id)
        lines = [f"task {f['index']} (attempt {f['attempts']}): {f['error']}" for f in rule.failures]
        if rule.error:
            lines.insert(0, f"rule: {rule.error}")
        return "\n".join(lines) or "no failures recorded"

    def workers(self) -> list[WorkerInfo]:
        """The compute workers the scheduler knows (``GET /api/workers``; AnalysisError where the service lacks it)."""
        body = self._call("GET", "/api/workers")
        items = body.get("workers", []) if isinstance(body, Mapping) else body or []
        return [
            WorkerInfo(
                name=str(w.get("name", w.get("address", "?"))),
                address=str(w.get("address", "")),
                responsive=bool(w.get("responsive", True)),
                info=dict(w),
            )
            for w in items
            if isinstance(w, Mapping)
        ]
