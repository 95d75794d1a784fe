"""Oracle Commerce Cloud's abortImportProcess endpoint for any Flask app."""

__version__ = "0.1.0"

from .errors import ImportAbortError
from .extension import Config, ImportAbort
from .registries.memory import InMemoryImportRegistry
from .registry import AbortOutcome, ImportRegistry, ImportState, WorkerRegistry
from .signals import abort_answered
from .views import blp
from .worker import ImportRun, run_import

__all__ = [
    "AbortOutcome",
    "Config",
    "ImportAbort",
    "ImportAbortError",
    "ImportRegistry",
    "ImportRun",
    "ImportState",
    "InMemoryImportRegistry",
    "WorkerRegistry",
    "__version__",
    "abort_answered",
    "blp",
    "run_import",
]
