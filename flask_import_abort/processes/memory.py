"""A thread-safe registry that keeps import processes in this process's memory."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ._memory_outbox import MemoryOutbox
from .contract import AbortOutcome, AbortRequest
from .lifecycle import (
    ABORTABLE_STATES,
    DEFAULT_LEASE,
    MOVES,
    RUNNING_STATES,
    ChunkedImport,
    EndReason,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
    checked_lease,
    checked_metadata,
    chunk_failure,
    chunk_totals,
    parallel_end,
    reaped_end,
    registrable_chunks,
    summed,
    utc_now,
)
from .notices import Notice
from .signals import announce_end
from .tokens import new_token, registrable_token


@dataclass
class _Process:
    state: ImportState
    created_at: datetime
    abort_requested: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    processed: int = 0
    total: int | None = None
    heartbeat_at: datetime | None = None
    stop_by: datetime | None = None
    end_reason: EndReason | None = None
    abort_requested_at: datetime | None = None
    aborted_by: str | None = None
    abort_reason: str | None = None
    abort_request_id: str | None = None
    parent: str | None = None
    chunk_index: int | None = None
    chunks: int = 0
    continue_on_error: bool = False
    metadata: Mapping[str, Any] | None = None
    failed: int = 0


class InMemoryImportRegistry:
    """Import processes held in a dict behind a lock, for tests, demos and single-process hosts.

    The life cycle::

        pending -> processing <-> paused / blocked -> succeeded | failed | aborted

    ``abort`` of a pending process ends it ``aborted`` at once; of a running one it sets a
    flag that the import reads between batches through :meth:`should_stop`, after which the
    import records ``aborted`` itself. Final states never change again.

    Import code uses the worker API that every shipped registry has (see
    :class:`~flask_import_abort.processes.WorkerRegistry`); ``lease`` is how many seconds a running
    process may go without a heartbeat, ``clock`` what tells the time (for tests).

    With ``webhooks=True`` each end keeps a notice for a
    :class:`~flask_import_abort.processes.webhooks.WebhookDispatcher` to deliver, in this
    process's memory: best effort, as every process it holds (a restart loses them). The SQL
    registry's outbox keeps them through crashes.
    """

    retryable_errors: tuple[type[BaseException], ...] = ()

    def __init__(
        self,
        *,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], datetime] = utc_now,
        webhooks: bool = False,
    ) -> None:
        if not isinstance(webhooks, bool):
            raise TypeError(f"webhooks is True or False; got {type(webhooks).__name__}.")
        self.lease = checked_lease(lease)
        self.webhooks = webhooks
        self._clock = clock
        self._lock = threading.Lock()
        self._processes: dict[str, _Process] = {}
        self._outbox = MemoryOutbox(clock)

    def add(self, state: ImportState = ImportState.PENDING, *, token: str | None = None) -> str:
        """Record a process already in ``state`` (for tests and demos) and return its token."""
        now = self._clock()
        process = _Process(ImportState(state), created_at=now)
        if process.state in RUNNING_STATES:
            process.started_at = process.heartbeat_at = now
        return self._insert(token, process)

    def register(
        self,
        *,
        total: int | None = None,
        token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a new ``pending`` process and return its token (a random one by default);
        ``metadata``, a JSON object, is what the host says of it (see ``webhooks``)."""
        process = _Process(
            ImportState.PENDING,
            created_at=self._clock(),
            total=total,
            metadata=checked_metadata(metadata),
        )
        return self._insert(token, process)

    def _insert(self, token: str | None, process: _Process) -> str:
        token = new_token() if token is None else registrable_token(token)
        with self._lock:
            if token in self._processes:
                raise ValueError(f"an import process with token {token!r} exists already")
            self._processes[token] = process
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
    ) -> ChunkedImport:
        """Record a pending parallel import of ``count`` pending chunks: the import's token (a
        random one by default) and its chunks' (``<token>-1``, ...). ``totals`` are each
        chunk's expected records, when known. Unless ``continue_on_error``, the first chunk to
        fail stops the others."""
        token = new_token() if token is None else registrable_token(token)
        chunks = registrable_chunks(token, count)
        expected = chunk_totals(totals, count)
        now = self._clock()
        with self._lock:
            if token in self._processes:
                raise ValueError(f"an import process with token {token!r} exists already")
            self._processes[token] = _Process(
                ImportState.PENDING,
                created_at=now,
                total=total,
                chunks=count,
                continue_on_error=bool(continue_on_error),
                metadata=checked_metadata(metadata),
            )
            for index, (chunk, chunk_total) in enumerate(zip(chunks, expected, strict=True), 1):
                self._processes[chunk] = _Process(
                    ImportState.PENDING,
                    created_at=now,
                    total=chunk_total,
                    parent=token,
                    chunk_index=index,
                )
        return ChunkedImport(token, chunks)

    def chunks(self, token: str) -> list[ProcessSnapshot]:
        """The chunks of the parallel import ``token``, in order (``[]`` for a process run by
        one worker)."""
        with self._lock:
            return self._chunks(token, self._get(token), self._clock())

    def abort(self, token: str, request: AbortRequest | None = None) -> AbortOutcome:
        with self._lock:
            process = self._processes.get(token)
            if process is not None and process.parent is not None:
                token = process.parent  # a chunk's abort is its parallel import's
                process = self._processes[token]
            if process is None:
                return AbortOutcome.NOT_FOUND
            if process.state in (ImportState.SUCCEEDED, ImportState.FAILED):
                return AbortOutcome.FINISHED
            if process.abort_requested or process.state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            now = self._clock()
            self._abort(process, now, request)
            if process.chunks:
                for chunk in self._chunks_of(token):
                    if chunk.state in ABORTABLE_STATES and not chunk.abort_requested:
                        self._abort(chunk, now, request)
                self._end_parent(process, now)
            return AbortOutcome.REQUESTED

    def _abort(self, process: _Process, now: datetime, request: AbortRequest | None) -> None:
        process.abort_requested = True
        process.abort_requested_at = now
        if request is not None:
            process.aborted_by = request.actor
            process.abort_reason = request.reason
            process.abort_request_id = request.request_id
            process.end_reason = request.end_reason
        if process.state is ImportState.PENDING:
            self._end(process, ImportState.ABORTED, now, process.end_reason)
        elif self._is_lost(process, now):
            self._end(process, ImportState.ABORTED, now, EndReason.WORKER_LOST)
        elif request is not None and request.stop_deadline is not None:
            process.stop_by = now + timedelta(seconds=request.stop_deadline)

    def _chunks_of(self, token: str) -> list[_Process]:
        return [process for process in self._processes.values() if process.parent == token]

    def _chunk_ended(self, chunk: _Process, now: datetime) -> ProcessSnapshot | None:
        """A chunk ended: its first failure stops its siblings (unless its import goes on past
        failures), and the last chunk to end ends its import; that end, when written here."""
        token = chunk.parent or ""
        parent = self._processes[token]
        if chunk.state is ImportState.FAILED and not parent.continue_on_error:
            stopping = AbortRequest(
                reason=chunk_failure(
                    f"{token}-{chunk.chunk_index}",
                    worker_lost=chunk.end_reason is EndReason.WORKER_LOST,
                ),
                end_reason=EndReason.CHUNK_FAILED,
            )
            for sibling in self._chunks_of(token):
                if sibling.state in ABORTABLE_STATES and not sibling.abort_requested:
                    self._abort(sibling, now, stopping)
        if self._end_parent(parent, now):
            return self._snapshot(token, parent, now)
        return None

    def _end_parent(self, parent: _Process, now: datetime) -> bool:
        """End a parallel import whose chunks have all ended, as the SQL registry's
        ``end_parents`` does; whether it was ended here."""
        if parent.state.is_final:
            return False
        token = next(token for token, process in self._processes.items() if process is parent)
        end = parallel_end(
            [(chunk.state, chunk.end_reason) for chunk in self._chunks_of(token)],
            abort_requested=parent.abort_requested,
            end_reason=parent.end_reason,
        )
        if end is None:
            return False
        state, reason = end
        self._end(parent, state, now, reason)
        return True

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch; a heartbeat too."""
        return self.heartbeat(token)

    def heartbeat(self, token: str) -> bool:
        """Record that the worker is alive; whether it should stop after its current batch."""
        with self._lock:
            process = self._get(token)
            if process.state in RUNNING_STATES:
                process.heartbeat_at = self._clock()
            return process.abort_requested or process.state.is_final

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        with self._lock:
            process = self._get(token)
            if process.state is ImportState.ABORTED:
                return False
            if process.state is not ImportState.PENDING:
                raise InvalidTransition(f"import process {token!r} is {process.state.value}")
            if process.parent is not None:
                parent = self._processes[process.parent]
                if parent.state not in ABORTABLE_STATES or parent.abort_requested:
                    raise InvalidTransition(
                        f"import process {token!r}: its parallel import is {parent.state.value}"
                    )
                if parent.state is ImportState.PENDING:
                    parent.state = ImportState.PROCESSING
                    parent.started_at = self._clock()
            self._move(token, process, ImportState.PROCESSING)
            return True

    def report_progress(
        self, token: str, processed: int, *, total: int | None = None, failed: int | None = None
    ) -> None:
        """Record how many records a running process has written (and its total, and how many
        records failed, if given)."""
        with self._lock:
            process = self._get(token)
            if process.state not in RUNNING_STATES:
                raise InvalidTransition(
                    f"import process {token!r} is {process.state.value}, not running"
                )
            process.processed = processed
            process.heartbeat_at = self._clock()
            if total is not None:
                process.total = total
            if failed is not None:
                process.failed = failed

    def set_state(self, token: str, state: ImportState) -> ImportState:
        """Record a move of a running process: pause, block, resume, or its end; return the
        state recorded (an end after a requested abort is ``aborted``)."""
        with self._lock:
            process = self._get(token)
            recorded = self._move(token, process, ImportState(state))
            ended = None
            if recorded.is_final and process.parent is not None:
                ended = self._chunk_ended(process, self._clock())
        if ended is not None:
            announce_end(self, ended)
        return recorded

    def finish(self, token: str, state: ImportState) -> ImportState:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``; return
        the end recorded (``aborted`` whenever an abort was requested before)."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        return self.set_state(token, state)

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self._lock:
            return self._snapshot(token, self._get(token), self._clock())

    def _chunks(self, token: str, parent: _Process, now: datetime) -> list[ProcessSnapshot]:
        chunks = [
            self._snapshot(chunk_token, chunk, now)
            for chunk_token, chunk in self._processes.items()
            if chunk.parent == token
        ]
        return sorted(chunks, key=lambda chunk: chunk.chunk_index or 0)

    def recent(
        self,
        limit: int = 50,
        *,
        states: Iterable[ImportState] | None = None,
        older_than: timedelta | None = None,
    ) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first; only those in ``states``
        and registered ``older_than`` ago or more, when given."""
        wanted = None if states is None else {ImportState(state) for state in states}
        with self._lock:
            now = self._clock()
            registered_before = None if older_than is None else now - older_than
            found: list[ProcessSnapshot] = []
            for token, process in reversed(self._processes.items()):
                if len(found) >= limit:
                    break
                if process.parent is not None:
                    continue  # a chunk: read through its import
                if wanted is not None and process.state not in wanted:
                    continue
                if registered_before is not None and process.created_at > registered_before:
                    continue
                found.append(self._snapshot(token, process, now))
            return found

    def count_by_state(self) -> dict[ImportState, int]:
        """How many processes are in each state."""
        with self._lock:
            return dict(
                Counter(
                    process.state for process in self._processes.values() if process.parent is None
                )
            )

    def reap(self, *, dry_run: bool = False) -> list[ProcessSnapshot]:
        """End the running processes past their stop deadline or lost; return them as ended."""
        with self._lock:
            now = self._clock()
            ended = []
            for token, process in list(self._processes.items()):
                if process.state not in RUNNING_STATES or process.chunks:
                    continue  # the rule's own first test, made before a snapshot is built
                found = self._snapshot(token, process, now)
                end = reaped_end(found, now)
                if end is None:
                    continue
                if not dry_run:
                    state, reason = end
                    self._end(process, state, now, reason)
                    found = self._snapshot(token, process, now)
                ended.append(found)
            if dry_run:
                return ended
            for snapshot in list(ended):
                if snapshot.parent is not None:
                    parent = self._chunk_ended(self._processes[snapshot.token], now)
                    if parent is not None:
                        ended.append(parent)
            return ended

    def state(self, token: str) -> ImportState:
        """The process's current state."""
        return self._get(token).state

    def tokens(self) -> list[str]:
        """Every registered token, oldest first."""
        with self._lock:
            return list(self._processes)

    def _get(self, token: str) -> _Process:
        try:
            return self._processes[token]
        except KeyError:
            raise UnknownImport(token) from None

    def _is_lost(self, process: _Process, now: datetime) -> bool:
        return (
            process.state in RUNNING_STATES
            and process.heartbeat_at is not None
            and (now - process.heartbeat_at).total_seconds() > self.lease
        )

    def _snapshot(self, token: str, process: _Process, now: datetime) -> ProcessSnapshot:
        snapshot = ProcessSnapshot(
            token=token, lost=self._is_lost(process, now), **dataclasses.asdict(process)
        )
        if not process.chunks:
            return snapshot
        return summed(snapshot, self._chunks(token, process, now))

    def _end(
        self, process: _Process, state: ImportState, now: datetime, reason: EndReason | None = None
    ) -> None:
        process.state = state
        process.finished_at = now
        process.end_reason = reason
        if self.webhooks and process.parent is None:
            token = next(token for token, held in self._processes.items() if held is process)
            self._outbox.add(token, now)

    # The outbox, in memory: see ``_memory_outbox``.
    def claim_notices(self, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds."""
        return self._outbox.claim_notices(limit, lease)

    def record_attempt(self, notice: Notice, **attempt: Any) -> bool:
        """Record one attempt of ``notice`` under its claim; whether the claim still held."""
        return self._outbox.record_attempt(notice, **attempt)

    def notices(self, token: str) -> list[Notice]:
        """The notices of the process ``token``, oldest first."""
        return self._outbox.notices(token)

    def retry_failed(self) -> int:
        """Make every failed notice due again, its attempts from zero; how many."""
        return self._outbox.retry_failed()

    def purge_delivered(self, older_than: float) -> int:
        """Remove the notices delivered more than ``older_than`` seconds ago; how many."""
        return self._outbox.purge_delivered(older_than)

    def _move(self, token: str, process: _Process, state: ImportState) -> ImportState:
        if state not in MOVES.get(process.state, ()):
            raise InvalidTransition(
                f"import process {token!r} cannot go from {process.state.value} to {state.value}"
            )
        now = self._clock()
        if state.is_final:
            aborted = process.abort_requested
            self._end(
                process,
                ImportState.ABORTED if aborted else state,
                now,
                process.end_reason if aborted else None,
            )
            return process.state
        process.state = state
        process.heartbeat_at = now
        if state is ImportState.PROCESSING and process.started_at is None:
            process.started_at = now
        return state
