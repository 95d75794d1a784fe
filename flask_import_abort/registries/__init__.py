"""Registries the package ships, for hosts that keep no import state of their own.

``InMemoryImportRegistry`` is here; ``SQLImportRegistry`` is in
``flask_import_abort.registries.sql`` (extra ``[sql]``).
"""

from ..registry import InvalidTransition, ProcessSnapshot, UnknownImport
from .memory import InMemoryImportRegistry

__all__ = ["InMemoryImportRegistry", "InvalidTransition", "ProcessSnapshot", "UnknownImport"]
