"""One clock, the database's, and a registry that needs no app context: processes whose clocks
disagree, and a Flask-SQLAlchemy host's worker threads, agree on who is alive."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_import_abort import ImportState
from flask_import_abort.processes.sql import SQLImportRegistry, _schema

from ..databases import SERVICES_REQUIRED, require_postgres, sql_registry
from ..servers import ROOT

FAKETIME = "/usr/bin/faketime"


def _wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


@contextmanager
def _process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _reap_while_running(registry: SQLImportRegistry, worker: subprocess.Popen[str]) -> list[Any]:
    """Reap every 0.1 s until the worker exits; everything the reaps ended."""
    ended: list[Any] = []
    while worker.poll() is None:
        ended += registry.reap()
        time.sleep(0.1)
    return ended


@pytest.mark.slow
def test_a_flask_sqlalchemy_hosts_batch_longer_than_the_lease_survives_a_reap_and_succeeds(
    database_url: str,
) -> None:
    """The README's way: ``SQLImportRegistry(db)``, the import inside ``app.app_context()``;
    its heartbeat thread beats through the batch, so a reap in the middle ends nothing."""
    with sql_registry(database_url, lease=1.0) as registry:
        token = registry.register()
        command = [
            *(sys.executable, "-m", "tests.flask_sqlalchemy_worker", database_url),
            *(registry.table.name, token, "2", "4.0", "1.0"),
        ]
        with _process(command) as worker:
            _wait_for(lambda: registry.snapshot(token).state is ImportState.PROCESSING)
            time.sleep(2.5)  # inside the first, four-second batch: 2.5 leases
            during = registry.snapshot(token)
            reaped = registry.reap()
            output, _ = worker.communicate(timeout=30)
        after = registry.snapshot(token)

    assert (during.state, during.lost, reaped) == (ImportState.PROCESSING, False, [])
    assert output.split() == ["batch", "0", "batch", "1", "succeeded"]
    assert (after.state, after.end_reason) == (ImportState.SUCCEEDED, None)


def test_a_registry_on_flask_sqlalchemy_serves_threads_without_an_app_context() -> None:
    db = SQLAlchemy()
    first, second = Flask("first"), Flask("second")
    for app in (first, second):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
        db.init_app(app)
    registry = SQLImportRegistry(db, table_name="imports")

    with pytest.raises(RuntimeError, match="app context"):
        registry.engine  # noqa: B018  (never inside an app context yet)
    with first.app_context():
        first_engine = registry.engine
        registry.create_table()
        token = registry.register()
        registry.start(token)
    with second.app_context():
        second_engine = registry.engine
    seen: list[Any] = []
    thread = threading.Thread(
        target=lambda: seen.append((registry.engine, registry.should_stop(token)))
    )
    thread.start()
    thread.join()

    assert first_engine is not second_engine  # one engine per app
    assert seen == [(first_engine, False)]  # the first one found, kept for threads without one
    with first.app_context():
        db.engine.dispose()
    with second.app_context():
        db.engine.dispose()


@pytest.fixture
def faketime() -> str:
    if shutil.which(FAKETIME) is None:
        message = f"{FAKETIME} is missing: install Debian's faketime package (make test does)"
        if SERVICES_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return FAKETIME


@pytest.mark.slow
def test_a_worker_whose_clock_is_three_seconds_ahead_is_never_reaped_on_postgresql(
    faketime: str,
) -> None:
    """The worker's machine is 3 s ahead of the reaper's (lease 2 s): every heartbeat is the
    database's time, so no reap ends it, and it succeeds."""
    url = require_postgres()
    ahead = subprocess.run(
        [faketime, "-f", "+3s", sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(ahead.stdout) - time.time() > 2.5  # the worker's clock really is ahead
    with sql_registry(url, lease=2.0) as registry:
        token = registry.register(total=30)
        command = [
            *(faketime, "-f", "+3s", sys.executable, "-m", "tests.import_worker", url),
            *(registry.table.name, token, f"products_{registry.table.name}", "30", "1", "0.1"),
            "2.0",
        ]
        with _process(command) as worker:
            _wait_for(lambda: registry.snapshot(token).state is not ImportState.PENDING)
            ended = _reap_while_running(registry, worker)
            output, _ = worker.communicate(timeout=30)
        after = registry.snapshot(token)
        with registry.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS products_{registry.table.name}")

    assert ended == []
    assert output.split()[-1] == "succeeded"
    assert (after.state, after.processed) == (ImportState.SUCCEEDED, 30)


def test_a_pooled_connection_the_server_dropped_is_pinged_and_replaced_before_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL connection unused for a while is pinged before its next use: one the server
    ended (a restart, say) is replaced, and the worker's call never sees the error."""
    monkeypatch.setattr(_schema, "PING_AFTER", 0.0)
    with sql_registry(require_postgres()) as registry:
        token = registry.register()
        registry.start(token)
        pid = _end_the_pooled_connections_session(registry)

        assert registry.should_stop(token) is False  # on a new connection, at the first try
        with registry.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


def _end_the_pooled_connections_session(registry: SQLImportRegistry) -> int:
    """End, from the server's side, the session of the one connection in the registry's pool
    (as a restart does); its backend's pid."""
    with registry.engine.connect() as connection:
        pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
    killer = sqlalchemy.create_engine(require_postgres())
    with killer.begin() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    killer.dispose()
    return pid


def test_without_the_ping_the_dropped_connection_fails_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check of the test above: with the ping turned off, the same call fails."""
    monkeypatch.setattr(_schema, "PING_AFTER", float("inf"))
    with sql_registry(require_postgres()) as registry:
        token = registry.register()
        registry.start(token)
        _end_the_pooled_connections_session(registry)

        with pytest.raises(sqlalchemy.exc.OperationalError):
            registry.should_stop(token)
