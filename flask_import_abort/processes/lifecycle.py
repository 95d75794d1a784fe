"""The life cycle of an import process, as every shipped registry keeps it: its states and
their moves, the snapshot a read gives, and the rules of its ends, pure functions that the
in-memory registry applies and the SQL registry's statements implement. What a registry can
do is in :mod:`~flask_import_abort.processes.capabilities`."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .contract import EndReason, ProcessKind
from .tokens import registrable_token

__all__ = [
    "ABORTABLE_STATES",
    "DEFAULT_LEASE",
    "FINAL_STATES",
    "MAX_CHUNKS",
    "MIN_LEASE",
    "RUNNING_STATES",
    "ChunkedImport",
    "EndReason",
    "ImportState",
    "InvalidTransition",
    "ProcessKind",
    "ProcessSnapshot",
    "UnknownImport",
]


class ImportState(str, enum.Enum):
    """The states of an import process, named as OCC's ``progress`` field names them."""

    PENDING = "pending"
    PROCESSING = "processing"
    PAUSED = "paused"
    BLOCKED = "blocked"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        """``succeeded``, ``failed`` and ``aborted`` never change again."""
        return self in FINAL_STATES


#: States that never change again.
FINAL_STATES = frozenset({ImportState.SUCCEEDED, ImportState.FAILED, ImportState.ABORTED})
#: States of a process that has begun and not ended.
RUNNING_STATES = frozenset({ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED})
#: States an abort acts on: a pending process ends ``aborted`` at once, a running one is flagged.
ABORTABLE_STATES = RUNNING_STATES | {ImportState.PENDING}

#: The moves import code may make, by the state they leave; ``abort`` makes its own.
MOVES = {
    ImportState.PENDING: frozenset({ImportState.PROCESSING}),
    **{state: (RUNNING_STATES | FINAL_STATES) - {state} for state in RUNNING_STATES},
}
#: The same moves, by the state they reach.
SOURCES = {
    target: frozenset(source for source, targets in MOVES.items() if target in targets)
    for target in ImportState
}


#: Seconds a running process may go without a heartbeat before it is lost, by default.
DEFAULT_LEASE = 60.0
#: The shortest lease a registry takes: a worker beats at a third of it, at most this often.
MIN_LEASE = 0.5


def utc_now() -> datetime:
    """The registries' clock: now, in UTC."""
    return datetime.now(timezone.utc)


def checked_lease(lease: object, name: str = "lease") -> float:
    """``lease`` in seconds, or a ``ValueError``/``TypeError`` naming ``name``."""
    return checked_seconds(lease, name, minimum=MIN_LEASE, why=" (a worker beats at a third of it)")


#: The longest span of time a setting may give (a lease, a stop deadline, a timeout): a year.
#: Past it, a database's date arithmetic overflows (PostgreSQL) or gives no date (SQLite).
MAX_SECONDS = 366 * 24 * 3600.0


#: OCC's import modes: an import's ``metadata["mode"]``, ``standalone`` when it has none.
IMPORT_MODES = ("standalone", "bundle")


