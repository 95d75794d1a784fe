"""Internal: the versions of the SQL registry's schema, and the ordered steps between them.

The version a database is at is kept in a table of its own beside the registry's,
``<table>_version``, one row. A table without a recorded version was made by the host's own
tools (``db.create_all()``, an Alembic migration of the metadata) or before versions were kept
(0.1.0, 0.2.0). One that has every column of this version and its outbox is at this version,
and is recorded so (``create_all`` records it as it makes the version table, the app's start-up
after a migration); any other counts as version 1. Every step checks what is there before it
changes it, so a table upgraded by hand halfway (CHANGELOG's SQL, one block of two) is
finished, not broken. The whole upgrade is one transaction, which holds the database's write
lock (SQLite) or an advisory lock (PostgreSQL) from its first statement: processes upgrading
at once do it one after the other, and every one after the first finds nothing left to do.

A later version adds a step to :data:`STEPS`; nothing else changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Integer, Table, event, func, inspect, text, update
from sqlalchemy.schema import CreateColumn

from ..lifecycle import RUNNING_STATES
from ._schema import ACTOR_LENGTH, SCHEMA_LOCK, outbox_table

log = logging.getLogger("flask_import_abort")


@dataclass(frozen=True)
class Step:
    """The change from ``version - 1`` to ``version``, run on a connection in a transaction."""

    version: int
    says: str
    apply: Callable[[Connection, Table], None]


def _add_columns(*names: str) -> Callable[[Connection, Table], None]:
    """A step adding the table's columns ``names`` where they are missing."""

    def apply(connection: Connection, table: Table) -> None:
        present = {
            column["name"]
            for column in inspect(connection).get_columns(table.name, schema=table.schema)
        }
        preparer = connection.dialect.identifier_preparer
        for name in names:
            if name not in present:
                column = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
                connection.execute(
                    text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {column}")
                )

    return apply


def _add_index(suffix: str) -> Callable[[Connection, Table], None]:
    """A step creating the table's index ``ix_<table>_<suffix>`` where it is missing."""

    def apply(connection: Connection, table: Table) -> None:
        name = f"ix_{table.name}_{suffix}"
        present = {
            index["name"]
            for index in inspect(connection).get_indexes(table.name, schema=table.schema)
        }
        if name not in present:
            next(index for index in table.indexes if index.name == name).create(connection)

    return apply


def _both(*steps: Callable[[Connection, Table], None]) -> Callable[[Connection, Table], None]:
    def apply(connection: Connection, table: Table) -> None:
        for step in steps:
            step(connection, table)

    return apply


def _heartbeat_from_start(connection: Connection, table: Table) -> None:
    """A running process recorded before heartbeats were kept counts as last heard of when it
    started (or, if it never did, when it was registered), so that it can be lost and reaped."""
    c = table.c
    connection.execute(
        update(table)
        .where(c.heartbeat_at.is_(None), c.state.in_(sorted(s.value for s in RUNNING_STATES)))
        .values(heartbeat_at=func.coalesce(c.started_at, c.created_at))
    )


def _widen_actor(connection: Connection, table: Table) -> None:
    """``aborted_by`` holds an identity of up to :data:`ACTOR_LENGTH` characters whole (SQLite
    does not hold a string to its declared length, so there is nothing to change there)."""
    if connection.dialect.name == "postgresql":
        preparer = connection.dialect.identifier_preparer
        connection.execute(
            text(
                f"ALTER TABLE {preparer.format_table(table)} "
                f"ALTER COLUMN aborted_by TYPE VARCHAR({ACTOR_LENGTH})"
            )
        )


def _create_outbox(connection: Connection, table: Table) -> None:
    """The outbox of the webhooks' notices, where it is missing."""
    outbox_table(table).create(connection, checkfirst=True)


