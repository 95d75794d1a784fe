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
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)

from ..lifecycle import (
    ABORTABLE_STATES,
    FINAL_STATES,
    RUNNING_STATES,
    SOURCES,
    EndReason,
    ImportState,
)
from ._clock import database_now


def _is(column: Any, state: ImportState | EndReason) -> ColumnElement[bool]:
    return cast("ColumnElement[bool]", column == _literal(state))


def _one_of(column: Any, states: Iterable[ImportState]) -> ColumnElement[bool]:
    return cast("ColumnElement[bool]", column.in_([_literal(state) for state in sorted(states)]))


def _literal(value: ImportState | EndReason) -> Any:
    return literal_column(f"'{value.value}'")  # enum values: letters and underscores only


class _Terms:
    """The conditions and values the statements share, made once per table."""

    def __init__(self, table: Table, lease: float) -> None:
        self.table = table
        self.c = c = table.c
        self.key = c.token == bindparam("key")
        #: Of the kind the abort means, or of any kind when it names none.
        self.of_kind = c.kind == func.coalesce(bindparam("of_kind", type_=String()), c.kind)
        self.now = now = database_now()
        self.stale = database_now(-lease)
        self.pending = pending = _is(c.state, ImportState.PENDING)
        self.running = _one_of(c.state, RUNNING_STATES)
        self.lost = lost = c.heartbeat_at < self.stale
        self.aborted = aborted = _literal(ImportState.ABORTED)
        self.not_asked = c.abort_requested_at.is_(None)
        #: Whether a running process is lost, by the database's clock, as a column of a read.
        self.is_lost = case((and_(self.running, lost), True), else_=False).label("lost")
        ends_now = or_(pending, lost)
        #: What an abort writes: the request, and the end of a process that ends at once (a
        #: pending one never starts; a lost one has no worker left to stop).
        self.abort_values = {
            "abort_requested_at": now,
            "aborted_by": bindparam("actor", type_=String()),
            "abort_reason": bindparam("reason", type_=String()),
            "abort_request_id": bindparam("request_id", type_=String()),
            "state": case((ends_now, aborted), else_=c.state),
            "finished_at": case((ends_now, now), else_=c.finished_at),
            "end_reason": case(
                (and_(~pending, lost), _literal(EndReason.WORKER_LOST)),
                else_=func.coalesce(bindparam("end_reason", type_=String()), c.end_reason),
            ),
            # NULL when the request has no deadline: NULL seconds make a NULL time.
            "stop_by": case(
                (ends_now, None),
                else_=database_now(bindparam("stop_deadline", type_=Float())),
            ),
        }


