"""Internal: the SQL registry's table, its creation, and the engine it makes from a URL."""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, DisconnectionError

from ..contract import ProcessKind
from ..tokens import DEFAULT_MAX_LENGTH
from ._watchdog import Watchdog

#: Held by a PostgreSQL transaction that creates or upgrades tables, until it ends.
SCHEMA_LOCK = text("SELECT pg_advisory_xact_lock(7306245671403851293)")

DEFAULT_TABLE_NAME = "import_processes"
#: The longest actor the table holds whole: an OpenID Connect ``sub`` may be 255 characters.
ACTOR_LENGTH = 255
#: The longest token the table holds; as long as the endpoint's default limit.
TOKEN_LENGTH = DEFAULT_MAX_LENGTH


def import_process_table(metadata: MetaData, name: str = DEFAULT_TABLE_NAME) -> Table:
    """The table of import processes, defined on ``metadata`` (for a host's own migrations).

    ======================  ==================  ==========================================
    column                  type                meaning
    ======================  ==================  ==========================================
    ``token``               varchar(256), PK    the process's token
    ``state``               varchar(16)         an ``ImportState`` value
    ``abort_requested_at``  timestamp, null     when an abort was first requested
    ``created_at``          timestamp           when the process was registered
    ``started_at``          timestamp, null     when it began processing
    ``finished_at``         timestamp, null     when it reached an end state
    ``processed_count``     integer             records written, as last reported
    ``total_count``         integer, null       records expected, if known
    ``heartbeat_at``        timestamp, null     when its worker last called the registry
    ``stop_by``             timestamp, null     when a requested abort is forced
    ``end_reason``          varchar(32), null   why the package ended it: an ``EndReason``
    ``aborted_by``          varchar(255), null  who asked for the first abort
    ``abort_reason``        varchar(500), null  why, in their words
    ``abort_request_id``    varchar(200), null  the abort request's ``X-Request-ID``
    ``parent_token``        varchar(256), null  a chunk's parallel import
    ``chunk_index``         integer, null       a chunk's place among its parent's, from 1
    ``chunk_count``         integer, null       how many chunks a parallel import has
    ``continue_on_error``   boolean, null       whether a parallel import goes on past a
                                                chunk that failed
    ``metadata``            text, null          what the host said of the import at
                                                registration (JSON: its ``format``, ``id``)
    ``failed_count``        integer, null       records the import reported failed
    ``kind``                varchar(16)         ``import`` or ``export`` (by default
                                                ``import``): a ``ProcessKind`` value
    ======================  ==================  ==========================================

    The schema has a version, kept in a one-row table beside it, ``<name>_version`` (see
    :meth:`SQLImportRegistry.upgrade_table`). Timestamps are UTC. ``created_at`` is indexed,
    for listing newest first; ``state``, for finding the running processes among all the
    finished ones; ``parent_token``, for finding a parallel import's chunks (a
    partial index: it holds the chunks alone, as no statement looks up an import there).
    """
    table = Table(
        name,
        metadata,
        *_columns(),
        Index(f"ix_{name}_created_at", "created_at"),
        Index(f"ix_{name}_state", "state"),
    )
    chunks_index(table)
    return table


