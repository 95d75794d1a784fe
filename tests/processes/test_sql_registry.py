"""The SQL registry: its table, its wiring, its faults, and many processes sharing it."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from example_app.products import products_table as demo_products_table
from flask_import_abort import AbortOutcome, AbortRequest, ImportAbort, ImportState
from flask_import_abort.processes.sql import SQLImportRegistry, import_process_table
from flask_import_abort.processes.sql._store import _Hot

from .. import databases
from ..databases import (
    POSTGRES_URL,
    TcpProxy,
    fresh_postgres_database,
    require_postgres,
    sql_registry,
    unique_table_name,
)
from ..helpers import (
    AUTH,
    SECRET,
    abort_url,
    assert_answers_every_outcome,
    assert_error_model,
    host,
)
from ..import_worker import products_table
from ..servers import ROOT, fire, free_port, gunicorn


def _running(registry: SQLImportRegistry) -> str:
    token = registry.register()
    registry.start(token)
    return token


def _finished(registry: SQLImportRegistry, state: ImportState = ImportState.SUCCEEDED) -> str:
    token = _running(registry)
    registry.finish(token, state)
    return token


# The table.


def test_the_table_holds_the_documented_columns_keyed_by_token() -> None:
    table = import_process_table(MetaData())

    assert table.name == "import_processes"
    assert [column.name for column in table.primary_key] == ["token"]
    assert [column.name for column in table.columns] == [
        "token",
        "state",
        "abort_requested_at",
        "created_at",
        "started_at",
        "finished_at",
        "processed_count",
        "total_count",
        "heartbeat_at",
        "stop_by",
        "end_reason",
        "aborted_by",
        "abort_reason",
        "abort_request_id",
        "parent_token",
        "chunk_index",
        "chunk_count",
        "continue_on_error",
        "metadata",
        "failed_count",
        "kind",
    ]
    assert sorted(index.columns.keys() for index in table.indexes) == [
        ["created_at"],
        ["parent_token"],
        ["state"],
    ]


def test_abort_and_should_stop_find_the_row_by_primary_key_on_sqlite(tmp_path: Path) -> None:
    with sql_registry(f"sqlite:///{tmp_path / 'imports.db'}") as registry:
        name = registry.table.name
        with registry.engine.connect() as connection:
            plans = [
                " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                for sql in (
                    f"UPDATE {name} SET abort_requested_at = 1 WHERE token = 'x' "
                    "AND state IN ('pending') AND abort_requested_at IS NULL",
                    f"SELECT abort_requested_at FROM {name} WHERE token = 'x'",
                )
            ]

    for plan in plans:
        assert re.search(r"SEARCH \S+ USING (INDEX sqlite_autoindex|PRIMARY KEY)", plan), plan


def test_create_table_puts_a_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "imports.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        SQLImportRegistry(engine).create_table()
    finally:
        engine.dispose()

    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_create_table_is_harmless_when_several_processes_do_it_at_once(database_url: str) -> None:
    name = unique_table_name()
    registries = [SQLImportRegistry(database_url, table_name=name) for _ in range(6)]
    barrier = threading.Barrier(len(registries))
    errors: list[BaseException] = []

    def create(registry: SQLImportRegistry) -> None:
        barrier.wait()
        try:
            registry.create_table()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(r,)) for r in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert inspect(registries[0].engine).has_table(name)
        registries[0].create_table()  # and once more, later
    finally:
        registries[0].drop_table()
        for registry in registries:
            registry.engine.dispose()


@contextmanager
def _fresh_database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    with fresh_postgres_database(f"boot_{name}") as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_many_workers_booting_at_once_on_a_fresh_database_all_boot(
    kind: str, tmp_path: Path
) -> None:
    workers, rounds = 8, 2
    for round_ in range(rounds):
        with _fresh_database(kind, tmp_path, f"round{round_}") as url:
            start_at = time.time() + 4.0  # every process has imported by then
            booting = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.boot_app", url, str(start_at)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(workers)
            ]
            results = [process.communicate(timeout=60) for process in booting]

            failures = [err for (out, err) in results if out.strip() != "booted"]
            assert failures == [], failures[0][-2000:]
            engine = create_engine(url)
            try:
                assert {"import_processes", "demo_products"} <= set(
                    inspect(engine).get_table_names()
                )
            finally:
                engine.dispose()


# Wiring: an engine, a URL, or Flask-SQLAlchemy's db.


def test_the_endpoint_answers_every_outcome_from_the_sql_registry(database_url: str) -> None:
    with sql_registry(database_url) as registry:
        running, finished = _running(registry), _finished(registry)

        assert_answers_every_outcome(host(registry=registry).test_client(), running, finished)

        assert registry.should_stop(running)
        assert registry.snapshot(finished).state is ImportState.SUCCEEDED


def test_a_registry_takes_an_engine_of_the_host(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    registry = SQLImportRegistry(engine, table_name="imports")
    registry.create_table()
    token = _running(registry)

    response = host(registry=registry).test_client().post(abort_url(token), headers=AUTH)

    assert response.get_json() == {"success": True}
    assert registry.engine is engine
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM imports")) == 1
    engine.dispose()


def test_a_registry_on_flask_sqlalchemy_joins_its_metadata_and_uses_its_engine(
    tmp_path: Path,
) -> None:
    app = Flask("host", instance_path=str(tmp_path))
    app.config.update(
        TESTING=True,
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'host.db'}",
    )
    db = SQLAlchemy(app)
    registry = SQLImportRegistry(db)
    ImportAbort(app, registry=registry)
    with app.app_context():
        db.create_all()  # as a host's own schema set-up (or its migrations) would
        token = _running(registry)
        assert registry.engine is db.engine

    response = app.test_client().post(abort_url(token), headers=AUTH)

    assert db.metadata.tables["import_processes"] is registry.table
    assert SQLImportRegistry(db).table is registry.table  # a second one shares it
    assert response.get_json() == {"success": True}
    with app.app_context():
        assert registry.should_stop(token)
        db.engine.dispose()


def test_a_registry_whose_table_was_never_created_is_a_500_and_an_error_naming_create_table(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with SQLImportRegistry(database_url, table_name=unique_table_name()) as registry:
        client = host(registry=registry).test_client()

        with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
            answers = [client.post(abort_url("t1"), headers=AUTH) for _ in range(2)]

    for response in answers:
        assert_error_model(response, 500, "30010")
        assert "Retry-After" not in response.headers
    # Each answer: the registry's line naming the cure, then the endpoint's with the traceback.
    assert [record.levelname for record in caplog.records] == ["ERROR"] * 4
    hints = [record for record in caplog.records if "create_table()" in record.getMessage()]
    assert [record.name for record in hints] == ["flask_import_abort"] * 2
    assert all(record.exc_info for record in caplog.records if record not in hints)


def test_a_registry_made_from_a_url_closes_its_engine_and_opens_it_again_when_asked(
    tmp_path: Path,
) -> None:
    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}")
    registry.create_table()
    token = _running(registry)
    pool = registry.engine.pool
    assert pool.checkedin() == 1

    registry.close()

    assert registry.engine.pool is not pool
    assert registry.engine.pool.checkedin() == 0
    assert registry.should_stop(token) is False  # usable again
    registry.close()


def test_a_registry_on_an_in_memory_sqlite_database_keeps_its_processes() -> None:
    with SQLImportRegistry("sqlite://") as registry:
        registry.create_table()
        token = _running(registry)

        assert registry.abort(token) is AbortOutcome.REQUESTED
        assert registry.should_stop(token)
        registry.report_progress(token, 3)
        assert registry.snapshot(token).processed == 3


def test_a_registry_on_the_hosts_engine_leaves_its_connections_to_the_host(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    with SQLImportRegistry(engine) as registry:
        registry.create_table()
        _running(registry)
    try:
        assert engine.pool.checkedin() == 1
    finally:
        engine.dispose()


def test_the_sql_module_without_its_extra_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "try:\n"
        "    import flask_import_abort.processes.sql\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert "pip install 'flask-import-abort[sql]'" in run.stdout


# Faults of the database: 503 with Retry-After, nothing written, and back without a restart.


def test_a_locked_sqlite_database_is_503_with_retry_after_then_aborts_work_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "imports.db"
    with sql_registry(f"sqlite:///{path}", lock_timeout=0.2, retry_after=7) as registry:
        client = host(registry=registry).test_client()
        token = _running(registry)
        before = registry.snapshot(token)
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait

        with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
            locked = client.post(abort_url(token), headers=AUTH)
        locker.execute("ROLLBACK")
        locker.close()

        assert_error_model(locked, 503, "30012")
        assert locked.headers["Retry-After"] == "7"
        assert registry.snapshot(token) == before
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "database is locked" in caplog.records[0].getMessage()
        assert client.post(abort_url(token), headers=AUTH).get_json() == {"success": True}
        assert registry.should_stop(token)


def test_a_row_locked_on_postgresql_is_503_then_aborts_work_again() -> None:
    with sql_registry(require_postgres(), lock_timeout=0.3) as registry:
        client = host(registry=registry).test_client()
        token = _running(registry)
        before = registry.snapshot(token)
        locker = create_engine(POSTGRES_URL)
        with locker.connect() as connection:
            connection.execute(select(registry.table).where(registry.table.c.token == token))
            connection.execute(
                select(registry.table).where(registry.table.c.token == token).with_for_update()
            )
            locked = client.post(abort_url(token), headers=AUTH)
            connection.rollback()
        locker.dispose()

        assert_error_model(locked, 503, "30012")
        assert locked.headers["Retry-After"] == "5"
        assert registry.snapshot(token) == before
        assert client.post(abort_url(token), headers=AUTH).get_json() == {"success": True}


@contextmanager
def _behind_a_proxy() -> Iterator[tuple[TcpProxy, SQLImportRegistry]]:
    """A registry reaching PostgreSQL through a relay the test can cut and restore."""
    server = make_url(require_postgres())
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    proxy.start()
    try:
        with sql_registry(server.set(port=proxy.port), lock_timeout=1) as registry:
            yield proxy, registry
    finally:
        proxy.stop()


def test_postgresql_unreachable_is_503_then_aborts_work_again_without_a_restart() -> None:
    with _behind_a_proxy() as (proxy, registry):
        client = host(registry=registry).test_client()
        first, second = _running(registry), _running(registry)
        assert client.post(abort_url(first), headers=AUTH).status_code == 200

        proxy.stop()  # the pooled connection is cut and new ones are refused
        down = [client.post(abort_url(second), headers=AUTH) for _ in range(3)]
        proxy.start()
        back = client.post(abort_url(second), headers=AUTH)

        for response in down:
            assert_error_model(response, 503, "30012")
            assert response.headers["Retry-After"] == "5"
        assert back.get_json() == {"success": True}
        assert registry.should_stop(second)


def test_a_dropped_connection_is_replaced_within_the_same_request() -> None:
    with _behind_a_proxy() as (proxy, registry):
        client = host(registry=registry).test_client()
        token = _running(registry)
        assert registry.should_stop(token) is False  # a connection now waits in the pool

        proxy.stop()  # as a database restart: the pooled connection is gone...
        proxy.start()  # ...and the database is back
        response = client.post(abort_url(token), headers=AUTH)

        assert response.get_json() == {"success": True}
        assert registry.should_stop(token)


# Other processes: a worker that stops, and many web workers aborting at once.


@pytest.mark.slow
def test_a_worker_in_another_process_stops_within_one_batch_and_keeps_its_rows(
    database_url: str,
) -> None:
    batches, size = 200, 25
    with sql_registry(database_url) as registry:
        token = registry.register(total=batches * size)
        products = products_table(f"products_{registry.table.name}")
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.import_worker", database_url, registry.table.name),
                *(token, products.name, str(batches), str(size), "0.05"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while registry.snapshot(token).processed < 3 * size:
                assert time.monotonic() < deadline, "the worker wrote nothing"
                time.sleep(0.01)

            response = host(registry=registry).test_client().post(abort_url(token), headers=AUTH)
            with registry.engine.connect() as connection:
                rows_at_abort = connection.scalar(select(func.count()).select_from(products))
            output, _ = worker.communicate(timeout=20)

            with registry.engine.connect() as connection:
                rows = connection.scalar(select(func.count()).select_from(products))
            snapshot = registry.snapshot(token)
        finally:
            worker.kill()
            worker.wait()
            products.drop(registry.engine, checkfirst=True)

    assert response.get_json() == {"success": True}
    assert output.strip().splitlines()[-1] == "aborted"
    assert snapshot.state is ImportState.ABORTED
    assert 3 * size <= rows_at_abort <= rows <= rows_at_abort + size  # at most the batch in hand
    assert snapshot.processed == rows  # every batch written is still there, and counted
    assert snapshot.percentage < 100


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_four_gunicorn_workers_abort_each_process_exactly_once(
    database: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'imports.db'}" if database == "sqlite" else require_postgres()
    registry = SQLImportRegistry(url)  # the example app's table
    registry.drop_table()
    registry.create_table()
    running = [_running(registry) for _ in range(40)]
    finished = [
        _finished(registry, state)
        for state in [ImportState.SUCCEEDED] * 5 + [ImportState.FAILED] * 5
    ]
    before = {token: registry.snapshot(token) for token in finished}
    paths = [abort_url(token) for token in running + finished for _ in range(4)]
    random.Random(4).shuffle(paths)
    env = {"FLASK_DEMO_DATABASE_URL": url, "DEMO_BEARER_TOKEN": SECRET}

    try:
        with gunicorn(
            "example_app:create_app()", tmp_path / "gunicorn.log", workers=4, env=env
        ) as server:
            answers = fire(server.host, paths, headers=AUTH)
            lines = server.log_lines()
        statuses = Counter(status for _, status, _ in answers)
        by_path = {
            path: {
                (status, json.dumps(json.loads(body))) for p, status, body in answers if p == path
            }
            for path in paths
        }
        logged = Counter(
            (match["token"], match["outcome"])
            for line in lines
            if (
                match := re.search(
                    r"abort of import process '(?P<token>[^']+)' by [^:]+: (?P<outcome>\w+)", line
                )
            )
        )
        pids = {
            re.search(r"\[(\d+)\]", line)[1] for line in lines if "abort of import process" in line
        }

        assert statuses == {200: 160, 409: 40}
        for token in running:
            assert by_path[abort_url(token)] == {(200, '{"success": true}')}
            assert logged[token, "requested"] == 1
            assert logged[token, "already_requested"] == 3
            assert registry.should_stop(token)
        for token in finished:
            assert logged[token, "finished"] == 4
            assert registry.snapshot(token) == before[token]
        assert len(pids) >= 2, "the answers came from one worker only"
    finally:
        # The example app made its products table beside the registry's.
        demo_products_table(registry.table.metadata).drop(registry.engine, checkfirst=True)
        registry.drop_table()
        registry.engine.dispose()


# Where PostgreSQL is missing.


@pytest.mark.parametrize(
    ("required", "outcome"), [(False, pytest.skip.Exception), (True, pytest.fail.Exception)]
)
def test_without_postgresql_its_tests_skip_saying_how_to_run_them_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, required: bool, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(
        databases, "POSTGRES_URL", f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/test"
    )
    monkeypatch.setattr(databases, "SERVICES_REQUIRED", required)

    with pytest.raises(outcome, match=r"not reachable .*IMPORT_ABORT_TEST_POSTGRES_URL.*\.ci/run"):
        databases.require_postgres()


# The hot statements' own connections.


def test_a_process_forked_from_one_using_the_registry_leaves_the_parents_connections_alone(
    database_url: str,
) -> None:
    with sql_registry(database_url) as registry:
        token = _running(registry)
        assert registry.should_stop(token) is False  # a connection of the parent's, kept

        child = os.fork()
        if child == 0:  # the child: its own connections, and the parent's untouched
            code = 0 if registry.should_stop(token) is False else 1
            os._exit(code)
        _, status = os.waitpid(child, 0)

        assert os.waitstatus_to_exitcode(status) == 0
        assert registry.should_stop(token) is False  # the parent's session still answers
        registry.report_progress(token, 7)
        assert registry.snapshot(token).processed == 7


def test_every_statement_of_every_call_is_seen_by_the_engines_events(database_url: str) -> None:
    """What the engine's events see is what the database is sent: on SQLite, the driver's own
    trace of every statement it runs says so; on both, each call sends at least one."""
    with sql_registry(database_url, lease=60) as registry:
        registry.close()  # new connections, each traced from its start
        engine = registry.engine
        seen: list[str] = []
        sent: list[str] = []

        def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        def trace(connection: Any, _: object) -> None:
            if isinstance(connection, sqlite3.Connection):
                connection.set_trace_callback(sent.append)

        sqlalchemy.event.listen(engine, "before_cursor_execute", before)
        sqlalchemy.event.listen(engine, "connect", trace)
        tokens: list[str] = []
        calls = {
            "register": lambda: tokens.append(registry.register(total=10)),
            "start": lambda: registry.start(tokens[0]),
            "report_progress": lambda: registry.report_progress(tokens[0], 3),
            "report_progress with total": lambda: registry.report_progress(tokens[0], 4, total=9),
            "should_stop": lambda: registry.should_stop(tokens[0]),
            "heartbeat": lambda: registry.heartbeat(tokens[0]),
            "set_state": lambda: registry.set_state(tokens[0], ImportState.PAUSED),
            "snapshot": lambda: registry.snapshot(tokens[0]),
            "recent": lambda: registry.recent(states=[ImportState.PAUSED]),
            "count_by_state": lambda: registry.count_by_state(),
            "abort": lambda: registry.abort(tokens[0], AbortRequest(stop_deadline=30)),
            "abort again": lambda: registry.abort(tokens[0]),
            "reap": lambda: registry.reap(),
            "finish": lambda: registry.finish(tokens[0], ImportState.SUCCEEDED),
        }
        try:
            for name, call in calls.items():
                seen_before, sent_before = len(seen), len(_statements(sent))
                call()
                assert len(seen) > seen_before, name
                if engine.dialect.name == "sqlite":
                    assert len(_statements(sent)) - sent_before == len(seen) - seen_before, name
        finally:
            sqlalchemy.event.remove(engine, "before_cursor_execute", before)
            sqlalchemy.event.remove(engine, "connect", trace)
            registry.close()

        assert registry.snapshot(tokens[0]).state is ImportState.ABORTED


def test_the_abort_of_a_running_import_is_one_update_that_returns_nothing(
    database_url: str,
) -> None:
    """The abort answered most often costs one statement, and records what any abort records."""
    with sql_registry(database_url, lease=60) as registry:
        token = registry.register(total=10)
        registry.start(token)
        seen: list[str] = []

        def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        sqlalchemy.event.listen(registry.engine, "before_cursor_execute", before)
        try:
            details = AbortRequest(30, "ops", "wrong file", "req-1")
            outcome = registry.abort(token, details)
        finally:
            sqlalchemy.event.remove(registry.engine, "before_cursor_execute", before)
        snapshot = registry.snapshot(token)

    assert outcome is AbortOutcome.REQUESTED
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("UPDATE")
    assert "RETURNING" not in seen[0].upper()
    assert (snapshot.state, snapshot.abort_requested, snapshot.finished_at) == (
        ImportState.PROCESSING,
        True,
        None,
    )
    assert (snapshot.aborted_by, snapshot.abort_reason, snapshot.abort_request_id) == (
        "ops",
        "wrong file",
        "req-1",
    )
    assert snapshot.abort_requested_at is not None
    assert snapshot.stop_by is not None
    deadline = (snapshot.stop_by - snapshot.abort_requested_at).total_seconds()
    assert deadline == pytest.approx(30, abs=0.01)


def test_every_hot_statement_reads_its_row_by_primary_key_in_a_plan_cached_on_a_new_table() -> None:
    """psycopg prepares a statement sent often, and PostgreSQL then runs a generic plan, made
    once, however the table grows. A plan made while the table is new must not read the row
    through another index: over the full index on ``parent_token``, ``parent_token IS NULL``
    read every import's entry on each abort."""
    with sql_registry(require_postgres(), lease=60) as registry:
        for _ in range(100):
            registry.start(registry.register(total=10))
        token = registry.register()
        hot = _Hot(registry._statements, registry._outbox, registry.engine.dialect)
        with registry.engine.connect() as connection:
            connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            for name, compiled in hot.statements.items():
                if name == "notice":  # an INSERT into the outbox reads no row
                    continue
                sql, parameters = _numbered(compiled.sql)
                connection.exec_driver_sql(f"PREPARE hot_{name} AS {sql}")
                # a token is letters, digits, '-' and '_': safe to write into the SQL
                values = ", ".join(f"'{token}'" if p == "key" else "NULL" for p in parameters)
                plan = connection.exec_driver_sql(
                    f"EXPLAIN (FORMAT JSON) EXECUTE hot_{name}({values})"
                ).scalar()
                scans = list(_scans(plan[0]["Plan"]))
                assert scans == [("Index Scan", f"{registry.table.name}_pkey")], name
            connection.rollback()


