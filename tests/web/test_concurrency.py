"""Many clients at once, and registries that fail now and then."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import AbortOutcome, ImportRun, ImportState, InMemoryImportRegistry
from flask_import_abort.signals import abort_answered

from ..helpers import AUTH, abort_url, assert_error_model, host

THREADS = 64


class CountingRegistry(InMemoryImportRegistry):
    """Counts the ends recorded, to show a process ends once."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: Counter[tuple[str, ImportState]] = Counter()

    def finish(self, token: str, state: ImportState) -> None:
        super().finish(token, state)
        self.ends[token, state] += 1


def at_once(app: Flask, paths: list[str]) -> tuple[list[Any], list[AbortOutcome]]:
    """POST each path from a thread of its own, all released together; answers and outcomes."""
    barrier = threading.Barrier(len(paths))
    answers: list[Any] = [None] * len(paths)
    outcomes: list[AbortOutcome] = []

    def record(sender: Flask, token: str, outcome: AbortOutcome) -> None:
        outcomes.append(outcome)

    def post(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(paths[index], headers=AUTH)
        answers[index] = (response.status_code, response.get_json())

    abort_answered.connect(record, app)
    try:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(paths))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        abort_answered.disconnect(record, app)
    return answers, outcomes


def running_import(registry: CountingRegistry) -> tuple[str, threading.Thread]:
    """A process whose worker writes batches until it is asked to stop."""
    token = registry.register(total=10_000)
    started = threading.Event()

    def work() -> None:
        with ImportRun(registry, token) as run:
            started.set()
            for _batch in run.batches([0] * 10 for _ in range(1_000)):
                time.sleep(0.002)

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    return token, worker


def test_64_threads_aborting_one_import_request_it_once_and_it_ends_aborted_once() -> None:
    registry = CountingRegistry()
    token, worker = running_import(registry)

    answers, outcomes = at_once(host(registry=registry), [abort_url(token)] * THREADS)
    worker.join(timeout=10)

    assert answers == [(200, {"success": True})] * THREADS
    assert Counter(outcomes) == {AbortOutcome.REQUESTED: 1, AbortOutcome.ALREADY_REQUESTED: 63}
    assert registry.ends == {(token, ImportState.ABORTED): 1}
    assert registry.snapshot(token).percentage < 100


def test_64_threads_aborting_64_imports_abort_each_once() -> None:
    registry = CountingRegistry()
    imports = [running_import(registry) for _ in range(THREADS)]

    answers, outcomes = at_once(host(registry=registry), [abort_url(t) for t, _ in imports])
    for _, worker in imports:
        worker.join(timeout=10)

    assert answers == [(200, {"success": True})] * THREADS
    assert outcomes == [AbortOutcome.REQUESTED] * THREADS
    assert registry.ends == {(token, ImportState.ABORTED): 1 for token, _ in imports}


class Flaky:
    """Fails on every third call, with ``failure``; answers NOT_FOUND otherwise."""

    def __init__(self, failure: Callable[[], Any]) -> None:
        self.failure = failure
        self.calls = 0
        self._lock = threading.Lock()

    def abort(self, token: str) -> AbortOutcome:
        with self._lock:
            self.calls += 1
            failing = self.calls % 3 == 0
        return self.failure() if failing else AbortOutcome.NOT_FOUND


def _raise() -> Any:
    raise ConnectionResetError("imports database went away")


@pytest.mark.parametrize(
    "failure",
    [_raise, lambda: None, lambda: True, lambda: "requested"],
    ids=["raises", "None", "bool", "string"],
)
def test_a_registry_failing_every_third_call_fails_those_requests_only_each_logged_once(
    failure: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    registry = Flaky(failure)
    app = host(registry=registry)

    with caplog.at_level(logging.INFO, logger="flask_import_abort"):
        sequential = [app.test_client().post(abort_url("t"), headers=AUTH) for _ in range(30)]
        answers, _ = at_once(app, [abort_url("t")] * 30)

    assert [r.status_code for r in sequential] == [404, 404, 500] * 10
    for response in sequential:
        if response.status_code == 500:
            assert_error_model(response, 500, "30010")
    assert Counter(status for status, _ in answers) == {404: 20, 500: 10}
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 20  # one line per failed request, no more
    assert all("'t'" in record.getMessage() for record in errors)
