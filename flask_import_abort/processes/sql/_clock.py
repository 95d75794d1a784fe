"""Internal: the database's clock, the one clock of the SQL registry.

Every time the registry stores or compares is the database's own, so processes on machines
whose clocks disagree agree on who is lost. ``database_now(seconds)`` is now on the database,
``seconds`` from now (a float, or a bound parameter), rendered for each dialect:

- PostgreSQL: ``statement_timestamp()``, the start of the statement, the same in every row it
  touches.
- SQLite: ``strftime('%Y-%m-%d %H:%M:%f000', 'now')``: milliseconds (``CURRENT_TIMESTAMP`` has
  whole seconds only), written as text in the format SQLAlchemy stores a ``DateTime`` in, so
  that stored and computed times compare as text.
- Any other: ``CURRENT_TIMESTAMP``, plus an SQL ``INTERVAL``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, Float, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["database_now"]

#: Every stored time on SQLite: what SQLAlchemy's ``DateTime`` writes, microseconds included.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f000"


class database_now(FunctionElement[Any]):  # noqa: N801 (an SQL function's name)
    """Now on the database, ``seconds`` from now when given."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "database_now"

    def __init__(self, seconds: float | BindParameter[Any] | None = None) -> None:
        arguments = [] if seconds is None else [_seconds(seconds)]
        super().__init__(*arguments)


def _seconds(seconds: float | BindParameter[Any]) -> Any:
    """A bound parameter as it is; a number written into the SQL (part of its cache key)."""
    if isinstance(seconds, BindParameter):
        return seconds
    return literal_column(repr(float(seconds)), Float())


def _offset(element: database_now, compiler: SQLCompiler, **kw: Any) -> str | None:
    clauses = list(element.clauses)
    return compiler.process(clauses[0], **kw) if clauses else None


@compiles(database_now)
def _default(element: database_now, compiler: SQLCompiler, **kw: Any) -> str:
    offset = _offset(element, compiler, **kw)
    if offset is None:
        return "CURRENT_TIMESTAMP"
    return f"(CURRENT_TIMESTAMP + ({offset}) * INTERVAL '1' SECOND)"


@compiles(database_now, "postgresql")
def _postgresql(element: database_now, compiler: SQLCompiler, **kw: Any) -> str:
    offset = _offset(element, compiler, **kw)
    if offset is None:
        return "statement_timestamp()"
    return f"(statement_timestamp() + make_interval(secs => {offset}))"


@compiles(database_now, "sqlite")
def _sqlite(element: database_now, compiler: SQLCompiler, **kw: Any) -> str:
    offset = _offset(element, compiler, **kw)
    if offset is None:
        return f"strftime('{SQLITE_FORMAT}', 'now')"
    return f"strftime('{SQLITE_FORMAT}', 'now', ({offset}) || ' seconds')"
