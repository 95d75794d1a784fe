"""Internal: the life cycle of an import process, as every shipped registry keeps it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .contract import ImportRegistry

__all__ = [
    "ABORTABLE_STATES",
    "RUNNING_STATES",
    "ImportState",
    "InvalidTransition",
    "ProcessSnapshot",
    "UnknownImport",
    "WorkerRegistry",
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
        return self in _FINAL_STATES


_FINAL_STATES = frozenset({ImportState.SUCCEEDED, ImportState.FAILED, ImportState.ABORTED})
#: States of a process that has begun and not ended.
RUNNING_STATES = frozenset({ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED})
#: States an abort acts on: a pending process ends ``aborted`` at once, a running one is flagged.
ABORTABLE_STATES = RUNNING_STATES | {ImportState.PENDING}

#: The moves import code may make, by the state they leave; ``abort`` makes its own.
MOVES = {
    ImportState.PENDING: frozenset({ImportState.PROCESSING}),
    **{state: (RUNNING_STATES | _FINAL_STATES) - {state} for state in RUNNING_STATES},
}
#: The same moves, by the state they reach.
SOURCES = {
    target: frozenset(source for source, targets in MOVES.items() if target in targets)
    for target in ImportState
}


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

    @property
    def percentage(self) -> int:
        """Whole percent of ``total`` written: 100 once succeeded, 0 while the total is unknown."""
        if self.state is ImportState.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, 100 * self.processed // self.total)


@runtime_checkable
class WorkerRegistry(ImportRegistry, Protocol):
    """What import code calls, the same on every registry the package ships.

    ``register`` a process, ``start`` it, ``report_progress`` after each batch, ask
    ``should_stop`` before the next one, and ``finish`` it. :class:`~flask_import_abort.ImportRun`
    makes those calls for the common case. Methods taking a token raise :class:`UnknownImport`
    for one no process has, and :class:`InvalidTransition` for a move the life cycle forbids.
    """

    def register(self, *, total: int | None = None, token: str | None = None) -> str:
        """Record a new ``pending`` process; return its token (by default a :func:`new_token`)."""
        ...

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        ...

    def report_progress(self, token: str, processed: int, *, total: int | None = None) -> None:
        """Record how many records a running process has written (and its total, if given)."""
        ...

    def should_stop(self, token: str) -> bool:
        """Whether an abort was requested: the import stops after its current batch."""
        ...

    def set_state(self, token: str, state: ImportState) -> None:
        """Record a move of a running process: pause, block, resume, or its end."""
        ...

    def finish(self, token: str, state: ImportState) -> None:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``."""
        ...

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        ...

    def recent(self, limit: int = 50) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first: what a dashboard lists."""
        ...
