"""Parallel imports on every registry: one token over many chunks, each run by a worker of its
own; its progress summed when read, its end written once by whichever chunk ends last, and
one abort that stops every chunk."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import update

from flask_import_abort.processes import (
    AbortOutcome,
    AbortRequest,
    EndReason,
    ImportRun,
    ImportState,
    InvalidTransition,
    ThreadChunks,
    WorkerRegistry,
    chunk_ended,
    process_ended,
    reap,
    split,
)
from flask_import_abort.processes.lifecycle import parallel_end
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import require_postgres, sql_registry
from ..helpers import LEASE, Clock
from .test_upgrades import CURRENT


@pytest.fixture
def ended() -> Iterator[dict[str, list[Any]]]:
    """The ``process_ended`` and ``chunk_ended`` signals sent while the test runs."""
    seen: dict[str, list[Any]] = {"process": [], "chunk": []}

    def process(sender: object, **details: Any) -> None:
        seen["process"].append((details["token"], details["state"]))

    def chunk(sender: object, **details: Any) -> None:
        seen["chunk"].append((details["token"], details["state"]))

    process_ended.connect(process)
    chunk_ended.connect(chunk)
    yield seen
    process_ended.disconnect(process)
    chunk_ended.disconnect(chunk)


def _started(registry: WorkerRegistry, count: int = 3, **options: Any) -> tuple[str, list[str]]:
    parallel = registry.register_chunks(count, **options)  # type: ignore[attr-defined]
    return parallel.token, list(parallel.chunks)


# Registration, and what a parallel import reads as.


def test_a_parallel_import_is_one_pending_process_whose_chunks_are_named_after_it(
    worker_registry: WorkerRegistry,
) -> None:
    parallel = worker_registry.register_chunks(3, token="catalog")  # type: ignore[attr-defined]

    assert parallel.token == "catalog"
    assert parallel.chunks == ("catalog-1", "catalog-2", "catalog-3")
    parent = worker_registry.snapshot("catalog")
    assert (parent.state, parent.chunks, parent.parent) == (ImportState.PENDING, 3, None)
    chunks = worker_registry.chunks("catalog")  # type: ignore[attr-defined]
    assert [(c.token, c.parent, c.chunk_index) for c in chunks] == [
        ("catalog-1", "catalog", 1),
        ("catalog-2", "catalog", 2),
        ("catalog-3", "catalog", 3),
    ]
    assert all(chunk.state is ImportState.PENDING for chunk in chunks)


def test_lists_and_counts_name_the_import_and_leave_its_chunks_out(
    worker_registry: WorkerRegistry,
) -> None:
    alone = worker_registry.register()
    parent, _ = _started(worker_registry, 4)

    assert [snapshot.token for snapshot in worker_registry.recent(10)] == [parent, alone]
    assert worker_registry.count_by_state() == {ImportState.PENDING: 2}
    assert worker_registry.chunks(alone) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("count", "options", "says"),
    [
        (0, {}, "1 to 10000 chunks"),
        (10_001, {}, "1 to 10000 chunks"),
        (True, {}, "1 to 10000 chunks"),
        (2, {"totals": [10]}, "2 chunks need 2 totals"),
        (2, {"token": "t" * 255}, "at most 256"),
    ],
)
def test_a_parallel_import_that_makes_no_sense_is_refused_and_nothing_is_recorded(
    worker_registry: WorkerRegistry, count: Any, options: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        worker_registry.register_chunks(count, **options)  # type: ignore[attr-defined]
    assert worker_registry.recent(10) == []


def test_its_progress_is_summed_over_its_chunks_when_read(worker_registry: WorkerRegistry) -> None:
    parent, chunks = _started(worker_registry, 3, totals=[100, 100, 200])
    for chunk, written in zip(chunks, [100, 50, 10], strict=True):
        assert worker_registry.start(chunk)
        worker_registry.report_progress(chunk, written)

    snapshot = worker_registry.snapshot(parent)

    assert snapshot.state is ImportState.PROCESSING
    assert (snapshot.processed, snapshot.total, snapshot.percentage) == (160, 400, 40)
    listed = worker_registry.recent(1)[0]
    assert (listed.processed, listed.total) == (160, 400)


def test_a_chunk_whose_total_is_unknown_leaves_the_imports_total_as_registered(
    worker_registry: WorkerRegistry,
) -> None:
    unknown, unknown_chunks = _started(worker_registry, 2, totals=[100, None])
    known, known_chunks = _started(worker_registry, 2, totals=[100, None], total=400)
    for chunk in (*unknown_chunks, *known_chunks):
        worker_registry.start(chunk)
        worker_registry.report_progress(chunk, 40)

    assert worker_registry.snapshot(unknown).total is None
    assert worker_registry.snapshot(unknown).percentage == 0
    assert worker_registry.snapshot(known).percentage == 20


def test_chunk_heartbeats_and_progress_never_write_the_imports_row(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    parent, chunks = _started(clocked_registry, 2)
    for chunk in chunks:
        clocked_registry.start(chunk)
    before = clocked_registry.snapshot(parent)

    clock.advance(5)
    for chunk in chunks:
        clocked_registry.heartbeat(chunk)
        clocked_registry.report_progress(chunk, 7, total=10)
        assert not clocked_registry.should_stop(chunk)

    after = clocked_registry.snapshot(parent)
    assert (after.heartbeat_at, after.started_at) == (before.heartbeat_at, before.started_at)
    assert after.heartbeat_at is None
    assert not after.lost
    assert after.processed == 14


# Its state follows from its chunks.


def test_it_is_processing_from_its_first_chunks_start_and_succeeds_with_its_last_chunk(
    worker_registry: WorkerRegistry, ended: dict[str, list[Any]]
) -> None:
    parent, chunks = _started(worker_registry, 3)
    assert worker_registry.start(chunks[0])
    assert worker_registry.snapshot(parent).state is ImportState.PROCESSING

    for chunk in chunks[1:]:
        worker_registry.start(chunk)
    for chunk in chunks[:-1]:
        assert worker_registry.finish(chunk, ImportState.SUCCEEDED) is ImportState.SUCCEEDED
        assert worker_registry.snapshot(parent).state is ImportState.PROCESSING
    worker_registry.finish(chunks[-1], ImportState.SUCCEEDED)

    snapshot = worker_registry.snapshot(parent)
    assert snapshot.state is ImportState.SUCCEEDED
    assert snapshot.finished_at is not None
    assert snapshot.percentage == 100
    assert ended["process"] == [(parent, ImportState.SUCCEEDED)]


def test_the_first_failure_stops_the_other_chunks_and_fails_the_import_naming_the_chunk(
    worker_registry: WorkerRegistry, ended: dict[str, list[Any]]
) -> None:
    parent, chunks = _started(worker_registry, 3)
    worker_registry.start(chunks[0])
    worker_registry.start(chunks[1])

    worker_registry.finish(chunks[1], ImportState.FAILED)

    assert worker_registry.should_stop(chunks[0])  # running: stops after its batch
    queued = worker_registry.snapshot(chunks[2])  # never started: never will
    assert (queued.state, queued.end_reason) == (ImportState.ABORTED, EndReason.CHUNK_FAILED)
    assert not worker_registry.start(chunks[2])
    assert worker_registry.snapshot(parent).state is ImportState.PROCESSING
    assert worker_registry.finish(chunks[0], ImportState.SUCCEEDED) is ImportState.ABORTED

    snapshot = worker_registry.snapshot(parent)
    assert snapshot.state is ImportState.FAILED
    assert snapshot.failed_chunk == chunks[1]
    assert not snapshot.abort_requested
    assert ended["process"] == [(parent, ImportState.FAILED)]


def test_with_continue_on_error_the_other_chunks_go_on_and_the_import_still_fails(
    worker_registry: WorkerRegistry,
) -> None:
    parent, chunks = _started(worker_registry, 3, continue_on_error=True)
    for chunk in chunks:
        worker_registry.start(chunk)

    worker_registry.finish(chunks[0], ImportState.FAILED)

    assert not worker_registry.should_stop(chunks[1])
    for chunk in chunks[1:]:
        assert worker_registry.finish(chunk, ImportState.SUCCEEDED) is ImportState.SUCCEEDED
    snapshot = worker_registry.snapshot(parent)
    assert (snapshot.state, snapshot.failed_chunk) == (ImportState.FAILED, chunks[0])
    assert snapshot.continue_on_error


# One abort reaches every chunk.


def test_one_abort_stops_the_running_chunks_and_ends_the_queued_ones_at_once(
    worker_registry: WorkerRegistry, ended: dict[str, list[Any]]
) -> None:
    parent, chunks = _started(worker_registry, 3)
    worker_registry.start(chunks[0])
    worker_registry.start(chunks[1])
    worker_registry.finish(chunks[1], ImportState.SUCCEEDED)

    request = AbortRequest(actor="ops", reason="wrong file")
    assert worker_registry.abort(parent, request) is AbortOutcome.REQUESTED

    assert worker_registry.should_stop(chunks[0])
    queued = worker_registry.snapshot(chunks[2])
    assert (queued.state, queued.aborted_by, queued.abort_reason) == (
        ImportState.ABORTED,
        "ops",
        "wrong file",
    )
    assert not worker_registry.start(chunks[2])  # a late delivery runs nothing
    assert worker_registry.snapshot(parent).state is ImportState.PROCESSING
    worker_registry.finish(chunks[0], ImportState.ABORTED)
    snapshot = worker_registry.snapshot(parent)
    assert (snapshot.state, snapshot.aborted_by) == (ImportState.ABORTED, "ops")
    assert ended["process"] == [(parent, ImportState.ABORTED)]


def test_an_abort_wins_over_a_chunk_that_ends_after_it_whatever_its_end(
    worker_registry: WorkerRegistry,
) -> None:
    parent, chunks = _started(worker_registry, 2)
    for chunk in chunks:
        worker_registry.start(chunk)
    worker_registry.abort(parent)

    assert worker_registry.finish(chunks[0], ImportState.FAILED) is ImportState.ABORTED
    assert worker_registry.finish(chunks[1], ImportState.SUCCEEDED) is ImportState.ABORTED
    assert worker_registry.snapshot(parent).state is ImportState.ABORTED


def test_an_abort_whose_chunks_had_all_ended_or_not_begun_ends_the_import_at_once(
    worker_registry: WorkerRegistry,
) -> None:
    queued, _ = _started(worker_registry, 2)
    half, chunks = _started(worker_registry, 2)
    worker_registry.start(chunks[0])
    worker_registry.finish(chunks[0], ImportState.SUCCEEDED)

    for parent in (queued, half):
        assert worker_registry.abort(parent) is AbortOutcome.REQUESTED
        assert worker_registry.snapshot(parent).state is ImportState.ABORTED


def test_an_abort_of_a_chunks_own_token_is_an_abort_of_its_import(
    worker_registry: WorkerRegistry,
) -> None:
    parent, chunks = _started(worker_registry, 2)
    worker_registry.start(chunks[0])

    assert worker_registry.abort(chunks[1], AbortRequest(actor="celery")) is AbortOutcome.REQUESTED
    assert worker_registry.snapshot(parent).aborted_by == "celery"
    assert worker_registry.should_stop(chunks[0])
    assert worker_registry.abort(chunks[0]) is AbortOutcome.ALREADY_REQUESTED

    _, done_chunks = _started(worker_registry, 1)
    worker_registry.start(done_chunks[0])
    worker_registry.finish(done_chunks[0], ImportState.SUCCEEDED)
    assert worker_registry.abort(done_chunks[0]) is AbortOutcome.FINISHED


def test_an_import_run_of_a_chunk_stops_after_its_batch_when_the_import_is_aborted(
    worker_registry: WorkerRegistry,
) -> None:
    parent, chunks = _started(worker_registry, 2)
    written: list[int] = []

    with ImportRun(worker_registry, chunks[0]) as run:
        for batch in run.batches([[1, 2], [3, 4], [5, 6]]):
            written += batch
            worker_registry.abort(parent)

    assert written == [1, 2]
    assert run.state is ImportState.ABORTED
    with ImportRun(worker_registry, chunks[1]) as late:
        for _ in late.batches([[1]]):
            pytest.fail("a chunk of an aborted import ran a batch")
    assert late.state is ImportState.ABORTED
    assert worker_registry.snapshot(parent).state is ImportState.ABORTED


def test_the_last_batch_of_the_last_chunk_aborted_ends_the_import_aborted(
    worker_registry: WorkerRegistry,
) -> None:
    """The finish race, chunk by chunk: the abort lands while the last chunk writes its last
    batch, and the 200 it got is never a lie."""
    for _ in range(5):
        parent, chunks = _started(worker_registry, 2)
        with ImportRun(worker_registry, chunks[0]) as first:
            for _batch in first.batches([[1]]):
                pass
        with ImportRun(worker_registry, chunks[1]) as last:
            for _batch in last.batches([[1]]):
                assert worker_registry.abort(parent) is AbortOutcome.REQUESTED
        assert (first.state, last.state) == (ImportState.SUCCEEDED, ImportState.ABORTED)
        assert worker_registry.snapshot(parent).state is ImportState.ABORTED


# Liveness per chunk.


def test_a_lost_chunk_is_reaped_failed_its_siblings_stop_and_the_import_fails(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    parent, chunks = _started(clocked_registry, 3)
    clocked_registry.start(chunks[0])
    clocked_registry.start(chunks[1])
    clock.advance(LEASE - 10)
    clocked_registry.heartbeat(chunks[1])
    clock.advance(11)  # chunks[0] is lost; chunks[1] beat 11 s ago

    reaped = reap(clocked_registry)

    assert [(s.token, s.state, s.end_reason) for s in reaped] == [
        (chunks[0], ImportState.FAILED, EndReason.WORKER_LOST)
    ]
    assert clocked_registry.should_stop(chunks[1])
    assert clocked_registry.snapshot(chunks[2]).state is ImportState.ABORTED
    clocked_registry.finish(chunks[1], ImportState.ABORTED)
    snapshot = clocked_registry.snapshot(parent)
    assert (snapshot.state, snapshot.end_reason, snapshot.failed_chunk) == (
        ImportState.FAILED,
        EndReason.WORKER_LOST,
        chunks[0],
    )


def test_an_import_with_continue_on_error_goes_on_past_a_lost_chunk(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    parent, chunks = _started(clocked_registry, 2, continue_on_error=True)
    clocked_registry.start(chunks[0])
    clock.advance(LEASE + 1)
    clocked_registry.start(chunks[1])

    reap(clocked_registry)

    assert not clocked_registry.should_stop(chunks[1])
    clocked_registry.finish(chunks[1], ImportState.SUCCEEDED)
    assert clocked_registry.snapshot(parent).state is ImportState.FAILED


def test_a_stop_deadline_forces_each_unheeding_chunk_once_and_the_import_once(
    clocked_registry: WorkerRegistry, clock: Clock, ended: dict[str, list[Any]]
) -> None:
    parent, chunks = _started(clocked_registry, 3)
    for chunk in chunks[:2]:
        clocked_registry.start(chunk)
    clocked_registry.abort(parent, AbortRequest(stop_deadline=10))
    forced: list[str] = []

    clock.advance(5)
    assert reap(clocked_registry, force_stop=forced.append) == []
    clock.advance(10)
    reaped = reap(clocked_registry, force_stop=forced.append)

    assert sorted(forced) == chunks[:2]  # each chunk's worker; the import has none
    assert {(s.token, s.end_reason) for s in reaped} == {
        (chunks[0], EndReason.STOP_DEADLINE),
        (chunks[1], EndReason.STOP_DEADLINE),
        (parent, EndReason.STOP_DEADLINE),
    }
    snapshot = clocked_registry.snapshot(parent)
    assert (snapshot.state, snapshot.forced) == (ImportState.ABORTED, True)
    assert ended["process"] == [(parent, ImportState.ABORTED)]
    assert sorted(ended["chunk"]) == [
        (chunks[0], ImportState.ABORTED),
        (chunks[1], ImportState.ABORTED),
    ]
    assert reap(clocked_registry, force_stop=forced.append) == []


def test_a_chunk_refuses_to_start_once_its_import_has_ended(
    worker_registry: WorkerRegistry,
) -> None:
    _, chunks = _started(worker_registry, 2)
    worker_registry.start(chunks[0])
    worker_registry.finish(chunks[0], ImportState.FAILED)

    assert not worker_registry.start(chunks[1])
    with pytest.raises(InvalidTransition):
        worker_registry.report_progress(chunks[1], 1)


# The SQL registry: its end written once, on whichever machine.


def _finishing(registry: WorkerRegistry, chunk: str) -> Callable[[], object]:
    return functools.partial(registry.finish, chunk, ImportState.SUCCEEDED)


def _record(answers: list[Any], call: Callable[[str], object], token: str) -> None:
    answers.append(call(token))


def _at_once(calls: list[Callable[[], object]]) -> None:
    """Make ``calls``, each in a thread of its own, released together."""
    barrier = threading.Barrier(len(calls))

    def call(made: Callable[[], object]) -> None:
        barrier.wait()
        made()

    threads = [threading.Thread(target=call, args=(made,)) for made in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def test_an_import_whose_last_chunk_died_before_ending_it_is_ended_by_the_next_reap(
    database_url: str,
) -> None:
    with sql_registry(database_url) as registry:
        parent, chunks = _started(registry, 2)
        for chunk in chunks:
            registry.start(chunk)
        # Both chunks' ends were committed; the worker died before ending the import.
        with registry.engine.begin() as connection:
            connection.execute(
                update(registry.table)
                .where(registry.table.c.parent_token == parent)
                .values(state="succeeded")
            )
        assert registry.snapshot(parent).state is ImportState.PROCESSING

        reaped = reap(registry)

        assert [(s.token, s.state) for s in reaped] == [(parent, ImportState.SUCCEEDED)]
        assert reap(registry) == []


def test_chunks_ending_at_once_on_postgresql_end_their_import_exactly_once(
    ended: dict[str, list[Any]],
) -> None:
    with sql_registry(require_postgres()) as registry:
        for _ in range(10):
            parent, chunks = _started(registry, 8)
            for chunk in chunks:
                registry.start(chunk)
            _at_once([_finishing(registry, chunk) for chunk in chunks])
            assert registry.snapshot(parent).state is ImportState.SUCCEEDED
        assert len(ended["process"]) == 10
        assert len({token for token, _ in ended["process"]}) == 10


def test_aborts_and_chunk_ends_racing_on_postgresql_never_end_an_answered_import_otherwise() -> (
    None
):
    with sql_registry(require_postgres()) as registry:
        for _ in range(10):
            parent, chunks = _started(registry, 4)
            for chunk in chunks:
                registry.start(chunk)
            answers: list[AbortOutcome] = []
            aborting = functools.partial(_record, answers, registry.abort, parent)
            _at_once([*(_finishing(registry, chunk) for chunk in chunks), aborting])
            state = registry.snapshot(parent).state
            if answers == [AbortOutcome.REQUESTED]:
                assert state is ImportState.ABORTED
            else:
                assert (answers, state) == ([AbortOutcome.FINISHED], ImportState.SUCCEEDED)


def test_an_older_table_is_upgraded_with_its_processes_and_then_takes_parallel_imports(
    database_url: str,
) -> None:
    with sql_registry(database_url) as registry:
        single = registry.register()
        registry.start(single)
        with registry.engine.begin() as connection:
            registry.outbox_table.drop(connection)
            later = ("parent_token", "chunk_index", "chunk_count", "continue_on_error")
            for column in (*later, "metadata", "failed_count"):
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql(
                        f"DROP INDEX IF EXISTS ix_{registry.table.name}_parent_token"
                    )
                connection.exec_driver_sql(
                    f"ALTER TABLE {registry.table.name} DROP COLUMN {column}"
                )
            connection.execute(registry.version_table.update().values(version=5))
        assert f"older than the {CURRENT}" in (registry.schema_problem() or "")

        assert SQLImportRegistry.upgrade_table(registry) == (5, CURRENT)

        assert registry.snapshot(single).state is ImportState.PROCESSING
        parent, chunks = _started(registry, 2)
        registry.start(chunks[0])
        assert registry.snapshot(parent).state is ImportState.PROCESSING


# Threads: a bounded pool of this process.


def test_split_makes_consecutive_slices_as_even_as_can_be() -> None:
    assert split(list(range(10)), 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert split([1, 2], 4) == [[1], [2]]
    assert split([], 4) == [[]]
    with pytest.raises(ValueError, match="at least 1"):
        split([1], 0)


def test_chunks_in_threads_run_at_most_as_many_at_once_as_the_pool_has(
    worker_registry: WorkerRegistry,
) -> None:
    running, most = [0], [0]
    lock = threading.Lock()

    def work(run: ImportRun, part: Sequence[int]) -> None:
        for _batch in run.batches([part]):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    pool = ThreadChunks(worker_registry, 2)
    threaded = pool.submit(work, [(part,) for part in split(list(range(60)), 6)])
    assert threaded.wait(10)
    pool.shutdown()

    assert most[0] == 2
    snapshot = worker_registry.snapshot(threaded.token)
    assert (snapshot.state, snapshot.processed) == (ImportState.SUCCEEDED, 60)


def test_one_abort_stops_chunks_in_threads_and_the_queued_ones_never_run(
    worker_registry: WorkerRegistry,
) -> None:
    began: list[str] = []
    first_batch = threading.Event()

    def work(run: ImportRun, count: int) -> None:
        for _batch in run.batches([[1]] * count):
            if run.processed == 0:
                began.append(run.token)
            first_batch.set()
            time.sleep(0.05)

    pool = ThreadChunks(worker_registry, 2)
    threaded = pool.submit(work, [(100,)] * 5)
    assert first_batch.wait(5)
    assert worker_registry.abort(threaded.token) is AbortOutcome.REQUESTED
    assert threaded.wait(10)
    pool.shutdown()

    assert set(began) <= set(threaded.chunks[:2])  # the queued three ran nothing
    queued = worker_registry.chunks(threaded.token)[2:]  # type: ignore[attr-defined]
    assert [chunk.started_at for chunk in queued] == [None] * 3
    assert [future.result() for future in threaded.futures] == [ImportState.ABORTED] * 5
    assert worker_registry.snapshot(threaded.token).state is ImportState.ABORTED


def test_a_chunk_that_raises_in_a_thread_fails_its_import_and_stops_the_others(
    worker_registry: WorkerRegistry,
) -> None:
    def work(run: ImportRun, broken: bool) -> None:
        for _batch in run.batches([[1]] * 50):
            if broken:
                raise RuntimeError("a broken record")
            time.sleep(0.02)

    pool = ThreadChunks(worker_registry, 3)
    threaded = pool.submit(work, [(False,), (True,), (False,)])
    assert threaded.wait(10)
    pool.shutdown()

    snapshot = worker_registry.snapshot(threaded.token)
    assert (snapshot.state, snapshot.failed_chunk) == (ImportState.FAILED, threaded.chunks[1])
    assert snapshot.processed < 100  # the others stopped early


def test_a_reap_that_writes_a_normal_end_first_logs_no_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sql_registry(require_postgres()) as registry:
        parent, chunks = _started(registry, 2)
        for chunk in chunks:
            registry.start(chunk)
        # the last chunk's end is committed, and its import's end not yet written: a reap
        # comes in between (or the chunk's worker died right there)
        monkeypatch.setattr(registry, "_chunk_ended", lambda *arguments: None)
        for chunk in chunks:
            registry.finish(chunk, ImportState.SUCCEEDED)
        with caplog.at_level(logging.INFO, "flask_import_abort"):
            reaped = reap(registry)

    assert [(s.token, s.state) for s in reaped] == [(parent, ImportState.SUCCEEDED)]
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "last chunk" in r.getMessage()]
    assert [level for level, _ in said] == [logging.INFO]


def test_a_reap_that_ends_an_import_for_a_lost_chunk_warns(
    clocked_registry: WorkerRegistry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    _, chunks = _started(clocked_registry, 1)
    clocked_registry.start(chunks[0])
    clock.advance(LEASE + 1)

    with caplog.at_level(logging.INFO, "flask_import_abort"):
        reap(clocked_registry)

    said = [(r.levelno, r.getMessage()) for r in caplog.records if "last chunk" in r.getMessage()]
    assert [level for level, _ in said] == [logging.WARNING]
    assert "lost" in said[0][1]


_S, _F, _A, _P = (
    ImportState.SUCCEEDED,
    ImportState.FAILED,
    ImportState.ABORTED,
    ImportState.PROCESSING,
)
_LOST, _DEADLINE = EndReason.WORKER_LOST, EndReason.STOP_DEADLINE


@pytest.mark.parametrize(
    ("chunks", "abort_requested", "end_reason", "expected"),
    [
        ([(_S, None), (_P, None)], False, None, None),  # a chunk still runs
        ([(_S, None), (_S, None)], False, None, (_S, None)),
        ([(_S, None), (_A, None)], False, None, (_A, None)),
        ([(_A, None), (_F, None)], False, None, (_F, None)),  # a failure outweighs an abort
        ([(_F, _LOST), (_S, None)], False, None, (_F, _LOST)),
        ([(_F, _LOST), (_A, None)], True, None, (_A, None)),  # its own abort counts first
        ([(_A, _DEADLINE), (_S, None)], True, None, (_A, _DEADLINE)),  # forced past the deadline
        ([(_A, None), (_A, None)], True, EndReason.CHUNK_FAILED, (_A, EndReason.CHUNK_FAILED)),
    ],
)
def test_how_a_parallel_import_ends_is_one_rule_of_its_chunks_ends(
    chunks: list[tuple[ImportState, EndReason | None]],
    abort_requested: bool,
    end_reason: EndReason | None,
    expected: tuple[ImportState, EndReason | None] | None,
) -> None:
    """The rule every registry ends a parallel import by, as the process layer writes it."""
    assert parallel_end(chunks, abort_requested=abort_requested, end_reason=end_reason) == expected


def test_a_refused_chunk_start_leaves_its_import_still_to_start(
    worker_registry: WorkerRegistry,
) -> None:
    """A chunk moved to processing by hand (its import still pending) is refused a start, and
    the refusal starts nothing: the stateful test's finding, on every registry."""
    made = worker_registry.register_chunks(2)  # type: ignore[attr-defined]
    worker_registry.set_state(made.chunks[0], ImportState.PROCESSING)

    with pytest.raises(InvalidTransition):
        worker_registry.start(made.chunks[0])

    parent = worker_registry.snapshot(made.token)
    assert (parent.state, parent.started_at) == (ImportState.PENDING, None)
