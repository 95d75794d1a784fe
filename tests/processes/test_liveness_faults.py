"""An abort never lies, shown with real processes, signals, locks and a server that goes silent."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from example_app.products import write_products_file
from flask_import_abort import ImportAbort, ImportState, reaper
from flask_import_abort.processes import EndReason, WorkerRegistry, run_import
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import TcpProxy, require_postgres, sql_registry
from ..helpers import AUTH, SECRET, abort_url, assert_error_model, host
from ..import_worker import products_table
from ..servers import ROOT, gunicorn

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python


def _wait_for(condition: Callable[[], Any], timeout: float = 20.0, step: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return found


# The finish race: 150 aborts timed at random over imports of three short batches.

TRIALS, BATCH = 150, 0.01


def _race(registry: WorkerRegistry, abort: Callable[[str], int], seed: int) -> Counter[str]:
    """Run TRIALS imports of three BATCH-second batches, five at a time, each aborted at a
    random moment from its start to after its end; each answer and end is checked."""

    def one_import() -> float:
        started = time.monotonic()
        token = registry.register(total=3)
        run_import(registry, token, [[1], [2], [3]], lambda batch: time.sleep(BATCH))
        return time.monotonic() - started

    took = sorted(one_import() for _ in range(3))[1]  # the registry's own pace, and the batches'
    rng = random.Random(seed)
    delays = [rng.uniform(0, 1.25 * took) for _ in range(TRIALS)]

    def trial(delay: float) -> str:
        token = registry.register(total=3)
        ended: list[ImportState] = []
        worker = threading.Thread(
            target=lambda: ended.append(
                run_import(registry, token, [[1], [2], [3]], lambda batch: time.sleep(BATCH))
            )
        )
        worker.start()
        time.sleep(delay)
        status = abort(token)
        worker.join()
        state = registry.snapshot(token).state
        assert ended == [state]
        if status == 200:
            assert state is ImportState.ABORTED, f"answered 200, then ended {state.value}"
            return "200 aborted"
        assert status == 409, status
        assert state is ImportState.SUCCEEDED, f"answered 409, then ended {state.value}"
        return "409 succeeded"

    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = Counter(pool.map(trial, delays))
    assert sum(outcomes.values()) == TRIALS
    return outcomes


def test_the_finish_race_on_every_registry_answers_200_only_for_imports_that_end_aborted(
    worker_registry: WorkerRegistry,
) -> None:
    client = host(registry=worker_registry).test_client()

    outcomes = _race(
        worker_registry,
        lambda token: client.post(abort_url(token), headers=AUTH).status_code,
        seed=12,
    )

    assert set(outcomes) == {"200 aborted", "409 succeeded"}  # both sides of the race were hit


def test_the_finish_race_end_to_end_on_the_example_app(tmp_path: Path) -> None:
    folder = tmp_path / "imports"
    folder.mkdir()
    write_products_file(folder / "three.json", count=3)
    database = f"sqlite:///{tmp_path / 'imports.db'}"
    env = {
        "DEMO_BEARER_TOKEN": SECRET,
        "FLASK_DEMO_DATABASE_URL": database,
        "FLASK_DEMO_IMPORT_FOLDER": str(folder),
        "FLASK_DEMO_BATCH_SIZE": "1",
        "FLASK_DEMO_BATCH_PAUSE": str(BATCH),
        "FLASK_DEMO_MAX_RUNNING_IMPORTS": "10",
    }
    body = json.dumps(
        {"fileName": "three.json", "mode": "standalone", "id": "Products", "format": "json"}
    ).encode()
    rng = random.Random(7)

    with gunicorn("example_app:create_app()", tmp_path / "gunicorn.log", workers=2, env=env) as (
        server
    ):

        def trial(delay: float) -> str:
            import http.client

            connection = http.client.HTTPConnection(server.host, timeout=30)
            try:
                connection.request(
                    "POST",
                    "/ccadmin/v1/importProcess",
                    body,
                    {**AUTH, "Content-Type": "application/json"},
                )
                token = json.loads(connection.getresponse().read())["processId"]
                time.sleep(delay)
                connection.request("POST", abort_url(token), headers=AUTH)
                status = connection.getresponse()
                status.read()

                def ended() -> dict[str, Any] | None:
                    connection.request("GET", f"/ccadmin/v1/importProcess/{token}", headers=AUTH)
                    found = json.loads(connection.getresponse().read())
                    return found if found["completed"] else None

                final = _wait_for(ended, step=0.02)
            finally:
                connection.close()
            expected = {200: "aborted", 409: "succeeded"}[status.status]
            assert final["progress"] == expected, (status.status, final)
            return f"{status.status} {final['progress']}"

        delays = [rng.uniform(0, 4 * BATCH) for _ in range(TRIALS)]
        with ThreadPoolExecutor(max_workers=5) as pool:
            outcomes = Counter(pool.map(trial, delays))

    assert sum(outcomes.values()) == TRIALS
    assert set(outcomes) == {"200 aborted", "409 succeeded"}


# A lock held past lock_timeout across the last batch.


def test_a_lock_held_past_lock_timeout_across_the_last_batch_still_ends_recorded(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with sql_registry(database_url, lock_timeout=0.2) as registry:
        token = registry.register(total=2)
        release = threading.Event()

        @contextmanager
        def locked() -> Iterator[None]:
            """Another process holds the row (PostgreSQL) or the database (SQLite)."""
            if registry.engine.dialect.name == "sqlite":
                path = make_url(database_url).database
                with closing(sqlite3.connect(path, isolation_level=None)) as other:
                    other.execute("BEGIN IMMEDIATE")
                    yield
                    other.execute("ROLLBACK")
                return
            other = create_engine(database_url)
            with other.connect() as connection:
                table = registry.table
                connection.execute(select(table).where(table.c.token == token).with_for_update())
                yield
                connection.rollback()
            other.dispose()

        def hold_during_the_last_batch(batch: list[int]) -> None:
            if batch == [2]:
                holder = threading.Thread(target=lambda: _hold(locked, release))
                holder.start()
                time.sleep(0.1)
                threading.Timer(1.2, release.set).start()  # six times lock_timeout

        with caplog.at_level(logging.WARNING, logger="flask_import_abort.processes.run"):
            state = run_import(registry, token, [[1], [2]], hold_during_the_last_batch)
        snapshot = registry.snapshot(token)

    assert state is ImportState.SUCCEEDED
    assert (snapshot.state, snapshot.processed) == (ImportState.SUCCEEDED, 2)
    assert any("trying again" in record.getMessage() for record in caplog.records)


def _hold(locked: Callable[[], Any], release: threading.Event) -> None:
    with locked():
        release.wait(10)


# A PostgreSQL that stops answering.


@pytest.mark.parametrize("connection", ["pooled", "new"])
def test_a_postgresql_that_stops_answering_is_a_503_within_the_bound(connection: str) -> None:
    server = make_url(require_postgres())
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    proxy.start()
    try:
        with sql_registry(server.set(port=proxy.port), request_timeout=2.0) as registry:
            token = registry.register()
            registry.start(token)
            client = host(registry=registry).test_client()
            if connection == "new":
                registry.engine.dispose()  # no connection left: the abort must open one
            proxy.freeze()  # a black hole: every byte taken, none answered

            started = time.monotonic()
            response = client.post(abort_url(token), headers=AUTH)
            took = time.monotonic() - started
            proxy.stop()  # cut the frozen connections, and relay again, to drop the table
            proxy.start()
    finally:
        proxy.stop()

    assert_error_model(response, 503, "30012")
    assert response.headers["Retry-After"] == "5"
    assert took < 2 * 2.0 + 1.0, took  # the request timeout, not the frozen server's


# A worker killed with SIGKILL in the middle of a batch.


@contextmanager
def _worker(
    registry: SQLImportRegistry, url: str, token: str, *, batches: int, size: int, pause: float
) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    products = products_table(f"products_{registry.table.name}")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.import_worker", url, registry.table.name, token),
            *(products.name, str(batches), str(size), str(pause), str(registry.lease)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield worker, products
    finally:
        worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
        products.drop(registry.engine, checkfirst=True)


def _rows(registry: SQLImportRegistry, products: Any) -> int:
    with registry.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(products)))


def _kill_mid_batch(worker: subprocess.Popen[str], batches_before: int) -> float:
    """SIGKILL the worker half-way through batch ``batches_before``; when it died."""
    assert worker.stdout is not None
    for _ in range(batches_before):
        assert worker.stdout.readline().startswith("batch")
    time.sleep(0.1)  # inside the next batch's 0.2 s
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return time.monotonic()


@pytest.mark.parametrize("after_death", ["reaped", "aborted"])
def test_a_worker_killed_mid_batch_is_lost_within_its_lease_then_ended_with_whole_batches(
    database_url: str, after_death: str
) -> None:
    lease, interval, size = 1.0, 0.2, 10
    with sql_registry(database_url, lease=lease) as registry:
        token = registry.register(total=50 * size)
        app = Flask("host")
        app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
        ImportAbort(app, registry=registry)
        with _worker(registry, database_url, token, batches=50, size=size, pause=0.2) as (
            worker,
            products,
        ):
            died = _kill_mid_batch(worker, batches_before=3)
            _wait_for(lambda: registry.snapshot(token).lost)
            lost_after = time.monotonic() - died
            if after_death == "reaped":
                with reaper(app, interval):
                    _wait_for(lambda: registry.snapshot(token).state is ImportState.FAILED)
                ended_after = time.monotonic() - died
            else:
                answer = app.test_client().post(abort_url(token), headers=AUTH)
                assert answer.get_json() == {"success": True}
                ended_after = time.monotonic() - died
            snapshot = registry.snapshot(token)
            rows = _rows(registry, products)

    expected = ImportState.FAILED if after_death == "reaped" else ImportState.ABORTED
    assert (snapshot.state, snapshot.end_reason) == (expected, EndReason.WORKER_LOST)
    assert lost_after <= 2 * lease + 1.0
    assert ended_after <= 2 * (lease + interval) + 1.0
    assert rows % size == 0  # no half batch is visible
    assert snapshot.processed in (rows, rows - size)  # the last whole batch may be unreported


# A worker that ignores the abort past the stop deadline.


def test_an_unheeded_abort_is_forced_within_the_deadline_and_the_late_worker_is_refused(
    database_url: str,
) -> None:
    deadline, size = 1.0, 10
    called: list[str] = []
    with sql_registry(database_url) as registry:
        token = registry.register(total=3 * size)
        apps = []
        for _ in range(3):  # three reapers, as three web workers would run them
            app = Flask("host")
            app.config.update(
                IMPORT_ABORT_BEARER_TOKENS=[SECRET],
                IMPORT_ABORT_STOP_DEADLINE=deadline,
                IMPORT_ABORT_FORCE_STOP=called.append,
            )
            ImportAbort(app, registry=registry)
            apps.append(app)
        with _worker(registry, database_url, token, batches=3, size=size, pause=4.0) as (
            worker,
            products,
        ):
            _wait_for(lambda: registry.snapshot(token).state is ImportState.PROCESSING)
            time.sleep(0.2)  # inside its first, four-second batch
            answer = apps[0].test_client().post(abort_url(token), headers=AUTH)
            aborted = time.monotonic()
            reapers = [reaper(app, 0.1).start() for app in apps]
            try:
                forced = _wait_for(lambda: registry.snapshot(token).forced)
                forced_after = time.monotonic() - aborted
            finally:
                for running in reapers:
                    running.stop()
            at_force = registry.snapshot(token)
            output, _ = worker.communicate(timeout=20)  # it comes back after its batch
            rows = _rows(registry, products)
            after = registry.snapshot(token)

    assert answer.get_json() == {"success": True}
    assert forced
    assert forced_after <= 2 * deadline + 1.0, forced_after
    assert called == [token]  # once, though three reapers raced for it
    assert (after.state, after.end_reason) == (ImportState.ABORTED, EndReason.STOP_DEADLINE)
    assert after == at_force  # its late report and end were refused
    assert output.strip().splitlines()[-1] == "aborted"
    assert rows == size  # its one batch was written; nothing moved the process after


# Sixteen processes reaping at once.


def test_sixteen_processes_reaping_at_once_end_each_lost_import_exactly_once(
    database_url: str,
) -> None:
    with sql_registry(database_url, lease=0.5) as registry:
        tokens = set()
        for _ in range(100):
            token = registry.register()
            registry.start(token)
            tokens.add(token)
        time.sleep(0.6)
        start_at = time.time() + 3.0
        reapers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.reap_once", database_url, registry.table.name],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "REAP_AT": str(start_at)},
            )
            for _ in range(16)
        ]
        outputs = [reaper.communicate(timeout=60)[0] for reaper in reapers]
        ended = [token for output in outputs for token in json.loads(output)]
        states = Counter(registry.snapshot(token).state for token in tokens)

    assert Counter(ended) == Counter(tokens)  # every one, and none twice
    assert len(outputs) == 16  # and each reaper answered
    assert states == {ImportState.FAILED: 100}


# gunicorn: a worker killed while the others run imports.


def test_a_killed_gunicorn_worker_fails_its_imports_and_never_touches_the_others(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "imports"
    folder.mkdir()
    write_products_file(folder / "forty.json", count=40)
    env = {
        "DEMO_BEARER_TOKEN": SECRET,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_IMPORT_FOLDER": str(folder),
        "FLASK_DEMO_BATCH_SIZE": "1",
        "FLASK_DEMO_BATCH_PAUSE": "0.2",  # eight seconds an import
        "FLASK_DEMO_LEASE": "1.5",
        "FLASK_DEMO_MAX_RUNNING_IMPORTS": "8",
        "FLASK_DEMO_REAP_INTERVAL": "0.3",
    }
    body = json.dumps(
        {"fileName": "forty.json", "mode": "standalone", "id": "Products", "format": "json"}
    )
    headers = {**AUTH, "Content-Type": "application/json"}
    registry = SQLImportRegistry(env["FLASK_DEMO_DATABASE_URL"])

    with gunicorn(
        "example_app:create_app()", tmp_path / "gunicorn.log", workers=4, threads=1, env=env
    ) as server:

        def runs_in() -> dict[str, int]:
            return {
                match[1]: int(match[2])
                for line in server.log_lines()
                if (match := re.search(r"import (\S+) runs in process (\d+)", line))
            }

        started = []
        while len(set(runs_in().values())) < 2 or len(started) < 8:
            assert len(started) < 40, "every import ran in one worker"
            started.append(_start(server.host, body, headers))
        where = _wait_for(lambda: len(runs_in()) == len(started) and runs_in())
        victim = Counter(where.values()).most_common()[-1][0]
        os.kill(victim, signal.SIGKILL)  # gunicorn boots a new worker, which reaps at start

        def all_ended() -> bool:
            return all(registry.snapshot(token).state.is_final for token in started)

        seen_failed: set[str] = set()

        def watch() -> bool:
            for token in started:
                if registry.snapshot(token).state is ImportState.FAILED:
                    seen_failed.add(token)
            return all_ended()

        _wait_for(watch, timeout=40, step=0.05)
    registry.close()

    for token in started:
        snapshot = registry.snapshot(token)
        if where[token] == victim:
            assert (snapshot.state, snapshot.end_reason) == (
                ImportState.FAILED,
                EndReason.WORKER_LOST,
            )
        else:
            assert snapshot.state is ImportState.SUCCEEDED, token
            assert token not in seen_failed
    registry.close()


def _start(host: str, body: str, headers: dict[str, str]) -> str:
    import http.client

    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("POST", "/ccadmin/v1/importProcess", body, headers)
        token: str = json.loads(connection.getresponse().read())["processId"]
    finally:
        connection.close()
    return token
