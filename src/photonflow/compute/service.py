"""The rule service: an HTTP JSON API over :class:`~photonflow.compute.engine.RuleEngine` (Starlette).

==========================  ======  ============================================================================
path                        verb    answer
==========================  ======  ============================================================================
``/api/health``             GET     ``{"ok": true, "scheduler": "tcp://..."}``
``/api/rules``              GET     list of rules (id, kind, status, counts, outputs, ``frames_per_s``,
                                    ``localizations_per_s``: measured by the engine, ``null`` until known)
``/api/rules``              POST    create: ``{"kind": "localization", "series", "params"?, "results"?, "then"?}``
                                    or ``{"kind": "recipe", "recipe": YAML, "inputs": [paths], "output_dir"}``
``/api/rules/{id}``         GET     one rule with every task (state, attempts, worker, error: the failure log)
``/api/rules/{id}/cancel``  POST    cancel it
``/api/workers``            GET     the Dask workers: ``[{name, address, dataserver, responsive, nthreads,
                                    memory_used, memory_limit, cpu, tasks_executing, last_seen}]``
==========================  ======  ============================================================================

Errors are ``{"ok": false, "error": "<what to do>"}`` with 400 (bad request) or 404 (no such rule or series).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from photonflow.compute.monitor import worker_rows
from photonflow.errors import NotFoundError, PhotonflowError

if TYPE_CHECKING:
    from photonflow.compute.engine import RuleEngine

__all__ = ["build_app"]


def _guard(call: Callable[[], Any], *, status: int = 200) -> JSONResponse:
    try:
        return JSONResponse(call(), status_code=status)
    except NotFoundError as exc:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=404)
    except (PhotonflowError, ValueError, TypeError, KeyError) as exc:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)


def build_app(
    engine: RuleEngine, *, scheduler_address: str, workers: Callable[[], Iterable[Any]] = lambda: ()
) -> Starlette:
    """The Starlette app of the rule API (blocking engine calls run in Starlette's thread pool).

    Parameters
    ----------
    engine : RuleEngine
        The rules.
    scheduler_address : str
        ``tcp://host:port`` of the Dask scheduler (reported by ``/api/health``).
    workers : callable
        Returns the scheduler's ``WorkerState`` objects. ``/api/workers`` calls it on the event loop the app is
        served on, which must be the scheduler's own (so the worker table is never read while it changes).
    """

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "scheduler": scheduler_address})

    def list_rules(request: Request) -> JSONResponse:
        return _guard(engine.list_rules)

    async def create(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return JSONResponse({"ok": False, "error": f"request body is not JSON: {exc}"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "request body must be a JSON object"}, status_code=400)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_create, body)

    def _create(body: dict[str, Any]) -> JSONResponse:
        kind = body.get("kind", "localization")
        if kind == "localization":
            if not isinstance(body.get("series"), str):
                return JSONResponse({"ok": False, "error": "'series' (a cluster path) is required"}, status_code=400)
            return _guard(lambda: engine.submit_localization(
                body["series"], params=body.get("params"), results=body.get("results"), then=body.get("then")),
                status=201)
        if kind == "recipe":
            return _guard(lambda: engine.submit_recipe(
                str(body["recipe"]), list(body["inputs"]), output_dir=str(body["output_dir"])), status=201)
        return JSONResponse({"ok": False, "error": f"unknown rule kind {kind!r}; use localization or recipe"},
                            status_code=400)

    def get_rule(request: Request) -> JSONResponse:
        return _guard(lambda: engine.get_rule(request.path_params["rule_id"]))

    def cancel(request: Request) -> JSONResponse:
        return _guard(lambda: engine.cancel_rule(request.path_params["rule_id"]))

    async def list_workers(request: Request) -> JSONResponse:
        return JSONResponse(worker_rows(workers(), now=time.time()))

    return Starlette(routes=[
        Route("/api/health", health),
        Route("/api/rules", list_rules, methods=["GET"]),
        Route("/api/rules", create, methods=["POST"]),
        Route("/api/rules/{rule_id}", get_rule),
        Route("/api/rules/{rule_id}/cancel", cancel, methods=["POST"]),
        Route("/api/workers", list_workers),
    ])
