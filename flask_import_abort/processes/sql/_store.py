"""Internal: the SQL registry's store: its engine, its table and the table's schema, its
connections and the hot statements compiled once, its reads (a row as a snapshot, a process,
the processes registered last, the counts by state), and the outbox of the webhooks' notices.
:class:`SQLImportRegistry` keeps the life cycle on top of it: every change."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast

from sqlalchemy import Connection, CursorResult, Engine, MetaData, Row
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from ..contract import ProcessKind, StoreOutdated, checked_kind
from ..lifecycle import (
    DEFAULT_LEASE,
    EndReason,
    ImportState,
    ProcessSnapshot,
    UnknownImport,
    checked_lease,
    checked_seconds,
    summed,
)
from ..notices import Notice
from ..tokens import new_token
from . import _versions as versions
from ._outbox import OutboxStatements
from ._outbox import notice as outbox_notice
from ._schema import (
    DEFAULT_TABLE_NAME,
    create_tables,
    fork_safe,
    import_process_table,
    is_missing_table,
    outbox_table,
    registry_engine,
)
from ._statements import Statements
from ._watchdog import Watchdog

__all__ = ["UNAVAILABLE", "FlaskSQLAlchemyLike", "SQLStore"]

log = logging.getLogger("flask_import_abort")

#: Errors that mean the database cannot be reached or is locked now, not that a call is wrong.
UNAVAILABLE = (OperationalError, PoolTimeout)


class FlaskSQLAlchemyLike(Protocol):
    """A Flask-SQLAlchemy ``db``: its engine (in an app context) and its metadata."""

    @property
    def engine(self) -> Engine: ...

    @property
    def metadata(self) -> MetaData: ...


class SQLStore:
    """The table of import processes in one SQL database, and what every call on it shares
    (see :class:`SQLImportRegistry`, which is one)."""

    def __init__(
        self,
        bind: Engine | str | URL | FlaskSQLAlchemyLike,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        metadata: MetaData | None = None,
        lock_timeout: float = 5.0,
        request_timeout: float = 5.0,
        retry_after: int = 5,
        lease: float = DEFAULT_LEASE,
        webhooks: bool = False,
    ) -> None:
        if not isinstance(webhooks, bool):
            raise TypeError(f"webhooks is True or False; got {type(webhooks).__name__}.")
        #: Whether each end writes a notice in the outbox, for the webhooks to deliver.
        self.webhooks = webhooks
        self.lease = checked_lease(lease)
        self.request_timeout = _seconds(request_timeout, "request_timeout")
        self._watchdog = Watchdog()
        self._engine: Callable[[], Engine]
        #: The engine made from a URL, which :meth:`close` disposes of; None for the host's.
        self._own_engine: Engine | None = None
        if isinstance(bind, Engine):
            fork_safe(bind)
            self._engine = _constant(bind)
        elif isinstance(bind, str | URL):
            self._own_engine = registry_engine(
                make_url(bind),
                lock_timeout=_seconds(lock_timeout, "lock_timeout"),
                request_timeout=self.request_timeout,
                watchdog=self._watchdog,
            )
            self._engine = _constant(self._own_engine)
        else:
            self._engine = _AppEngine(bind)
            metadata = bind.metadata if metadata is None else metadata
        metadata = MetaData() if metadata is None else metadata
        existing = metadata.tables.get(table_name)  # a second registry on the same metadata
        self.table = import_process_table(metadata, table_name) if existing is None else existing
        #: The one-row table that says which schema version :attr:`table` is at.
        self.version_table = versions.version_table(self.table)
        #: The outbox of the webhooks' notices, beside :attr:`table`.
        self.outbox_table = outbox_table(self.table)
        self._outbox = OutboxStatements(self.outbox_table)
        self._statements = Statements(self.table, self.lease)
        #: Each end written with its notice in one statement, where the database can.
        self._noted_moves = {
            state: self._outbox.with_notice(move)
            for state, move in self._statements.moves.items()
            if state.is_final
        }
        self.retry_after = retry_after
        self._hot: dict[Dialect, _Hot] = {}
        #: Whether :meth:`check_schema` has logged the table's problem.
        self._schema_said = False
        #: Whether a reaper's call has logged that the table is missing; its lock, because the
        #: reaper's two threads (its rounds, its deliveries) may meet the missing table at once.
        self._missing_said = False
        self._missing_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine the registry runs its statements on."""
        return self._engine()

    def close(self) -> None:
        """Close the connections of the engine the registry made from a URL.

        A registry on the host's engine or ``db`` leaves them to the host. The registry may be
        used again afterwards: the engine opens new connections when asked.
        """
        if self._own_engine is not None:
            self._own_engine.dispose()

    def create_table(self) -> None:
        """Create the table, at the schema version this package needs, if it is missing; leave
        an existing one as it is (see :meth:`upgrade_table`). Safe when any number of
        processes, on any number of machines, do it at once."""
        self._change_schema(upgrade=False)

    def upgrade_table(self) -> tuple[int | None, int]:
        """Create the table, or bring it to the schema version this package needs by the
        ordered steps from the version it is at; answer the versions before (None: there was
        no table) and after. Safe to run again, and from any number of processes at once: they
        take turns, and each after the first finds nothing left to do."""
        return self._change_schema(upgrade=True)

    def _change_schema(self, *, upgrade: bool) -> tuple[int | None, int]:
        engine = self.engine
        create_tables(engine, self.version_table)  # WAL on a SQLite file; races taken care of
        with engine.begin() as connection:
            versions.lock(connection, self.table)
            before = versions.recorded_version(connection, self.table)
            if before is not None and not upgrade:
                if before == versions.CURRENT:  # made by the host's tools: recorded now
                    versions.record_inferred(connection, self.table)
                return before, before
            changed = versions.upgrade(connection, self.table)
        self._schema_said = False
        return changed

    def drop_table(self) -> None:
        """Drop the table, its version table and its outbox, where they exist (a test's
        clean-up)."""
        with self.engine.begin() as connection:
            self.outbox_table.drop(connection, checkfirst=True)
            self.version_table.drop(connection, checkfirst=True)
            self.table.drop(connection, checkfirst=True)

    def schema_problem(self) -> str | None:
        """What is wrong with the table's schema for this version of the package (older, or
        upgraded halfway), in one sentence naming the command that mends it; None when
        nothing is, or when there is no table yet. A table made at this version by the host's
        own tools (``db.create_all()``, a migration) has its version recorded here."""
        with self._connection(time.monotonic() + self.request_timeout) as connection:
            problem = versions.problem(connection, self.table)
            unrecorded = versions.unrecorded_but_current(connection, self.table)
        if unrecorded:  # made by db.create_all() or a migration: its version is recorded
            self.create_table()
        return problem

    def check_schema(self) -> str | None:
        """Log :meth:`schema_problem` as one ERROR line, once for the registry however often it
        is asked (at start-up, then by each call that meets it); answer it."""
        problem = self.schema_problem()
        if problem is not None and not self._schema_said:
            log.error("import registry: %s", problem)
            self._schema_said = True
        return problem

    @property
    def _missing_table(self) -> str:
        return (
            f"the table {self.table.name!r} does not exist; call the registry's create_table() "
            "once at set-up, or create it with your migrations"
        )

    @contextmanager
    def _table_needed(self) -> Iterator[None]:
        """A call of the reaper's (a reap, a round of deliveries) that meets no table: one
        ERROR line naming ``create_table()``, once until a call finds it, and
        :class:`StoreOutdated`, which the reaper's rounds log no more of."""
        try:
            yield
        except DBAPIError as error:
            if not is_missing_table(error):
                raise
            with self._missing_lock:
                first, self._missing_said = not self._missing_said, True
            if first:
                log.error("import registry: %s", self._missing_table)
            raise StoreOutdated(self._missing_table) from error
        self._missing_said = False

    @contextmanager
    def _connection(self, deadline: float | None = None) -> Iterator[Connection]:
        """A connection of the engine; one that the watchdog cuts past ``deadline``."""
        with self.engine.connect() as connection:
            if deadline is None:
                yield connection
                return
            with self._watchdog.bound(connection.connection.dbapi_connection, deadline):
                yield connection

    def _execute(
        self, connection: Connection, name: str, values: Mapping[str, Any]
    ) -> CursorResult[Any]:
        """Run the hot statement ``name`` (compiled once for the dialect) on ``connection``."""
        dialect = connection.dialect
        hot = self._hot.get(dialect)
        if hot is None:
            hot = self._hot[dialect] = _Hot(self._statements, self._outbox, dialect)
        compiled = hot.statements[name]
        return connection.exec_driver_sql(compiled.sql, compiled.parameters(values))

    def _hot_once(self, name: str, values: Mapping[str, Any], *, fetch: bool = False) -> Any:
        """Run the hot statement ``name`` in a transaction of its own: its first row when
        ``fetch``, else its row count."""
        with self.engine.begin() as connection:
            result = self._execute(connection, name, values)
            return result.first() if fetch else result.rowcount

    def _snapshot(self, row: Row[Any]) -> ProcessSnapshot:
        """One row as a snapshot; ``lost`` as the database's clock judged it in the read."""
        return ProcessSnapshot(
            token=row.token,
            state=ImportState(row.state),
            abort_requested=row.abort_requested_at is not None,
            created_at=_utc(row.created_at) or row.created_at,
            started_at=_utc(row.started_at),
            finished_at=_utc(row.finished_at),
            processed=row.processed_count,
            total=row.total_count,
            heartbeat_at=_utc(row.heartbeat_at),
            lost=bool(row._mapping.get("lost", False)),
            stop_by=_utc(row.stop_by),
            end_reason=None if row.end_reason is None else EndReason(row.end_reason),
            abort_requested_at=_utc(row.abort_requested_at),
            aborted_by=row.aborted_by,
            abort_reason=row.abort_reason,
            abort_request_id=row.abort_request_id,
            parent=row.parent_token,
            chunk_index=row.chunk_index,
            chunks=row.chunk_count or 0,
            continue_on_error=bool(row.continue_on_error),
            metadata=None if row.metadata is None else json.loads(row.metadata),
            failed=row.failed_count or 0,
            kind=ProcessKind(row.kind),
        )

    # The reads.

    def chunks(self, token: str) -> list[ProcessSnapshot]:
        """The chunks of the parallel import ``token``, in order (``[]`` for a process run by
        one worker)."""
        with self.engine.connect() as connection:
            rows = connection.execute(self._statements.chunks, {"key": token}).all()
        return [self._snapshot(row) for row in rows]

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self.engine.connect() as connection:
            row = connection.execute(self._statements.read, {"key": token}).first()
            if row is None:
                raise UnknownImport(token)
            snapshot = self._snapshot(row)
            if row.chunk_count is None:
                return snapshot
            chunks = connection.execute(self._statements.chunks, {"key": token}).all()
        return summed(snapshot, [self._snapshot(chunk) for chunk in chunks])

    def recent(
        self,
        limit: int = 50,
        *,
        states: Iterable[ImportState] | None = None,
        older_than: timedelta | None = None,
        kind: ProcessKind | str | None = None,
    ) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first: one read on the index; only
        those in ``states``, registered ``older_than`` ago or more, and of ``kind``, when
        given."""
        query = self._statements.recent
        parameters: dict[str, Any] = {"limit": max(limit, 0)}
        if states is not None:
            chosen = [ImportState(state).value for state in states]
            query = query.where(self.table.c.state.in_(chosen))
        if kind is not None:
            query = query.where(self.table.c.kind == checked_kind(kind).value)
        if older_than is not None:
            query = query.where(self._statements.registered_before)
            parameters["older_than"] = -older_than.total_seconds()
        with self.engine.connect() as connection:
            rows = connection.execute(query, parameters).all()
            parents = [row.token for row in rows if row.chunk_count is not None]
            found: dict[str, list[ProcessSnapshot]] = {parent: [] for parent in parents}
            if parents:
                c = self.table.c
                chunks = self._statements.chunks_of.where(c.parent_token.in_(parents))
                for chunk in connection.execute(chunks):
                    found[chunk.parent_token].append(self._snapshot(chunk))
        return [
            self._snapshot(row)
            if row.chunk_count is None
            else summed(self._snapshot(row), found[row.token])
            for row in rows
        ]

    def count_by_state(self, *, kind: ProcessKind | str | None = None) -> dict[ImportState, int]:
        """How many processes (of ``kind``, when given) are in each state: one read on the
        state index, which ends within ``request_timeout`` seconds however the server
        behaves."""
        query = self._statements.count_by_state
        if kind is not None:
            query = query.where(self.table.c.kind == checked_kind(kind).value)
        with self._connection(time.monotonic() + self.request_timeout) as connection:
            rows = connection.execute(query).all()
        return {ImportState(state): count for state, count in rows}

    def _write_notices(self, connection: Connection, tokens: Sequence[str]) -> None:
        """Write a notice of the end of each of ``tokens``, in the caller's transaction (the
        one that records the ends): one compiled ``INSERT`` for one end."""
        if len(tokens) == 1:
            self._execute(connection, "notice", {"id": new_token(), "token": tokens[0]})
        elif tokens:
            self._outbox.write_for(connection, tokens)

    def claim_notices(self, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds, committed at once: a
        dispatcher holds no transaction open while it delivers them."""
        with self._table_needed(), self.engine.begin() as connection:
            return self._outbox.claim(connection, limit, lease)

    def record_attempt(
        self,
        notice: Notice,
        *,
        delivered_to: Sequence[str],
        error: str | None,
        state: str,
        wait: float,
    ) -> bool:
        """Record one attempt of ``notice`` under its claim; whether the claim still held."""
        values = {
            "notice": notice.id,
            "held": notice.claim,
            "reached": json.dumps(list(delivered_to)),
            "error": error,
            "new_state": state,
            "wait": wait,
        }
        with self.engine.begin() as connection:
            return bool(connection.execute(self._outbox.attempted, values).rowcount)

    def notices(self, token: str) -> list[Notice]:
        """The notices of the process ``token``, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(self._outbox.of_token, {"key": token}).all()
        return [outbox_notice(row) for row in rows]

    def retry_failed(self) -> int:
        """Make every failed notice due again, its attempts from zero; how many."""
        with self.engine.begin() as connection:
            return int(connection.execute(self._outbox.retry_failed).rowcount)

    def purge_delivered(self, older_than: float) -> int:
        """Remove the notices delivered more than ``older_than`` seconds ago; how many."""
        with self.engine.begin() as connection:
            return int(connection.execute(self._outbox.purge, {"older_than": -older_than}).rowcount)


class _Compiled:
    """One statement compiled once for one dialect, sent by ``Connection.exec_driver_sql``:
    engine events and instrumentation see it, and no call compiles it or looks it up."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._names = list(compiled.positiontup or ()) if dialect.positional else None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self._names is None:
            return dict(values)
        return tuple(values[name] for name in self._names)


