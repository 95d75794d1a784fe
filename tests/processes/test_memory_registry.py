"""What InMemoryImportRegistry has beyond the shared contract (see test_registries.py)."""

from __future__ import annotations

import pytest

from flask_import_abort import AbortOutcome, ImportState, InMemoryImportRegistry


@pytest.fixture
def registry() -> InMemoryImportRegistry:
    return InMemoryImportRegistry()


@pytest.mark.parametrize("state", list(ImportState))
def test_add_records_a_process_in_any_state_for_tests_and_demos(
    registry: InMemoryImportRegistry, state: ImportState
) -> None:
    token = registry.add(state)

    assert registry.state(token) is state
    assert registry.snapshot(token).state is state


def test_a_token_is_added_once(registry: InMemoryImportRegistry) -> None:
    registry.add(token="t")

    with pytest.raises(ValueError, match="exists already"):
        registry.register(token="t")


def test_added_aborted_process_is_already_requested(registry: InMemoryImportRegistry) -> None:
    assert registry.abort(registry.add(ImportState.ABORTED)) is AbortOutcome.ALREADY_REQUESTED


def test_tokens_lists_processes_oldest_first(registry: InMemoryImportRegistry) -> None:
    tokens = [registry.add() for _ in range(3)] + [registry.register() for _ in range(2)]

    assert registry.tokens() == tokens


def test_add_refuses_a_token_the_endpoint_could_never_abort(
    registry: InMemoryImportRegistry,
) -> None:
    with pytest.raises(ValueError, match="'/'"):
        registry.add(ImportState.PROCESSING, token="2026/11/import-7")