def _numbered(sql: str) -> tuple[str, list[str]]:
    """psycopg's ``%(name)s`` parameters as PostgreSQL's ``$1``, ``$2``, ...; and their names."""
    numbers: dict[str, int] = {}

    def number(found: re.Match[str]) -> str:
        return f"${numbers.setdefault(found.group(1), len(numbers) + 1)}"

    return re.sub(r"%\((\w+)\)s", number, sql), list(numbers)


def _scans(node: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """Each scan of a plan, with the index it reads."""
    if "Scan" in node["Node Type"]:
        yield node["Node Type"], node.get("Index Name")
    for child in node.get("Plans", ()):
        yield from _scans(child)


def _statements(traced: list[str]) -> list[str]:
    """The statements of a SQLite trace, without the transactions' own."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")
    return [line for line in traced if not line.lstrip().upper().startswith(control)]


def test_a_reaper_started_before_the_table_exists_logs_one_line_naming_create_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Round after round it meets no table: one ERROR line that says what to call, never a
    traceback with the SQL; once the table is made, its rounds reap again."""
    from flask_import_abort.processes import Reaper
    from flask_import_abort.processes.webhooks import WebhookDispatcher

    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}", webhooks=True, lease=1)
    dispatcher = WebhookDispatcher(registry, "http://127.0.0.1:9/hooks", "secret")
    missing = re.compile(r"the table 'import_processes' does not exist; call the registry's "
                         r"create_table\(\)")  # fmt: skip
    reaper = Reaper(registry, 0.02, dispatcher=dispatcher)
    with registry, caplog.at_level(logging.INFO), reaper:
        deadline = time.monotonic() + 60
        while sum(record.levelno >= logging.ERROR for record in caplog.records) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # rounds more, each meeting no table
        errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert [missing.search(record.getMessage()) is not None for record in errors] == [True]
        assert [record for record in caplog.records if record.exc_info] == []

        registry.create_table()
        token = registry.register()
        registry.start(token)  # then never heard of again: lost after its lease
        deadline = time.monotonic() + 60
        while not registry.snapshot(token).state.is_final:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert registry.snapshot(token).state is ImportState.FAILED


def test_the_reapers_two_threads_meeting_no_table_at_once_log_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reaper's rounds and its deliveries run in threads of their own: when both (here,
    eight calls at once) meet the missing table, the ERROR line is still written once, even
    through a handler as slow as one that sends its records over a network."""
    from flask_import_abort.processes import StoreOutdated

    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}", webhooks=True, lease=1)
    together = threading.Barrier(8)
    outdated: list[bool] = []

    def call(number: int) -> None:
        together.wait(timeout=30)
        try:
            registry.reap() if number % 2 else registry.claim_notices(1, 1.0)
        except StoreOutdated:
            outdated.append(True)

    class Slow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            time.sleep(0.2)

    logger = logging.getLogger("flask_import_abort")
    slow = Slow()
    logger.addHandler(slow)
    try:
        with registry, caplog.at_level(logging.INFO):
            threads = [threading.Thread(target=call, args=(number,)) for number in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    finally:
        logger.removeHandler(slow)
    assert outdated == [True] * 8
    assert [record.levelno for record in caplog.records if record.levelno >= logging.ERROR] == [
        logging.ERROR
    ]
    registry.close()