class _Hot:
    """The statements run once per request or batch, compiled for one dialect."""

    def __init__(self, statements: Statements, outbox: OutboxStatements, dialect: Dialect) -> None:
        self.statements = {
            "notice": _Compiled(outbox.write, dialect),
            "abort_running": _Compiled(statements.abort_running, dialect),
            "abort": _Compiled(statements.abort, dialect),
            "beat": _Compiled(statements.beat, dialect),
            "heartbeat": _Compiled(statements.heartbeat, dialect),
            "progress": _Compiled(statements.progress, dialect),
            "progress_and_total": _Compiled(statements.progress_and_total, dialect),
        }


def _utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC; SQLite hands timestamps back without a zone, written in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class _AppEngine:
    """A Flask-SQLAlchemy ``db``'s engine: the current app's inside an app context (one engine
    per app), else the first one found inside a context, kept for threads that have none. Each
    engine found is made fork-safe."""

    def __init__(self, db: FlaskSQLAlchemyLike) -> None:
        self._db = db
        self._kept: Engine | None = None
        self._last: Engine | None = None

    def __call__(self) -> Engine:
        try:
            engine = self._db.engine
        except RuntimeError:  # "Working outside of application context"
            if self._kept is None:
                raise RuntimeError(
                    "SQLImportRegistry(db) has not seen an app context yet, so it does not know "
                    "which engine to use: call it once inside app.app_context(), or give it "
                    "the engine itself."
                ) from None
            return self._kept
        if engine is not self._last:  # an app's engine met for the first time, or again
            fork_safe(engine)
            self._last = engine
            if self._kept is None:
                self._kept = engine
        return engine


def _constant(engine: Engine) -> Callable[[], Engine]:
    return lambda: engine


def _seconds(value: object, name: str) -> float:
    try:
        return checked_seconds(value, name)
    except TypeError as error:  # one kind of refusal for each argument that is not a number
        raise ValueError(str(error)) from None
