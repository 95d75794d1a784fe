"""Registries the package ships, for hosts that keep no import state of their own."""

from .memory import InMemoryImportRegistry, InvalidTransition, ProcessSnapshot

__all__ = ["InMemoryImportRegistry", "InvalidTransition", "ProcessSnapshot"]
