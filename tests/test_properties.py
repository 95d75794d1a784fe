"""Any sequence of aborts and worker moves keeps the life cycle and the answer table true."""

from __future__ import annotations

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

from flask_import_abort import ImportState, InMemoryImportRegistry, InvalidTransition

from .conftest import AUTH, abort_url, host

RUNNING = {ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED}
ENDS = {ImportState.SUCCEEDED, ImportState.FAILED, ImportState.ABORTED}


def may_move(at: ImportState, to: ImportState) -> bool:
    """The life cycle, written out again here rather than read from the package."""
    if at is ImportState.PENDING:
        return to is ImportState.PROCESSING
    return at in RUNNING and to != at and (to in RUNNING or to in ENDS)


class AbortsAndWorkers(RuleBasedStateMachine):
    """Clients abort over HTTP while workers move their processes; a model says what is right."""

    tokens = Bundle("tokens")

    @initialize()
    def mount(self) -> None:
        self.registry = InMemoryImportRegistry()
        self.client = host(registry=self.registry).test_client()
        #: token -> (state, abort requested), as the contract says they must be.
        self.model: dict[str, tuple[ImportState, bool]] = {}

    @precondition(lambda self: len(self.model) < 5)
    @rule(target=tokens)
    def register(self) -> str:
        token = self.registry.register()
        self.model[token] = (ImportState.PENDING, False)
        return token

    @rule(token=tokens)
    def worker_starts(self, token: str) -> None:
        at, requested = self.model[token]
        try:
            started = self.registry.start(token)
        except InvalidTransition:
            assert at is not ImportState.PENDING
            assert at is not ImportState.ABORTED
        else:
            assert started is (at is ImportState.PENDING)
            assert at in (ImportState.PENDING, ImportState.ABORTED)
            if started:
                self.model[token] = (ImportState.PROCESSING, requested)

    @rule(token=tokens, to=st.sampled_from(ImportState))
    def worker_moves(self, token: str, to: ImportState) -> None:
        at, requested = self.model[token]
        try:
            self.registry.set_state(token, to)
        except InvalidTransition:
            assert not may_move(at, to), f"{at.value} -> {to.value} was refused"
        else:
            assert may_move(at, to), f"{at.value} -> {to.value} was allowed"
            self.model[token] = (to, requested)

    @rule(token=tokens)
    def worker_honours_a_requested_abort(self, token: str) -> None:
        at, requested = self.model[token]
        if self.registry.should_stop(token) and at in RUNNING:
            self.registry.finish(token, ImportState.ABORTED)
            self.model[token] = (ImportState.ABORTED, requested)
        assert self.registry.should_stop(token) is requested

    @rule(token=tokens)
    def client_aborts(self, token: str) -> None:
        at, requested = self.model[token]
        response = self.client.post(abort_url(token), headers=AUTH)

        if at in (ImportState.SUCCEEDED, ImportState.FAILED) and not requested:
            assert response.status_code == 409
            assert response.get_json()["errorCode"] == "30008"
        else:
            assert response.status_code == 200
            assert response.get_json() == {"success": True}
            if not requested and at is not ImportState.ABORTED:
                self.model[token] = (ImportState.ABORTED if at is ImportState.PENDING else at, True)

    @rule(token=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1))
    def client_aborts_an_unknown_token(self, token: str) -> None:
        if token in self.model:
            return
        response = self.client.post(abort_url(token), headers=AUTH)
        assert response.status_code == 404
        assert response.get_json()["errorCode"] == "30007"

    @invariant()
    def registry_agrees_with_the_model(self) -> None:
        for token, (state, requested) in getattr(self, "model", {}).items():
            snapshot = self.registry.snapshot(token)
            assert (snapshot.state, snapshot.abort_requested) == (state, requested), token


AbortsAndWorkers.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
test_aborts_and_worker_moves_keep_the_life_cycle_and_the_answer_table = AbortsAndWorkers.TestCase
