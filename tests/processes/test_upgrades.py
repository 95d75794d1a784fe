"""The SQL registry's schema versions: a database that 0.1.0 made, with the imports it left
running, is upgraded by `flask import-abort upgrade-table`, from any number of processes at
once, and after it every import it stranded can end."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy
from flask import Flask
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

from flask_import_abort import ImportAbort, ImportState
from flask_import_abort.processes import EndReason
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import require_postgres, unique_table_name
from ..helpers import abort_url, assert_error_model

#: The schema version this package's statements need.
CURRENT = 9


def table_of_0_1_0(metadata: MetaData, name: str) -> Table:
    """The table as 0.1.0 (commit 2d5cff5) defined and created it."""
    return Table(
        name,
        metadata,
        Column("token", String(256), primary_key=True),
        Column("state", String(16), nullable=False),
        Column("abort_requested_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        Column("processed_count", Integer, nullable=False),
        Column("total_count", Integer),
        Index(f"ix_{name}_created_at", "created_at"),
    )


#: What 0.1.0 left in its table: imports running, paused, blocked, one asked to stop whose worker
#: never called again, one queued and one finished.
HOUR_AGO = datetime.now(timezone.utc) - timedelta(hours=1)
LEFT_BY_0_1_0 = {
    "running": {"state": "processing", "started_at": HOUR_AGO},
    "paused": {"state": "paused", "started_at": HOUR_AGO},
    "blocked": {"state": "blocked", "started_at": HOUR_AGO},
    "stranded": {"state": "processing", "started_at": HOUR_AGO, "abort_requested_at": HOUR_AGO},
    "queued": {"state": "pending"},
    "done": {"state": "succeeded", "started_at": HOUR_AGO, "finished_at": HOUR_AGO},
}

#: CHANGELOG's two blocks of SQL, by which 0.2.0's users upgraded by hand.
FIRST_BLOCK = (
    "ALTER TABLE {t} ADD COLUMN heartbeat_at {ts}",
    "ALTER TABLE {t} ADD COLUMN stop_by {ts}",
    "ALTER TABLE {t} ADD COLUMN end_reason VARCHAR(32)",
    "CREATE INDEX ix_{t}_state ON {t} (state)",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[tuple[str, str]]:
    """A database with 0.1.0's table and what it left there: (URL, table name)."""
    url = (
        f"sqlite:///{tmp_path}/imports.db"  # type: ignore[str-bytes-safe]
        if request.param == "sqlite"
        else require_postgres()
    )
    name = unique_table_name()
    metadata = MetaData()
    table = table_of_0_1_0(metadata, name)
    engine = sqlalchemy.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        for token, values in LEFT_BY_0_1_0.items():
            row = {"token": token, "created_at": HOUR_AGO, "processed_count": 7, **values}
            connection.execute(table.insert().values(row))
    try:
        yield url, name
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}_version")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        engine.dispose()


def apply_first_block(url: str, name: str) -> None:
    engine = sqlalchemy.create_engine(url)
    timestamp = "TIMESTAMP WITH TIME ZONE" if engine.dialect.name == "postgresql" else "TIMESTAMP"
    with engine.begin() as connection:
        for statement in FIRST_BLOCK:
            connection.exec_driver_sql(statement.format(t=name, ts=timestamp))
    engine.dispose()


def app_on(registry: SQLImportRegistry) -> Flask:
    app = Flask(__name__)
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = {"ops": "secret"}
    ImportAbort(app, registry=registry)
    return app


