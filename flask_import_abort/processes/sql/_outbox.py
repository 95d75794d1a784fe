"""Internal: the SQL registry's outbox of webhook notices, its statements and their rows.

A notice is written by the transaction that records an end, with the statement
:attr:`OutboxStatements.write`. A dispatcher claims due notices with a committed lease (one
``UPDATE ... RETURNING``, whose inner pick skips the rows another transaction holds on
PostgreSQL), delivers them with no transaction open, and records each attempt with an
``UPDATE`` on its own claim: two dispatchers never hold one notice at once, so each attempt is
made once however many run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from ..notices import Notice
from ..tokens import new_token
from ._clock import database_now

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class OutboxStatements:
    """The statements on ``outbox``."""

    def __init__(self, outbox: Table) -> None:
        c = outbox.c
        now = database_now()
        self.table = outbox
        #: One notice, its id and token bound, the rest literals: the same SQL every time.
        self.write = outbox.insert().values(
            id=bindparam("id"),
            token=bindparam("token"),
            state=literal_column(f"'{PENDING}'"),
            created_at=now,
            attempts=literal_column("0"),
            next_attempt_at=now,
        )
        unclaimed = or_(c.claimed_until.is_(None), c.claimed_until < now)
        due = and_(c.state == PENDING, c.next_attempt_at <= now, unclaimed)
        self.due = select(c.id).where(due).order_by(c.next_attempt_at).limit(bindparam("limit"))
        self.due_skip_locked = self.due.with_for_update(skip_locked=True)
        lease = database_now(bindparam("lease", type_=Float()))
        self.claim_values = {"claimed_until": lease, "claim": bindparam("claim_id")}
        self.due_condition = due
        self.attempted = (
            update(outbox)
            .where(c.id == bindparam("notice"), c.claim == bindparam("held"))
            .values(
                attempts=c.attempts + 1,
                last_attempt_at=now,
                delivered_to=bindparam("reached"),
                last_error=bindparam("error"),
                state=bindparam("new_state"),
                next_attempt_at=database_now(bindparam("wait", type_=Float())),
                claimed_until=None,
                claim=None,
                finished_at=case((bindparam("new_state") == PENDING, None), else_=now),
            )
        )
        self.of_token = select(outbox).where(c.token == bindparam("key")).order_by(c.created_at)
        self.retry_failed = (
            update(outbox)
            .where(c.state == FAILED)
            .values(state=PENDING, attempts=0, next_attempt_at=now, finished_at=None)
        )
        self.purge = delete(outbox).where(
            c.state == DELIVERED,
            c.finished_at < database_now(bindparam("older_than", type_=Float())),
        )

    def with_notice(self, ending: Any) -> Any:
        """``ending``, an ``UPDATE ... RETURNING token, state, parent_token`` that ends a
        process, made one statement that also writes its notice (PostgreSQL's data-modifying
        ``WITH``): the end and its notice in one round trip. A chunk's end writes none."""
        ended = ending.cte("ended")
        now = database_now()
        noted = (
            insert(self.table)
            .from_select(
                ["id", "token", "state", "created_at", "attempts", "next_attempt_at"],
                select(
                    bindparam("id"),
                    ended.c.token,
                    literal_column(f"'{PENDING}'"),
                    now,
                    literal_column("0"),
                    now,
                ).where(ended.c.parent_token.is_(None)),
            )
            .cte("noted")
        )
        return select(ended.c.state, ended.c.parent_token).add_cte(noted)

    def claim(self, connection: Connection, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds, in the caller's
        transaction; their rows."""
        if connection.dialect.name == "postgresql":
            # Picked once, in a CTE: as a subquery, PostgreSQL may scan it again for each row
            # of the update, and each scan skips the rows the update has taken already, so
            # that every due notice was claimed whatever the limit.
            picked = self.due_skip_locked.cte("picked").prefix_with("MATERIALIZED")
            chosen = self.table.c.id.in_(select(picked.c.id))
        else:
            chosen = self.table.c.id.in_(self.due.scalar_subquery())
        statement = (
            update(self.table)
            .where(chosen, self.due_condition)
            .values(self.claim_values)
            .returning(*self.table.c)
        )
        rows = connection.execute(
            statement, {"limit": limit, "lease": lease, "claim_id": new_token()}
        ).all()
        return [notice(row) for row in rows]

    def write_for(self, connection: Connection, tokens: Iterable[str]) -> None:
        """Write a notice of the end of each of ``tokens``, in the caller's transaction."""
        rows = [{"id": new_token(), "token": token} for token in tokens]
        if rows:
            connection.execute(self.write, rows)


def notice(row: Any) -> Notice:
    """One outbox row as a :class:`Notice`."""
    return Notice(
        id=row.id,
        token=row.token,
        state=row.state,
        created_at=_utc(row.created_at),
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        claim=row.claim,
        delivered_to=tuple(json.loads(row.delivered_to or "[]")),
        last_attempt_at=_utc(row.last_attempt_at),
        last_error=row.last_error,
        finished_at=_utc(row.finished_at),
    )


def _utc(moment: datetime | None) -> Any:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
