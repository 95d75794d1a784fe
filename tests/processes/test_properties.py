"""Any sequence of aborts, worker calls, lapsing time and reaping keeps the life cycle true."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from flask_import_abort import ImportState, InMemoryImportRegistry
from flask_import_abort.processes import EndReason, InvalidTransition

from ..helpers import AUTH, SECRET, Clock, abort_url

RUNNING = {ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED}
ENDS = {ImportState.SUCCEEDED, ImportState.FAILED, ImportState.ABORTED}
LEASE = 60
DEADLINE = 30


def may_move(at: ImportState, to: ImportState) -> bool:
    """The life cycle, written out again here rather than read from the package."""
    if at is ImportState.PENDING:
        return to is ImportState.PROCESSING
    return at in RUNNING and to != at and (to in RUNNING or to in ENDS)


@dataclass(frozen=True)
class Process:
    """What the contract says one process must be."""

    state: ImportState = ImportState.PENDING
    requested: bool = False
    heartbeat_at: datetime | None = None
    stop_by: datetime | None = None
    end_reason: EndReason | None = None

    def lost(self, now: datetime) -> bool:
        return (
            self.state in RUNNING
            and self.heartbeat_at is not None
            and now - self.heartbeat_at > timedelta(seconds=LEASE)
        )


class Imports(RuleBasedStateMachine):
    """Clients abort over HTTP, workers call the registry, time passes, reapers reap; a model
    says what is right."""

    tokens = Bundle("tokens")

    @initialize()
    def mount(self) -> None:
        from flask import Flask

        from flask_import_abort import ImportAbort

        self.clock = Clock()
        self.registry = InMemoryImportRegistry(lease=LEASE, clock=self.clock)
        app = Flask("host")
        app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_STOP_DEADLINE=DEADLINE)
        ImportAbort(app, registry=self.registry)
        self.client = app.test_client()
        self.model: dict[str, Process] = {}
        #: Tokens whose abort was answered 200, and those answered 409.
        self.answered_200: set[str] = set()
        self.answered_409: set[str] = set()

    @property
    def now(self) -> datetime:
        return self.clock.now

    @precondition(lambda self: len(self.model) < 5)
    @rule(target=tokens)
    def register(self) -> str:
        token = self.registry.register()
        self.model[token] = Process()
        return token

    @rule(token=tokens)
    def worker_starts(self, token: str) -> None:
        process = self.model[token]
        try:
            started = self.registry.start(token)
        except InvalidTransition:
            assert process.state not in (ImportState.PENDING, ImportState.ABORTED)
        else:
            assert started is (process.state is ImportState.PENDING)
            assert process.state in (ImportState.PENDING, ImportState.ABORTED)
            if started:
                self.model[token] = replace(
                    process, state=ImportState.PROCESSING, heartbeat_at=self.now
                )

    @rule(token=tokens, to=st.sampled_from(ImportState))
    def worker_moves(self, token: str, to: ImportState) -> None:
        process = self.model[token]
        try:
            recorded = self.registry.set_state(token, to)
        except InvalidTransition:
            assert not may_move(process.state, to), f"{process.state} -> {to} was refused"
            return
        assert may_move(process.state, to), f"{process.state} -> {to} was allowed"
        if to in ENDS:
            end = ImportState.ABORTED if process.requested else to
            self.model[token] = replace(process, state=end)
        else:
            end = to
            self.model[token] = replace(process, state=to, heartbeat_at=self.now)
        assert recorded is end

    @rule(token=tokens)
    def worker_asks_whether_to_stop(self, token: str) -> None:
        process = self.model[token]
        answer = self.registry.should_stop(token)
        assert answer is (process.requested or process.state in ENDS)
        if process.state in RUNNING:
            self.model[token] = replace(process, heartbeat_at=self.now)

    @rule(token=tokens)
    def worker_reports_progress(self, token: str) -> None:
        process = self.model[token]
        try:
            self.registry.report_progress(token, 1)
        except InvalidTransition:
            assert process.state not in RUNNING
        else:
            assert process.state in RUNNING
            self.model[token] = replace(process, heartbeat_at=self.now)

    @rule(token=tokens)
    def client_aborts(self, token: str) -> None:
        process = self.model[token]
        response = self.client.post(abort_url(token), headers=AUTH)

        if process.state in (ImportState.SUCCEEDED, ImportState.FAILED):
            assert response.status_code == 409
            assert response.get_json()["errorCode"] == "30008"
            self.answered_409.add(token)
            return
        assert response.status_code == 200
        assert response.get_json() == {"success": True}
        self.answered_200.add(token)
        if process.requested or process.state is ImportState.ABORTED:
            return
        if process.state is ImportState.PENDING:
            self.model[token] = replace(process, state=ImportState.ABORTED, requested=True)
        elif process.lost(self.now):
            self.model[token] = replace(
                process,
                state=ImportState.ABORTED,
                requested=True,
                end_reason=EndReason.WORKER_LOST,
            )
        else:
            stop_by = self.now + timedelta(seconds=DEADLINE)
            self.model[token] = replace(process, requested=True, stop_by=stop_by)

    @rule(token=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1))
    def client_aborts_an_unknown_token(self, token: str) -> None:
        if token in self.model:
            return
        response = self.client.post(abort_url(token), headers=AUTH)
        assert response.status_code == 404
        assert response.get_json()["errorCode"] == "30007"

    @rule(seconds=st.sampled_from([1, 10, 29, 31, 59, 61]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def a_reaper_reaps(self) -> None:
        expected = {}
        for token, process in self.model.items():
            if process.state not in RUNNING:
                continue
            if process.stop_by is not None and process.stop_by < self.now:
                ended = replace(
                    process, state=ImportState.ABORTED, end_reason=EndReason.STOP_DEADLINE
                )
            elif process.lost(self.now):
                end = ImportState.ABORTED if process.requested else ImportState.FAILED
                ended = replace(process, state=end, end_reason=EndReason.WORKER_LOST)
            else:
                continue
            expected[token] = ended
        reaped = self.registry.reap()

        assert {s.token: (s.state, s.end_reason) for s in reaped} == {
            token: (p.state, p.end_reason) for token, p in expected.items()
        }
        self.model.update(expected)

    @invariant()
    def the_registry_agrees_with_the_model(self) -> None:
        for token, process in getattr(self, "model", {}).items():
            snapshot = self.registry.snapshot(token)
            seen = (snapshot.state, snapshot.abort_requested, snapshot.end_reason)
            assert seen == (process.state, process.requested, process.end_reason), token
            assert snapshot.lost is process.lost(self.now)

    @invariant()
    def a_200_is_never_a_lie_and_a_409_never_changes(self) -> None:
        for token in getattr(self, "answered_200", ()):
            state = self.model[token].state
            assert state not in (ImportState.SUCCEEDED, ImportState.FAILED), token
        for token in getattr(self, "answered_409", ()):
            assert self.model[token].state in (ImportState.SUCCEEDED, ImportState.FAILED)


Imports.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
test_any_sequence_of_aborts_worker_calls_time_and_reaping_keeps_the_contract = Imports.TestCase
