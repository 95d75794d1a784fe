"""Oracle Commerce Cloud's abortImportProcess endpoint for any Flask app.

Every name a host or an import worker uses is here. The public modules beside it are
``flask_import_abort.errors`` (the error catalog) and ``flask_import_abort.registries.sql``
(extra ``[sql]``); the others are internal.
"""

__version__ = "0.2.0"

from .auth import BearerTokens
from .contract import AbortOutcome, AbortRequest, ImportRegistry
from .errors import (
    BodyNotAnObject,
    BodyTooLarge,
    ImportAbortError,
    ImportFinished,
    ImportNotFound,
    InternalError,
    InvalidToken,
    MalformedJson,
    MethodNotAllowed,
    NotAllowed,
    NotAuthenticated,
    RegistryUnavailable,
    UnsupportedBodyType,
)
from .extension import ImportAbort
from .i18n import N_
from .lifecycle import (
    ABORTABLE_STATES,
    DEFAULT_LEASE,
    RUNNING_STATES,
    EndReason,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
    WorkerRegistry,
)
from .reaping import Reaper, reap
from .registries.memory import InMemoryImportRegistry
from .settings import Config, Settings, settings_of
from .signals import (
    abort_answered,
    abort_requested,
    abort_responded,
    process_ended,
    process_started,
)
from .views import blp
from .worker import ImportRun, run_import

__all__ = [
    "ABORTABLE_STATES",
    "DEFAULT_LEASE",
    "N_",
    "RUNNING_STATES",
    "AbortOutcome",
    "AbortRequest",
    "BearerTokens",
    "BodyNotAnObject",
    "BodyTooLarge",
    "Config",
    "EndReason",
    "ImportAbort",
    "ImportAbortError",
    "ImportFinished",
    "ImportNotFound",
    "ImportRegistry",
    "ImportRun",
    "ImportState",
    "InMemoryImportRegistry",
    "InternalError",
    "InvalidToken",
    "InvalidTransition",
    "MalformedJson",
    "MethodNotAllowed",
    "NotAllowed",
    "NotAuthenticated",
    "ProcessSnapshot",
    "Reaper",
    "RegistryUnavailable",
    "Settings",
    "UnknownImport",
    "UnsupportedBodyType",
    "WorkerRegistry",
    "__version__",
    "abort_answered",
    "abort_requested",
    "abort_responded",
    "blp",
    "process_ended",
    "process_started",
    "reap",
    "run_import",
    "settings_of",
]
