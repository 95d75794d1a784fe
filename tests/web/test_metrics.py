"""Prometheus metrics: answers counted, abort-to-stop timed, processes counted by state."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from flask_import_abort import ImportAbort, ImportRun, ImportState, InMemoryImportRegistry
from flask_import_abort.operators import reap_app
from flask_import_abort.operators.metrics import ImportAbortMetrics
from flask_import_abort.processes import WorkerRegistry

from ..helpers import AUTH, LEASE, PREFIX, SECRET, Clock, abort_url


def _mounted(registry: Any) -> tuple[Flask, ImportAbortMetrics]:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=registry)
    metrics = ImportAbortMetrics(app)
    app.add_url_rule("/metrics", view_func=metrics.exposition)
    return app, metrics


def _scrape(app: Flask) -> dict[str, list[Any]]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(response.get_data(as_text=True))
    }


def test_nothing_is_mounted_until_the_host_mounts_it() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=InMemoryImportRegistry())
    ImportAbortMetrics(app)

    assert app.test_client().get("/metrics").status_code == 404


def test_each_answer_is_counted_by_outcome_and_status(worker_registry: WorkerRegistry) -> None:
    app, _ = _mounted(worker_registry)
    client = app.test_client()
    running, finished = worker_registry.register(), worker_registry.register()
    worker_registry.start(running)
    worker_registry.start(finished)
    worker_registry.finish(finished, ImportState.SUCCEEDED)
    script = [  # token, headers, body, and the labels its answer is counted under
        (running, AUTH, None, ("requested", "200")),
        (running, AUTH, None, ("already_requested", "200")),
        (finished, AUTH, None, ("finished", "409")),
        ("no_such", AUTH, None, ("not_found", "404")),
        (running, {}, None, ("refused", "401")),
        ("bad token", AUTH, None, ("refused", "400")),
        (running, AUTH, {"reason": 42}, ("refused", "400")),
    ]
    sent: Counter[tuple[str, str]] = Counter()
    for token, headers, body, labels in script:
        response = client.post(abort_url(token), headers=headers, json=body)
        assert str(response.status_code) == labels[1]
        sent[labels] += 1

    samples = _scrape(app)["import_abort_answers"]
    counted = {
        (sample.labels["outcome"], sample.labels["status"]): sample.value
        for sample in samples
        if sample.name == "import_abort_answers_total"
    }
    assert counted == {key: float(count) for key, count in sent.items()}
    assert sum(counted.values()) == len(script)


def test_the_status_routes_answers_are_never_counted_as_aborts() -> None:
    registry = InMemoryImportRegistry()
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_STATUS_ROUTE=True)
    ImportAbort(app, registry=registry)
    metrics = ImportAbortMetrics(app)
    app.add_url_rule("/metrics", view_func=metrics.exposition)
    client = app.test_client()
    token = registry.register()

    reads = [client.get(f"{PREFIX}/{token}", headers=headers) for headers in ({}, {}, AUTH)]
    refused = client.post(abort_url(token))  # one abort, refused

    assert [read.status_code for read in reads] == [401, 401, 200]
    assert refused.status_code == 401
    counted = [
        (sample.labels["outcome"], sample.labels["status"], sample.value)
        for sample in _scrape(app)["import_abort_answers"]
        if sample.name == "import_abort_answers_total"
    ]
    assert counted == [("refused", "401", 1.0)]


def test_the_processes_are_counted_by_state_at_scrape_time(
    worker_registry: WorkerRegistry,
) -> None:
    app, _ = _mounted(worker_registry)
    for _ in range(3):
        worker_registry.register()
    running = worker_registry.register()
    worker_registry.start(running)
    exporting = worker_registry.register(kind="export")
    worker_registry.start(exporting)

    scraped = _scrape(app)["import_abort_processes"]
    states = {(s.labels["kind"], s.labels["state"]): s.value for s in scraped}

    assert states["import", "pending"] == 3.0
    assert states["import", "processing"] == 1.0
    assert states["export", "processing"] == 1.0
    assert states["export", "pending"] == states["import", "succeeded"] == 0.0
    assert set(states) == {
        (kind, state.value) for kind in ("import", "export") for state in ImportState
    }


def test_abort_to_stop_is_observed_when_an_aborted_import_ends(clock: Clock) -> None:
    registry = InMemoryImportRegistry(lease=LEASE, clock=clock)
    app, _ = _mounted(registry)
    client = app.test_client()
    token = registry.register()
    with ImportRun(registry, token) as run:
        for _ in run.batches([[1], [2]]):
            client.post(abort_url(token), headers=AUTH)
            clock.advance(3)  # the batch in hand takes three seconds more
    lost = registry.register()
    registry.start(lost)
    registry.abort(lost)
    clock.advance(LEASE + 1)
    with app.app_context():
        reap_app(app)  # ends it aborted, LEASE + 1 after its abort

    samples = {
        (s.name, s.labels.get("le")): s.value
        for s in _scrape(app)["import_abort_abort_to_stop_seconds"]
        if s.labels["kind"] == "import"
    }
    assert samples[("import_abort_abort_to_stop_seconds_count", None)] == 2.0
    assert samples[("import_abort_abort_to_stop_seconds_sum", None)] == pytest.approx(3 + LEASE + 1)
    assert samples[("import_abort_abort_to_stop_seconds_bucket", "2.5")] == 0.0
    assert samples[("import_abort_abort_to_stop_seconds_bucket", "5.0")] == 1.0


def test_an_exports_abort_to_stop_is_observed_under_its_kind() -> None:
    registry = InMemoryImportRegistry()
    app, _ = _mounted(registry)
    token = registry.register(kind="export")
    with ImportRun(registry, token) as run:
        for _ in run.batches([[1], [2]]):
            registry.abort(token)

    counted = {
        s.labels["kind"]: s.value
        for s in _scrape(app)["import_abort_abort_to_stop_seconds"]
        if s.name.endswith("_count")
    }
    assert counted == {"export": 1.0}


class _Listed:
    """A host's registry that lists its processes and records no kinds."""

    def abort(self, token: str) -> Any:
        raise AssertionError("not called")

    def snapshot(self, token: str) -> Any:
        raise KeyError(token)

    def recent(self, limit: int = 50, **_: Any) -> list[Any]:
        return []

    def count_by_state(self) -> dict[ImportState, int]:
        return {ImportState.PROCESSING: 2}


def test_a_registry_that_records_no_kinds_is_counted_as_imports() -> None:
    app, _ = _mounted(_Listed())

    scraped = _scrape(app)["import_abort_processes"]
    states = {(s.labels["kind"], s.labels["state"]): s.value for s in scraped}

    assert states["import", "processing"] == 2.0
    assert states["export", "processing"] == 0.0
