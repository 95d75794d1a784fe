"""A thread-safe registry that keeps import processes in this process's memory."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from ._memory_outbox import MemoryOutbox, NoticesInMemory
from .contract import AbortOutcome, AbortRequest, ProcessKind, checked_kind
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
    merged_metadata,
    parallel_end,
    reaped_end,
    registrable_chunks,
    summed,
    utc_now,
)
from .signals import announce_end
from .tokens import new_token, registrable_token


class InMemoryImportRegistry(NoticesInMemory):
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

    Each process is kept as the :class:`~flask_import_abort.processes.ProcessSnapshot` of its
    last change (a new one for every change), and applies the life cycle's pure rules
    (``MOVES``, ``parallel_end``, ``reaped_end``) that the SQL registry's statements implement.
    Its ``lost``, and a parallel import's sums over its chunks, are worked out as it is read.
    """

    retryable_errors: tuple[type[BaseException], ...] = ()
    #: It records each process's kind: an import and an export never answer for each other.
    kinds: frozenset[ProcessKind] = frozenset(ProcessKind)

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
        self._processes: dict[str, ProcessSnapshot] = {}
        self._outbox = MemoryOutbox(clock)

    # Registering: a new record (or several, in one step) under the lock.
    def add(
        self,
        state: ImportState = ImportState.PENDING,
        *,
        token: str | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> str:
        """Record a process (an import unless ``kind`` says ``"export"``) already in ``state``
        (for tests and demos) and return its token."""
        state, now, kind = ImportState(state), self._clock(), checked_kind(kind)
        running = now if state in RUNNING_STATES else None
        return self._insert(
            _new(token, now, state=state, started_at=running, heartbeat_at=running, kind=kind)
        )

    def register(
        self,
        *,
        total: int | None = None,
        token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> str:
        """Record a new ``pending`` process (an import, or an export with ``kind="export"``)
        and return its token (a random one by default); ``metadata``, a JSON object, is what
        the host says of it (see ``webhooks``)."""
        metadata, kind = checked_metadata(metadata), checked_kind(kind)
        return self._insert(_new(token, self._clock(), total=total, metadata=metadata, kind=kind))

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
        chunks: the import's token (a random one by default) and its chunks' (``<token>-1``,
        ...). ``totals`` are each chunk's expected records, when known. Unless
        ``continue_on_error``, the first chunk to fail stops the others."""
        now, kind = self._clock(), checked_kind(kind)
        parent = _new(
            token,
            now,
            total=total,
            chunks=count,
            continue_on_error=bool(continue_on_error),
            metadata=checked_metadata(metadata),
            kind=kind,
        )
        chunks = registrable_chunks(parent.token, count)
        expected = chunk_totals(totals, count)
        self._insert(
            parent,
            *(
                _new(
                    chunk, now, total=chunk_total, parent=parent.token, chunk_index=index, kind=kind
                )
                for index, (chunk, chunk_total) in enumerate(zip(chunks, expected, strict=True), 1)
            ),
        )
        return ChunkedImport(parent.token, chunks)

    def _insert(self, first: ProcessSnapshot, *more: ProcessSnapshot) -> str:
        """Keep ``first`` and ``more`` (a parallel import's chunks) in one step under the lock, or
        none of them when ``first``'s token is taken; ``first``'s token."""
        with self._lock:
            if first.token in self._processes:
                raise ValueError(f"an import process with token {first.token!r} exists already")
            for process in (first, *more):
                self._processes[process.token] = process
        return first.token

    # The abort, as the endpoint asks it.
    def abort(self, token: str, request: AbortRequest | None = None) -> AbortOutcome:
        """Ask the process ``token`` to stop, as the endpoint does: a chunk's token asks its
        parallel import, whose chunks are all asked in the same step; the outcome says what
        the endpoint answers."""
        with self._lock:
            process = self._processes.get(token)
            if process is not None and process.parent is not None:
                process = self._processes[process.parent]  # a chunk's abort is its import's
            if process is None:
                return AbortOutcome.NOT_FOUND
            if request is not None and request.kind is not None and process.kind != request.kind:
                return AbortOutcome.NOT_FOUND  # of another kind than the route's
            if process.state in (ImportState.SUCCEEDED, ImportState.FAILED):
                return AbortOutcome.FINISHED
            if process.abort_requested or process.state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            now = self._clock()
            self._abort(process, now, request)
            if process.chunks:
                self._abort_chunks(process.token, now, request)
                self._end_parent(process.token, now)
            return AbortOutcome.REQUESTED

    def _abort(self, process: ProcessSnapshot, now: datetime, request: AbortRequest | None) -> None:
        """Record the abort of ``process`` and what ``request`` says of it. A process still to
        start, or whose worker is lost, ends ``aborted`` at once; a running one is given its
        stop deadline, when the request has one, and ends when its worker reads the flag."""
        asked: dict[str, Any] = {"abort_requested": True, "abort_requested_at": now}
        if request is not None:
            asked.update(
                aborted_by=request.actor,
                abort_reason=request.reason,
                abort_request_id=request.request_id,
                end_reason=request.end_reason,
            )
        process = self._update(process, **asked)
        if process.state is ImportState.PENDING:
            self._end(process, now, ImportState.ABORTED, process.end_reason)
        elif self._is_lost(process, now):
            self._end(process, now, ImportState.ABORTED, EndReason.WORKER_LOST)
        elif request is not None and request.stop_deadline is not None:
            self._update(process, stop_by=now + timedelta(seconds=request.stop_deadline))

    def _abort_chunks(self, token: str, now: datetime, request: AbortRequest | None) -> None:
        for chunk in self._chunks_of(token):
            if chunk.state in ABORTABLE_STATES and not chunk.abort_requested:
                self._abort(chunk, now, request)

    # A parallel import: its chunks, and its end when they have all ended.
    def chunks(self, token: str) -> list[ProcessSnapshot]:
        """The chunks of the parallel import ``token``, in order (``[]`` for a process run by
        one worker)."""
        with self._lock:
            self._get(token)
            return self._chunks(token, self._clock())

    def _chunks_of(self, token: str) -> list[ProcessSnapshot]:
        chunks = [process for process in self._processes.values() if process.parent == token]
        return sorted(chunks, key=lambda chunk: chunk.chunk_index or 0)

    def _chunks(self, token: str, now: datetime) -> list[ProcessSnapshot]:
        return [self._read(chunk, now) for chunk in self._chunks_of(token)]

    def _chunk_ended(self, token: str, now: datetime) -> ProcessSnapshot | None:
        """The chunk ``token`` ended: its first failure stops its siblings (unless its import
        goes on past failures), and the last chunk to end ends its import; that end, when
        written here."""
        chunk = self._processes[token]
        parent = self._processes[chunk.parent or ""]
        if chunk.state is ImportState.FAILED and not parent.continue_on_error:
            worker_lost = chunk.end_reason is EndReason.WORKER_LOST
            stopping = AbortRequest(
                reason=chunk_failure(token, worker_lost=worker_lost),
                end_reason=EndReason.CHUNK_FAILED,
            )
            self._abort_chunks(parent.token, now, stopping)
        if self._end_parent(parent.token, now):
            return self._read(self._processes[parent.token], now)
        return None

    def _end_parent(self, token: str, now: datetime) -> bool:
        """End a parallel import whose chunks have all ended, as the SQL registry's
        ``end_parents`` does; whether it was ended here."""
        parent = self._processes[token]
        if parent.state.is_final:
            return False
        end = parallel_end(
            [(chunk.state, chunk.end_reason) for chunk in self._chunks_of(token)],
            abort_requested=parent.abort_requested,
            end_reason=parent.end_reason,
        )
        if end is None:
            return False
        self._end(parent, now, *end)
        return True

    # The worker API.
    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch; a heartbeat too."""
        return self.heartbeat(token)

    def heartbeat(self, token: str) -> bool:
        """Record that the worker is alive; whether it should stop after its current batch."""
        with self._lock:
            process = self._get(token)
            if process.state in RUNNING_STATES:
                self._update(process, heartbeat_at=self._clock())
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
                self._start_parent(token, self._processes[process.parent])
            self._move(process, ImportState.PROCESSING)
            return True

    def _start_parent(self, token: str, parent: ProcessSnapshot) -> None:
        """A chunk of ``token``'s parallel import starts: its import starts with its first
        chunk, and no chunk starts once the import has ended or was asked to stop."""
        if parent.state not in ABORTABLE_STATES or parent.abort_requested:
            raise InvalidTransition(
                f"import process {token!r}: its parallel import is {parent.state.value}"
            )
        if parent.state is ImportState.PENDING:
            self._update(parent, state=ImportState.PROCESSING, started_at=self._clock())

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
            self._update(
                process,
                processed=processed,
                heartbeat_at=self._clock(),
                total=process.total if total is None else total,
                failed=process.failed if failed is None else failed,
            )

    def update_metadata(self, token: str, metadata: Mapping[str, Any]) -> None:
        """Add ``metadata``'s keys to what the host said of the process (an export's
        ``fileLink``, set by its worker at its end), checked as at registration."""
        with self._lock:
            process = self._get(token)
            self._update(process, metadata=merged_metadata(process.metadata, metadata))

    def set_state(self, token: str, state: ImportState) -> ImportState:
        """Record a move of a running process: pause, block, resume, or its end; return the
        state recorded (an end after a requested abort is ``aborted``)."""
        with self._lock:
            process = self._get(token)
            recorded = self._move(process, ImportState(state))
            ended = None
            if recorded.is_final and process.parent is not None:
                ended = self._chunk_ended(token, self._clock())
        if ended is not None:
            announce_end(self, ended)
        return recorded

    def finish(self, token: str, state: ImportState) -> ImportState:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``; return
        the end recorded (``aborted`` whenever an abort was requested before)."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        return self.set_state(token, state)

    def _move(self, process: ProcessSnapshot, state: ImportState) -> ImportState:
        """Move ``process`` to ``state`` if :data:`MOVES` allows it; the state recorded. An end
        after a requested abort is ``aborted``, for the abort's reason; a running move is a
        heartbeat, and the first ``processing`` is the start."""
        if state not in MOVES.get(process.state, ()):
            raise InvalidTransition(
                f"import process {process.token!r} cannot go from {process.state.value} "
                f"to {state.value}"
            )
        now = self._clock()
        if state.is_final:
            if process.abort_requested:  # an end after a requested abort is that abort's
                state = ImportState.ABORTED
            self._end(process, now, state, process.end_reason if process.abort_requested else None)
            return state
        first_start = state is ImportState.PROCESSING and process.started_at is None
        started_at = now if first_start else process.started_at
        self._update(process, state=state, heartbeat_at=now, started_at=started_at)
        return state

    # Reading.
    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self._lock:
            return self._read(self._get(token), self._clock())

    def recent(
        self,
        limit: int = 50,
        *,
        states: Iterable[ImportState] | None = None,
        older_than: timedelta | None = None,
        kind: ProcessKind | str | None = None,
    ) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first; only those in ``states``,
        registered ``older_than`` ago or more, and of ``kind``, when given."""
        of_kind = None if kind is None else checked_kind(kind)
        wanted = None if states is None else {ImportState(state) for state in states}
        with self._lock:
            now = self._clock()
            registered_before = None if older_than is None else now - older_than
            found = (
                process
                for process in reversed(self._processes.values())
                if process.parent is None  # a chunk is read through its import
                and (wanted is None or process.state in wanted)
                and (of_kind is None or process.kind is of_kind)
                and (registered_before is None or process.created_at <= registered_before)
            )
            return [self._read(process, now) for process in islice(found, max(limit, 0))]

    def count_by_state(self, *, kind: ProcessKind | str | None = None) -> dict[ImportState, int]:
        """How many processes (of ``kind``, when given) are in each state."""
        of_kind = None if kind is None else checked_kind(kind)
        with self._lock:
            imports = (
                process
                for process in self._processes.values()
                if process.parent is None and (of_kind is None or process.kind is of_kind)
            )
            return dict(Counter(process.state for process in imports))

    def state(self, token: str) -> ImportState:
        """The process's current state."""
        return self._get(token).state

    def tokens(self) -> list[str]:
        """Every registered token, oldest first."""
        with self._lock:
            return list(self._processes)

    def reap(self, *, dry_run: bool = False) -> list[ProcessSnapshot]:
        """End the running processes past their stop deadline or lost; return them as ended."""
        with self._lock:
            now = self._clock()
            ended = []
            for process in list(self._processes.values()):
                if process.state not in RUNNING_STATES or process.chunks:
                    continue  # the rule's own first test, made before a snapshot is built
                found = self._read(process, now)
                end = reaped_end(found, now)
                if end is not None and not dry_run:
                    found = self._read(self._end(process, now, *end), now)
                if end is not None:
                    ended.append(found)
            if dry_run:
                return ended
            for snapshot in [found for found in ended if found.parent is not None]:
                parent = self._chunk_ended(snapshot.token, now)
                if parent is not None:
                    ended.append(parent)
            return ended

    # The records.
    def _get(self, token: str) -> ProcessSnapshot:
        try:
            return self._processes[token]
        except KeyError:
            raise UnknownImport(token) from None

    def _update(self, process: ProcessSnapshot, **changes: Any) -> ProcessSnapshot:
        """Keep ``process`` as it is after ``changes``: a new record in place of its last."""
        changed = self._processes[process.token] = dataclasses.replace(
            self._processes[process.token], **changes
        )
        return changed

    def _end(
        self,
        process: ProcessSnapshot,
        now: datetime,
        state: ImportState,
        reason: EndReason | None = None,
    ) -> ProcessSnapshot:
        """Record the end of ``process`` as ``state`` (for ``reason``, when the package ended
        it), and keep a notice of it when webhooks are on (never of a chunk); the record."""
        ended = self._update(process, state=state, finished_at=now, end_reason=reason)
        if self.webhooks and ended.parent is None:
            self._outbox.add(ended.token, now)
        return ended

    def _is_lost(self, process: ProcessSnapshot, now: datetime) -> bool:
        """Whether ``process`` is running and its last heartbeat is older than the lease."""
        return (
            process.state in RUNNING_STATES
            and process.heartbeat_at is not None
            and (now - process.heartbeat_at).total_seconds() > self.lease
        )

    def _read(self, process: ProcessSnapshot, now: datetime) -> ProcessSnapshot:
        """``process`` as its readers see it: ``lost`` worked out, its metadata a copy of its
        own, a parallel import summed over its chunks."""
        read = dataclasses.replace(
            process,
            lost=self._is_lost(process, now),
            metadata=copy.deepcopy(process.metadata),
        )
        return summed(read, self._chunks(process.token, now)) if process.chunks else read


def _new(token: str | None, now: datetime, **fields: Any) -> ProcessSnapshot:
    """A new process's record: ``pending`` unless ``fields`` say otherwise, under ``token``
    (a random token by default)."""
    token = new_token() if token is None else registrable_token(token)
    fields.setdefault("state", ImportState.PENDING)
    return ProcessSnapshot(token=token, abort_requested=False, created_at=now, **fields)
