"""Internal: the SQL registry, its import processes in one table shared by every process."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import Connection, Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..contract import (
    AbortOutcome,
    AbortRequest,
    ProcessKind,
    StoreOutdated,
    StoreUnavailable,
    checked_kind,
)
from ..lifecycle import (
    ChunkedImport,
    EndReason,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
    checked_metadata,
    chunk_failure,
    chunk_totals,
    merged_metadata,
    registrable_chunks,
)
from ..signals import announce_end, process_ended
from ..tokens import new_token, registrable_token, token_for_log
from ._schema import (
    is_missing_table,
    is_schema_error,
)
from ._store import UNAVAILABLE, SQLStore

__all__ = ["SQLImportRegistry"]

log = logging.getLogger("flask_import_abort")

#: What an abort without an ``AbortRequest`` records: nothing beyond its time.
_NO_DETAILS = AbortRequest()
#: What stopping the chunks of an import whose chunk failed records (the reason is added).
_SIBLINGS_STOP = {
    "stop_deadline": None,
    "actor": None,
    "request_id": None,
    "end_reason": EndReason.CHUNK_FAILED.value,
}


class SQLImportRegistry(SQLStore):
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

    Every engine the registry uses, its own or the host's (given, or found through ``db``), is
    fork-safe: a forked child (an RQ work horse, a Celery prefork child, a gunicorn worker)
    leaves its parent's pooled connections alone and opens its own.
    """

    retryable_errors: tuple[type[BaseException], ...] = UNAVAILABLE
    #: It records each process's kind: an import and an export never answer for each other.
    kinds: frozenset[ProcessKind] = frozenset(ProcessKind)

    def __enter__(self) -> SQLImportRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The endpoint's side.

    def abort(self, token: str, request: AbortRequest | None = None) -> AbortOutcome:
        """Ask the process ``token`` to stop, within the request timeout. A connection the
        database dropped is tried once more (a repeated abort is harmless); a database that
        cannot answer is :class:`~flask_import_abort.processes.StoreUnavailable`, with the
        seconds to wait; a table older than this version is
        :class:`~flask_import_abort.processes.StoreOutdated`."""
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
                log.error("import registry: %s", self._missing_table)
                raise
            if isinstance(error, DBAPIError) and is_schema_error(error):
                problem = self.check_schema()
                if problem is not None:
                    raise StoreOutdated(problem) from error
            if not isinstance(error, UNAVAILABLE):
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
        """One try of the abort, each step a transaction. A running import's abort is one
        ``UPDATE`` (the hot path); anything else abortable takes the general statement, and
        a parallel import its chunks with it. When nothing changed, the row says why; a
        chunk's token is read again as its parallel import's."""
        request = request or _NO_DETAILS
        values = {
            "key": token,
            "stop_deadline": request.stop_deadline,
            "actor": request.actor,
            "reason": request.reason,
            "request_id": request.request_id,
            "end_reason": None if request.end_reason is None else request.end_reason.value,
            "of_kind": None if request.kind is None else checked_kind(request.kind).value,
        }
        while True:
            with self._connection(deadline) as connection:
                with connection.begin():
                    if self._execute(connection, "abort_running", values).rowcount == 1:
                        return AbortOutcome.REQUESTED
                    changed = self._execute(connection, "abort", values).first()
                    ended = changed is not None and ImportState(changed.state).is_final
                    if changed is not None and changed.chunk_count is not None:
                        # the import's row is locked by the abort: its chunks' rows next
                        self._lock_chunks(connection, token, import_locked=True)
                        connection.execute(self._statements.abort_chunks, values)
                        # Its chunks that were still to start have ended: it may have too,
                        # unless the abort ended it already (it was still to start itself).
                        end = self._statements.end_parent
                        ended = connection.execute(end, {"key": token}).first() is not None or ended
                    if ended and self.webhooks:  # a pending or lost process ended at once
                        self._write_notices(connection, [token])
                if changed is not None:
                    return AbortOutcome.REQUESTED
                row = connection.execute(self._statements.read_state, {"key": token}).first()
            if row is None or row.kind != (values["of_kind"] or row.kind):  # none of its kind
                return AbortOutcome.NOT_FOUND
            if row.parent_token is not None:  # a chunk's abort is its parallel import's
                token = values["key"] = row.parent_token
                continue
            state = ImportState(row.state)
            if state in (ImportState.SUCCEEDED, ImportState.FAILED):
                return AbortOutcome.FINISHED
            if row.abort_requested_at is not None or state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            # Registered between the UPDATE and the read (a token is never registered twice,
            # so this happens at most once): the UPDATE will find it now.

    # The worker's side (see ``WorkerRegistry``).

    def register(
        self,
        *,
        total: int | None = None,
        token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> str:
        """Record a new ``pending`` process and return its token (a random one by default).
        ``metadata``, a JSON object, is what the host says of the import (the webhook's notice
        names the item by its ``format`` and ``id``); ``kind``, ``"import"`` or
        ``"export"``."""
        token = new_token() if token is None else registrable_token(token)
        values = _pending(token, total, kind, metadata=_metadata_json(metadata))
        try:
            with self.engine.begin() as connection:
                connection.execute(self._statements.register, values)
        except IntegrityError:
            raise ValueError(f"an import process with token {token!r} exists already") from None
        return token

    def register_chunks(
        self,
        count: int,
        *,
        totals: Sequence[int | None] | None = None,
        total: int | None = None,
        token: str | None = None,
        continue_on_error: bool = False,
        metadata: Mapping[str, Any] | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> ChunkedImport:
        """Record a pending parallel import (or export, by ``kind``) of ``count`` pending
        chunks, in one transaction: the import's token (a random one by default) and its
        chunks' (``<token>-1``, ...). ``totals`` are each chunk's expected records, when
        known. Unless ``continue_on_error``, the first chunk to fail stops the others."""
        token = new_token() if token is None else registrable_token(token)
        chunks = registrable_chunks(token, count)
        expected = chunk_totals(totals, count)
        parent = _pending(
            token,
            total,
            kind,
            chunk_count=count,
            continue_on_error=bool(continue_on_error),
            metadata=_metadata_json(metadata),
        )
        rows = [
            _pending(chunk, chunk_total, kind, parent_token=token, chunk_index=index)
            for index, (chunk, chunk_total) in enumerate(zip(chunks, expected, strict=True), 1)
        ]
        try:
            with self.engine.begin() as connection:
                connection.execute(self._statements.register, parent)
                connection.execute(self._statements.register, rows)
        except IntegrityError:
            raise ValueError(f"an import process with token {token!r} exists already") from None
        return ChunkedImport(token, chunks)

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began.
        A chunk starts its parallel import too, and is refused once the import was aborted or
        has ended."""
        statements = self._statements
        with self.engine.begin() as connection:
            parent = connection.execute(statements.parent_of, {"key": token}).scalar()
            if parent is not None:
                going_on = connection.execute(statements.start_parent, {"key": parent}).rowcount
                if not going_on:
                    connection.rollback()
                    return self._refused_start(token)
            if not connection.execute(statements.start, {"key": token}).rowcount:
                connection.rollback()  # its import is not started for a chunk that is not
                return self._refused_start(token)
        return True

    def _refused_start(self, token: str) -> bool:
        if self.snapshot(token).state is ImportState.ABORTED:
            return False
        self._refuse(token, "start")

    def report_progress(
        self, token: str, processed: int, *, total: int | None = None, failed: int | None = None
    ) -> None:
        """Record how many records a running process has written (and its total, and how many
        records failed, if given)."""
        if failed is not None:
            statement = self._statements.progress.values(failed_count=failed)
            if total is not None:
                statement = statement.values(total_count=total)
            self._change(token, statement, {"key": token, "processed": processed})
            return
        if total is None:
            changed = self._hot_once("progress", {"key": token, "processed": processed})
        else:
            values = {"key": token, "processed": processed, "total": total}
            changed = self._hot_once("progress_and_total", values)
        if not changed:
            self._refuse(token, "report progress")

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch: one primary-key ``UPDATE``
        that records the heartbeat and reads the abort flag back."""
        return self.heartbeat(token)

    def heartbeat(self, token: str) -> bool:
        """Record that the worker is alive; whether it should stop after its current batch.

        One ``UPDATE`` of a running process not asked to stop, whose row count says go on;
        only when it changes nothing does a second one, or a read, say why."""
        if self._hot_once("beat", {"key": token}):
            return False
        row = self._hot_once("heartbeat", {"key": token}, fetch=True)
        if row is not None:
            return row[0] is not None
        snapshot = self.snapshot(token)  # UnknownImport when there is no such process
        return snapshot.abort_requested or snapshot.state.is_final

    def update_metadata(self, token: str, metadata: Mapping[str, Any]) -> None:
        """Add ``metadata``'s keys to what the host said of the process (an export's
        ``fileLink``, set by its worker at its end), checked as at registration: one
        transaction, the row locked between its read and its write."""
        with self.engine.begin() as connection:
            row = connection.execute(self._statements.read_metadata, {"key": token}).first()
            if row is None:
                raise UnknownImport(token)
            current = None if row.metadata is None else json.loads(row.metadata)
            merged = json.dumps(merged_metadata(current, metadata))
            connection.execute(self._statements.set_metadata, {"key": token, "metadata": merged})

    def set_state(self, token: str, state: ImportState) -> ImportState:
        """Record a move of a running process: pause, block, resume, or its end; return the
        state recorded (an end after a requested abort is ``aborted``)."""
        state = ImportState(state)
        with self.engine.begin() as connection:
            if self.webhooks and state.is_final and connection.dialect.name == "postgresql":
                noted = self._noted_moves[state]  # the end and its notice, one statement
                row = connection.execute(noted, {"key": token, "id": new_token()}).first()
            else:
                row = connection.execute(self._statements.moves[state], {"key": token}).first()
                if (
                    self.webhooks
                    and row is not None
                    and row.parent_token is None
                    and state.is_final
                ):
                    self._write_notices(connection, [token])
        if row is None:
            self._refuse(token, f"go to {state.value}")
        recorded = ImportState(row.state)
        if recorded.is_final and row.parent_token is not None:
            self._chunk_ended(token, row.parent_token, recorded)
        return recorded

    def _chunk_ended(self, chunk: str, parent: str, state: ImportState) -> None:
        """After a chunk's end is committed: its first failure stops its siblings, and the
        last chunk to end ends its import (a conditional UPDATE, written once whichever chunk
        gets there; a reap ends it after a crash in between)."""
        statements = self._statements
        try:
            with self.engine.begin() as connection:
                if state is ImportState.FAILED:
                    self._lock_chunks(connection, parent)
                    why = chunk_failure(chunk, worker_lost=False)
                    stopping = dict(_SIBLINGS_STOP, key=parent, reason=why)
                    connection.execute(statements.stop_siblings, stopping)
                ended = connection.execute(statements.end_parent, {"key": parent}).first()
                if ended is not None and self.webhooks:
                    self._write_notices(connection, [parent])
        except UNAVAILABLE as error:  # the chunk's end is kept: the next reap does the rest
            log.warning(
                "chunk %s ended %s, but its import %s could not be brought up to date (%s); "
                "the next reap does it",
                token_for_log(chunk),
                state.value,
                token_for_log(parent),
                type(error).__name__,
            )
            return
        if ended is not None and process_ended.receivers:
            announce_end(self, self.snapshot(parent))

    def finish(self, token: str, state: ImportState) -> ImportState:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``; return
        the end recorded (``aborted`` whenever an abort was requested before)."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        return self.set_state(token, state)

    def reap(self, *, dry_run: bool = False) -> list[ProcessSnapshot]:
        """End the running processes past their stop deadline (``aborted``, forced) or lost
        (``failed``, or ``aborted`` when an abort was requested); return them as ended.

        Each is one conditional ``UPDATE`` that only a running process matches, so any number
        of processes may reap at once and each lost process is ended exactly once.
        ``dry_run`` reads what would be ended and changes nothing.
        """
        statements = self._statements
        found: list[Row[Any]] = []
        with self._table_needed(), self.engine.begin() as connection:
            for ending in statements.reap_dry_run if dry_run else statements.reap:
                found += connection.execute(ending).all()
            if self.webhooks and not dry_run:
                ends = [row.token for row in found if row.parent_token is None]
                self._write_notices(connection, ends)
        ended = [self._snapshot(row) for row in found]
        if dry_run:
            return ended
        # Then, once those ends are committed (as a worker's chunk does): the siblings of a
        # chunk that failed are stopped, and every parallel import whose chunks have all ended
        # (here, or earlier by a worker that died before it could end its import) ends.
        failed: dict[str, str] = {}
        for chunk in sorted(ended, key=lambda snapshot: snapshot.chunk_index or 0):
            if chunk.parent is not None and chunk.state is ImportState.FAILED:
                failed.setdefault(chunk.parent, chunk.token)  # the first, as the rule says
        with self.engine.begin() as connection:
            for parent, chunk_token in sorted(failed.items()):  # imports in token order
                self._lock_chunks(connection, parent)
                why = chunk_failure(chunk_token, worker_lost=True)
                stopping = dict(_SIBLINGS_STOP, key=parent, reason=why)
                connection.execute(statements.stop_siblings, stopping)
            parents = connection.execute(statements.end_parents).all()
            if self.webhooks:
                self._write_notices(connection, [parent.token for parent in parents])
        return ended + [self.snapshot(parent.token) for parent in parents]

    def _lock_chunks(
        self, connection: Connection, parent: str, *, import_locked: bool = False
    ) -> None:
        """Lock a parallel import's row, then its chunks' rows by token, as every transaction
        that changes both does first (see ``Statements.lock_import``); SQLite, which locks the
        whole database for a write, has no row locks to take."""
        if connection.dialect.name == "sqlite":
            return
        if not import_locked:
            connection.execute(self._statements.lock_import, {"key": parent})
        connection.execute(self._statements.lock_chunks, {"key": parent})

    def _change(self, token: str, statement: Any, parameters: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(statement, parameters).rowcount
        if not changed:
            self._refuse(token, "do that")

    def _refuse(self, token: str, move: str) -> NoReturn:
        state = self.snapshot(token).state  # UnknownImport when there is no such process
        raise InvalidTransition(f"import process {token!r} is {state.value}: cannot {move}")

    # The outbox (see ``flask_import_abort.processes.notices``).


def _metadata_json(metadata: Mapping[str, Any] | None) -> str | None:
    checked = checked_metadata(metadata)
    return None if checked is None else json.dumps(checked)


def _pending(token: str, total: int | None, kind: ProcessKind | str, **more: Any) -> dict[str, Any]:
    """A new pending process's row: a parallel import's or a chunk's with ``more``. Every row
    of one ``INSERT`` has the same columns: those a row leaves out are NULL."""
    return {
        "token": token,
        "state": ImportState.PENDING.value,
        "processed_count": 0,
        "total_count": total,
        "kind": checked_kind(kind).value,
        "metadata": None,
        **more,
    }