class Statements:
    """The registry's statements on ``table``, for processes lost after ``lease`` seconds."""

    def __init__(self, table: Table, lease: float) -> None:
        terms = _Terms(table, lease)
        self._aborts(terms)
        self._locks(terms)
        self._reads(terms)
        self._work(terms)
        self._reaps(terms)
        self._parallel(terms)
        self._siblings(terms)

    def _aborts(self, terms: _Terms) -> None:
        """The abort's statements: ``abort_running`` (the hot path), the general ``abort``,
        and ``abort_chunks``."""
        table, c, key, now, stale = terms.table, terms.c, terms.key, terms.now, terms.stale
        running, not_asked, abort_values = terms.running, terms.not_asked, terms.abort_values
        #: The abort of what is aborted most: a running import that is neither lost nor
        #: parallel. It only records the request (the worker stops after its batch), so it
        #: needs no ``CASE`` and returns nothing: its row count says whether it applied. Any
        #: other abortable process is left to ``abort``, in the same transaction.
        self.abort_running = (
            update(table)
            .where(
                key,
                terms.of_kind,
                running,
                c.heartbeat_at >= stale,
                not_asked,
                c.chunk_count.is_(None),
                c.parent_token.is_(None),
            )
            .values(
                abort_requested_at=now,
                aborted_by=abort_values["aborted_by"],
                abort_reason=abort_values["abort_reason"],
                abort_request_id=abort_values["abort_request_id"],
                end_reason=func.coalesce(bindparam("end_reason", type_=String()), c.end_reason),
                stop_by=database_now(bindparam("stop_deadline", type_=Float())),
            )
        )
        #: The abort of an import process (a chunk's abort is its parent's): it answers the
        #: chunk count, so that a parallel import's chunks are aborted after it.
        self.abort = (
            update(table)
            .where(
                key,
                terms.of_kind,
                _one_of(c.state, ABORTABLE_STATES),
                not_asked,
                c.parent_token.is_(None),
            )
            .values(abort_values)
            .returning(c.chunk_count, c.state)
        )
        #: The same abort, of every chunk of the parallel import ``key`` still to end: each
        #: pending one ends at once (it never starts), each running one stops after its batch.
        self.abort_chunks = (
            update(table)
            .where(
                c.parent_token == bindparam("key"), _one_of(c.state, ABORTABLE_STATES), not_asked
            )
            .values(abort_values)
        )

    def _locks(self, terms: _Terms) -> None:
        """The row locks a parallel import's changes take, in one order."""
        c, key = terms.c, terms.key
        #: The locks a transaction that changes a parallel import and its chunks takes first,
        #: on a database that has row locks: the import's row, then its chunks' rows by token.
        #: Every such transaction takes them in this one order, so that none waits on another
        #: that waits on it (an abort racing a chunk's failure or a reap was a deadlock).
        self.lock_import = select(c.token).where(key).with_for_update()
        self.lock_chunks = (
            select(c.token)
            .where(c.parent_token == bindparam("key"))
            .order_by(c.token)
            .with_for_update()
        )

    def _reads(self, terms: _Terms) -> None:
        """What registers a process and reads it: ``register``, ``read_state``, ``read``, its
        chunks, the listing and the counts by state."""
        table, c, key, now = terms.table, terms.c, terms.key, terms.now
        self.register = table.insert().values(created_at=now)
        self.read_state = select(c.state, c.abort_requested_at, c.parent_token, c.kind).where(key)
        #: What the host said of a process, locked for its change (the change's parameters
        #: name the column: ``{"key": token, "metadata": ...}``).
        self.read_metadata = select(c.metadata).where(key).with_for_update()
        self.set_metadata = update(table).where(key)
        is_lost = terms.is_lost
        self.read = select(table, is_lost).where(key)
        #: The chunks of the parallel import ``key``, in order.
        self.chunks_of = select(table, is_lost).order_by(c.parent_token, c.chunk_index)
        self.chunks = self.chunks_of.where(c.parent_token == bindparam("key"))
        #: Import processes, chunks left out: they are read through their parent. (On the
        #: column no index holds, so that the read goes down the index on created_at.)
        self.recent = (
            select(table, is_lost)
            .where(c.chunk_index.is_(None))
            .order_by(c.created_at.desc())
            .limit(bindparam("limit"))
        )
        self.registered_before = c.created_at <= database_now(bindparam("older_than", Float()))
        self.count_by_state = (
            select(c.state, func.count()).where(c.chunk_index.is_(None)).group_by(c.state)
        )

    def _work(self, terms: _Terms) -> None:
        """The worker API's writes: heartbeats, ``start`` (a chunk's import with its first
        chunk), progress, and each move that :data:`MOVES` allows."""
        table, c, key, now = terms.table, terms.c, terms.key, terms.now
        running, pending, aborted = terms.running, terms.pending, terms.aborted
        not_asked = terms.not_asked
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
        self.parent_of = select(c.parent_token).where(key)
        #: A chunk's start, first on its parent: the import is ``processing`` from its first
        #: chunk's start on. No row when the import was aborted or has ended: the chunk is
        #: refused. (The parent's row is written before the chunk's, in every transaction that
        #: writes both, so two of them never wait for each other.)
        self.start_parent = (
            update(table)
            .where(key, _one_of(c.state, ABORTABLE_STATES), not_asked)
            .values(
                state=case((pending, _literal(ImportState.PROCESSING)), else_=c.state),
                started_at=func.coalesce(c.started_at, now),
            )
        )
        self.progress = (
            update(table)
            .where(key, running)
            .values(processed_count=bindparam("processed"), heartbeat_at=now)
        )
        self.progress_and_total = self.progress.values(total_count=bindparam("total"))
        self.moves = {}
        for state, sources in SOURCES.items():
            move = (
                update(table)
                .where(key, _one_of(c.state, sources))
                .returning(c.state, c.parent_token, c.token)
            )
            if state.is_final:
                # An end after a requested abort is recorded aborted: a 200 is never a lie.
                written = case((c.abort_requested_at.is_not(None), aborted), else_=state.value)
                self.moves[state] = move.values(state=written, finished_at=now)
            else:
                values: dict[str, Any] = {"state": state.value, "heartbeat_at": now}
                if state is ImportState.PROCESSING:
                    values["started_at"] = func.coalesce(c.started_at, now)
                self.moves[state] = move.values(values)

    def _reaps(self, terms: _Terms) -> None:
        """The reap's two writes, forced ends first and then the lost (each as
        :func:`reaped_end` says), and what a dry run reads in their place."""
        table, c, now, running, aborted = (
            terms.table,
            terms.c,
            terms.now,
            terms.running,
            terms.aborted,
        )
        # A parallel import has no worker of its own (a heartbeat of its own, if a worker
        # started it by its token, is not a worker's): its chunks are forced and lost, and it
        # ends with them.
        forced = and_(running, c.stop_by < now, c.chunk_count.is_(None))
        lost_running = and_(running, terms.lost, c.chunk_count.is_(None))
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
        #: What a reap would end, each as it reads now (``lost`` included).
        self.reap_dry_run = [
            select(table, terms.is_lost).where(forced),
            select(table, terms.is_lost).where(
                lost_running, or_(c.stop_by.is_(None), c.stop_by >= now)
            ),
        ]

    def _parallel(self, terms: _Terms) -> None:
        """The end of a parallel import from its chunks' ends, as :func:`parallel_end` says: of
        every import whose chunks have all ended, and of one."""
        table, c, key, now, aborted = terms.table, terms.c, terms.key, terms.now, terms.aborted
        chunk = table.alias("chunk")
        of_it = chunk.c.parent_token == c.token

        def any_chunk(*conditions: Any) -> Any:
            return exists().where(of_it, *conditions)

        final = _one_of(chunk.c.state, FINAL_STATES)
        asked = c.abort_requested_at.is_not(None)
        chunk_failed = any_chunk(_is(chunk.c.state, ImportState.FAILED))
        #: The end of every parallel import whose chunks have all ended: ``aborted`` once an
        #: abort was answered, else ``failed`` when a chunk failed, ``aborted`` when one was
        #: aborted, ``succeeded`` when all did. One conditional UPDATE: whichever chunk ends
        #: last, on whichever machine, and however many reaps run, it is written once.
        self.end_parents = (
            update(table)
            .where(
                c.chunk_count.is_not(None),
                _one_of(c.state, ABORTABLE_STATES),
                ~any_chunk(~final),
            )
            .values(
                state=case(
                    (asked, aborted),
                    (chunk_failed, _literal(ImportState.FAILED)),
                    (any_chunk(_is(chunk.c.state, ImportState.ABORTED)), aborted),
                    else_=_literal(ImportState.SUCCEEDED),
                ),
                finished_at=now,
                end_reason=case(
                    (
                        and_(asked, any_chunk(_is(chunk.c.end_reason, EndReason.STOP_DEADLINE))),
                        _literal(EndReason.STOP_DEADLINE),
                    ),
                    (c.end_reason.is_not(None), c.end_reason),
                    (
                        and_(
                            ~asked,
                            any_chunk(
                                _is(chunk.c.state, ImportState.FAILED),
                                _is(chunk.c.end_reason, EndReason.WORKER_LOST),
                            ),
                        ),
                        _literal(EndReason.WORKER_LOST),
                    ),
                    else_=None,
                ),
            )
            .returning(*c)
        )
        #: The same, of the one parallel import ``key``.
        self.end_parent = self.end_parents.where(key)

    def _siblings(self, terms: _Terms) -> None:
        """What a chunk's failure does to the other chunks of its import."""
        table, c, not_asked, abort_values = (
            terms.table,
            terms.c,
            terms.not_asked,
            terms.abort_values,
        )
        chunk = table.alias("chunk")
        #: The first failure of a chunk stops the other chunks of its import, unless the import
        #: goes on past failures: each pending one ends ``aborted`` at once, each running one
        #: stops after its batch (``chunk_failed``); the import is not aborted, and ends
        #: ``failed``.
        self.stop_siblings = (
            update(table)
            .where(
                c.parent_token == bindparam("key"),
                _one_of(c.state, ABORTABLE_STATES),
                not_asked,
                exists().where(
                    chunk.c.token == bindparam("key"),
                    func.coalesce(chunk.c.continue_on_error, False).is_(False),
                ),
            )
            .values(abort_values)
        )