def _columns() -> list[Column[Any]]:
    """The process table's columns, as :func:`import_process_table` lists them."""
    return [
        Column("token", String(TOKEN_LENGTH), primary_key=True),
        Column("state", String(16), nullable=False),
        Column("abort_requested_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        Column("processed_count", Integer, nullable=False),
        Column("total_count", Integer),
        Column("heartbeat_at", DateTime(timezone=True)),
        Column("stop_by", DateTime(timezone=True)),
        Column("end_reason", String(32)),
        Column("aborted_by", String(ACTOR_LENGTH)),
        Column("abort_reason", String(500)),
        Column("abort_request_id", String(200)),
        Column("parent_token", String(TOKEN_LENGTH)),
        Column("chunk_index", Integer),
        Column("chunk_count", Integer),
        Column("continue_on_error", Boolean),
        Column("metadata", Text),
        Column("failed_count", Integer),
        Column("kind", String(16), nullable=False, server_default=ProcessKind.IMPORT.value),
    ]


def chunks_index(table: Table) -> Index:
    """The index on ``parent_token`` that finds a parallel import's chunks. It holds the
    chunks alone (a partial index, where the database has them): an import's row has no
    parent, so no statement could find it there, and none should try. A statement on one
    import says ``parent_token IS NULL``; over a full index, a plan cached when the table was
    new (PostgreSQL's generic plan of a prepared statement) could take that index for it and
    read every import's entry on each call."""
    chunk = table.c.parent_token.is_not(None)
    return Index(
        f"ix_{table.name}_parent_token",
        table.c.parent_token,
        postgresql_where=chunk,
        sqlite_where=chunk,
    )


def outbox_table(table: Table) -> Table:
    """The outbox of ``table``'s notices (``<name>_outbox``): one row for each end of an import
    process that a webhook announces, written in the transaction that records the end, and
    kept until it is delivered to every URL, or has failed, and its retention has passed.

    ===================  ==================  ==============================================
    column               type                meaning
    ===================  ==================  ==============================================
    ``id``               varchar(64), PK     the delivery's id, the same on every attempt
    ``token``            varchar(256)        the process whose end it announces
    ``state``            varchar(16)         ``pending``, ``delivered`` or ``failed``
    ``created_at``       timestamp           when the end was recorded
    ``attempts``         integer             attempts made so far
    ``next_attempt_at``  timestamp           when it may be tried (again)
    ``claimed_until``    timestamp, null     a dispatcher's lease on it
    ``claim``            varchar(64), null   which claim holds that lease
    ``delivered_to``     text, null          the URLs it reached, as a JSON list of digests
    ``last_attempt_at``  timestamp, null     when it was last tried
    ``last_error``       varchar(500), null  what the last failed attempt met
    ``finished_at``      timestamp, null     when it was delivered, or failed for good
    ===================  ==================  ==============================================
    """
    name = f"{table.name}_outbox"
    key = name if table.schema is None else f"{table.schema}.{name}"
    existing = table.metadata.tables.get(key)
    if existing is not None:
        return existing
    return Table(
        name,
        table.metadata,
        Column("id", String(64), primary_key=True),
        Column("token", String(TOKEN_LENGTH), nullable=False),
        Column("state", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False),
        Column("claimed_until", DateTime(timezone=True)),
        Column("claim", String(64)),
        Column("delivered_to", Text),
        Column("last_attempt_at", DateTime(timezone=True)),
        Column("last_error", String(500)),
        Column("finished_at", DateTime(timezone=True)),
        Index(f"ix_{name}_token", "token"),
        Index(f"ix_{name}_due", "state", "next_attempt_at"),
        schema=table.schema,
    )


def create_tables(engine: Engine, *tables: Table) -> None:
    """Create the ``tables`` that are missing, safely from any number of processes at once.

    On PostgreSQL the creations wait for each other on a transaction-level advisory lock, so
    workers booting together on a fresh database never collide on the catalog. On SQLite a
    file is put in WAL mode first, and a ``CREATE`` that loses a race to another process is
    tried again, which then finds the table there.
    """
    if engine.dialect.name == "sqlite" and is_file(engine.url):
        with engine.connect() as connection:
            use_wal(connection.connection.dbapi_connection)
    for attempt in range(len(tables) + 1):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(SCHEMA_LOCK)
                for table in tables:
                    table.create(connection, checkfirst=True)
            return
        except DBAPIError:
            # Another process created a table between the check and the CREATE: check again,
            # once for each table that could have been taken so.
            if attempt == len(tables):
                raise


def is_missing_table(error: DBAPIError) -> bool:
    """Whether the database said that a table does not exist."""
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return sqlstate == "42P01" or str(error.orig).startswith("no such table")


def is_schema_error(error: DBAPIError) -> bool:
    """Whether the database said that a column does not exist (an older table's schema)."""
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return sqlstate == "42703" or str(error.orig).startswith("no such column")


#: Seconds a pooled connection of a server may stay unused before it is pinged on its next use.
PING_AFTER = 30.0


def registry_engine(
    url: URL, *, lock_timeout: float, request_timeout: float, watchdog: Watchdog
) -> Engine:
    """The engine a registry makes from a URL: it waits at most ``lock_timeout`` seconds for a
    lock, lets no statement run past ``request_timeout``, keeps a SQLite file in WAL mode, and
    is fork-safe: a forked child (a gunicorn or Celery worker) opens connections of its own.

    A server's connections are pinged before a use that follows :data:`PING_AFTER` seconds
    unused (see :func:`ping_stale_connections`); a connection returned to the pool is left as
    the registry left it, every transaction ended (no reset on return)."""
    if url.get_backend_name() == "sqlite":
        if is_file(url):
            engine = create_engine(
                url, connect_args={"timeout": lock_timeout}, pool_timeout=request_timeout
            )
            event.listen(engine, "connect", lambda connection, _: use_wal(connection))
        else:  # in memory: one connection per thread, which no pool timeout applies to
            engine = create_engine(url, connect_args={"timeout": lock_timeout})
    else:
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args["options"] = (
                f"-c lock_timeout={int(lock_timeout * 1000)} "
                f"-c statement_timeout={int(request_timeout * 1000)}"
            )
            connect_args["connect_timeout"] = max(1, round(request_timeout))
        engine = create_engine(
            url,
            connect_args=connect_args,
            pool_timeout=request_timeout,
            # Every use ends its transaction (Connection.close rolls back what is open), so
            # the pool's own rollback on return would be a second one.
            pool_reset_on_return=None,
        )
        ping_stale_connections(engine, PING_AFTER, request_timeout, watchdog)
    fork_safe(engine)
    return engine


def ping_stale_connections(engine: Engine, idle: float, timeout: float, watchdog: Watchdog) -> None:
    """Ping a pooled connection before it is used again after ``idle`` seconds or more unused,
    within ``timeout`` seconds however the server behaves; one that does not answer is thrown
    away, and the pool hands out another (SQLAlchemy's pessimistic disconnect handling, paid
    only where a connection can have gone stale: a server restarted, a firewall forgot it)."""

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return
        try:
            with watchdog.bound(dbapi_connection, time.monotonic() + timeout):
                alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:  # the driver's error, whichever: the connection is gone
            alive = False
        if not alive:
            raise DisconnectionError("a pooled connection went stale; it is replaced")

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


#: The engines whose forked children start their pools afresh (see :func:`fork_safe`).
_FORK_SAFE: weakref.WeakSet[Engine] = weakref.WeakSet()


def fork_safe(engine: Engine) -> None:
    """Make ``engine`` safe across ``os.fork()`` (an RQ work horse, a Celery prefork child, a
    gunicorn worker): in the child, the parent's pooled connections are left to the parent
    (closing them would end its sessions, and sharing them mixes two processes' statements on
    one session) and the pool starts afresh, SQLAlchemy's recipe for pools and forking. Once
    per engine, whether the registry made it or the host did."""
    if engine in _FORK_SAFE:
        return
    _FORK_SAFE.add(engine)
    reference = weakref.ref(engine)

    def forget() -> None:
        engine = reference()
        if engine is not None:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=forget)


def is_file(url: URL) -> bool:
    return url.database not in (None, "", ":memory:")


def use_wal(dbapi_connection: Any, patience: float = 5.0) -> None:
    """Put a SQLite file in WAL mode, which it keeps; other processes may be doing it too."""
    cursor = dbapi_connection.cursor()
    deadline = time.monotonic() + patience
    try:
        while True:
            try:
                if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                    return
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                # The switch needs the file to itself, and SQLite does not wait for that.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        cursor.close()
