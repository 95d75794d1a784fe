"""What a registry can do beyond the endpoint's abort, each a protocol the package checks
for: read one process, list them, reap them, keep parallel imports; and the worker API that
every registry the package ships has, all of them together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from .contract import AbortOutcome, AbortRequest, ImportRegistry, ProcessKind
from .lifecycle import ChunkedImport, ImportState, ProcessSnapshot

__all__ = [
    "Chunked",
    "Kinded",
    "Listing",
    "Reapable",
    "Snapshots",
    "WorkerRegistry",
    "chunked",
]


@runtime_checkable
class Chunked(Protocol):
    """A registry that keeps parallel imports: one token, its work split over chunks."""

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
        chunks, in one transaction."""
        ...

    def chunks(self, token: str) -> list[ProcessSnapshot]:
        """The chunks of the parallel import ``token``, in order; ``[]`` for a process run by
        one worker."""
        ...


def chunked(registry: object) -> Chunked:
    """``registry``, which keeps parallel imports; else a ``TypeError`` saying so."""
    if not isinstance(registry, Chunked):
        raise TypeError(
            f"{type(registry).__name__} keeps no parallel imports (it has no register_chunks "
            "and chunks): use a registry the package ships, or add them."
        )
    return registry


@runtime_checkable
class Snapshots(Protocol):
    """A registry that can read one process: what ``process_ended``, the CLI's ``show`` and
    the engines need."""

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now;
        :class:`~flask_import_abort.processes.UnknownImport` when no process has ``token``."""
        ...


@runtime_checkable
class Listing(Protocol):
    """A registry that can list its processes: what the CLI's ``list`` and the metrics need."""

    def recent(
        self,
        limit: int = 50,
        *,
        states: Iterable[ImportState] | None = None,
        older_than: timedelta | None = None,
        kind: ProcessKind | str | None = None,
    ) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first: what a dashboard lists;
        only those in ``states``, registered ``older_than`` ago or more, and of ``kind``
        (where the registry records kinds), when given."""
        ...

    def count_by_state(self, *, kind: ProcessKind | str | None = None) -> dict[ImportState, int]:
        """How many processes are in each state (the states none is in are left out); only
        those of ``kind`` (where the registry records kinds), when given."""
        ...


@runtime_checkable
class Kinded(Protocol):
    """A registry that records each process's kind, an import or an export: what serves
    both kinds' routes from one registry. Its ``abort`` answers ``NOT_FOUND`` for a process
    of another kind than its request's, and its ``register`` takes ``kind``."""

    #: The kinds it records: every :class:`~flask_import_abort.processes.ProcessKind`.
    kinds: frozenset[ProcessKind]


@runtime_checkable
class Reapable(Protocol):
    """A registry that keeps heartbeats, so that its lost processes can be reaped."""

    #: Seconds a running process may go without a heartbeat before it is lost.
    lease: float

    def reap(self, *, dry_run: bool = False) -> list[ProcessSnapshot]:
        """End every running process past its stop deadline (``aborted``, forced) or lost
        (``failed``, or ``aborted`` when an abort was requested), each exactly once however
        many processes reap at once; return them as ended. ``dry_run`` only lists them."""
        ...


@runtime_checkable
class WorkerRegistry(ImportRegistry, Snapshots, Listing, Reapable, Protocol):
    """What import code calls, the same on every registry the package ships.

    ``register`` a process, ``start`` it, ``report_progress`` after each batch, ask
    ``should_stop`` before the next one, and ``finish`` it.
    :class:`~flask_import_abort.processes.ImportRun` makes those calls for the common case.
    Methods taking a token raise :class:`~flask_import_abort.processes.UnknownImport` for one
    no process has, and :class:`~flask_import_abort.processes.InvalidTransition` for a move
    the life cycle forbids.

    Every call of a running process's worker records a heartbeat. A process whose heartbeat is
    older than :attr:`lease` is *lost*; :meth:`reap` ends it, and an abort ends it at once.
    """

    #: Exceptions of the worker API that a later try may not meet (a locked or unreachable
    #: database): :class:`~flask_import_abort.processes.ImportRun` retries its end state
    #: through them.
    retryable_errors: tuple[type[BaseException], ...]

    def abort(self, token: str, request: AbortRequest | None = None) -> AbortOutcome:
        """Abort a process, keeping what ``request`` says of the abort (its stop deadline)."""
        ...

    def register(
        self,
        *,
        total: int | None = None,
        token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> str:
        """Record a new ``pending`` process; return its token (by default a new random one).
        ``metadata`` is what the host says of it, a JSON object (the webhooks' notices name
        the item by its ``format`` and ``id``); ``kind`` is ``"import"`` or ``"export"``."""
        ...

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        ...

    def report_progress(
        self, token: str, processed: int, *, total: int | None = None, failed: int | None = None
    ) -> None:
        """Record how many records a running process has written (and its total, and how
        many records failed, if given)."""
        ...

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch: an abort was requested, or
        the process was ended without it (reaped, forced). A heartbeat too."""
        ...

    def heartbeat(self, token: str) -> bool:
        """Record that the worker is alive, in a batch longer than the lease; the same answer
        as :meth:`should_stop`."""
        ...

    def update_metadata(self, token: str, metadata: Mapping[str, Any]) -> None:
        """Add ``metadata``'s keys to what the host said of the process, checked as at
        registration: what a worker learns as it runs, such as an export's ``fileLink``,
        written before its end so that the end's notice carries it."""
        ...

    def set_state(self, token: str, state: ImportState) -> ImportState:
        """Record a move of a running process: pause, block, resume, or its end. Return the
        state recorded: an end after an abort was requested is recorded ``aborted``."""
        ...

    def finish(self, token: str, state: ImportState) -> ImportState:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``.
        Return the end recorded: ``aborted`` whenever an abort was requested before."""
        ...
