"""Oracle Commerce Cloud's abortImportProcess endpoint for any Flask app."""

__version__ = "0.1.0"

from .errors import ImportAbortError
from .extension import Config, ImportAbort
from .registries.memory import InMemoryImportRegistry
from .registry import AbortOutcome, ImportRegistry, ImportState
from .signals import abort_answered
from .views import blp

__all__ = [
    "AbortOutcome",
    "Config",
    "ImportAbort",
    "ImportAbortError",
    "ImportRegistry",
    "ImportState",
    "InMemoryImportRegistry",
    "__version__",
    "abort_answered",
    "blp",
]
