"""Rules: the live list (server-sent events), progress, rates, failures with their logs, cancel.

Browsers never poll the rule service: one :class:`RulesFeed` per app asks it at most once per ``interval_s``
whatever the number of open pages, and each page's event stream sends only when something changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from photonflow.errors import AnalysisError, ServerUnavailableError
from photonflow.ui._rules_client import RuleInfo, RulesClient
from photonflow.ui._web import blocking, flash, page, state_of, writer_endpoint

__all__ = ["RulesFeed", "routes"]

_KEEPALIVE_S = 15.0


def rule_view(rule: RuleInfo, *, frames_per_s: float | None, locs_per_s: float | None) -> dict[str, Any]:
    """The JSON a rules page shows for one rule."""
    return {
        "id": rule.id,
        "kind": rule.kind,
        "state": rule.state,
        "description": rule.description,
        "percent": rule.percent,
        "done": rule.done,
        "total": rule.total,
        "failed": rule.failed,
        "frames": rule.frames,
        "localizations": rule.rows,
        "frames_per_s": rule.frames_per_s if rule.frames_per_s is not None else frames_per_s,
        "localizations_per_s": rule.localizations_per_s if rule.localizations_per_s is not None else locs_per_s,
        "outputs": list(rule.outputs),
        "error": rule.error,
        "failures": len(rule.failures),
        "finished": rule.finished,
    }


@dataclass
class RulesFeed:
    """A shared, rate-limited view of the rule service, with rates computed between successive snapshots."""

    rules: RulesClient | None
    interval_s: float = 1.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _snapshot: dict[str, Any] = field(default_factory=dict)
    _taken: float = -1e9
    _previous: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def _rates(self, rule: RuleInfo, now: float) -> tuple[float | None, float | None]:
        frames_done = rule.frames * rule.done // max(rule.done + rule.failed, 1) if rule.total else rule.frames
        before = self._previous.get(rule.id)
        self._previous[rule.id] = (now, frames_done, rule.rows)
        if before is None or now <= before[0] or rule.finished:
            return None, None
        dt = now - before[0]
        return max(frames_done - before[1], 0) / dt, max(rule.rows - before[2], 0) / dt

    def _fetch(self) -> dict[str, Any]:
        if self.rules is None:
            return {"available": False, "error": "no rule service configured (start one with `photonflow up`)",
                    "rules": []}
        try:
            found = self.rules.list_rules()
        except (ServerUnavailableError, AnalysisError) as exc:
            return {"available": False, "error": str(exc), "rules": []}
        now = time.monotonic()
        views = []
        for rule in found:
            fps, lps = self._rates(rule, now)
            views.append(rule_view(rule, frames_per_s=fps, locs_per_s=lps))
        return {"available": True, "error": "", "rules": views}

    async def latest(self) -> dict[str, Any]:
        """The newest snapshot, fetched only when the last one is older than ``interval_s``."""
        async with self._lock:
            if time.monotonic() - self._taken >= self.interval_s:
                self._snapshot = await blocking(self._fetch)
                self._taken = time.monotonic()
            return self._snapshot

    async def events(self, *, max_s: float | None = None) -> AsyncIterator[str]:
        """Server-sent events: ``data: <snapshot JSON>`` on every change, a comment line as keep-alive."""
        last = ""
        sent_at = time.monotonic()
        started = sent_at
        while max_s is None or time.monotonic() - started < max_s:
            snapshot = json.dumps(await self.latest(), sort_keys=True)
            if snapshot != last:
                last = snapshot
                sent_at = time.monotonic()
                yield f"event: rules\ndata: {snapshot}\n\n"
            elif time.monotonic() - sent_at > _KEEPALIVE_S:
                sent_at = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(self.interval_s)


async def rules_page(request: Request) -> Response:
    """The rules page: the current snapshot, then live updates from ``/rules/events``."""
    snapshot = await state_of(request).feed.latest()
    return page(request, "rules.html", {"snapshot": snapshot, "snapshot_json": json.dumps(snapshot)})


async def events(request: Request) -> Response:
    """The event stream of rule snapshots."""
    feed = state_of(request).feed
    return StreamingResponse(feed.events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _rules_client(request: Request) -> RulesClient:
    rules = state_of(request).rules
    if rules is None:
        raise HTTPException(503, "no rule service configured: start the cluster with `photonflow up`")
    return rules


async def log(request: Request) -> Response:
    """A rule's failure log, as text."""
    rules = _rules_client(request)
    rule_id = request.path_params["rule_id"]
    try:
        text = await blocking(rules.log, rule_id)
    except AnalysisError as exc:
        raise HTTPException(404, str(exc)) from None
    except ServerUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return PlainTextResponse(text)


@writer_endpoint
async def cancel(request: Request) -> Response:
    """Cancel a rule."""
    rules = _rules_client(request)
    rule_id = request.path_params["rule_id"]
    try:
        await blocking(rules.cancel, rule_id)
    except (AnalysisError, ServerUnavailableError) as exc:
        flash(request, "error", f"could not cancel {rule_id}: {exc}")
    else:
        flash(request, "ok", f"cancelled rule {rule_id}")
    return RedirectResponse("/rules", status_code=303)


routes = [
    Route("/rules", rules_page, name="rules"),
    Route("/rules/events", events, name="rules_events"),
    Route("/rules/{rule_id}/log", log, name="rule_log"),
    Route("/rules/{rule_id}/cancel", cancel, methods=["POST"], name="rule_cancel"),
]
