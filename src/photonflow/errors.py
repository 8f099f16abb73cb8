"""The photonflow error hierarchy.

Every error photonflow raises on purpose derives from :class:`PhotonflowError`, and also from the built-in
exception a caller would naturally catch, so both ``except photonflow.errors.NotFoundError`` and
``except FileNotFoundError`` work::

    PhotonflowError
    ├── ConfigError                 (ValueError)    bad or contradictory configuration
    │   └── RecipeError                                 a recipe is malformed: unknown module, bad field, cycle
    ├── StorageError                (OSError)       anything that goes wrong talking to the cluster
    │   ├── NotFoundError           (FileNotFoundError)
    │   ├── AlreadyExistsError      (FileExistsError)   write-once: the name is taken
    │   ├── ServerUnavailableError  (ConnectionError)   no server of the cluster answered
    │   ├── InsufficientStorageError                    a server answered 507 / the free-space floor
    │   ├── AccessDeniedError       (PermissionError)   token missing/wrong, or a path outside the root
    │   └── ProtocolError                               a peer answered something the protocol forbids
    ├── FormatError                 (ValueError)    a file or frame is malformed, truncated or unsupported
    ├── AnalysisError               (RuntimeError)  localization/recipe failures a user can act on
    └── HPCError                    (RuntimeError)  batch-processing (Process/MPI/checkpoint) failures
        └── ComputeInterruptedError                 a signal stopped a run early; re-run to resume
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AnalysisError",
    "ComputeInterruptedError",
    "ConfigError",
    "FormatError",
    "HPCError",
    "InsufficientStorageError",
    "NotFoundError",
    "PhotonflowError",
    "ProtocolError",
    "RecipeError",
    "ServerUnavailableError",
    "StorageError",
]


class PhotonflowError(Exception):
    """Base class of every error photonflow raises on purpose."""


class ConfigError(PhotonflowError, ValueError):
    """The configuration (file, environment or command line) is invalid."""


class StorageError(PhotonflowError, OSError):
    """A cluster storage operation failed."""


class NotFoundError(StorageError, FileNotFoundError):
    """The requested file or directory does not exist on any server of the cluster."""


class AlreadyExistsError(StorageError, FileExistsError):
    """A write-once file of that name already exists."""


class ServerUnavailableError(StorageError, ConnectionError):
    """No server of the cluster could be reached (or the chosen one vanished)."""


class InsufficientStorageError(StorageError):
    """The server refused the write because it would go below its free-space floor (HTTP 507)."""


class AccessDeniedError(StorageError, PermissionError):
    """The request lacked a valid cluster token, or named a path outside the served root."""


class ProtocolError(StorageError):
    """A peer sent a response the PYME storage protocol does not allow."""


class FormatError(PhotonflowError, ValueError):
    """A file, frame or table is malformed, truncated, or uses an unsupported encoding."""


class AnalysisError(PhotonflowError, RuntimeError):
    """An analysis (localization, recipe) could not run with the given inputs or parameters."""


class HPCError(PhotonflowError, RuntimeError):
    """A batch computation (Process, MPI, checkpoint) failed."""


class ComputeInterruptedError(HPCError):
    """A signal (SIGTERM, SIGUSR1) stopped a batch run after a clean checkpoint; running it again resumes it.

    ``exit_code`` (75, ``EX_TEMPFAIL``) is what a job script should exit with, so a scheduler can requeue it.
    """

    exit_code = 75


class RecipeError(ConfigError):
    """A recipe is invalid: unknown module or field, a bad parameter value, a missing input, or a cycle.

    ``module_index`` (1-based position in the recipe), ``module_name`` and ``field`` say where, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        module_index: int | None = None,
        module_name: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.module_index = module_index
        self.module_name = module_name
        self.field = field
