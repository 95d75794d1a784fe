"""InMemoryImportRegistry follows the import life cycle and is safe across threads."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from flask_import_abort import AbortOutcome, ImportRegistry, ImportState, InMemoryImportRegistry
from flask_import_abort.registries import InvalidTransition


@pytest.fixture
def registry() -> InMemoryImportRegistry:
    return InMemoryImportRegistry()


def test_it_is_an_import_registry(registry: InMemoryImportRegistry) -> None:
    assert isinstance(registry, ImportRegistry)


def test_added_process_gets_a_random_url_safe_token(registry: InMemoryImportRegistry) -> None:
    first, second = registry.add(), registry.add()

    assert first != second
    assert len(first) >= 32
    assert all(c.isalnum() or c in "-_" for c in first)
    assert registry.state(first) is ImportState.PENDING


def test_a_token_is_added_once(registry: InMemoryImportRegistry) -> None:
    registry.add(token="t")

    with pytest.raises(ValueError, match="exists already"):
        registry.add(token="t")


def test_unknown_token_is_not_found(registry: InMemoryImportRegistry) -> None:
    assert registry.abort("nope") is AbortOutcome.NOT_FOUND


def test_pending_process_is_aborted_at_once_and_never_starts(
    registry: InMemoryImportRegistry,
) -> None:
    token = registry.add()

    assert registry.abort(token) is AbortOutcome.REQUESTED
    assert registry.state(token) is ImportState.ABORTED
    assert registry.should_stop(token)
    assert registry.start(token) is False
    assert registry.state(token) is ImportState.ABORTED


@pytest.mark.parametrize("state", [ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED])
def test_running_process_gets_the_flag_and_keeps_its_state_until_it_stops(
    registry: InMemoryImportRegistry, state: ImportState
) -> None:
    token = registry.add(state)

    assert not registry.should_stop(token)
    assert registry.abort(token) is AbortOutcome.REQUESTED
    assert registry.should_stop(token)
    assert registry.state(token) is state
    assert registry.abort(token) is AbortOutcome.ALREADY_REQUESTED

    registry.set_state(token, ImportState.ABORTED)
    assert registry.abort(token) is AbortOutcome.ALREADY_REQUESTED


@pytest.mark.parametrize("state", [ImportState.SUCCEEDED, ImportState.FAILED])
def test_finished_process_is_finished_and_untouched(
    registry: InMemoryImportRegistry, state: ImportState
) -> None:
    token = registry.add(state)

    assert registry.abort(token) is AbortOutcome.FINISHED
    assert registry.snapshot(token).state is state
    assert not registry.should_stop(token)


def test_aborted_process_is_already_requested(registry: InMemoryImportRegistry) -> None:
    assert registry.abort(registry.add(ImportState.ABORTED)) is AbortOutcome.ALREADY_REQUESTED


def test_life_cycle_moves(registry: InMemoryImportRegistry) -> None:
    token = registry.add()

    assert registry.start(token) is True
    registry.set_state(token, ImportState.PAUSED)
    registry.set_state(token, ImportState.PROCESSING)
    registry.set_state(token, ImportState.BLOCKED)
    registry.set_state(token, ImportState.SUCCEEDED)
    assert registry.state(token) is ImportState.SUCCEEDED


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (ImportState.PENDING, ImportState.SUCCEEDED),
        (ImportState.PENDING, ImportState.PAUSED),
        (ImportState.SUCCEEDED, ImportState.PROCESSING),
        (ImportState.FAILED, ImportState.ABORTED),
        (ImportState.ABORTED, ImportState.SUCCEEDED),
        (ImportState.PROCESSING, ImportState.PENDING),
        (ImportState.PROCESSING, ImportState.PROCESSING),
    ],
)
def test_moves_outside_the_life_cycle_are_refused(
    registry: InMemoryImportRegistry, start: ImportState, to: ImportState
) -> None:
    token = registry.add(start)

    with pytest.raises(InvalidTransition):
        registry.set_state(token, to)
    assert registry.state(token) is start


def test_tokens_lists_processes_oldest_first(registry: InMemoryImportRegistry) -> None:
    tokens = [registry.add() for _ in range(5)]

    assert registry.tokens() == tokens


def test_concurrent_aborts_of_one_process_request_it_exactly_once(
    registry: InMemoryImportRegistry,
) -> None:
    token = registry.add(ImportState.PROCESSING)
    outcomes: list[AbortOutcome] = []
    barrier = threading.Barrier(64)

    def abort() -> None:
        barrier.wait()
        outcomes.append(registry.abort(token))

    threads = [threading.Thread(target=abort) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(outcomes) == {AbortOutcome.REQUESTED: 1, AbortOutcome.ALREADY_REQUESTED: 63}