def _chunks_only(connection: Connection, table: Table) -> None:
    """The index on ``parent_token`` holds the chunks alone where the database has partial
    indexes (PostgreSQL, SQLite): made again where it holds every row."""
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return
    name = f"ix_{table.name}_parent_token"
    index = next(index for index in table.indexes if index.name == name)
    preparer = connection.dialect.identifier_preparer
    if dialect == "postgresql":
        found = connection.execute(
            text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = :name "
                "AND schemaname = coalesce(:schema, current_schema())"
            ),
            {"name": name, "schema": table.schema},
        ).scalar()
    else:
        master = "sqlite_master" if table.schema is None else f"{table.schema}.sqlite_master"
        found = connection.execute(
            text(f"SELECT sql FROM {master} WHERE type = 'index' AND name = :name"),  # noqa: S608
            {"name": name},
        ).scalar()
    if found is not None and " WHERE " in found.upper():
        return
    if found is not None:
        quoted = preparer.quote(name)
        if table.schema is not None:
            quoted = f"{preparer.quote_schema(table.schema)}.{quoted}"
        connection.execute(text(f"DROP INDEX {quoted}"))
    index.create(connection)


STEPS: Sequence[Step] = (
    Step(
        2,
        "liveness and stop deadlines: heartbeat_at, stop_by, end_reason, an index on state",
        _both(_add_columns("heartbeat_at", "stop_by", "end_reason"), _add_index("state")),
    ),
    Step(3, "who aborted and why", _add_columns("aborted_by", "abort_reason", "abort_request_id")),
    Step(4, "running processes without a heartbeat get one", _heartbeat_from_start),
    Step(5, f"aborted_by holds {ACTOR_LENGTH} characters", _widen_actor),
    Step(
        6,
        "parallel imports: parent_token, chunk_index, chunk_count, continue_on_error, an index "
        "on parent_token",
        _both(
            _add_columns("parent_token", "chunk_index", "chunk_count", "continue_on_error"),
            _add_index("parent_token"),
        ),
    ),
    Step(
        7,
        "webhooks: metadata, failed_count, and the outbox table of the notices",
        _both(_add_columns("metadata", "failed_count"), _create_outbox),
    ),
    Step(8, "the index on parent_token holds the chunks alone", _chunks_only),
    Step(
        9,
        "process kinds: kind, import or export (every process before it an import)",
        _add_columns("kind"),
    ),
)
#: The version this package's statements need.
CURRENT = STEPS[-1].version
#: The version of a table that exists without a recorded one (made by 0.1.0 or 0.2.0).
UNRECORDED = 1
#: The columns of version 1 (0.1.0's table); a table with more of them but not all was
#: upgraded halfway.
FIRST_COLUMNS = frozenset(
    {
        "token",
        "state",
        "abort_requested_at",
        "created_at",
        "started_at",
        "finished_at",
        "processed_count",
        "total_count",
    }
)


def version_table(table: Table) -> Table:
    """The one-row table that says which version ``table``'s schema is at. Made by the
    metadata's ``create_all()`` beside a table of this version, it records that version."""
    name = f"{table.name}_version"
    key = name if table.schema is None else f"{table.schema}.{name}"
    existing = table.metadata.tables.get(key)
    if existing is not None:
        return existing
    versions = Table(
        name, table.metadata, Column("version", Integer, nullable=False), schema=table.schema
    )

    def created(target: Any, connection: Connection, tables: Any = (), **_: Any) -> None:
        """After ``create_all()``: a version table made beside a table of this version
        records it."""
        if versions in tables and recorded_version(connection, table) == CURRENT:
            record_inferred(connection, table)

    event.listen(table.metadata, "after_create", created)
    return versions


def recorded_version(connection: Connection, table: Table) -> int | None:
    """The version ``table`` is at: None when it does not exist; when no version is recorded,
    :data:`CURRENT` for a table with every column of this version and its outbox (made by the
    host's own tools), else :data:`UNRECORDED`."""
    names = set(inspect(connection).get_table_names(schema=table.schema))
    if table.name not in names:
        return None
    versions = version_table(table)
    if versions.name in names:
        found = connection.execute(versions.select()).scalar()
        if found is not None:
            return int(found)
    if outbox_table(table).name in names and not missing_columns(connection, table):
        return CURRENT
    return UNRECORDED


