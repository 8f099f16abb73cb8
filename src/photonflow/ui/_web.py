"""What every page shares: the UI's state object, template rendering, roles, CSRF, flash messages, formatting."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from photonflow import _units
from photonflow.ui.auth import WRITE_ROLES, AuthSettings, csrf_matches, new_csrf_token

if TYPE_CHECKING:
    from photonflow.storage import ClusterClient
    from photonflow.ui._cache import ListingCache, ResultsCache
    from photonflow.ui._rules_client import RulesClient
    from photonflow.ui.rules import RulesFeed

__all__ = ["UIState", "breadcrumbs", "flash", "human_size", "page", "state_of", "writer_endpoint"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class UIState:
    """Everything a page needs, owned by one app instance (no module globals)."""

    client: ClusterClient
    auth: AuthSettings
    templates: Jinja2Templates
    rules: RulesClient | None
    feed: RulesFeed
    results: ResultsCache
    presets_dir: Path | None
    listings: ListingCache
    page_size: int = 500
    extra: dict[str, Any] = field(default_factory=dict)


def state_of(request: Request) -> UIState:
    """The :class:`UIState` of the app serving ``request``."""
    state: UIState = request.app.state.ui
    return state


def role_of(request: Request) -> str | None:
    """The logged-in role, ``admin`` when login is not required, else None."""
    if not state_of(request).auth.required:
        return "admin"
    role = request.session.get("role")
    return str(role) if role else None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return str(token)


def flash(request: Request, kind: str, message: str) -> None:
    """Queue a message shown on the next page (kind: ``ok``, ``error``, ``info``)."""
    request.session.setdefault("flash", []).append([kind, message])
    request.session["flash"] = request.session["flash"][-20:]


def page(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """Render ``template`` with the common context (user, role, CSRF token, flashed messages)."""
    state = state_of(request)
    messages = request.session.pop("flash", []) if "flash" in request.session else []
    role = role_of(request)
    full = {
        "csrf": csrf_token(request),
        "role": role,
        "can_write": role in WRITE_ROLES,
        "user": request.session.get("user", ""),
        "auth_required": state.auth.required,
        "rules_available": state.rules is not None,
        "messages": messages,
        "nav": template.split(".")[0].split("_")[0],
        **context,
    }
    return state.templates.TemplateResponse(request, template, full, status_code=status_code)


Endpoint = Callable[[Request], Awaitable[Response]]


def writer_endpoint(fn: Endpoint) -> Endpoint:
    """A POST endpoint that changes something: needs a writing role and the session's CSRF token.

    The token comes from the form field ``csrf_token`` or the header ``X-CSRF-Token`` (JavaScript).
    """

    @functools.wraps(fn)
    async def guarded(request: Request) -> Response:
        given = request.headers.get("x-csrf-token")
        if given is None:
            form = await request.form(max_files=1000, max_fields=1000)
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
        if not csrf_matches(request.session.get("csrf"), given):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and submit the form again")
        if role_of(request) not in WRITE_ROLES:
            raise HTTPException(403, "your account is read-only: ask an admin for a user role to change anything")
        return await fn(request)

    return guarded


async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking call (cluster I/O, rendering) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def human_size(size: int | float | None) -> str:
    """Bytes as ``12.3 MiB``; an en dash when unknown."""
    return _units.human_size(size, missing="–")


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """``[(label, path), ...]`` from the root to ``path``."""
    crumbs = [("cluster", "")]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: i + 1])))
    return crumbs


def url_path(path: str) -> str:
    """Quote a cluster path for a URL."""
    return quote(path, safe="/")
