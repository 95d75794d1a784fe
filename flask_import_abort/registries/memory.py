"""Internal: a thread-safe registry that keeps import processes in this process's memory."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from ..contract import AbortOutcome
from ..lifecycle import (
    ABORTABLE_STATES,
    MOVES,
    RUNNING_STATES,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
)
from ..tokens import new_token, registrable_token


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Process:
    state: ImportState
    created_at: datetime
    abort_requested: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    processed: int = 0
    total: int | None = None


class InMemoryImportRegistry:
    """Import processes held in a dict behind a lock, for tests, demos and single-process hosts.

    The life cycle::

        pending -> processing <-> paused / blocked -> succeeded | failed | aborted

    ``abort`` of a pending process ends it ``aborted`` at once; of a running one it sets a
    flag that the import reads between batches through :meth:`should_stop`, after which the
    import records ``aborted`` itself. Final states never change again.

    Import code uses the worker API that every shipped registry has (see
    :class:`~flask_import_abort.registry.WorkerRegistry`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[str, _Process] = {}

    def add(self, state: ImportState = ImportState.PENDING, *, token: str | None = None) -> str:
        """Record a process already in ``state`` (for tests and demos) and return its token."""
        return self._insert(token, _Process(ImportState(state), created_at=_now()))

    def register(self, *, total: int | None = None, token: str | None = None) -> str:
        """Record a new ``pending`` process and return its token (a random one by default)."""
        return self._insert(token, _Process(ImportState.PENDING, created_at=_now(), total=total))

    def _insert(self, token: str | None, process: _Process) -> str:
        token = new_token() if token is None else registrable_token(token)
        with self._lock:
            if token in self._processes:
                raise ValueError(f"an import process with token {token!r} exists already")
            self._processes[token] = process
        return token

    def abort(self, token: str) -> AbortOutcome:
        with self._lock:
            process = self._processes.get(token)
            if process is None:
                return AbortOutcome.NOT_FOUND
            if process.abort_requested or process.state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            if process.state not in ABORTABLE_STATES:
                return AbortOutcome.FINISHED
            process.abort_requested = True
            if process.state is ImportState.PENDING:
                process.state = ImportState.ABORTED
                process.finished_at = _now()
            return AbortOutcome.REQUESTED

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch: one read, no lock."""
        return self._get(token).abort_requested

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        with self._lock:
            process = self._get(token)
            if process.state is ImportState.ABORTED:
                return False
            if process.state is not ImportState.PENDING:
                raise InvalidTransition(f"import process {token!r} is {process.state.value}")
            self._move(token, process, ImportState.PROCESSING)
            return True

    def report_progress(self, token: str, processed: int, *, total: int | None = None) -> None:
        """Record how many records a running process has written (and its total, if given)."""
        with self._lock:
            process = self._get(token)
            if process.state not in RUNNING_STATES:
                raise InvalidTransition(
                    f"import process {token!r} is {process.state.value}, not running"
                )
            process.processed = processed
            if total is not None:
                process.total = total

    def set_state(self, token: str, state: ImportState) -> None:
        """Record a move of a running process: pause, block, resume, or its end."""
        with self._lock:
            self._move(token, self._get(token), ImportState(state))

    def finish(self, token: str, state: ImportState) -> None:
        """Record the end of a running process: ``succeeded``, ``failed`` or ``aborted``."""
        if not ImportState(state).is_final:
            raise InvalidTransition(f"{state} is not an end state")
        self.set_state(token, state)

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process as it is now."""
        with self._lock:
            process = self._get(token)
            return ProcessSnapshot(token=token, **dataclasses.asdict(process))

    def recent(self, limit: int = 50) -> list[ProcessSnapshot]:
        """The ``limit`` processes registered last, newest first."""
        with self._lock:
            newest = list(self._processes.items())[: -limit - 1 : -1] if limit > 0 else []
            return [
                ProcessSnapshot(token=token, **dataclasses.asdict(process))
                for token, process in newest
            ]

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

    @staticmethod
    def _move(token: str, process: _Process, state: ImportState) -> None:
        if state not in MOVES.get(process.state, ()):
            raise InvalidTransition(
                f"import process {token!r} cannot go from {process.state.value} to {state.value}"
            )
        process.state = state
        if state is ImportState.PROCESSING and process.started_at is None:
            process.started_at = _now()
        elif state.is_final:
            process.finished_at = _now()
