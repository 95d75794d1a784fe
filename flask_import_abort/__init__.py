"""Oracle Commerce Cloud's abortImportProcess endpoint for any Flask app.

The names a host writes in an app are here. The web side (``ImportAbort``, ``blp``, ...) is
loaded on first use, so that a worker's ``from flask_import_abort.processes import ImportRun``
never loads Flask. Errors are in :mod:`flask_import_abort.errors`, signals in
:mod:`flask_import_abort.signals`, the process layer in :mod:`flask_import_abort.processes`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .processes import (
    AbortOutcome,
    AbortRequest,
    ImportRegistry,
    ImportRun,
    ImportState,
    InMemoryImportRegistry,
    StoreUnavailable,
)

__version__ = "0.3.0.dev0"

if TYPE_CHECKING:
    from ._blueprint import blp
    from .access._auth import BearerTokens, Identity
    from .extension import ImportAbort
    from .occ._routes import access_required, authenticate, occ_operation
    from .operators._reaping import reaper

#: The web side's names, by the module that holds each: imported on first use (PEP 562).
_WEB = {
    "BearerTokens": ".access._auth",
    "Identity": ".access._auth",
    "ImportAbort": ".extension",
    "access_required": ".occ._routes",
    "authenticate": ".occ._routes",
    "blp": "._blueprint",
    "occ_operation": ".occ._routes",
    "reaper": ".operators._reaping",
}


def __getattr__(name: str) -> Any:
    module = _WEB.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AbortOutcome",
    "AbortRequest",
    "BearerTokens",
    "Identity",
    "ImportAbort",
    "ImportRegistry",
    "ImportRun",
    "ImportState",
    "InMemoryImportRegistry",
    "StoreUnavailable",
    "__version__",
    "access_required",
    "authenticate",
    "blp",
    "occ_operation",
    "reaper",
]
