"""The web UI (Starlette + Jinja2 + a little vanilla JavaScript, every asset served locally).

Pages: Files, Series, Launch (localization and recipes), Rules (live), Status, Results; login whenever the cluster has
a token or users. Start it with ``photonflow ui``, or embed it with :func:`start_ui` (``photonflow up``).
"""

from __future__ import annotations

from photonflow.ui.app import RunningUI, create_app, serve_ui, start_ui
from photonflow.ui.auth import AuthSettings, User, auth_from_config, hash_password

__all__ = ["AuthSettings", "RunningUI", "User", "auth_from_config", "create_app", "hash_password", "serve_ui",
           "start_ui"]