def checked_metadata(metadata: object) -> Mapping[str, Any] | None:
    """``metadata``, a JSON object of at most 4,000 characters whose ``mode``, if it has one,
    is one of :data:`IMPORT_MODES`, or None; else a ``TypeError`` or ``ValueError`` saying
    why."""
    import json

    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata is a mapping, as JSON's objects; got {type(metadata).__name__}.")
    try:
        written = json.dumps(dict(metadata), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata must be JSON: {error}") from None
    if len(written) > 4000:
        raise ValueError(f"metadata is at most 4000 characters as JSON; it has {len(written)}.")
    if metadata.get("mode", "standalone") not in IMPORT_MODES:
        raise ValueError(
            f"metadata's mode is OCC's import mode, one of {', '.join(IMPORT_MODES)}; "
            f"got {metadata['mode']!r}."
        )
    loaded: Mapping[str, Any] = json.loads(written)
    return loaded


def merged_metadata(current: Mapping[str, Any] | None, changes: object) -> Mapping[str, Any] | None:
    """``current`` metadata with the keys of ``changes`` added (a later value wins), checked as
    at registration; a ``TypeError`` when ``changes`` is not a mapping."""
    if not isinstance(changes, Mapping):
        raise TypeError(f"metadata is a mapping, as JSON's objects; got {type(changes).__name__}.")
    return checked_metadata({**(current or {}), **changes})


def checked_seconds(value: object, name: str, *, minimum: float = 0.0, why: str = "") -> float:
    """``value``, a number of seconds past ``minimum`` (at least it, when it is above 0) and at
    most :data:`MAX_SECONDS`, as a float; else a ``TypeError`` or ``ValueError`` naming ``name``.
    Infinity and NaN are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is a number of seconds; got {type(value).__name__}.")
    low = value >= minimum if minimum > 0 else value > 0
    if not (low and value <= MAX_SECONDS):  # also refuses NaN
        least = f"at least {minimum:g}" if minimum > 0 else "more than 0"
        raise ValueError(
            f"{name} must be {least} and at most {MAX_SECONDS:g} seconds (a year){why}; "
            f"got {value!r}."
        )
    return float(value)


class UnknownImport(KeyError):
    """No import process has that token."""


class InvalidTransition(ValueError):
    """Import code asked for a state change that the life cycle does not allow."""


@dataclass(frozen=True)
class ProcessSnapshot:
    """One import process as it was when read."""

    token: str
    state: ImportState
    abort_requested: bool
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Records written so far, as the import last reported.
    processed: int = 0
    #: Records the import expects to write, when it said.
    total: int | None = None
    #: When its worker last called the registry (any call of the worker API is a heartbeat).
    heartbeat_at: datetime | None = None
    #: Running, and its heartbeat older than the registry's lease, when it was read: its worker
    #: died or hung. An abort ends it at once; :meth:`WorkerRegistry.reap` ends it too.
    lost: bool = False
    #: When a requested abort escalates to a forced end, if a stop deadline applies.
    stop_by: datetime | None = None
    #: Why the package ended it instead of its worker; None when its worker recorded the end.
    end_reason: EndReason | None = None
    #: When the abort that counted (the first) was requested, by whom, why, and the request's
    #: ``X-Request-ID``: as the endpoint or the command line gave them. Repeats change none.
    abort_requested_at: datetime | None = None
    aborted_by: str | None = None
    abort_reason: str | None = None
    abort_request_id: str | None = None
    #: A chunk's parallel import: the token OCC's clients see. None for an import process.
    parent: str | None = None
    #: A chunk's place among its parent's chunks, from 1.
    chunk_index: int | None = None
    #: How many chunks a parallel import has; 0 for an import process run by one worker.
    chunks: int = 0
    #: Whether a parallel import goes on when one of its chunks fails (else its other chunks
    #: are stopped at the first failure).
    continue_on_error: bool = False
    #: The chunk whose failure failed a parallel import, the first to fail; else None.
    failed_chunk: str | None = None
    #: What the host said of the import when it registered it (``format``, ``id``): the
    #: webhook's notice names the item by it.
    metadata: Mapping[str, Any] | None = None
    #: Records the import reported failed (``report_progress(..., failed=)``).
    failed: int = 0
    #: An import or an export; a parallel import's chunks are of their import's kind.
    kind: ProcessKind = ProcessKind.IMPORT

    @property
    def is_chunk(self) -> bool:
        """Whether this is one chunk of a parallel import (its :attr:`parent` is the import)."""
        return self.parent is not None

    @property
    def forced(self) -> bool:
        """Whether the end was forced because the abort was not honoured in time."""
        return self.end_reason is EndReason.STOP_DEADLINE

    @property
    def percentage(self) -> int:
        """Whole percent of ``total`` written: 100 once succeeded, 0 while the total is unknown."""
        if self.state is ImportState.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, 100 * self.processed // self.total)


#: The most chunks one parallel import may have.
MAX_CHUNKS = 10_000


@dataclass(frozen=True)
class ChunkedImport:
    """A parallel import as registered: the token OCC's clients see, and its chunks' tokens,
    in order (``<token>-1``, ``<token>-2``, ...), each the id its worker's job runs under
    (a dash, as RQ's job ids allow no dot)."""

    token: str
    chunks: tuple[str, ...]


def registrable_chunks(token: str, count: int) -> tuple[str, ...]:
    """The tokens of the ``count`` chunks of the parallel import ``token``, each one the
    endpoint could be asked about; else a ``ValueError`` saying why not."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CHUNKS:
        raise ValueError(f"a parallel import has 1 to {MAX_CHUNKS} chunks; got {count!r}.")
    chunks = tuple(f"{token}-{index}" for index in range(1, count + 1))
    registrable_token(chunks[-1])  # the longest: the import's token must leave room for it
    return chunks


def chunk_failure(chunk: str, *, worker_lost: bool) -> str:
    """Why the other chunks of a parallel import are stopped when ``chunk`` failed first: the
    reason their abort records, in every registry."""
    return f"chunk {chunk} failed" + (" (its worker was lost)" if worker_lost else "")


def reaped_end(snapshot: ProcessSnapshot, now: datetime) -> tuple[ImportState, EndReason] | None:
    """What a reap ends a process as, read at ``now`` (its ``lost`` judged then): a running
    process past its stop deadline ``aborted`` (forced), a lost one ``failed``, or ``aborted``
    when its abort was requested; None for any other, and for a parallel import, which ends
    with its chunks. The in-memory registry applies this; the SQL registry's reap statements
    implement it."""
    if snapshot.state not in RUNNING_STATES or snapshot.chunks:
        return None
    if snapshot.stop_by is not None and snapshot.stop_by < now:
        return ImportState.ABORTED, EndReason.STOP_DEADLINE
    if snapshot.lost:
        lost_as = ImportState.ABORTED if snapshot.abort_requested else ImportState.FAILED
        return lost_as, EndReason.WORKER_LOST
    return None


def parallel_end(
    chunks: Sequence[tuple[ImportState, EndReason | None]],
    *,
    abort_requested: bool,
    end_reason: EndReason | None,
) -> tuple[ImportState, EndReason | None] | None:
    """How a parallel import ends once its chunks have, given each chunk's state and end
    reason, and the import's own abort and end reason: its final state and end reason; None
    while a chunk has not ended. Aborted when its abort was requested; else failed when a
    chunk failed, aborted when one was aborted, succeeded when all did. Its end reason is the
    stop deadline when an abort was forced, the lost worker when a chunk's failed with it.

    Every registry ends a parallel import so: the in-memory one by this function, the SQL one
    by its statements (``sql/_statements.py``), held to the same ends by the stateful test."""
    if any(not state.is_final for state, _ in chunks):
        return None
    ends = {state for state, _ in chunks}
    if abort_requested:
        state = ImportState.ABORTED
    elif ImportState.FAILED in ends:
        state = ImportState.FAILED
    elif ImportState.ABORTED in ends:
        state = ImportState.ABORTED
    else:
        state = ImportState.SUCCEEDED
    if abort_requested and any(reason is EndReason.STOP_DEADLINE for _, reason in chunks):
        return state, EndReason.STOP_DEADLINE
    lost = (ImportState.FAILED, EndReason.WORKER_LOST) in chunks
    if end_reason is None and not abort_requested and lost:
        return state, EndReason.WORKER_LOST
    return state, end_reason


def chunk_totals(totals: Sequence[int | None] | None, count: int) -> list[int | None]:
    """Each chunk's expected record count, ``None`` where unknown; as many as ``count``."""
    if totals is None:
        return [None] * count
    totals = list(totals)
    if len(totals) != count:
        raise ValueError(f"{count} chunks need {count} totals; got {len(totals)}.")
    return totals


def summed(parent: ProcessSnapshot, chunks: Sequence[ProcessSnapshot]) -> ProcessSnapshot:
    """A parallel import as its clients read it: records written summed over its chunks,
    and the total summed too when every chunk knows its own (else the total the import was
    registered with, which may be unknown); the chunk that failed it, the first to fail."""
    totals = [chunk.total for chunk in chunks if chunk.total is not None]
    total = sum(totals) if chunks and len(totals) == len(chunks) else parent.total
    failed = [chunk for chunk in chunks if chunk.state is ImportState.FAILED]
    first = None
    if failed and parent.state is ImportState.FAILED:
        first = min(failed, key=lambda chunk: (chunk.finished_at or chunk.created_at, chunk.token))
    return dataclasses.replace(
        parent,
        processed=sum(chunk.processed for chunk in chunks),
        failed=sum(chunk.failed for chunk in chunks),
        total=total,
        failed_chunk=None if first is None else first.token,
    )