def abort(app: Flask, token: str) -> object:
    return app.test_client().post(abort_url(token), headers={"Authorization": "Bearer secret"})


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def test_an_old_table_is_one_error_line_at_start_up_naming_the_command_not_one_per_abort(
    old_database: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, name = old_database
    with SQLImportRegistry(url, table_name=name, lease=1) as registry:
        with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
            app = app_on(registry)
            assert len(errors_in(caplog)) == 1
            [line] = errors_in(caplog)
            assert "schema version 1" in line
            assert "flask import-abort upgrade-table" in line
            for _ in range(3):
                assert_error_model(abort(app, "running"), 500)
        assert len(errors_in(caplog)) == 1


def test_a_half_upgraded_table_is_named_so_in_one_error_line_and_aborts_answer_500_not_503(
    old_database: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, name = old_database
    apply_first_block(url, name)
    with SQLImportRegistry(url, table_name=name, lease=1) as registry:
        with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
            app = app_on(registry)
            for _ in range(3):
                assert_error_model(abort(app, "running"), 500)
        [line] = errors_in(caplog)
        assert "half upgraded" in line
        assert "aborted_by" in line
        assert "upgrade-table" in line


@pytest.mark.parametrize("half", [False, True], ids=["from 0.1.0", "from a half upgrade"])
def test_upgrade_table_keeps_every_row_and_every_import_it_stranded_can_end(
    old_database: tuple[str, str], half: bool, caplog: pytest.LogCaptureFixture
) -> None:
    url, name = old_database
    if half:
        apply_first_block(url, name)
    with SQLImportRegistry(url, table_name=name, lease=1) as registry:
        app = app_on(registry)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["import-abort", "upgrade-table"])
        assert result.exit_code == 0, result.output
        assert f"upgraded from schema version 1 to {CURRENT}" in result.output
        again = runner.invoke(args=["import-abort", "upgrade-table"])
        assert again.exit_code == 0
        assert "nothing to do" in again.output
        assert registry.schema_problem() is None

        kept = {snapshot.token: snapshot for snapshot in registry.recent(10)}
        assert set(kept) == set(LEFT_BY_0_1_0)
        assert {token: s.processed for token, s in kept.items()} == dict.fromkeys(kept, 7)
        assert kept["done"].state is ImportState.SUCCEEDED
        # Judged by when it started: an hour without a word is lost.
        assert kept["running"].lost
        assert kept["paused"].lost
        assert kept["blocked"].lost

        # An abort of a process 0.1.0 left running ends it there and then.
        assert abort(app, "running").status_code == 200
        ended = registry.snapshot("running")
        assert ended.state is ImportState.ABORTED
        assert ended.end_reason is EndReason.WORKER_LOST
        # The one stranded with an abort already requested, and the others, end at a reap.
        result = runner.invoke(args=["import-abort", "reap"])
        assert result.exit_code == 0, result.output
        after = {snapshot.token: snapshot for snapshot in registry.recent(10)}
        assert after["stranded"].state is ImportState.ABORTED
        assert after["paused"].state is ImportState.FAILED
        assert after["blocked"].state is ImportState.FAILED
        assert {after[token].end_reason for token in ("stranded", "paused", "blocked")} == {
            EndReason.WORKER_LOST
        }
        # A queued import is never lost by its age: a long queue is not a dead one.
        assert after["queued"].state is ImportState.PENDING
        assert after["done"].state is ImportState.SUCCEEDED
        # An identity as long as an OpenID Connect subject is kept whole after the upgrade.
        subject = "s" * 255
        registry.abort("queued", _request(subject))
        assert registry.snapshot("queued").aborted_by == subject


def _request(actor: str) -> object:
    from flask_import_abort import AbortRequest

    return AbortRequest(actor=actor)


UPGRADE = """
import sys
from flask_import_abort.processes.sql import SQLImportRegistry
with SQLImportRegistry(sys.argv[1], table_name=sys.argv[2], lock_timeout=60) as registry:
    print(registry.upgrade_table())
"""


@pytest.mark.slow
def test_many_processes_upgrading_at_once_take_turns_and_one_does_the_work(
    old_database: tuple[str, str],
) -> None:
    url, name = old_database
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE, url, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    answers = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        answers.append(out.strip())
    assert sorted(answers) == sorted([f"({CURRENT}, {CURRENT})"] * 5 + [f"(1, {CURRENT})"])
    with SQLImportRegistry(url, table_name=name) as registry:
        assert registry.schema_problem() is None
        assert len(registry.recent(10)) == len(LEFT_BY_0_1_0)


def test_create_table_makes_a_fresh_table_at_the_current_version_and_leaves_an_old_one(
    old_database: tuple[str, str], tmp_path: object
) -> None:
    url, name = old_database
    with SQLImportRegistry(url, table_name=name) as old:
        old.create_table()  # an existing table is the upgrade's to change, not create_table's
        assert "schema version 1" in (old.schema_problem() or "")
    with SQLImportRegistry(url, table_name=unique_table_name()) as fresh:
        try:
            fresh.create_table()
            assert fresh.schema_problem() is None
            with fresh.engine.connect() as connection:
                assert connection.execute(fresh.version_table.select()).scalar() == CURRENT
            assert fresh.upgrade_table() == (CURRENT, CURRENT)
        finally:
            fresh.drop_table()


def test_the_upgrade_to_8_makes_the_index_on_parent_token_hold_the_chunks_alone(
    database_url: str,
) -> None:
    """A version-7 table indexes every row's ``parent_token``; the upgrade makes that index
    partial, keeps every row, and the chunks of a parallel import are found through it."""
    with SQLImportRegistry(database_url, table_name=unique_table_name()) as registry:
        try:
            registry.create_table()
            chunked = registry.register_chunks(2)
            single = registry.register()
            name = f"ix_{registry.table.name}_parent_token"
            with registry.engine.begin() as connection:
                connection.exec_driver_sql(f"DROP INDEX {name}")
                connection.exec_driver_sql(
                    f"CREATE INDEX {name} ON {registry.table.name} (parent_token)"
                )
                connection.execute(registry.version_table.update().values(version=7))
            assert "WHERE" not in _index_definition(registry, name).upper()

            assert registry.upgrade_table() == (7, CURRENT)
            assert registry.upgrade_table() == (CURRENT, CURRENT)

            assert "parent_token IS NOT NULL" in _index_definition(registry, name)
            found = registry.chunks(chunked.token)
            assert [chunk.token for chunk in found] == list(chunked.chunks)
            assert registry.snapshot(single).state is ImportState.PENDING
        finally:
            registry.drop_table()


def test_the_upgrade_to_9_records_every_process_before_it_as_an_import(
    database_url: str,
) -> None:
    """A version-8 table has no ``kind``: the upgrade adds it, every row it holds is an
    import (an import's abort reaches it, an export's does not), and exports register."""
    from flask_import_abort import AbortOutcome, AbortRequest
    from flask_import_abort.processes import ProcessKind

    with SQLImportRegistry(database_url, table_name=unique_table_name()) as registry:
        try:
            registry.create_table()
            older = registry.register()
            with registry.engine.begin() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {registry.table.name} DROP COLUMN kind")
                connection.execute(registry.version_table.update().values(version=8))
            assert "it lacks kind" in (registry.schema_problem() or "")

            assert registry.upgrade_table() == (8, CURRENT)

            assert registry.snapshot(older).kind is ProcessKind.IMPORT
            export = AbortRequest(kind=ProcessKind.EXPORT)
            assert registry.abort(older, export) is AbortOutcome.NOT_FOUND
            assert registry.abort(older, AbortRequest(kind=ProcessKind.IMPORT)) is (
                AbortOutcome.REQUESTED
            )
            exported = registry.register(kind="export")
            assert registry.snapshot(exported).kind is ProcessKind.EXPORT
        finally:
            registry.drop_table()


def _index_definition(registry: SQLImportRegistry, name: str) -> str:
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        if registry.engine.dialect.name == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    with registry.engine.connect() as connection:
        return str(connection.execute(sqlalchemy.text(query), {"name": name}).scalar())


def _versions_recorded(registry: SQLImportRegistry) -> list[int]:
    with registry.engine.connect() as connection:
        return list(connection.execute(registry.version_table.select()).scalars())


def test_create_all_of_the_metadata_records_the_current_version(database_url: str) -> None:
    """``db.create_all()`` makes the table, its outbox and its version table, and the version
    table records the version it was made at: nothing to upgrade, nothing logged."""
    metadata = MetaData()
    with SQLImportRegistry(database_url, table_name=unique_table_name(), metadata=metadata) as made:
        try:
            metadata.create_all(made.engine)
            assert _versions_recorded(made) == [CURRENT]
            assert made.check_schema() is None
            assert made.upgrade_table() == (CURRENT, CURRENT)
            assert _versions_recorded(made) == [CURRENT]
        finally:
            made.drop_table()


def test_a_migrations_tables_without_a_version_row_are_current_and_recorded_so(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An Alembic migration makes the tables with its own ``Table`` objects, so no event of the
    registry's fires: a table with every column of this version, its outbox and an empty version
    table is at this version, recorded at start-up; one missing a column is not."""
    with SQLImportRegistry(database_url, table_name=unique_table_name()) as made:
        try:
            with made.engine.begin() as connection:  # what `flask db upgrade` runs, in effect
                for table in (made.table, made.outbox_table):
                    connection.execute(sqlalchemy.schema.CreateTable(table))
                connection.execute(sqlalchemy.schema.CreateTable(made.version_table))
            assert _versions_recorded(made) == []
            with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
                assert made.check_schema() is None
            assert caplog.records == []
            assert _versions_recorded(made) == [CURRENT]
        finally:
            made.drop_table()
    with SQLImportRegistry(database_url, table_name=unique_table_name()) as older:
        try:
            with older.engine.begin() as connection:
                connection.execute(sqlalchemy.schema.CreateTable(older.version_table))
                connection.execute(sqlalchemy.schema.CreateTable(older.outbox_table))
                connection.execute(sqlalchemy.schema.CreateTable(older.table))
                connection.exec_driver_sql(
                    f"ALTER TABLE {older.table.name} DROP COLUMN failed_count"
                )
            assert "failed_count" in (older.check_schema() or "")
            assert _versions_recorded(older) == []
            assert older.upgrade_table() == (1, CURRENT)
        finally:
            older.drop_table()
