"""Internal: the SQL registry, its import processes in one table shared by every process."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import Engine, MetaData, Row
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..contract import AbortOutcome, AbortRequest, StoreUnavailable
from ..lifecycle import (
    DEFAULT_LEASE,
    RUNNING_STATES,
    EndReason,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
    checked_lease,
    utc_now,
)
from ..tokens import new_token, registrable_token, token_for_log
from ._fast import Connections, Pooled, Prepared, Stash, run
from ._schema import (
    DEFAULT_TABLE_NAME,
    create_tables,
    import_process_table,
    is_file,
    is_missing_table,
    registry_engine,
)
from ._statements import Statements
from ._watchdog import Watchdog

__all__ = ["FlaskSQLAlchemyLike", "SQLImportRegistry"]

log = logging.getLogger("flask_import_abort")

#: What an abort without an ``AbortRequest`` records: nothing beyond its time.
_NO_DETAILS = AbortRequest()

#: Errors that mean the database cannot be reached or is locked now, not that a call is wrong.
_UNAVAILABLE = (OperationalError, PoolTimeout)


class FlaskSQLAlchemyLike(Protocol):
    """A Flask-SQLAlchemy ``db``: its engine (in an app context) and its metadata."""

    @property
    def engine(self) -> Engine: ...

    @property
    def metadata(self) -> MetaData: ...


class SQLImportRegistry:
    """Import processes in one table of a SQL database.

    ``bind`` is a SQLAlchemy ``Engine``, a database URL, or a Flask-SQLAlchemy ``db``. With a
    ``db`` the table joins ``db.metadata``, so the host's migrations see it; inside an app
    context the registry uses that app's ``db.engine``, and it keeps the first engine it found
    so, for the calls made outside any app context (a worker's heartbeat thread, a reaper).
    From a URL the registry makes its own engine, which waits at most ``lock_timeout`` seconds
    for a lock and puts a SQLite file in WAL mode.

    ``abort`` is one conditional ``UPDATE`` on the primary key, committed at once; only when it
    changes no row does a read tell the other outcomes apart. It holds no lock between two
    statements, so concurrent aborts from any number of processes each get one answer and the
    process is aborted once. It takes at most ``request_timeout`` seconds, even when the server
    stops answering. When the database is unreachable, locked or too slow, ``abort`` raises
    :class:`~flask_import_abort.processes.StoreUnavailable` (the endpoint answers 503 with
    ``Retry-After: retry_after``); a missing table is the database's own error. The worker API
    raises SQLAlchemy's own errors; :attr:`retryable_errors` are the ones a later try may not
    meet.

    Every call of the worker API on a running process records a heartbeat; a process whose
    heartbeat is older than ``lease`` seconds is lost (see :meth:`reap`).
    """

    retryable_errors: tuple[type[BaseException], ...] = _UNAVAILABLE

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
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.lease = checked_lease(lease)
        self.request_timeout = _seconds(request_timeout, "request_timeout")
        self._engine: Callable[[], Engine]
        #: The engine made from a URL, which :meth:`close` disposes of; None for the host's.
        self._own_engine: Engine | None = None
        if isinstance(bind, Engine):
            self._engine = _constant(bind)
        elif isinstance(bind, str | URL):
            self._own_engine = registry_engine(
                make_url(bind),
                lock_timeout=_seconds(lock_timeout, "lock_timeout"),
                request_timeout=self.request_timeout,
            )
            self._engine = _constant(self._own_engine)
        else:
            self._engine = _AppEngine(bind)
            metadata = bind.metadata if metadata is None else metadata
        metadata = MetaData() if metadata is None else metadata
        existing = metadata.tables.get(table_name)  # a second registry on the same metadata
        self.table = import_process_table(metadata, table_name) if existing is None else existing
        self.retry_after = retry_after
        self._clock = clock
        self._statements = Statements(self.table)
        self._hot: dict[Engine, _Hot] = {}
        self._watchdog = Watchdog()

    @property
    def engine(self) -> Engine:
        """The engine the registry runs its statements on."""
        return self._engine()

    def close(self) -> None:
        """Close the connections of the engine the registry made from a URL.

        A registry on the host's engine or ``db`` leaves them to the host. The registry may be
        used again afterwards: the engine opens new connections when asked.
        """
        for hot in list(self._hot.values()):
            hot.close()
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

    # The endpoint's side.

    def abort(self, token: str, request: AbortRequest | None = None) -> AbortOutcome:
        deadline = time.monotonic() + self.request_timeout
        try:
            try:
                return self._abort_once(token, request, deadline)
            except DBAPIError as error:
                if not error.connection_invalidated or time.monotonic() >= deadline:
                    raise
                # The database dropped a pooled connection (say it restarted): the pool has
                # started over, and asking again is harmless, as a repeated abort is.
                return self._abort_once(token, request, deadline)
        except (DBAPIError, PoolTimeout) as error:
            if isinstance(error, DBAPIError) and is_missing_table(error):
                log.error(
                    "import registry: the table %r does not exist; call the registry's "
                    "create_table() once at set-up, or create it with your migrations",
                    self.table.name,
                )
                raise
            if not isinstance(error, _UNAVAILABLE):
                raise
            detail = (
                f"no answer within {self.request_timeout:g} s"
                if time.monotonic() >= deadline
                else str(getattr(error, "orig", error)).strip().replace("\n", " ")[:200]
            )
            log.warning(
                "import registry unavailable for abort of import process %s: %s",
                token_for_log(token),
                detail,
            )
            raise StoreUnavailable(
                self.retry_after, f"the import registry is unavailable: {detail}"
            ) from error

    def _abort_once(
        self, token: str, request: AbortRequest | None, deadline: float
    ) -> AbortOutcome:
        statements = self._statements
        now = self._clock()
        request = request or _NO_DETAILS
        stop_deadline = request.stop_deadline
        parameters = {
            "key": token,
            "now": now,
            "stale": now - timedelta(seconds=self.lease),
            "stop_by": None if stop_deadline is None else now + timedelta(seconds=stop_deadline),
            "actor": request.actor,
            "reason": request.reason,
            "request_id": request.request_id,
        }
        engine = self.engine
        hot = self._hot_statements(engine)

        def bound(dbapi_connection: Any) -> Any:
            return self._watchdog.bound(dbapi_connection, deadline)

        while True:
            changed, _ = run(hot.connections, hot.abort, parameters, bound=bound)
            if changed:
                return AbortOutcome.REQUESTED
            with engine.connect() as connection, bound(connection.connection.dbapi_connection):
                row = connection.execute(statements.read_state, {"key": token}).first()
            if row is None:
                return AbortOutcome.NOT_FOUND
            state = ImportState(row.state)
            if state in (ImportState.SUCCEEDED, ImportState.FAILED):
                return AbortOutcome.FINISHED
            if row.abort_requested_at is not None or state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            # Registered between the UPDATE and the read (a token is never registered twice,
            # so this happens at most once): the UPDATE will find it now.

    def _hot_statements(self, engine: Engine) -> _Hot:
        hot = self._hot.get(engine)
        if hot is None:
            hot = self._hot[engine] = _Hot(self._statements, engine, own=engine is self._own_engine)
        return hot

    # The worker's side (see ``WorkerRegistry``).

    def register(self, *, total: int | None = None, token: str | None = None) -> str:
        """Record a new ``pending`` process and return its token (a random one by default)."""
        token = new_token() if token is None else registrable_token(token)
        values = {
            "token": token,
            "state": ImportState.PENDING.value,
            "created_at": self._clock(),
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
            self._change(token, self._statements.start, {"key": token, "now": self._clock()})
        except InvalidTransition:
            if self.snapshot(token).state is ImportState.ABORTED:
                return False
            raise
        return True

    def report_progress(self, token: str, processed: int, *, total: int | None = None) -> None:
        """Record how many records a running process has written (and its total, if given)."""
        engine = self.engine
        hot = self._hot_statements(engine)
        now = self._clock()
        if total is None:
            values = {"key": token, "now": now, "processed": processed}
            changed, _ = run(hot.connections, hot.progress, values)
        else:
            values = {"key": token, "now": now, "processed": processed, "total": total}
            changed, _ = run(hot.connections, hot.progress_and_total, values)
        if not changed:
            self._refuse(token, "report progress")

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch: one primary-key ``UPDATE``
        that records the heartbeat and reads the abort flag back."""
        return self.heartbeat(token)

    def heartbeat(self, token: str) -> bool:
        """Record that the worker is alive; whether it should stop after its current batch."""
        engine = self.engine
        values = {"key": token, "now": self._clock()}
        hot = self._hot_statements(engine)
        _, row = run(hot.connections, hot.heartbeat, values, fetch=True)
        if row is not None:
            return row[0] is not None
        snapshot = self.snapshot(token)  # UnknownImport when there is no such process
        return snapshot.abort_requested or snapshot.state.is_final

    def set_state(self, token: str, state: ImportState) -> ImportState:
        """Record a move of a running process: pause, block, resume, or its end; return the
        state recorded (an end after a requested abort is ``aborted``)."""
        state = ImportState(state)
        parameters = {"key": token, "now": self._clock()}
        with self.engine.begin() as connection:
            row = connection.execute(self._statements.moves[state], parameters).first()
        if row is None:
            self._refuse(token, f"go to {state.value}")
        return ImportState(row.state)  # type: ignore[union-attr]

    def finish(self, token: str, state: ImportState) -> ImportState:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``; return
        the end recorded (``aborted`` whenever an abort was requested before)."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        return self.set_state(token, state)

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self.engine.connect() as connection:
            row = connection.execute(self._statements.read, {"key": token}).first()
        if row is None:
            raise UnknownImport(token)
        return self._snapshot(row, self._clock())

    def recent(
        self,
        limit: int = 50,
        *,
        states: Iterable[ImportState] | None = None,
        older_than: timedelta | None = None,
    ) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first: one read on the index; only
        those in ``states`` and registered ``older_than`` ago or more, when given."""
        query = self._statements.recent
        columns = self.table.c
        if states is not None:
            query = query.where(columns.state.in_([ImportState(state).value for state in states]))
        now = self._clock()
        if older_than is not None:
            query = query.where(columns.created_at <= now - older_than)
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"limit": max(limit, 0)}).all()
        return [self._snapshot(row, now) for row in rows]

    def count_by_state(self) -> dict[ImportState, int]:
        """How many processes are in each state: one read on the state index, which ends
        within ``request_timeout`` seconds however the server behaves."""
        deadline = time.monotonic() + self.request_timeout
        with (
            self.engine.connect() as connection,
            self._watchdog.bound(connection.connection.dbapi_connection, deadline),
        ):
            rows = connection.execute(self._statements.count_by_state).all()
        return {ImportState(state): count for state, count in rows}

    def reap(self, *, dry_run: bool = False) -> list[ProcessSnapshot]:
        """End the running processes past their stop deadline (``aborted``, forced) or lost
        (``failed``, or ``aborted`` when an abort was requested); return them as ended.

        Each is one conditional ``UPDATE`` that only a running process matches, so any number
        of processes may reap at once and each lost process is ended exactly once.
        ``dry_run`` reads what would be ended and changes nothing.
        """
        statements = self._statements
        now = self._clock()
        parameters = {"now": now, "stale": now - timedelta(seconds=self.lease)}
        found: list[Row[Any]] = []
        with self.engine.begin() as connection:
            for ending in statements.reap_dry_run if dry_run else statements.reap:
                found += connection.execute(ending, parameters).all()
        return [self._snapshot(row, now) for row in found]

    def _change(self, token: str, statement: Any, parameters: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(statement, parameters).rowcount
        if not changed:
            self._refuse(token, "do that")

    def _refuse(self, token: str, move: str) -> None:
        state = self.snapshot(token).state  # UnknownImport when there is no such process
        raise InvalidTransition(f"import process {token!r} is {state.value}: cannot {move}")

    def _snapshot(self, row: Row[Any], now: datetime) -> ProcessSnapshot:
        state = ImportState(row.state)
        heartbeat_at = _utc(row.heartbeat_at)
        lost = (
            state in RUNNING_STATES
            and heartbeat_at is not None
            and (now - heartbeat_at).total_seconds() > self.lease
        )
        return ProcessSnapshot(
            token=row.token,
            state=state,
            abort_requested=row.abort_requested_at is not None,
            created_at=_utc(row.created_at) or row.created_at,
            started_at=_utc(row.started_at),
            finished_at=_utc(row.finished_at),
            processed=row.processed_count,
            total=row.total_count,
            heartbeat_at=heartbeat_at,
            lost=lost,
            stop_by=_utc(row.stop_by),
            end_reason=None if row.end_reason is None else EndReason(row.end_reason),
            abort_requested_at=_utc(row.abort_requested_at),
            aborted_by=row.aborted_by,
            abort_reason=row.abort_reason,
            abort_request_id=row.abort_request_id,
        )


class _Hot:
    """The statements run once per request or batch, compiled for one engine's dialect, and
    the connections they run on: a stash of the registry's own (not for an in-memory SQLite
    database, which is one per connection), or the pool of the host's engine."""

    def __init__(self, statements: Statements, engine: Engine, *, own: bool) -> None:
        dialect = engine.dialect
        stash = own and (dialect.name != "sqlite" or is_file(engine.url))
        self.connections: Connections = Stash(engine) if stash else Pooled(engine)
        self.abort = Prepared(statements.abort, dialect)
        self.heartbeat = Prepared(statements.heartbeat, dialect)
        self.progress = Prepared(statements.progress, dialect)
        self.progress_and_total = Prepared(statements.progress_and_total, dialect)

    def close(self) -> None:
        if isinstance(self.connections, Stash):
            self.connections.close()


def _utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC; SQLite hands timestamps back without a zone, written in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class _AppEngine:
    """A Flask-SQLAlchemy ``db``'s engine: the current app's inside an app context (one engine
    per app), else the first one found inside a context, kept for threads that have none."""

    def __init__(self, db: FlaskSQLAlchemyLike) -> None:
        self._db = db
        self._kept: Engine | None = None

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
        if self._kept is None:
            self._kept = engine
        return engine


def _constant(engine: Engine) -> Callable[[], Engine]:
    return lambda: engine


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds; got {value!r}.")
    return float(value)
