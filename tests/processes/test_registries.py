"""Every registry the package ships keeps the same contract, for the endpoint and for workers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest

from flask_import_abort import (
    AbortOutcome,
    AbortRequest,
    ImportRegistry,
    ImportRun,
    ImportState,
    InMemoryImportRegistry,
)
from flask_import_abort.processes import (
    EndReason,
    InvalidTransition,
    UnknownImport,
    WorkerRegistry,
    run_import,
)
from flask_import_abort.processes.sql import SQLImportRegistry


def _running(registry: WorkerRegistry, total: int | None = None) -> str:
    token = registry.register(total=total)
    assert registry.start(token) is True
    return token


def _ended(registry: WorkerRegistry, state: ImportState) -> str:
    token = _running(registry)
    registry.finish(token, state)
    return token


def test_it_is_an_import_registry_and_a_worker_registry(worker_registry: WorkerRegistry) -> None:
    assert isinstance(worker_registry, ImportRegistry)
    assert isinstance(worker_registry, WorkerRegistry)


def test_registered_process_is_pending_with_an_unguessable_url_safe_token(
    worker_registry: WorkerRegistry,
) -> None:
    # SQLite's clock counts milliseconds: a registration may read as up to 1 ms before it.
    before = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    tokens = {worker_registry.register(total=10) for _ in range(20)}

    assert len(tokens) == 20
    for token in tokens:
        assert len(token) >= 43  # 256 random bits
        assert all(c.isalnum() or c in "-_" for c in token)
        snapshot = worker_registry.snapshot(token)
        assert snapshot.state is ImportState.PENDING
        assert not snapshot.abort_requested
        assert before <= snapshot.created_at <= datetime.now(timezone.utc)
        assert (snapshot.processed, snapshot.total) == (0, 10)
        assert snapshot.started_at is None
        assert snapshot.finished_at is None


def test_a_token_is_registered_once(worker_registry: WorkerRegistry) -> None:
    worker_registry.register(token="demo_1")

    with pytest.raises(ValueError, match="exists already"):
        worker_registry.register(token="demo_1")


@pytest.mark.parametrize(
    "token",
    ["2026/11/import-7", "nightly import", "", "tab\there", "line\nfeed", ".", "..", "a" * 257],
    ids=repr,
)
def test_a_token_the_endpoint_could_never_abort_is_refused_at_register(
    worker_registry: WorkerRegistry, token: str
) -> None:
    with pytest.raises(ValueError, match="The endpoint could never abort"):
        worker_registry.register(token=token)
    assert worker_registry.recent() == []


def test_a_token_the_endpoint_can_abort_is_registered_as_given(
    worker_registry: WorkerRegistry,
) -> None:
    for token in ("ezzPxcPRmJIlXYCyOTQNT9HMacA_10000", "2026-11.import:7", "a" * 256):
        assert worker_registry.register(token=token) == token
        assert worker_registry.abort(token) is AbortOutcome.REQUESTED


def test_unknown_token_is_not_found_and_unknown_to_the_worker_api(
    worker_registry: WorkerRegistry,
) -> None:
    assert worker_registry.abort("no_such_import") is AbortOutcome.NOT_FOUND
    for call in (
        lambda: worker_registry.start("no_such_import"),
        lambda: worker_registry.should_stop("no_such_import"),
        lambda: worker_registry.report_progress("no_such_import", 1),
        lambda: worker_registry.finish("no_such_import", ImportState.SUCCEEDED),
        lambda: worker_registry.snapshot("no_such_import"),
    ):
        with pytest.raises(UnknownImport):
            call()


def test_pending_process_is_aborted_at_once_and_never_starts(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register()

    assert worker_registry.abort(token) is AbortOutcome.REQUESTED
    snapshot = worker_registry.snapshot(token)
    assert snapshot.state is ImportState.ABORTED
    assert snapshot.abort_requested
    assert snapshot.finished_at is not None
    assert worker_registry.should_stop(token)
    assert worker_registry.start(token) is False
    assert worker_registry.abort(token) is AbortOutcome.ALREADY_REQUESTED
    assert worker_registry.snapshot(token) == snapshot


@pytest.mark.parametrize("state", [ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED])
def test_running_process_is_flagged_and_keeps_its_state_until_it_stops(
    worker_registry: WorkerRegistry, state: ImportState
) -> None:
    token = _running(worker_registry)
    if state is not ImportState.PROCESSING:
        worker_registry.set_state(token, state)
    assert not worker_registry.should_stop(token)

    assert worker_registry.abort(token) is AbortOutcome.REQUESTED
    assert worker_registry.snapshot(token).state is state
    assert worker_registry.should_stop(token)
    assert worker_registry.abort(token) is AbortOutcome.ALREADY_REQUESTED

    worker_registry.finish(token, ImportState.ABORTED)
    assert worker_registry.abort(token) is AbortOutcome.ALREADY_REQUESTED
    assert worker_registry.snapshot(token).state is ImportState.ABORTED


@pytest.mark.parametrize("state", [ImportState.SUCCEEDED, ImportState.FAILED])
def test_finished_process_is_finished_and_left_untouched(
    worker_registry: WorkerRegistry, state: ImportState
) -> None:
    token = _ended(worker_registry, state)
    before = worker_registry.snapshot(token)

    assert worker_registry.abort(token) is AbortOutcome.FINISHED
    assert worker_registry.snapshot(token) == before
    assert not worker_registry.snapshot(token).abort_requested
    assert worker_registry.should_stop(token)  # an ended process has nothing left to run


def test_recent_lists_the_last_registered_processes_newest_first(
    worker_registry: WorkerRegistry,
) -> None:
    assert worker_registry.recent() == []
    tokens = [worker_registry.register(total=n) for n in range(5)]
    worker_registry.abort(tokens[1])

    listed = worker_registry.recent(3)

    assert [snapshot.token for snapshot in listed] == tokens[:1:-1]
    assert listed == [worker_registry.snapshot(token) for token in tokens[:1:-1]]
    assert [s.token for s in worker_registry.recent()] == tokens[::-1]
    assert worker_registry.recent(0) == []


def test_the_life_cycle_is_recorded_with_its_times(worker_registry: WorkerRegistry) -> None:
    token = _running(worker_registry, total=300)
    started = worker_registry.snapshot(token).started_at
    for state in (ImportState.PAUSED, ImportState.PROCESSING, ImportState.BLOCKED):
        worker_registry.set_state(token, state)
        assert worker_registry.snapshot(token).state is state
    worker_registry.report_progress(token, 150)
    assert worker_registry.snapshot(token).percentage == 50
    worker_registry.finish(token, ImportState.SUCCEEDED)

    snapshot = worker_registry.snapshot(token)
    assert snapshot.state is ImportState.SUCCEEDED
    assert snapshot.started_at == started is not None
    assert snapshot.finished_at is not None
    assert snapshot.finished_at >= started
    assert snapshot.percentage == 100


def test_progress_is_recorded_with_its_total_while_running_only(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register()
    with pytest.raises(InvalidTransition):
        worker_registry.report_progress(token, 1)
    worker_registry.start(token)

    worker_registry.report_progress(token, 25, total=200)
    snapshot = worker_registry.snapshot(token)
    assert (snapshot.processed, snapshot.total, snapshot.percentage) == (25, 200, 12)

    worker_registry.report_progress(token, 50)
    assert worker_registry.snapshot(token).total == 200
    worker_registry.finish(token, ImportState.FAILED)
    with pytest.raises(InvalidTransition):
        worker_registry.report_progress(token, 60)
    assert worker_registry.snapshot(token).processed == 50


@pytest.mark.parametrize(
    ("at", "to"),
    [
        (ImportState.PENDING, ImportState.SUCCEEDED),
        (ImportState.PENDING, ImportState.PAUSED),
        (ImportState.PROCESSING, ImportState.PENDING),
        (ImportState.PROCESSING, ImportState.PROCESSING),
        (ImportState.SUCCEEDED, ImportState.PROCESSING),
        (ImportState.FAILED, ImportState.SUCCEEDED),
        (ImportState.ABORTED, ImportState.SUCCEEDED),
    ],
)
def test_moves_outside_the_life_cycle_are_refused_and_change_nothing(
    worker_registry: WorkerRegistry, at: ImportState, to: ImportState
) -> None:
    token = worker_registry.register()
    if at is not ImportState.PENDING:
        worker_registry.start(token)
    if at.is_final:
        worker_registry.finish(token, at)
    before = worker_registry.snapshot(token)

    with pytest.raises(InvalidTransition):
        worker_registry.set_state(token, to)
    assert worker_registry.snapshot(token) == before


def test_finish_takes_end_states_only(worker_registry: WorkerRegistry) -> None:
    token = _running(worker_registry)

    with pytest.raises(InvalidTransition):
        worker_registry.finish(token, ImportState.PAUSED)
    assert worker_registry.snapshot(token).state is ImportState.PROCESSING


def test_abort_of_one_process_leaves_the_others_alone(worker_registry: WorkerRegistry) -> None:
    tokens = [_running(worker_registry) for _ in range(3)]

    worker_registry.abort(tokens[1])

    assert [worker_registry.should_stop(token) for token in tokens] == [False, True, False]


def test_threads_aborting_one_process_at_once_request_it_once(
    worker_registry: WorkerRegistry,
) -> None:
    token = _running(worker_registry)
    barrier = threading.Barrier(16)
    outcomes: list[AbortOutcome] = []

    def abort() -> None:
        barrier.wait()
        outcomes.append(worker_registry.abort(token))

    threads = [threading.Thread(target=abort) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(outcomes) == {AbortOutcome.REQUESTED: 1, AbortOutcome.ALREADY_REQUESTED: 15}


# The worker helper, on every registry.


def test_import_run_writes_every_batch_reports_progress_and_succeeds(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register(total=10)
    seen: list[int] = []

    with ImportRun(worker_registry, token) as run:
        assert worker_registry.snapshot(token).state is ImportState.PROCESSING
        for _batch in run.batches([[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]]):
            seen.append(worker_registry.snapshot(token).processed)

    assert seen == [0, 3, 6]
    assert run.state is ImportState.SUCCEEDED
    snapshot = worker_registry.snapshot(token)
    assert (snapshot.state, snapshot.processed, snapshot.percentage) == (
        ImportState.SUCCEEDED,
        10,
        100,
    )


def test_import_run_stops_before_the_next_batch_once_aborted_and_keeps_what_it_wrote(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register(total=50)
    written: list[list[int]] = []

    with ImportRun(worker_registry, token) as run:
        for batch in run.batches([[n] * 10 for n in range(5)]):
            written.append(batch)
            if len(written) == 2:
                assert worker_registry.abort(token) is AbortOutcome.REQUESTED

    assert len(written) == 2  # the batch in progress finished; no other began
    assert run.state is ImportState.ABORTED
    snapshot = worker_registry.snapshot(token)
    assert (snapshot.state, snapshot.processed, snapshot.percentage) == (
        ImportState.ABORTED,
        20,
        40,
    )


def test_import_run_records_failed_when_the_import_raises_and_lets_the_error_through(
    worker_registry: WorkerRegistry,
) -> None:
    run = ImportRun(worker_registry, worker_registry.register())

    def import_batches() -> None:
        with run:
            for batch in run.batches([[1], [0]]):
                1 / batch[0]

    with pytest.raises(ZeroDivisionError):
        import_batches()

    assert run.state is ImportState.FAILED
    snapshot = worker_registry.snapshot(run.token)
    assert (snapshot.state, snapshot.processed) == (ImportState.FAILED, 1)


def test_import_run_of_a_process_aborted_before_it_began_runs_no_batch(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register()
    worker_registry.abort(token)
    before = worker_registry.snapshot(token)

    state = run_import(worker_registry, token, [[1], [2]], pytest.fail)

    assert state is ImportState.ABORTED
    assert worker_registry.snapshot(token) == before


def test_run_import_is_the_loop_in_one_line(worker_registry: WorkerRegistry) -> None:
    token = worker_registry.register(total=4)
    written: list[str] = []

    assert run_import(worker_registry, token, ["ab", "cd"], written.append) is (
        ImportState.SUCCEEDED
    )
    assert written == ["ab", "cd"]
    assert worker_registry.snapshot(token).processed == 4


@pytest.mark.parametrize("state", [ImportState.PROCESSING, ImportState.PAUSED, ImportState.FAILED])
def test_start_moves_pending_processes_only(
    worker_registry: WorkerRegistry, state: ImportState
) -> None:
    token = _running(worker_registry)
    if state is not ImportState.PROCESSING:
        worker_registry.set_state(token, state)
    before = worker_registry.snapshot(token)

    with pytest.raises(InvalidTransition):
        worker_registry.start(token)
    assert worker_registry.snapshot(token) == before


@pytest.mark.parametrize("lease", [float("inf"), float("nan"), 1e14, 0.1])
@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_a_lease_no_clock_can_count_is_refused_at_construction_naming_it(
    kind: str, lease: float
) -> None:
    make = InMemoryImportRegistry if kind == "memory" else partial(SQLImportRegistry, "sqlite://")
    with pytest.raises(ValueError, match="lease"):
        make(lease=lease)


def test_an_abort_may_name_its_end_reason_which_the_end_keeps(
    worker_registry: WorkerRegistry,
) -> None:
    request = AbortRequest(actor="shutdown", end_reason=EndReason.SHUTDOWN)
    running, pending = _running(worker_registry), worker_registry.register()

    for token in (running, pending):
        assert worker_registry.abort(token, request) is AbortOutcome.REQUESTED
    assert worker_registry.finish(running, ImportState.SUCCEEDED) is ImportState.ABORTED

    for token in (running, pending):
        ended = worker_registry.snapshot(token)
        assert (ended.state, ended.aborted_by, ended.end_reason) == (
            ImportState.ABORTED,
            "shutdown",
            EndReason.SHUTDOWN,
        )
        assert not ended.forced
