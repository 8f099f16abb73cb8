"""Who may use the web UI: users with scrypt password hashes and roles, the cluster token, CSRF tokens.

Login is required whenever the cluster has a token or users are configured (:attr:`AuthSettings.required`). There
are no default credentials: with neither, the UI is only for a cluster bound to loopback, and everyone is an admin.
Roles: ``admin`` and ``user`` may write (upload, new folder, launch, cancel), ``readonly`` may only look.
Sessions are cookies signed with itsdangerous (Starlette's ``SessionMiddleware``); every form and every JavaScript
POST carries the session's CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from photonflow.errors import ConfigError

__all__ = [
    "ROLES",
    "WRITE_ROLES",
    "AuthSettings",
    "User",
    "auth_from_config",
    "hash_password",
    "verify_password",
]

ROLES = ("admin", "user", "readonly")
WRITE_ROLES = frozenset({"admin", "user"})
# scrypt cost: ~50 ms per login on one core, 16 MiB of memory, so a stolen hash is slow to attack.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password for the ``ui_users`` config (``scrypt$<salt>$<hash>``, base64).

    Raises
    ------
    ValueError
        The password is empty.
    """
    if not password:
        raise ValueError("a password must not be empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time compare)."""
    try:
        scheme, salt_b64, digest_b64 = encoded.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt" or not password:
        return False
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True, slots=True)
class User:
    """A UI account: name, scrypt hash (from :func:`hash_password`) and role (``admin``/``user``/``readonly``)."""

    name: str
    password_hash: str
    role: str = "user"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"ui user {self.name!r}: role must be one of {ROLES}, got {self.role!r}")
        if not self.password_hash.startswith("scrypt$"):
            raise ConfigError(
                f"ui user {self.name!r}: password_hash must come from `photonflow ui hash-password` (scrypt$...)"
            )


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How the UI authenticates.

    Attributes
    ----------
    users : mapping
        name → :class:`User`.
    token : str or None
        The cluster token; logging in with it gives role ``token_role``.
    token_role : str
        Role of a token login.
    secret : str
        Key that signs session cookies. Default: random per process (sessions end when the UI restarts).
    """

    users: Mapping[str, User] = field(default_factory=dict)
    token: str | None = None
    token_role: str = "user"
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def required(self) -> bool:
        """Login is needed: a token or users are configured."""
        return bool(self.users) or bool(self.token)

    def authenticate(self, username: str, password: str) -> str | None:
        """The role of a valid login, else None (an empty user name with the cluster token as password: token login)."""
        if not username:
            if self.token and password and hmac.compare_digest(password.encode(), self.token.encode()):
                return self.token_role
            return None
        user = self.users.get(username)
        if user is None:
            # Hash anyway so a wrong user name takes as long as a wrong password.
            verify_password(password, "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            return None
        return user.role if verify_password(password, user.password_hash) else None


def auth_from_config(
    users: Mapping[str, Mapping[str, str]], *, token: str | None, secret: str | None
) -> AuthSettings:
    """Build :class:`AuthSettings` from the config's ``ui_users``, ``token`` and ``ui_secret``.

    Raises
    ------
    ConfigError
        A user lacks ``password_hash`` or has an unknown role.
    """
    built: dict[str, User] = {}
    for name, entry in users.items():
        if "password_hash" not in entry:
            raise ConfigError(f"ui user {name!r} has no password_hash; make one with `photonflow ui hash-password`")
        built[name] = User(name=name, password_hash=str(entry["password_hash"]), role=str(entry.get("role", "user")))
    kwargs = {"secret": secret} if secret else {}
    return AuthSettings(users=built, token=token, **kwargs)


def new_csrf_token() -> str:
    """A fresh CSRF token for a session."""
    return secrets.token_urlsafe(24)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one a request carried."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
