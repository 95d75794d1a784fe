"""Registries the package ships, for hosts that keep no import state of their own.

``InMemoryImportRegistry`` (``flask_import_abort.registries.memory``, also at the package root)
and ``SQLImportRegistry`` (``flask_import_abort.registries.sql``, extra ``[sql]``).
"""
