"""Who may use the WebDAV gateway: named users with passwords, never a default account (PYME's test:test)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsgidav.dc.base_dc import BaseDomainController

from photonflow.errors import ConfigError

__all__ = ["USERS_CONFIG_KEY", "ClusterDomainController", "load_users"]

USERS_CONFIG_KEY = "photonflow.webdav.users"
"""WsgiDAV config key under which :func:`photonflow.webdav.make_app` hands the users to the controller."""


def load_users(section: Mapping[str, Any] | None, *, user: str | None = None,
               password_file: Path | None = None) -> dict[str, str]:
    """User name → password, from the config's ``webdav:`` section and/or ``--user`` + ``--password-file``.

    The config section looks like ``{"users": {"alice": {"password_file": "/etc/photonflow/alice.pw"}}}``; a
    literal ``password:`` is accepted too. A password file holds the password on its first line.

    Raises
    ------
    ConfigError
        No user is configured, an entry has no password, or a password file is missing or empty.
    """
    users: dict[str, str] = {}
    entries = (section or {}).get("users") or {}
    if not isinstance(entries, Mapping):
        raise ConfigError("webdav.users must map user names to {password_file: PATH} or {password: TEXT}")
    for name, spec in entries.items():
        if isinstance(spec, Mapping) and spec.get("password_file"):
            users[str(name)] = _read_password(Path(str(spec["password_file"])))
        elif isinstance(spec, Mapping) and spec.get("password"):
            users[str(name)] = str(spec["password"])
        else:
            raise ConfigError(f"webdav user {name!r} has no password_file or password")
    if (user is None) != (password_file is None):
        raise ConfigError("give --user and --password-file together")
    if user is not None and password_file is not None:
        users[user] = _read_password(password_file)
    if not users:
        raise ConfigError(
            "photonflow webdav refuses to start without credentials: pass --user NAME --password-file FILE, "
            "or list users under 'webdav: users:' in the config (there is no default account)"
        )
    return users


def _read_password(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the WebDAV password file {path}: {exc.strerror}") from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise ConfigError(f"the WebDAV password file {path} is empty; put the password on its first line")
    return password


class ClusterDomainController(BaseDomainController):
    """Basic and Digest authentication against the configured users; every method (LOCK/UNLOCK too) needs it."""

    def __init__(self, wsgidav_app: Any, config: Mapping[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self._users: Mapping[str, str] = config[USERS_CONFIG_KEY]

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return "photonflow"

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def basic_auth_user(self, realm: str, user_name: str, password: str, environ: dict[str, Any]) -> bool:
        expected = self._users.get(user_name)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def supports_http_digest_auth(self) -> bool:
        return True

    def digest_auth_user(self, realm: str, user_name: str, environ: dict[str, Any]) -> str | bool:
        password = self._users.get(user_name)
        if password is None:
            return False
        return str(self._compute_http_digest_a1(realm, user_name, password))
