"""Liveness on every registry: heartbeats, lost processes, reaping, the finish race, deadlines."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import (
    AbortOutcome,
    AbortRequest,
    ImportAbort,
    ImportRun,
    ImportState,
    InMemoryImportRegistry,
    reaper,
)
from flask_import_abort.operators import reap_app
from flask_import_abort.processes import EndReason, InvalidTransition, WorkerRegistry, process_ended
from flask_import_abort.processes import reap as processes_reap
from flask_import_abort.processes.lifecycle import ProcessSnapshot, reaped_end
from flask_import_abort.processes.sql import SQLImportRegistry

from ..helpers import AUTH, LEASE, SECRET, Clock, SpyRegistry, abort_url


def _running(registry: WorkerRegistry) -> str:
    token = registry.register()
    assert registry.start(token)
    return token


def _lost(registry: WorkerRegistry, clock: Clock) -> str:
    token = _running(registry)
    clock.advance(LEASE + 1)
    return token


# Heartbeats, and what a lost process is.


@pytest.mark.parametrize(
    "call",
    [
        lambda registry, token: registry.should_stop(token),
        lambda registry, token: registry.heartbeat(token),
        lambda registry, token: registry.report_progress(token, 5),
        lambda registry, token: registry.set_state(token, ImportState.PAUSED),
    ],
    ids=["should_stop", "heartbeat", "report_progress", "set_state"],
)
def test_every_call_of_a_running_processs_worker_records_a_heartbeat(
    clocked_registry: WorkerRegistry, clock: Clock, call: Any
) -> None:
    token = _running(clocked_registry)
    assert clocked_registry.snapshot(token).heartbeat_at == clock.now  # start beats too
    clock.advance(LEASE - 1)

    call(clocked_registry, token)
    clock.advance(LEASE - 1)

    snapshot = clocked_registry.snapshot(token)
    assert snapshot.heartbeat_at == clock.now - timedelta(seconds=LEASE - 1)
    assert not snapshot.lost


def test_a_running_process_whose_heartbeat_is_older_than_the_lease_is_lost(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    running, paused = _running(clocked_registry), _running(clocked_registry)
    clocked_registry.set_state(paused, ImportState.PAUSED)
    pending = clocked_registry.register()
    clock.advance(LEASE)
    assert not clocked_registry.snapshot(running).lost  # at the lease, not yet

    clock.advance(1)

    assert clocked_registry.snapshot(running).lost
    assert clocked_registry.snapshot(paused).lost
    assert not clocked_registry.snapshot(pending).lost  # no worker has it yet
    assert {s.token: s.lost for s in clocked_registry.recent()} == {
        running: True,
        paused: True,
        pending: False,
    }


def test_a_lost_process_that_beats_again_is_no_longer_lost(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    token = _lost(clocked_registry, clock)

    assert clocked_registry.should_stop(token) is False

    assert not clocked_registry.snapshot(token).lost
    assert clocked_registry.reap() == []


# Aborting a lost process.


def test_aborting_a_lost_process_ends_it_aborted_at_once_without_its_worker(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    token = _lost(clocked_registry, clock)

    assert clocked_registry.abort(token) is AbortOutcome.REQUESTED

    snapshot = clocked_registry.snapshot(token)
    assert (snapshot.state, snapshot.end_reason) == (ImportState.ABORTED, EndReason.WORKER_LOST)
    assert snapshot.finished_at == clock.now
    assert not snapshot.lost
    assert clocked_registry.abort(token) is AbortOutcome.ALREADY_REQUESTED
    assert clocked_registry.reap() == []


def test_a_process_that_ended_succeeded_or_failed_is_409_whatever_else_happened(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    succeeded, reaped = _running(clocked_registry), _running(clocked_registry)
    clocked_registry.finish(succeeded, ImportState.SUCCEEDED)
    clock.advance(LEASE + 1)
    [ended] = clocked_registry.reap()

    assert ended.token == reaped
    for token in (succeeded, reaped):
        assert clocked_registry.abort(token) is AbortOutcome.FINISHED
        assert not clocked_registry.snapshot(token).abort_requested


# Reaping.


def test_reap_ends_each_lost_process_failed_or_aborted_once_and_leaves_the_living_alone(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    lost, lost_after_abort = _running(clocked_registry), _running(clocked_registry)
    assert clocked_registry.abort(lost_after_abort) is AbortOutcome.REQUESTED
    clock.advance(LEASE / 2)
    alive, pending = _running(clocked_registry), clocked_registry.register()
    clock.advance(LEASE / 2 + 1)

    listed = clocked_registry.reap(dry_run=True)
    assert {s.token for s in listed} == {lost, lost_after_abort}
    assert clocked_registry.snapshot(lost).state is ImportState.PROCESSING  # nothing changed
    ended = clocked_registry.reap()

    assert {s.token: (s.state, s.end_reason) for s in ended} == {
        lost: (ImportState.FAILED, EndReason.WORKER_LOST),
        lost_after_abort: (ImportState.ABORTED, EndReason.WORKER_LOST),
    }
    assert all(s.finished_at == clock.now for s in ended)
    assert clocked_registry.snapshot(alive).state is ImportState.PROCESSING
    assert clocked_registry.snapshot(pending).state is ImportState.PENDING
    assert clocked_registry.reap() == []


def test_a_worker_that_comes_back_after_being_reaped_is_told_to_stop_and_moves_nothing(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    token = _lost(clocked_registry, clock)
    clocked_registry.reap()
    ended = clocked_registry.snapshot(token)

    assert clocked_registry.should_stop(token) is True
    assert clocked_registry.heartbeat(token) is True
    for late in (
        lambda: clocked_registry.report_progress(token, 10),
        lambda: clocked_registry.finish(token, ImportState.SUCCEEDED),
        lambda: clocked_registry.set_state(token, ImportState.PROCESSING),
    ):
        with pytest.raises(InvalidTransition):
            late()
    assert clocked_registry.snapshot(token) == ended


def test_an_import_run_whose_process_was_reaped_runs_no_further_batch(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    token = clocked_registry.register()
    written: list[int] = []
    with ImportRun(clocked_registry, token) as run:
        for batch in run.batches([[1], [2], [3]]):
            written += batch
            clock.advance(LEASE + 1)  # the batch outlived the lease: a reaper ends it
            clocked_registry.reap()

    assert written == [1]
    assert run.state is ImportState.FAILED
    assert clocked_registry.snapshot(token).end_reason is EndReason.WORKER_LOST


# The finish race: an abort during the last batch.


@pytest.mark.parametrize("ending", [ImportState.SUCCEEDED, ImportState.FAILED])
def test_an_end_recorded_after_an_abort_was_requested_is_aborted(
    clocked_registry: WorkerRegistry, ending: ImportState
) -> None:
    token = _running(clocked_registry)
    clocked_registry.report_progress(token, 40)
    assert clocked_registry.abort(token) is AbortOutcome.REQUESTED  # during the last batch

    recorded = clocked_registry.finish(token, ending)

    assert recorded is ImportState.ABORTED
    snapshot = clocked_registry.snapshot(token)
    assert (snapshot.state, snapshot.processed) == (ImportState.ABORTED, 40)
    assert clocked_registry.abort(token) is AbortOutcome.ALREADY_REQUESTED


def test_an_import_run_aborted_during_its_last_batch_ends_aborted_with_what_it_wrote(
    clocked_registry: WorkerRegistry,
) -> None:
    token = clocked_registry.register()
    with ImportRun(clocked_registry, token) as run:
        for batch in run.batches([[1, 2], [3, 4]]):
            if batch == [3, 4]:
                assert clocked_registry.abort(token) is AbortOutcome.REQUESTED

    assert run.state is ImportState.ABORTED
    snapshot = clocked_registry.snapshot(token)
    assert (snapshot.state, snapshot.processed) == (ImportState.ABORTED, 4)


# Stop deadlines.


def test_an_abort_with_a_stop_deadline_is_forced_by_the_first_reap_past_it(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    token = _running(clocked_registry)
    assert clocked_registry.abort(token, AbortRequest(stop_deadline=30)) is AbortOutcome.REQUESTED
    assert clocked_registry.snapshot(token).stop_by == clock.now + timedelta(seconds=30)
    clock.advance(29)
    clocked_registry.heartbeat(token)  # alive, and ignoring the abort
    assert clocked_registry.reap() == []

    clock.advance(2)
    [forced] = clocked_registry.reap()

    assert (forced.token, forced.state, forced.forced) == (token, ImportState.ABORTED, True)
    assert clocked_registry.should_stop(token)
    with pytest.raises(InvalidTransition):
        clocked_registry.finish(token, ImportState.SUCCEEDED)
    assert clocked_registry.reap() == []


def test_a_pending_or_lost_process_ends_at_once_and_gets_no_deadline(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    pending = clocked_registry.register()
    lost = _lost(clocked_registry, clock)

    for token in (pending, lost):
        assert clocked_registry.abort(token, AbortRequest(stop_deadline=5)) is (
            AbortOutcome.REQUESTED
        )
        snapshot = clocked_registry.snapshot(token)
        assert (snapshot.state, snapshot.stop_by) == (ImportState.ABORTED, None)


# Settings of the registries.


@pytest.mark.parametrize(
    ("lease", "error"),
    [
        (-1, ValueError),
        (0, ValueError),
        (0.1, ValueError),
        (float("nan"), ValueError),
        ("60", TypeError),
        (True, TypeError),
    ],
)
def test_a_lease_that_makes_no_sense_fails_at_construction_naming_it(
    lease: Any, error: type[Exception], tmp_path: Any
) -> None:
    with pytest.raises(error, match="lease"):
        InMemoryImportRegistry(lease=lease)
    with pytest.raises(error, match="lease"):
        SQLImportRegistry(f"sqlite:///{tmp_path / 'x.db'}", lease=lease)


@pytest.mark.parametrize("name", ["request_timeout", "lock_timeout"])
@pytest.mark.parametrize("value", [0, -1, "5", None])
def test_sql_timeouts_that_make_no_sense_fail_at_construction_naming_them(
    name: str, value: Any, tmp_path: Any
) -> None:
    with pytest.raises(ValueError, match=name):
        SQLImportRegistry(f"sqlite:///{tmp_path / 'x.db'}", **{name: value})


# The endpoint's settings: the stop deadline and the force_stop hook.


def _app(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(TESTING=True, IMPORT_ABORT_BEARER_TOKENS=[SECRET], **config)
    ImportAbort(app, registry=registry)
    return app


def test_the_endpoint_passes_its_stop_deadline_to_the_registry(clock: Clock) -> None:
    registry = InMemoryImportRegistry(clock=clock)
    token = _running(registry)
    client = _app(registry, IMPORT_ABORT_STOP_DEADLINE=45).test_client()

    assert client.post(abort_url(token), headers=AUTH).status_code == 200

    assert registry.snapshot(token).stop_by == clock.now + timedelta(seconds=45)


def test_a_hosts_registry_that_takes_the_token_alone_still_works_without_a_deadline() -> None:
    spy = SpyRegistry()

    assert _app(spy).test_client().post(abort_url("t1"), headers=AUTH).status_code == 200
    assert spy.calls == ["t1"]


def test_a_stop_deadline_a_hosts_registry_cannot_take_fails_at_init_app() -> None:
    with pytest.raises(ValueError, match="IMPORT_ABORT_STOP_DEADLINE is set, but SpyRegistry"):
        _app(SpyRegistry(), IMPORT_ABORT_STOP_DEADLINE=30)


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("IMPORT_ABORT_STOP_DEADLINE", 0, ValueError),
        ("IMPORT_ABORT_STOP_DEADLINE", -5, ValueError),
        ("IMPORT_ABORT_STOP_DEADLINE", "30", ValueError),
        ("IMPORT_ABORT_FORCE_STOP", 42, TypeError),
        ("IMPORT_ABORT_FORCE_STOP", "tests.no_such_module:kill", ValueError),
        ("IMPORT_ABORT_FORCE_STOP_TIMEOUT", 0, ValueError),
    ],
)
def test_liveness_settings_that_make_no_sense_fail_at_init_app_naming_the_key(
    key: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=key):
        _app(InMemoryImportRegistry(), **{key: value})


def _forced_app(
    clock: Clock, hook: Any, **config: Any
) -> tuple[Flask, InMemoryImportRegistry, str]:
    registry = InMemoryImportRegistry(clock=clock)
    token = _running(registry)
    app = _app(registry, IMPORT_ABORT_STOP_DEADLINE=10, IMPORT_ABORT_FORCE_STOP=hook, **config)
    assert app.test_client().post(abort_url(token), headers=AUTH).status_code == 200
    clock.advance(11)
    return app, registry, token


def test_reaping_calls_force_stop_once_for_each_forced_end(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    called: list[str] = []
    app, registry, token = _forced_app(clock, called.append)

    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        first, second = reap_app(app), reap_app(app)

    assert [s.token for s in first] == [token]
    assert second == []
    assert called == [token]
    assert registry.snapshot(token).forced
    [line] = [r.getMessage() for r in caplog.records]
    assert "did not stop within 10 s" in line
    assert "force_stop is called" in line


def test_without_a_hook_a_forced_end_is_recorded_and_logged_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    app, registry, token = _forced_app(clock, None)

    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        reap_app(app)

    assert registry.snapshot(token).forced
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert "no force_stop (an app's IMPORT_ABORT_FORCE_STOP) is given" in record.getMessage()


def test_a_force_stop_hook_that_raises_is_logged_and_the_end_stays_recorded(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(token: str) -> None:
        raise RuntimeError("the engine is down")

    app, registry, token = _forced_app(clock, hook)
    with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
        reap_app(app)

    assert registry.snapshot(token).forced
    assert any(r.exc_info and "force_stop" in r.getMessage() for r in caplog.records)


def test_a_force_stop_hook_that_hangs_is_waited_for_no_longer_than_its_timeout(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    app, registry, token = _forced_app(
        clock, lambda token: release.wait(30), IMPORT_ABORT_FORCE_STOP_TIMEOUT=0.3
    )

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        reap_app(app)
    took = time.monotonic() - started
    release.set()

    assert took < 2 * 0.3 + 1.0  # the hook's timeout, not its thirty seconds
    assert registry.snapshot(token).forced
    assert any("still runs after 0.3 s" in r.getMessage() for r in caplog.records)


def test_the_endpoint_never_waits_for_a_force_stop_hook(clock: Clock) -> None:
    release = threading.Event()
    app, _, token = _forced_app(clock, lambda token: release.wait(30))

    started = time.monotonic()
    answer = app.test_client().post(abort_url(token), headers=AUTH)  # the harmless repeat
    release.set()

    assert answer.status_code == 200
    assert time.monotonic() - started < 10  # not the hook's thirty seconds


def test_reaping_an_app_whose_registry_cannot_reap_says_so() -> None:
    with pytest.raises(TypeError, match="SpyRegistry has no reap"):
        reap_app(_app(SpyRegistry()))


def test_a_reaper_reaps_at_once_and_then_on_its_interval(clock: Clock) -> None:
    registry = InMemoryImportRegistry(clock=clock)
    app = _app(registry)
    first = _lost(registry, clock)

    with reaper(app, interval=0.05):
        _wait_for(lambda: registry.snapshot(first).state is ImportState.FAILED)
        second = _lost(registry, clock)
        _wait_for(lambda: registry.snapshot(second).state is ImportState.FAILED)


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_end_forced_by_a_stop_deadline_sends_process_ended_once_not_again_from_its_worker(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    ended: list[tuple[str, bool]] = []

    def receiver(sender: object, *, token: str, forced: bool, **_: object) -> None:
        ended.append((token, forced))

    process_ended.connect(receiver)
    try:
        token = clocked_registry.register()
        with ImportRun(clocked_registry, token) as run:
            for _batch in run.batches([[1], [2]]):
                clocked_registry.abort(token, AbortRequest(stop_deadline=5))
                clock.advance(6)  # the batch ignores the abort past its deadline
                processes_reap(clocked_registry)
        assert run.state is ImportState.ABORTED
    finally:
        process_ended.disconnect(receiver)

    assert ended == [(token, True)]


_NOW = Clock().now
_BEFORE, _AFTER = _NOW - timedelta(seconds=1), _NOW + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("state", "changes", "expected"),
    [
        (ImportState.PROCESSING, {}, None),  # alive, no deadline: left running
        (ImportState.PENDING, {"lost": True}, None),  # never started: nothing to reap
        (ImportState.SUCCEEDED, {"stop_by": _BEFORE}, None),  # ended already
        (ImportState.PROCESSING, {"stop_by": _AFTER}, None),  # its deadline still ahead
        (ImportState.PAUSED, {"stop_by": _BEFORE}, (ImportState.ABORTED, EndReason.STOP_DEADLINE)),
        (ImportState.BLOCKED, {"lost": True}, (ImportState.FAILED, EndReason.WORKER_LOST)),
        (
            ImportState.PROCESSING,
            {"lost": True, "abort_requested": True},
            (ImportState.ABORTED, EndReason.WORKER_LOST),
        ),
        (ImportState.PROCESSING, {"lost": True, "chunks": 4}, None),  # ends with its chunks
    ],
)
def test_what_a_reap_ends_is_one_rule_of_a_process_as_read(
    state: ImportState,
    changes: dict[str, Any],
    expected: tuple[ImportState, EndReason] | None,
) -> None:
    """The rule every registry reaps by, as the process layer writes it."""
    fields = {"abort_requested": False, **changes}
    snapshot = ProcessSnapshot(token="t1", state=state, created_at=_BEFORE, **fields)
    assert reaped_end(snapshot, _NOW) == expected