def unrecorded_but_current(connection: Connection, table: Table) -> bool:
    """Whether ``table`` is at this version without a record of it (made by the host's tools)."""
    return recorded_version(connection, table) == CURRENT and not is_recorded(connection, table)


def is_recorded(connection: Connection, table: Table) -> bool:
    """Whether ``table``'s version is recorded in its version table."""
    versions = version_table(table)
    if versions.name not in inspect(connection).get_table_names(schema=table.schema):
        return False
    return connection.execute(versions.select()).first() is not None


def record_inferred(connection: Connection, table: Table) -> None:
    """Record :data:`CURRENT` for a table made at this version by the host's own tools, whose
    version table exists and is empty; in the caller's transaction."""
    if not is_recorded(connection, table):
        connection.execute(version_table(table).insert().values(version=CURRENT))


def missing_columns(connection: Connection, table: Table) -> list[str]:
    """The columns of ``table`` that the database's table lacks, in the table's order."""
    present = {
        column["name"]
        for column in inspect(connection).get_columns(table.name, schema=table.schema)
    }
    return [column.name for column in table.columns if column.name not in present]


def problem(connection: Connection, table: Table) -> str | None:
    """What is wrong with ``table``'s schema for this version of the package, in one sentence
    that says what to run; None when nothing is (or when the table does not exist yet)."""
    version = recorded_version(connection, table)
    if version is None:
        return None
    missing = missing_columns(connection, table)
    command = "run `flask import-abort upgrade-table` (or the registry's upgrade_table())"
    if missing:
        present = {
            column["name"]
            for column in inspect(connection).get_columns(table.name, schema=table.schema)
        }
        # A table of no recorded version with some later columns (CHANGELOG's SQL run in
        # part), or one whose recorded version should have them all.
        if (version == UNRECORDED and present - FIRST_COLUMNS) or version >= CURRENT:
            return (
                f"the table {table.name!r} is half upgraded: it lacks the columns "
                f"{', '.join(missing)}; {command} to finish the upgrade"
            )
        return (
            f"the table {table.name!r} is at schema version {version}, older than the "
            f"{CURRENT} this version needs (it lacks {', '.join(missing)}); {command}"
        )
    if version < CURRENT:
        return (
            f"the table {table.name!r} is at schema version {version}, older than the "
            f"{CURRENT} this version needs; {command}"
        )
    if version > CURRENT:
        return (
            f"the table {table.name!r} is at schema version {version}, newer than the "
            f"{CURRENT} this version of flask-import-abort knows; upgrade the package"
        )
    return None


def upgrade(connection: Connection, table: Table) -> tuple[int | None, int]:
    """Create ``table`` at :data:`CURRENT`, or upgrade it there; in the caller's transaction,
    which must hold the schema lock (see :func:`lock`), once the version table exists.
    Answers the versions before and after.
    """
    versions = version_table(table)
    before = recorded_version(connection, table)
    if before is None:
        table.create(connection)
        _create_outbox(connection, table)
    else:
        for step in STEPS:
            if before < step.version:
                log.info(
                    "import registry: table %r to version %d: %s",
                    table.name,
                    step.version,
                    step.says,
                )
                step.apply(connection, table)
    if before is not None and before >= CURRENT:
        if before == CURRENT:  # a table the host's tools made: its version, recorded
            record_inferred(connection, table)
        return before, before  # nothing to do; or a newer package's table, left alone
    connection.execute(versions.delete())
    connection.execute(versions.insert().values(version=CURRENT))
    return before, CURRENT


def lock(connection: Connection, table: Table) -> None:
    """Take the lock that upgrades of ``table`` wait for, until the transaction ends.

    PostgreSQL: an advisory lock. SQLite: the database's write lock, which a write of the
    version table takes even when it changes nothing (SQLite waits for it up to the
    connection's busy timeout); the version table is made first, in a transaction of its own.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(SCHEMA_LOCK)
        return
    versions = version_table(table)
    connection.execute(versions.update().values(version=versions.c.version))
