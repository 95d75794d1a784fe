"""Internal: the SQL registry's statements, each made once per table.

Every change is one conditional ``UPDATE`` on the primary key: the condition is the life cycle
(only a running process beats or reports, only an abortable one is aborted), so two processes
racing on one row never both win, and no lock is held between statements. States are written
into the SQL as literals, so each statement renders the same text every time and SQLAlchemy's
compiled cache serves it. Every time is the database's (see ``_clock``): no statement takes a
time from the process that sends it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)

from ..lifecycle import ABORTABLE_STATES, RUNNING_STATES, SOURCES, EndReason, ImportState
from ._clock import database_now


def _is(column: Any, state: ImportState | EndReason) -> ColumnElement[bool]:
    return column == _literal(state)  # type: ignore[no-any-return]


def _one_of(column: Any, states: Iterable[ImportState]) -> ColumnElement[bool]:
    return column.in_([_literal(state) for state in sorted(states)])  # type: ignore[no-any-return]


def _literal(value: ImportState | EndReason) -> Any:
    return literal_column(f"'{value.value}'")  # enum values: letters and underscores only


class Statements:
    """The registry's statements on ``table``, for processes lost after ``lease`` seconds."""

    def __init__(self, table: Table, lease: float) -> None:
        c = table.c
        key = c.token == bindparam("key")
        now = database_now()
        stale = database_now(-lease)
        pending = _is(c.state, ImportState.PENDING)
        running = _one_of(c.state, RUNNING_STATES)
        lost = c.heartbeat_at < stale
        aborted = _literal(ImportState.ABORTED)

        ends_now = or_(pending, lost)
        self.abort = (
            update(table)
            .where(key, _one_of(c.state, ABORTABLE_STATES), c.abort_requested_at.is_(None))
            .values(
                abort_requested_at=now,
                aborted_by=bindparam("actor", type_=String()),
                abort_reason=bindparam("reason", type_=String()),
                abort_request_id=bindparam("request_id", type_=String()),
                state=case((ends_now, aborted), else_=c.state),
                finished_at=case((ends_now, now), else_=c.finished_at),
                end_reason=case(
                    (and_(~pending, lost), _literal(EndReason.WORKER_LOST)),
                    else_=func.coalesce(bindparam("end_reason", type_=String()), c.end_reason),
                ),
                # NULL when the request has no deadline: NULL seconds make a NULL time.
                stop_by=case(
                    (ends_now, None),
                    else_=database_now(bindparam("stop_deadline", type_=Float())),
                ),
            )
        )
        self.register = table.insert().values(created_at=now)
        self.read_state = select(c.state, c.abort_requested_at).where(key)
        #: Whether a running process is lost, by the database's clock, as a column of a read.
        is_lost = case((and_(running, lost), True), else_=False).label("lost")
        self.read = select(table, is_lost).where(key)
        self.recent = select(table, is_lost).order_by(c.created_at.desc()).limit(bindparam("limit"))
        self.registered_before = c.created_at <= database_now(bindparam("older_than", Float()))
        self.count_by_state = select(c.state, func.count()).group_by(c.state)
        #: The heartbeat of a running process that has not been asked to stop: its row count
        #: says whether to go on, so the common case reads nothing back.
        self.beat = (
            update(table)
            .where(key, running, c.abort_requested_at.is_(None))
            .values(heartbeat_at=now)
        )
        #: Any other heartbeat, reading the abort flag back.
        self.heartbeat = (
            update(table)
            .where(key, running)
            .values(heartbeat_at=now)
            .returning(c.abort_requested_at)
        )
        self.start = (
            update(table)
            .where(key, pending)
            .values(state=ImportState.PROCESSING.value, started_at=now, heartbeat_at=now)
        )
        self.progress = (
            update(table)
            .where(key, running)
            .values(processed_count=bindparam("processed"), heartbeat_at=now)
        )
        self.progress_and_total = self.progress.values(total_count=bindparam("total"))
        self.moves = {}
        for state, sources in SOURCES.items():
            move = update(table).where(key, _one_of(c.state, sources)).returning(c.state)
            if state.is_final:
                # An end after a requested abort is recorded aborted: a 200 is never a lie.
                written = case((c.abort_requested_at.is_not(None), aborted), else_=state.value)
                self.moves[state] = move.values(state=written, finished_at=now)
            else:
                values: dict[str, Any] = {"state": state.value, "heartbeat_at": now}
                if state is ImportState.PROCESSING:
                    values["started_at"] = func.coalesce(c.started_at, now)
                self.moves[state] = move.values(values)

        forced = and_(running, c.stop_by < now)
        lost_running = and_(running, lost)
        self.reap = [
            update(table)
            .where(forced)
            .values(state=aborted, finished_at=now, end_reason=_literal(EndReason.STOP_DEADLINE))
            .returning(*c),
            update(table)
            .where(lost_running)
            .values(
                state=case(
                    (c.abort_requested_at.is_not(None), aborted),
                    else_=_literal(ImportState.FAILED),
                ),
                finished_at=now,
                end_reason=_literal(EndReason.WORKER_LOST),
            )
            .returning(*c),
        ]
        self.reap_dry_run = [
            select(table).where(forced),
            select(table).where(lost_running, or_(c.stop_by.is_(None), c.stop_by >= now)),
        ]
