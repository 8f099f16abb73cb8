"""Configuration: read once, at an entry point, into a frozen :class:`Config`.

Sources, lowest precedence first:

1. built-in defaults;
2. ``/etc/photonflow/config.yaml`` (site-wide);
3. ``~/.photonflow/config.yaml`` (the user's own);
4. environment variables ``PHOTONFLOW_<KEY>`` (key upper-cased, ``-`` → ``_``), plus PYME's ``PYMEDATADIR``
   and ``PYME_COMPUTERNAME``;
5. explicit overrides passed by the caller (command-line flags).

Keys may be written in photonflow's style (``dataserver_root``) or PYME's (``dataserver-root``); PYME's storage
keys (``dataserver-root``, ``dataserver-filter``, ``dataserver-port``, ``httpspooler-chunksize``,
``h5r-flush_interval``, ``clusterIO-hybridns``) are accepted as they are, so a lab can reuse its PYME config.
Nothing here runs at import time: call :func:`load_config`.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from photonflow.errors import ConfigError

__all__ = ["DEFAULT_PORT", "Config", "config_paths", "load_config", "read_yaml_mapping"]

DEFAULT_PORT = 15348
Advertise = Literal["zeroconf", "local", "none"]

# PYME's spelling → our field name, where they differ beyond '-' vs '_'.
_PYME_ALIASES: dict[str, str] = {
    "dataserver-filter": "cluster",
    "httpspooler-chunksize": "chunk_size",
    "h5r-flush_interval": "h5r_flush_interval",
    "clusterio-hybridns": "hybrid_ns",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Every setting photonflow reads, resolved once.

    Attributes
    ----------
    cluster : str
        Cluster name (PYME's ``dataserver-filter``). Servers advertise it; clients only talk to servers of it.
    dataserver_root : Path
        Directory a data server serves, and where a client looks for files this host serves.
    dataserver_port : int
        Port of the data server; ``0`` picks a free one.
    bind : str
        Address servers listen on. Anything but loopback needs ``token``.
    servers : tuple of str
        Static list of data server URLs (``http://host:port``) used in addition to discovery.
    interfaces : tuple of str
        Interface addresses mDNS (zeroconf) binds to, for announcing and browsing; empty = all interfaces.
        ``127.0.0.1`` keeps discovery on this machine.
    advertise : {"zeroconf", "local", "none"}
        How a data server announces itself: mDNS plus the same-host registry, the registry only, or not at all.
    token : str or None
        Shared cluster token. When set every request must carry it.
    chunk_size : int
        Frames per server block when spooling a series (PYME's ``httpspooler-chunksize``).
    fsync : bool
        Flush written files to disk before acknowledging them.
    free_space_floor : int
        Bytes a data server keeps free; a write that would go below it gets HTTP 507.
    max_request_size : int
        Largest request body a data server accepts (HTTP 413 above it).
    h5r_flush_interval : float
        Seconds between flushes of results files being appended to.
    hybrid_ns : bool
        Use the same-host SQLite registry beside mDNS (PYME's ``clusterIO-hybridns``).
    replicas : int
        Copies of every file kept on distinct servers.
    allow_pickle : bool
        Accept pickled numpy arrays on the results endpoints (restricted unpickler). Off by default.
    ui_users : Mapping
        Web UI accounts: name → ``{password_hash: <from photonflow ui --hash-password>, role: admin|user|readonly}``.
    ui_secret : str or None
        Key signing web UI session cookies; default a random one per start (sessions end on restart).
    scheduler_address : str or None
        Dask scheduler of the cluster (``tcp://host:port``); unset = find it by discovery.
    scheduler_api : str or None
        Rule API of that scheduler (``http://host:port``); unset = find it by discovery.
    task_retries : int
        Extra runs of a failed analysis task before it counts as failed.
    extra : Mapping
        Keys photonflow does not know, kept so a sub-system added later can read its section.
    """

    cluster: str
    dataserver_root: Path
    dataserver_port: int = DEFAULT_PORT
    bind: str = "127.0.0.1"
    servers: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    advertise: Advertise = "zeroconf"
    token: str | None = None
    chunk_size: int = 50
    fsync: bool = True
    free_space_floor: int = 1 << 30
    max_request_size: int = 1 << 32
    h5r_flush_interval: float = 1.0
    hybrid_ns: bool = True
    replicas: int = 1
    allow_pickle: bool = False
    scheduler_address: str | None = None
    scheduler_api: str | None = None
    task_retries: int = 2
    ui_users: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ui_secret: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def replace(self, **changes: Any) -> Config:
        """Return a copy with ``changes`` applied (and validated)."""
        return _validated(dataclasses.replace(self, **changes))


