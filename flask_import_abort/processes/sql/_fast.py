"""Internal: the SQL registry's hot statements, sent to the driver with nothing in between.

``abort``, ``should_stop`` (with its heartbeat) and ``report_progress`` run once per request
or per batch. Each is compiled once per dialect and executed on a driver connection, so a call
costs the driver's execute and commit: no execution context, no result object, no
compiled-cache lookup. Driver errors come out as SQLAlchemy's, with ``connection_invalidated``
set as SQLAlchemy would, and a dropped connection is never used again. Engine events
(``before_cursor_execute`` and the like) do not see these three statements.

The connections come from the engine's pool, or, for an engine the registry made itself, from
a :class:`Stash` of connections detached from it: taking one is a list pop, not a pool
checkout, which is a tenth of a call's time on SQLite.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any, Protocol, cast

from sqlalchemy import Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

#: Given a driver connection, a block within which a call on it must end.
Bound = Callable[[Any], AbstractContextManager[Any]]


class Prepared:
    """One statement compiled for one dialect, with its parameters' converters."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._names = list(compiled.positiontup or ()) if dialect.positional else None
        self._converters = {
            name: converter
            for name, bind in compiled.binds.items()
            if (converter := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        converters = self._converters
        converted = {
            name: converters[name](value) if name in converters else value
            for name, value in values.items()
        }
        if self._names is None:
            return converted
        return tuple(converted[name] for name in self._names)


class Connections(Protocol):
    """Where :func:`run` takes a driver connection from, and gives it back to."""

    dialect: Dialect

    def take(self) -> Any: ...

    def give(self, connection: Any, *, broken: bool) -> None: ...


class Pooled:
    """The engine's pool: for an engine of the host's, which keeps its own accounts."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self._engine = engine

    def take(self) -> Any:
        return self._engine.raw_connection()

    def give(self, connection: Any, *, broken: bool) -> None:
        if broken:
            connection.invalidate()
        connection.close()


class Stash:
    """Driver connections detached from an engine the registry owns, reused last in, first out.

    At most ``size`` idle ones are kept; the others are closed when given back. A connection
    made before the process forked is never used in the child (their sockets are shared).
    """

    def __init__(self, engine: Engine, size: int = 8) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self._size = size
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # engine.dispose() closes these too, as it closes the pool's.
        event.listen(engine, "engine_disposed", lambda engine: self.close())

    def take(self) -> Any:
        if self._pid != os.getpid():
            self._leave_to_parent()
        try:
            return self._idle.pop()
        except IndexError:
            fairy = self._engine.raw_connection()
            connection = fairy.dbapi_connection
            fairy.detach()  # ours from now on: the pool forgets it
            return connection

    def give(self, connection: Any, *, broken: bool) -> None:
        if not broken and len(self._idle) < self._size and self._pid == os.getpid():
            self._idle.append(connection)
            return
        _close(connection)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back. In a forked
        child, the parent's are left to the parent."""
        if self._pid != os.getpid():
            self._leave_to_parent()
            return
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close(connection)

    def _leave_to_parent(self) -> None:
        """In a forked child: the idle connections are the parent's. Closing them here would
        end the parent's sessions (a driver says goodbye on the shared socket), so they are
        kept, unused, for as long as this process lives."""
        with self._lock:
            if self._pid != os.getpid():
                _INHERITED.extend(self._idle)
                self._idle, self._pid = [], os.getpid()


#: Connections a forked process inherited from its parent, never used nor closed here.
_INHERITED: list[Any] = []


def _close(connection: Any) -> None:
    with suppress(Exception):  # a broken connection may refuse even to close
        connection.close()


def run(
    connections: Connections,
    prepared: Prepared,
    values: Mapping[str, Any],
    *,
    fetch: bool = False,
    bound: Bound | None = None,
) -> tuple[int, Any]:
    """Execute and commit ``prepared``; its row count, and its first row when ``fetch``."""
    dialect = connections.dialect
    error_class = dialect.loaded_dbapi.Error
    try:
        connection = connections.take()
    except error_class as error:
        raise _wrapped(error, dialect, None, None, None) from error
    driver = getattr(connection, "dbapi_connection", connection)
    cursor = None
    broken = False
    try:
        cursor = driver.cursor()
        with bound(driver) if bound else nullcontext():
            cursor.execute(prepared.sql, prepared.parameters(values))
            row = next(iter(cursor.fetchall()), None) if fetch else None
            count = cursor.rowcount
            driver.commit()
        return count, row
    except error_class as error:
        broken = dialect.is_disconnect(error, driver, cursor)
        if not broken:
            try:
                driver.rollback()
            except error_class:
                broken = True
        raise _wrapped(error, dialect, broken, cursor, prepared.sql) from error
    finally:
        if cursor is not None and not broken:
            cursor.close()
        connections.give(connection, broken=broken)


def _wrapped(
    error: Any, dialect: Dialect, invalidated: bool | None, cursor: Any, sql: str | None
) -> DBAPIError:
    if invalidated is None:  # no connection was made
        invalidated = dialect.is_disconnect(error, None, None)
    wrapped = DBAPIError.instance(
        sql,
        None,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    )
    return cast(DBAPIError, wrapped)  # a driver's error always wraps as one
