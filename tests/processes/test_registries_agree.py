"""The three registries the package ships keep one rulebook: driven through the same random
sequences of a host's calls, the in-memory, SQLite and PostgreSQL registries answer the same and
hold the same processes after every step.

All three read one test clock (the SQL ones through their database, see
``databases.database_clock``), so a lost worker is time passing beyond the lease for each of
them alike. ``IMPORT_ABORT_STATEFUL_EXAMPLES`` sets how many sequences run (``make stateful``
runs many more than ``make test``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import is_dataclass, replace
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete

from flask_import_abort import AbortRequest, ImportState, InMemoryImportRegistry
from flask_import_abort.processes import ProcessKind, reap
from flask_import_abort.processes.lifecycle import ProcessSnapshot
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import require_postgres, sql_registry
from ..helpers import LEASE, Clock

EXAMPLES = int(os.environ.get("IMPORT_ABORT_STATEFUL_EXAMPLES", "30"))
#: The kinds a host registers, as it writes them.
KINDS = ["import", "export"]
#: Seconds an abort gives its import to stop, when it gives any.
DEADLINE = 30.0
#: Time passing: within every bound, past a stop deadline, past the lease.
STEPS = (1, 31, 61)

Registries = dict[str, Any]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Clock, Registries]]:
    """A clock, and a SQLite and a PostgreSQL registry on it, their tables emptied before each
    sequence (made once: a table per sequence would cost more than the sequence)."""
    url = require_postgres()
    clock = Clock()
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('agree') / 'imports.db'}"
    with ExitStack() as stack:
        sql = {
            name: stack.enter_context(sql_registry(at, clock=clock, lease=LEASE, webhooks=True))
            for name, at in (("sqlite", sqlite_url), ("postgresql", url))
        }
        yield clock, sql


def _emptied(registry: SQLImportRegistry) -> SQLImportRegistry:
    with registry.engine.begin() as connection:
        for table in (registry.outbox_table, registry.table):
            connection.execute(delete(table))
    return registry


def _outcome(call: Callable[[Any], Any], registry: Any) -> tuple[str, Any]:
    """What a call did: its answer, or the kind of error it raised (the messages may differ)."""
    try:
        return "answered", call(registry)
    except Exception as error:
        return "raised", type(error).__name__


def _differences(first: Any, other: Any) -> Any:
    """What ``other`` says that ``first`` does not, field by field where both are snapshots."""
    both = isinstance(first, tuple | list) and isinstance(other, tuple | list)
    if both and len(first) == len(other):
        return [_differences(a, b) for a, b in zip(first, other, strict=True)]
    if is_dataclass(first) and is_dataclass(other) and type(first) is type(other):
        return {
            name: (getattr(first, name), getattr(other, name))
            for name in vars(first)
            if getattr(first, name) != getattr(other, name)
        }
    return other if first != other else "same"


def _held(registry: Any, token: str) -> tuple[Any, ...]:
    """What a registry holds of ``token``: the process, its chunks, its notices (their ids
    are each registry's own)."""
    notices = [replace(notice, id="") for notice in registry.notices(token)]
    return registry.snapshot(token), registry.chunks(token), notices


def _ends(snapshots: list[ProcessSnapshot]) -> list[ProcessSnapshot]:
    return sorted(snapshots, key=lambda snapshot: snapshot.token)


class RegistriesAgree(RuleBasedStateMachine):
    """A host's workers, clients and reapers on three registries at once."""

    processes = Bundle("processes")

    def __init__(self, clock: Clock, sql: Registries) -> None:
        super().__init__()
        self.clock = clock
        self.registries: Registries = {
            "memory": InMemoryImportRegistry(lease=LEASE, clock=clock, webhooks=True),
            **{name: _emptied(registry) for name, registry in sql.items()},
        }
        self.tokens: list[str] = []

    def each(self, call: Callable[[Any], Any]) -> Any:
        """``call`` on every registry; the answer, which must be the same from each."""
        outcomes = {name: _outcome(call, it) for name, it in self.registries.items()}
        first = outcomes["memory"]
        if any(outcome != first for outcome in outcomes.values()):
            said = "\n".join(
                f"{name}: {_differences(first, outcome)!r}" for name, outcome in outcomes.items()
            )
            raise AssertionError(f"the registries disagree:\n{said}")
        return first[1]

    @precondition(lambda self: len(self.tokens) < 8)
    @rule(target=processes, total=st.none() | st.integers(0, 50), kind=st.sampled_from(KINDS))
    def host_registers(self, total: int | None, kind: str) -> str:
        memory = self.registries["memory"]
        token = memory.register(total=total, metadata={"id": "catalog"}, kind=kind)
        for name in ("sqlite", "postgresql"):
            self.registries[name].register(
                total=total, token=token, metadata={"id": "catalog"}, kind=kind
            )
        self.tokens.append(token)
        return token

    @precondition(lambda self: len(self.tokens) < 8)
    @rule(count=st.integers(1, 3), continue_on_error=st.booleans(), kind=st.sampled_from(KINDS))
    def host_registers_chunks(self, count: int, continue_on_error: bool, kind: str) -> None:
        made = self.registries["memory"].register_chunks(
            count, continue_on_error=continue_on_error, kind=kind
        )
        for name in ("sqlite", "postgresql"):
            again = self.registries[name].register_chunks(
                count, token=made.token, continue_on_error=continue_on_error, kind=kind
            )
            assert tuple(again.chunks) == tuple(made.chunks)
        self.tokens += [made.token, *made.chunks]

    @precondition(lambda self: self.tokens)
    @rule(pick=st.integers(0, 10**6))
    def worker_starts(self, pick: int) -> None:
        token = self.tokens[pick % len(self.tokens)]
        self.each(lambda registry: registry.start(token))

    @precondition(lambda self: self.tokens)
    @rule(pick=st.integers(0, 10**6), processed=st.integers(0, 60), failed=st.integers(0, 3))
    def worker_reports_progress(self, pick: int, processed: int, failed: int) -> None:
        token = self.tokens[pick % len(self.tokens)]
        self.each(lambda registry: registry.report_progress(token, processed, failed=failed))

    @precondition(lambda self: self.tokens)
    @rule(pick=st.integers(0, 10**6))
    def worker_asks_whether_to_stop(self, pick: int) -> None:
        token = self.tokens[pick % len(self.tokens)]
        self.each(lambda registry: registry.should_stop(token))

    @precondition(lambda self: self.tokens)
    @rule(pick=st.integers(0, 10**6), file=st.sampled_from(["a.json", "b.json"]))
    def worker_adds_metadata(self, pick: int, file: str) -> None:
        token = self.tokens[pick % len(self.tokens)]
        self.each(lambda registry: registry.update_metadata(token, {"fileLink": file}))

    @precondition(lambda self: self.tokens)
    @rule(pick=st.integers(0, 10**6), to=st.sampled_from(ImportState))
    def worker_moves(self, pick: int, to: ImportState) -> None:
        token = self.tokens[pick % len(self.tokens)]
        self.each(lambda registry: registry.set_state(token, to))

    @precondition(lambda self: self.tokens)
    @rule(
        pick=st.integers(0, 10**6),
        deadline=st.none() | st.just(DEADLINE),
        actor=st.sampled_from(["ops", "cli:root"]),
        kind=st.none() | st.sampled_from(ProcessKind),
    )
    def client_aborts(
        self, pick: int, deadline: float | None, actor: str, kind: ProcessKind | None
    ) -> None:
        """An abort by one kind's route (an export's token is unknown to an import's), or
        by the command line, which names no kind."""
        token = self.tokens[pick % len(self.tokens)]
        request = AbortRequest(stop_deadline=deadline, actor=actor, reason="wrong file", kind=kind)
        self.each(lambda registry: registry.abort(token, request))

    @rule(seconds=st.sampled_from(STEPS))
    def time_passes(self, seconds: int) -> None:
        """A worker lost is time passing beyond the lease with no call of its worker."""
        self.clock.advance(seconds)

    @rule()
    def a_reaper_reaps(self) -> None:
        self.each(lambda registry: _ends(reap(registry)))

    @rule()
    def a_reaper_looks(self) -> None:
        self.each(lambda registry: _ends(registry.reap(dry_run=True)))

    @invariant()
    def every_process_is_the_same_in_each(self) -> None:
        for token in self.tokens:
            self.each(partial(_held, token=token))

    @invariant()
    def the_counts_are_the_same(self) -> None:
        self.each(lambda registry: registry.count_by_state())


def test_the_three_registries_answer_and_hold_the_same_through_any_sequence(
    stores: tuple[Clock, Registries],
) -> None:
    clock, sql = stores
    run_state_machine_as_test(
        lambda: RegistriesAgree(clock, sql),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


# What the sequences found, each held on its own.


@pytest.fixture
def three(stores: tuple[Clock, Registries]) -> tuple[Clock, Registries]:
    clock, sql = stores
    registries = {
        "memory": InMemoryImportRegistry(lease=LEASE, clock=clock, webhooks=True),
        **{name: _emptied(registry) for name, registry in sql.items()},
    }
    return clock, registries


def test_the_abort_of_a_parallel_import_still_to_start_writes_its_notice(
    three: tuple[Clock, Registries],
) -> None:
    _, registries = three
    for registry in registries.values():
        made = registry.register_chunks(2)
        registry.abort(made.token)
        assert registry.snapshot(made.token).state is ImportState.ABORTED
        assert [notice.state for notice in registry.notices(made.token)] == ["pending"]


def test_a_dry_run_reads_a_lost_process_as_lost(three: tuple[Clock, Registries]) -> None:
    clock, registries = three
    tokens = {name: registry.register() for name, registry in registries.items()}
    for name, registry in registries.items():
        registry.start(tokens[name])
    clock.advance(LEASE + 1)
    for name, registry in registries.items():
        (listed,) = registry.reap(dry_run=True)
        assert (listed.token, listed.lost) == (tokens[name], True)


def test_a_reap_leaves_a_parallel_import_to_its_chunks(three: tuple[Clock, Registries]) -> None:
    """Even one a worker started by its own token: its heartbeat is no worker's."""
    clock, registries = three
    for registry in registries.values():
        made = registry.register_chunks(1)
        registry.start(made.token)
        clock.advance(LEASE + 1)
        assert registry.reap() == []
        assert registry.snapshot(made.token).state is ImportState.PROCESSING


def test_a_chunk_stopped_by_a_lost_sibling_says_its_worker_was_lost(
    three: tuple[Clock, Registries],
) -> None:
    clock, registries = three
    for registry in registries.values():
        made = registry.register_chunks(2)
        registry.start(made.chunks[0])
        clock.advance(LEASE + 1)
        reap(registry)
        stopped = registry.snapshot(made.chunks[1])
        assert stopped.abort_reason == f"chunk {made.chunks[0]} failed (its worker was lost)"
