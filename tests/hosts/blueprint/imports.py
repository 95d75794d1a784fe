"""The processes every blueprint host below answers for: one running, one finished."""

from flask_import_abort import ImportState, InMemoryImportRegistry

registry = InMemoryImportRegistry()
registry.add(ImportState.PROCESSING, token="running_1")
registry.add(ImportState.SUCCEEDED, token="finished_1")
