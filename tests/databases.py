"""The services the tests use: a SQLite file always; PostgreSQL, RabbitMQ and Redis when they
answer (and, in CI, they must)."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime
from typing import Any, Protocol

import pytest
import sqlalchemy

from flask_import_abort.processes.sql import SQLImportRegistry

POSTGRES_URL = os.environ.get(
    "IMPORT_ABORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RABBITMQ_URL = os.environ.get(
    "IMPORT_ABORT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
REDIS_URL = os.environ.get("IMPORT_ABORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: CI sets this: there the tests of every service must run, never skip.
SERVICES_REQUIRED = "1" in (
    os.environ.get("IMPORT_ABORT_REQUIRE_SERVICES"),
    os.environ.get("IMPORT_ABORT_REQUIRE_POSTGRES"),  # its name before RabbitMQ and Redis
)
HOW_TO_RUN = (
    "start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or "
    "point IMPORT_ABORT_TEST_POSTGRES_URL at one; `bash .ci/run` starts it and requires it"
)
HOW_TO_START = {
    "RabbitMQ": "rabbitmq-server -detached",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
}

_reachable: dict[str, str | None] = {}


def require_postgres() -> str:
    """The PostgreSQL URL; the test skips (fails in CI) when no server answers there."""
    if POSTGRES_URL not in _reachable:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            _reachable[POSTGRES_URL] = None
        except sqlalchemy.exc.OperationalError as error:
            _reachable[POSTGRES_URL] = str(error.orig).strip().splitlines()[0]
        finally:
            engine.dispose()
    problem = _reachable[POSTGRES_URL]
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({problem}): {HOW_TO_RUN}"
        if SERVICES_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


def require_rabbitmq() -> str:
    """The RabbitMQ URL; the test skips (fails in CI) when no broker answers there."""
    return _require("RabbitMQ", RABBITMQ_URL, _amqp_answers)


def require_redis() -> str:
    """The Redis URL; the test skips (fails in CI) when no server answers there."""
    return _require("Redis", REDIS_URL, _redis_answers)


def _require(name: str, url: str, probe: Callable[[str], None]) -> str:
    if url not in _reachable:
        try:
            probe(url)
            _reachable[url] = None
        except Exception as error:
            _reachable[url] = f"{type(error).__name__}: {error}".splitlines()[0]
    problem = _reachable[url]
    if problem is not None:
        message = (
            f"{name} at {url} is not reachable ({problem}): start it ({HOW_TO_START[name]}); "
            "`bash .ci/run` starts it and requires it"
        )
        if SERVICES_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return url


def _amqp_answers(url: str) -> None:
    import kombu

    with kombu.Connection(url, connect_timeout=3) as connection:
        connection.ensure_connection(max_retries=1)


def _redis_answers(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def unique_table_name() -> str:
    return f"import_processes_{secrets.token_hex(4)}"


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of the caller's own, made now and dropped (with whoever is still
    connected) when the block ends: its URL."""
    server = sqlalchemy.make_url(require_postgres())
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


class Clock(Protocol):
    """A test's clock: the time it says, and who to tell when it moves."""

    now: datetime
    moved: list[Callable[[datetime], None]]


@contextmanager
def sql_registry(
    url: str, *, clock: Clock | None = None, **kwargs: object
) -> Iterator[SQLImportRegistry]:
    """A registry on a table of its own, dropped afterwards; on ``clock``'s time, when given,
    as its database tells it (see :func:`database_clock`)."""
    registry = SQLImportRegistry(url, table_name=unique_table_name(), **kwargs)  # type: ignore[arg-type]
    with database_clock(registry, clock) if clock is not None else nullcontext():
        registry.create_table()
        try:
            yield registry
        finally:
            registry.close()
            registry.drop_table()
            registry.close()


@contextmanager
def database_clock(registry: SQLImportRegistry, clock: Clock) -> Iterator[None]:
    """Make the database tell ``clock``'s time to ``registry``'s engine, which has opened no
    connection yet: the registry's own SQL runs as in production, only the database's clock
    is the test's.

    On SQLite each connection gets a ``strftime`` of its own whose ``'now'`` is ``clock.now``
    (an application function overrides a built-in of the same arity). On PostgreSQL, a schema of
    the test's own holds a ``statement_timestamp()`` that reads ``clock.now`` from a table, and
    the engine's connections find it first on their ``search_path``; moving the clock updates
    that table.
    """
    engine = registry.engine
    if engine.dialect.name == "sqlite":
        sqlalchemy.event.listen(
            engine, "connect", lambda connection, _: _sqlite_clock(connection, clock)
        )
        yield
        return
    schema = f"clock_{secrets.token_hex(4)}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        connection.exec_driver_sql(f"CREATE TABLE {schema}.moment (at timestamptz NOT NULL)")
        connection.exec_driver_sql(
            f"INSERT INTO {schema}.moment VALUES (%(at)s)", {"at": clock.now}
        )
        connection.exec_driver_sql(
            f"CREATE FUNCTION {schema}.statement_timestamp() RETURNS timestamptz "
            f"LANGUAGE sql STABLE AS $$ SELECT at FROM {schema}.moment $$"
        )
    engine.dispose()  # the connection above does not know the schema's function

    def moved(now: datetime) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE {schema}.moment SET at = %(at)s", {"at": now})

    def use_clock(connection: Any, _: object) -> None:
        cursor = connection.cursor()
        cursor.execute(f"SET search_path TO {schema}, public, pg_catalog")
        cursor.close()
        connection.commit()

    sqlalchemy.event.listen(engine, "connect", use_clock)
    clock.moved.append(moved)
    try:
        yield
    finally:
        clock.moved.remove(moved)
        sqlalchemy.event.remove(engine, "connect", use_clock)
        engine.dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


#: SQLite's own ``strftime``, for the test clock's to format with.
_SQLITE = sqlite3.connect(":memory:", check_same_thread=False)
_SQLITE_LOCK = threading.Lock()


def _sqlite_clock(connection: sqlite3.Connection, clock: Clock) -> None:
    def strftime(format: str, moment: str, *modifiers: str) -> Any:
        if isinstance(moment, str) and moment.lower() == "now":
            moment = clock.now.strftime("%Y-%m-%d %H:%M:%S.%f")
        marks = ", ".join("?" * (2 + len(modifiers)))
        with _SQLITE_LOCK:
            return _SQLITE.execute(
                f"SELECT strftime({marks})", (format, moment, *modifiers)
            ).fetchone()[0]

    for arity in (2, 3):
        connection.create_function("strftime", arity, strftime)


class TcpProxy:
    """A TCP relay to a server, which can go away and come back on the same port, or freeze:
    take every byte and answer none, as a server that stops answering on an open connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.frozen.clear()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a server that went down."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def freeze(self) -> None:
        """From now on, swallow what either side sends, and connect new clients to nothing."""
        self.frozen.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.frozen.is_set():
                with self._lock:
                    self._sockets.append(client)
                threading.Thread(target=self._pipe, args=(client, None), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while data := source.recv(65536):
                if sink is not None and not self.frozen.is_set():
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                if sock is not None:
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
