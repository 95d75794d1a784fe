"""A registry whose import processes live in a SQL database, shared by every process reaching it.

Needs the ``[sql]`` extra (SQLAlchemy 2). SQLite (one file, WAL mode) serves the processes of
one machine; PostgreSQL serves several machines.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Protocol

try:
    import sqlalchemy  # noqa: F401
except ImportError as missing:
    raise ImportError(
        "flask_import_abort.registries.sql needs SQLAlchemy 2: "
        "pip install 'flask-import-abort[sql]'"
    ) from missing

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    bindparam,
    case,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..contract import AbortOutcome
from ..errors import InternalError, RegistryUnavailable
from ..lifecycle import (
    ABORTABLE_STATES,
    RUNNING_STATES,
    SOURCES,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
)
from ..tokens import DEFAULT_MAX_LENGTH, new_token, registrable_token, token_for_log

log = logging.getLogger("flask_import_abort")

DEFAULT_TABLE_NAME = "import_processes"
#: The longest token the table holds; as long as the endpoint's default limit.
TOKEN_LENGTH = DEFAULT_MAX_LENGTH


class FlaskSQLAlchemyLike(Protocol):
    """A Flask-SQLAlchemy ``db``: its engine (in an app context) and its metadata."""

    @property
    def engine(self) -> Engine: ...

    @property
    def metadata(self) -> MetaData: ...


def import_process_table(metadata: MetaData, name: str = DEFAULT_TABLE_NAME) -> Table:
    """The table of import processes, defined on ``metadata`` (for a host's own migrations).

    =====================  ==================  ==========================================
    column                 type                meaning
    =====================  ==================  ==========================================
    ``token``              varchar(256), PK    the process's token
    ``state``              varchar(16)         an ``ImportState`` value
    ``abort_requested_at`` timestamp, null     when an abort was first requested
    ``created_at``         timestamp           when the process was registered
    ``started_at``         timestamp, null     when it began processing
    ``finished_at``        timestamp, null     when it reached an end state
    ``processed_count``    integer             records written, as last reported
    ``total_count``        integer, null       records expected, if known
    =====================  ==================  ==========================================

    Timestamps are UTC. ``created_at`` is indexed, for listing newest first.
    """
    return Table(
        name,
        metadata,
        Column("token", String(TOKEN_LENGTH), primary_key=True),
        Column("state", String(16), nullable=False),
        Column("abort_requested_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        Column("processed_count", Integer, nullable=False),
        Column("total_count", Integer),
        Index(f"ix_{name}_created_at", "created_at"),
    )


#: Errors that mean the database cannot be reached or is locked now, not that a call is wrong.
_UNAVAILABLE = (OperationalError, PoolTimeout)


class SQLImportRegistry:
    """Import processes in one table of a SQL database.

    ``bind`` is a SQLAlchemy ``Engine``, a database URL, or a Flask-SQLAlchemy ``db`` (then the
    table joins ``db.metadata``, so the host's migrations see it, and ``db.engine`` is used,
    which needs an app context). From a URL the registry makes its own engine, which
    waits at most ``lock_timeout`` seconds for a lock and puts a SQLite file in WAL mode.

    ``abort`` is one conditional ``UPDATE`` on the primary key, committed at once; only when it
    changes no row does a read tell the other outcomes apart. It holds no lock between two
    statements, so concurrent aborts from any number of processes each get one answer and the
    process is aborted once. When the database is unreachable or locked, ``abort`` raises
    :class:`~flask_import_abort.errors.RegistryUnavailable`: a 503 with ``Retry-After:
    retry_after``. The worker API raises SQLAlchemy's own errors.
    """

    def __init__(
        self,
        bind: Engine | str | URL | FlaskSQLAlchemyLike,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        metadata: MetaData | None = None,
        lock_timeout: float = 5.0,
        retry_after: int = 5,
    ) -> None:
        self._engine: Callable[[], Engine]
        #: The engine made from a URL, which :meth:`close` disposes of; None for the host's.
        self._own_engine: Engine | None = None
        if isinstance(bind, Engine):
            self._engine = _constant(bind)
        elif isinstance(bind, str | URL):
            self._own_engine = _create_engine(make_url(bind), lock_timeout)
            self._engine = _constant(self._own_engine)
        else:
            db = bind
            self._engine = lambda: db.engine
            metadata = db.metadata if metadata is None else metadata
        metadata = MetaData() if metadata is None else metadata
        existing = metadata.tables.get(table_name)  # a second registry on the same metadata
        self.table = import_process_table(metadata, table_name) if existing is None else existing
        self.retry_after = retry_after
        self._prepare_statements()

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

    def __enter__(self) -> SQLImportRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_table(self) -> None:
        """Create the table if it is missing; safe when any number of processes, on any number
        of machines, do it at once (see :func:`create_tables`)."""
        create_tables(self.engine, self.table)

    def _prepare_statements(self) -> None:
        table = self.table
        columns = table.c
        by_token = columns.token == bindparam("key")
        now = bindparam("now", type_=DateTime(timezone=True))
        pending = columns.state == ImportState.PENDING.value
        self._abort = (
            update(table)
            .where(by_token, columns.state.in_(_values(ABORTABLE_STATES)))
            .where(columns.abort_requested_at.is_(None))
            .values(
                abort_requested_at=now,
                state=case((pending, ImportState.ABORTED.value), else_=columns.state),
                finished_at=case((pending, now), else_=columns.finished_at),
            )
        )
        self._start = (
            update(table)
            .where(by_token, columns.state == ImportState.PENDING.value)
            .values(state=ImportState.PROCESSING.value, started_at=now)
        )
        self._read = select(table).where(by_token)
        self._recent = select(table).order_by(columns.created_at.desc()).limit(bindparam("limit"))
        self._read_flag = select(columns.abort_requested_at).where(by_token)
        self._progress = (
            update(table)
            .where(by_token, columns.state.in_(_values(RUNNING_STATES)))
            .values(processed_count=bindparam("processed"))
        )
        self._progress_and_total = self._progress.values(total_count=bindparam("total"))
        self._moves = {}
        for state, sources in SOURCES.items():
            values: dict[str, Any] = {"state": state.value}
            if state is ImportState.PROCESSING:
                values["started_at"] = func.coalesce(columns.started_at, now)
            elif state.is_final:
                values["finished_at"] = now
            move = update(table).where(by_token, columns.state.in_(_values(sources)))
            self._moves[state] = move.values(values)

    # The endpoint's side.

    def abort(self, token: str) -> AbortOutcome:
        try:
            try:
                return self._abort_once(token)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                # The database dropped a pooled connection (say it restarted): the pool has
                # started over, and asking again is harmless, as a repeated abort is.
                return self._abort_once(token)
        except (DBAPIError, PoolTimeout) as error:
            if isinstance(error, DBAPIError) and _is_missing_table(error):
                log.error(
                    "import registry: the table %r does not exist; call the registry's "
                    "create_table() once at set-up, or create it with your migrations",
                    self.table.name,
                )
                raise InternalError() from error
            if not isinstance(error, _UNAVAILABLE):
                raise
            log.warning(
                "import registry unavailable for abort of import process %s: %s",
                token_for_log(token),
                str(getattr(error, "orig", error)).strip().replace("\n", " ")[:200],
            )
            raise RegistryUnavailable(self.retry_after) from error

    def _abort_once(self, token: str) -> AbortOutcome:
        engine = self.engine
        while True:
            with engine.begin() as connection:
                changed = connection.execute(self._abort, {"key": token, "now": _now()}).rowcount
            if changed:
                return AbortOutcome.REQUESTED
            with engine.connect() as connection:
                row = connection.execute(self._read, {"key": token}).first()
            if row is None:
                return AbortOutcome.NOT_FOUND
            state = ImportState(row.state)
            if row.abort_requested_at is not None or state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            if state.is_final:
                return AbortOutcome.FINISHED
            # Registered between the UPDATE and the read (a token is never registered twice,
            # so this happens at most once): the UPDATE will find it now.

    # The worker's side (see ``WorkerRegistry``).

    def register(self, *, total: int | None = None, token: str | None = None) -> str:
        """Record a new ``pending`` process and return its token (a random one by default)."""
        token = new_token() if token is None else registrable_token(token)
        values = {
            "token": token,
            "state": ImportState.PENDING.value,
            "created_at": _now(),
            "processed_count": 0,
            "total_count": total,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(self.table.insert().values(values))
        except IntegrityError:
            raise ValueError(f"an import process with token {token!r} exists already") from None
        return token

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        try:
            self._change(token, self._start, {"key": token, "now": _now()}, "start")
        except InvalidTransition:
            if self.snapshot(token).state is ImportState.ABORTED:
                return False
            raise
        return True

    def report_progress(self, token: str, processed: int, *, total: int | None = None) -> None:
        """Record how many records a running process has written (and its total, if given)."""
        statement = self._progress if total is None else self._progress_and_total
        parameters = {"key": token, "processed": processed, "total": total}
        self._change(token, statement, parameters, "report progress")

    def should_stop(self, token: str) -> bool:
        """Whether an abort was requested: one primary-key read."""
        with self.engine.connect() as connection:
            row = connection.execute(self._read_flag, {"key": token}).first()
        if row is None:
            raise UnknownImport(token)
        return row.abort_requested_at is not None

    def set_state(self, token: str, state: ImportState) -> None:
        """Record a move of a running process: pause, block, resume, or its end."""
        state = ImportState(state)
        parameters = {"key": token, "now": _now()}
        self._change(token, self._moves[state], parameters, f"go to {state.value}")

    def finish(self, token: str, state: ImportState) -> None:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        self.set_state(token, state)

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self.engine.connect() as connection:
            row = connection.execute(self._read, {"key": token}).first()
        if row is None:
            raise UnknownImport(token)
        return _snapshot(row)

    def recent(self, limit: int = 50) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first: one read on the index."""
        with self.engine.connect() as connection:
            rows = connection.execute(self._recent, {"limit": max(limit, 0)}).all()
        return [_snapshot(row) for row in rows]

    def _change(self, token: str, statement: Any, parameters: dict[str, Any], move: str) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(statement, parameters).rowcount
        if not changed:
            state = self.snapshot(token).state  # UnknownImport when there is no such process
            raise InvalidTransition(f"import process {token!r} is {state.value}: cannot {move}")


def create_tables(engine: Engine, *tables: Table) -> None:
    """Create the ``tables`` that are missing, safely from any number of processes at once.

    On PostgreSQL the creations wait for each other on a transaction-level advisory lock, so
    workers booting together on a fresh database never collide on the catalog. On SQLite a
    file is put in WAL mode first, and a ``CREATE`` that loses a race to another process is
    tried again, which then finds the table there.
    """
    if engine.dialect.name == "sqlite" and _is_file(engine.url):
        with engine.connect() as connection:
            _use_wal(connection.connection.dbapi_connection)
    for attempt in range(len(tables) + 1):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(_SCHEMA_LOCK)
                for table in tables:
                    table.create(connection, checkfirst=True)
            return
        except DBAPIError:
            # Another process created a table between the check and the CREATE: check again,
            # once for each table that could have been taken so.
            if attempt == len(tables):
                raise


#: Held by a PostgreSQL transaction that creates the tables, until it ends.
_SCHEMA_LOCK = text("SELECT pg_advisory_xact_lock(7306245671403851293)")


def _is_missing_table(error: DBAPIError) -> bool:
    """Whether the database said that the registry's table does not exist."""
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return sqlstate == "42P01" or str(error.orig).startswith("no such table")


def _snapshot(row: Row[Any]) -> ProcessSnapshot:
    return ProcessSnapshot(
        token=row.token,
        state=ImportState(row.state),
        abort_requested=row.abort_requested_at is not None,
        created_at=_utc(row.created_at) or row.created_at,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        processed=row.processed_count,
        total=row.total_count,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC; SQLite hands timestamps back without a zone, written in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _constant(engine: Engine) -> Callable[[], Engine]:
    return lambda: engine


def _values(states: Iterable[ImportState]) -> list[str]:
    return sorted(state.value for state in states)


def _create_engine(url: URL, lock_timeout: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": lock_timeout})
        if _is_file(url):
            event.listen(engine, "connect", lambda connection, _: _use_wal(connection))
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["options"] = f"-c lock_timeout={int(lock_timeout * 1000)}"
        connect_args["connect_timeout"] = max(1, round(lock_timeout))
    return create_engine(url, connect_args=connect_args)


def _is_file(url: URL) -> bool:
    return url.database not in (None, "", ":memory:")


def _use_wal(dbapi_connection: Any, patience: float = 5.0) -> None:
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