def config_paths(home: Path | None = None) -> list[Path]:
    """Config files consulted, lowest precedence first."""
    home = Path.home() if home is None else home
    return [Path("/etc/photonflow/config.yaml"), home / ".photonflow" / "config.yaml"]


def load_config(
    *,
    paths: Sequence[Path] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read configuration files, environment and overrides into a :class:`Config`.

    Parameters
    ----------
    paths : sequence of Path, optional
        Files to read, lowest precedence first; missing files are skipped. Default: :func:`config_paths`.
    environ : mapping, optional
        Environment to read (default ``os.environ``).
    overrides : mapping, optional
        Highest-precedence values, e.g. from command-line flags. ``None`` values are ignored.

    Raises
    ------
    ConfigError
        A file is not valid YAML, is not a mapping, or a value has the wrong type.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    for path in config_paths() if paths is None else paths:
        merged.update(_read_yaml(Path(path)))
    merged.update(_from_environ(environ))
    merged.update({_canonical(k): v for k, v in (overrides or {}).items() if v is not None})

    fields = {f.name for f in dataclasses.fields(Config)} - {"extra"}
    known = {k: v for k, v in merged.items() if k in fields}
    extra = {k: v for k, v in merged.items() if k not in fields}
    known.setdefault("cluster", environ.get("PYME_COMPUTERNAME") or socket.gethostname())
    known.setdefault("dataserver_root", _default_root(environ))
    try:
        config = Config(**{k: _coerce(k, v) for k, v in known.items()}, extra=extra)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    return _validated(config)


def _canonical(key: str) -> str:
    lowered = key.strip().lower()
    return _PYME_ALIASES.get(lowered, lowered.replace("-", "_"))


def read_yaml_mapping(path: Path, *, what: str = "config", missing_ok: bool = False) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is an empty mapping).

    Parameters
    ----------
    path : Path
        The file.
    what : str
        What the file is, for error messages ("config", "camera", "parameters", ...).
    missing_ok : bool
        Return ``{}`` for a file that does not exist instead of raising.

    Raises
    ------
    ConfigError
        The file cannot be read, is not valid YAML, or does not hold a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if missing_ok:
            return {}
        raise ConfigError(f"{what} file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {path} must hold a mapping of keys to values, not {type(data).__name__}")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    return {_canonical(str(k)): v for k, v in read_yaml_mapping(path, missing_ok=True).items()}


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if environ.get("PYMEDATADIR"):
        out["dataserver_root"] = environ["PYMEDATADIR"]
    for name, value in environ.items():
        if name.startswith("PHOTONFLOW_"):
            out[_canonical(name.removeprefix("PHOTONFLOW_"))] = yaml.safe_load(value) if value else value
    return out


def _default_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME", str(Path.home()))) / "PYMEData"


_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(key: str, value: Any) -> Any:
    field_type = {f.name: f.type for f in dataclasses.fields(Config)}[key]
    if key == "dataserver_root":
        return Path(str(value)).expanduser()
    if key == "ui_users":
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            raise ConfigError("'ui_users' must map each user name to {password_hash: ..., role: ...}")
        return {str(k): dict(v) for k, v in value.items()}
    if key in ("servers", "interfaces"):
        if isinstance(value, str):
            value = [s for s in value.replace(",", " ").split() if s]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{key}' must be a list, got {value!r}")
        return tuple(str(s).rstrip("/") for s in value)
    if field_type == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in _BOOL_WORDS:
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return _BOOL_WORDS[word]
    if field_type == "int":
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return int(value)
    if field_type == "float":
        return float(value)
    if field_type == "str | None":
        return None if value in (None, "") else str(value)
    return str(value)


def _validated(config: Config) -> Config:
    if not config.cluster or any(c in config.cluster for c in "/\\\x00"):
        raise ConfigError(f"cluster name {config.cluster!r} is empty or contains a path separator")
    if not 0 <= config.dataserver_port <= 65535:
        raise ConfigError(f"dataserver_port {config.dataserver_port} is not a TCP port (0-65535)")
    if config.advertise not in ("zeroconf", "local", "none"):
        raise ConfigError(f"advertise must be zeroconf, local or none, not {config.advertise!r}")
    if config.chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1, got {config.chunk_size}")
    if config.replicas < 1:
        raise ConfigError(f"replicas must be at least 1, got {config.replicas}")
    if config.free_space_floor < 0 or config.max_request_size < 1:
        raise ConfigError("free_space_floor must be >= 0 and max_request_size >= 1")
    return config
