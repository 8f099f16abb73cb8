"""The web UI application: :func:`create_app`, and :func:`start_ui` / :func:`serve_ui` to run it.

Embedding (``photonflow up``)::

    from photonflow.ui import start_ui
    ui = start_ui(client=client, rules_api_url="http://127.0.0.1:8788", auth=auth, host="127.0.0.1", port=0)
    print("web UI:", ui.url)
    ...
    ui.stop()
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from photonflow.errors import ConfigError
from photonflow.ui import files, launch, results, rules, series, status
from photonflow.ui._cache import ListingCache, ResultsCache
from photonflow.ui._rules_client import RulesClient
from photonflow.ui._web import STATIC_DIR, TEMPLATES_DIR, UIState, csrf_token, page, role_of, state_of
from photonflow.ui.auth import AuthSettings, csrf_matches

if TYPE_CHECKING:
    import uvicorn

    from photonflow.storage import ClusterClient

__all__ = ["RunningUI", "create_app", "serve_ui", "start_ui"]

_OPEN_PATHS = ("/login", "/static/", "/healthz")


class _LoginRequired:
    """Send anyone without a session to ``/login`` (pages) or answer 401 (everything else)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if role_of(request) is None:
            accepts_html = "text/html" in request.headers.get("accept", "")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response
            if accepts_html and request.method == "GET":
                response = RedirectResponse(f"/login?next={target}", status_code=303)
            else:
                response = PlainTextResponse("login required: sign in at /login", status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _safe_next(target: str) -> str:
    # Only local paths: never redirect a login to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/files/"


async def login_form(request: Request) -> Response:
    """The login page."""
    return page(request, "login.html", {"next": _safe_next(request.query_params.get("next", "/files/")), "error": ""})


async def login(request: Request) -> Response:
    """Check the credentials; on success start a fresh signed session."""
    state = state_of(request)
    form = await request.form()
    target = _safe_next(str(form.get("next", "/files/")))
    if not csrf_matches(request.session.get("csrf"), str(form.get("csrf_token", ""))):
        return page(request, "login.html", {"next": target, "error": "the form expired: please sign in again"},
                    status_code=403)
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    role = await asyncio.to_thread(state.auth.authenticate, username, password)
    if role is None:
        await asyncio.sleep(0.5)  # slows guessing
        return page(request, "login.html", {"next": target, "error": "wrong user name or password (or token)"},
                    status_code=401)
    request.session.clear()
    request.session.update({"user": username or "token", "role": role})
    csrf_token(request)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    """End the session (POST with the CSRF token)."""
    form = await request.form()
    if not csrf_matches(request.session.get("csrf"), str(form.get("csrf_token", ""))):
        raise HTTPException(403, "missing or wrong CSRF token")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    """``/`` → the file browser."""
    return RedirectResponse("/files/", status_code=303)


async def healthz(request: Request) -> Response:
    """Liveness probe (no login needed, says nothing about the cluster)."""
    return PlainTextResponse("ok")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "text/html" in request.headers.get("accept", ""):
        return page(request, "error.html", {"title": f"Error {exc.status_code}", "message": exc.detail},
                    status_code=exc.status_code)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


def create_app(
    *,
    client: ClusterClient,
    rules_api_url: str | None = None,
    auth: AuthSettings | None = None,
    rules_client: RulesClient | None = None,
    presets_dir: Path | None = None,
    page_size: int = 500,
    https_only: bool = False,
) -> Starlette:
    """The UI as an ASGI app.

    Parameters
    ----------
    client : ClusterClient
        The cluster to browse (the app does not close it).
    rules_api_url : str, optional
        Base URL of the rule service; without it launching is refused with a message and the Rules page says so.
    auth : AuthSettings, optional
        Users, cluster token and session secret. Default: no login (only sensible on loopback).
    rules_client : RulesClient, optional
        Use this client instead of one built from ``rules_api_url``.
    presets_dir : Path, optional
        Where saved localization presets live; None disables saving.
    page_size : int
        Directory entries per page.
    https_only : bool
        Mark the session cookie Secure (behind TLS).
    """
    auth = auth if auth is not None else AuthSettings()
    if rules_client is None and rules_api_url:
        rules_client = RulesClient(rules_api_url, token=auth.token)
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]))
    templates = Jinja2Templates(env=env)
    state = UIState(
        client=client, auth=auth, templates=templates, rules=rules_client, feed=rules.RulesFeed(rules_client),
        results=ResultsCache(), presets_dir=presets_dir, listings=ListingCache(), page_size=page_size,
    )
    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/login", login_form),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *files.routes, *series.routes, *launch.routes, *rules.routes, *status.routes, *results.routes,
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(SessionMiddleware, secret_key=auth.secret, session_cookie="photonflow_ui", same_site="strict",
                   https_only=https_only, max_age=12 * 3600),
        Middleware(_LoginRequired),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error})
    app.state.ui = state
    return app


@dataclass
class RunningUI:
    """A UI served by uvicorn in a background thread (see :func:`start_ui`)."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)


def start_ui(
    *, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 10.0, **app_kwargs: Any
) -> RunningUI:
    """Serve :func:`create_app` (``app_kwargs``) on ``host:port`` in a daemon thread; returns when it listens.

    Raises
    ------
    ConfigError
        ``host`` is not loopback and no login is configured (``auth`` with a token or users).
    """
    import uvicorn

    _check_exposure(host, app_kwargs.get("auth"))
    app = create_app(**app_kwargs)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # httptools: h11 adds ~40 ms per keep-alive request here (measured by benchmarks/ui.py).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", http="httptools",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="photonflow-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the web UI did not start on {host}:{port}")
        time.sleep(0.02)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningUI(url=f"http://{shown}:{bound_port}", server=server, thread=thread)


def serve_ui(*, host: str = "127.0.0.1", port: int = 8789, **app_kwargs: Any) -> None:
    """Serve the UI in this thread until interrupted (``photonflow ui``)."""
    import uvicorn

    _check_exposure(host, app_kwargs.get("auth"))
    uvicorn.run(create_app(**app_kwargs), host=host, port=port, log_level="info", http="httptools", lifespan="off")


def _check_exposure(host: str, auth: AuthSettings | None) -> None:
    loopback = host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
    if not loopback and (auth is None or not auth.required):
        raise ConfigError(
            f"refusing to serve the web UI on {host} without login: set a cluster token or ui_users in the config "
            "(`photonflow ui hash-password` makes a password hash), or bind 127.0.0.1"
        )
