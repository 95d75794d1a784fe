"""A thread-safe registry that keeps import processes in this process's memory."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from ..registry import AbortOutcome, ImportState

_RUNNING = frozenset({ImportState.PROCESSING, ImportState.PAUSED, ImportState.BLOCKED})

#: The moves import code may make; ``abort`` makes its own (``pending -> aborted``).
_ALLOWED = {
    ImportState.PENDING: frozenset({ImportState.PROCESSING}),
    **{
        state: (_RUNNING | {ImportState.SUCCEEDED, ImportState.FAILED, ImportState.ABORTED})
        - {state}
        for state in _RUNNING
    },
}


class InvalidTransition(ValueError):
    """Import code asked for a state change that the life cycle does not allow."""


@dataclass(frozen=True)
class ProcessSnapshot:
    """One process as it was when read."""

    token: str
    state: ImportState
    abort_requested: bool


@dataclass
class _Process:
    state: ImportState
    abort_requested: bool = False


class InMemoryImportRegistry:
    """Import processes held in a dict behind a lock, for tests, demos and single-process hosts.

    The life cycle::

        pending -> processing <-> paused / blocked -> succeeded | failed | aborted

    ``abort`` of a pending process ends it ``aborted`` at once; of a running one it sets a
    flag that the import reads between batches through :meth:`should_stop`, after which the
    import records ``aborted`` itself. Final states never change again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[str, _Process] = {}

    def add(self, state: ImportState = ImportState.PENDING, *, token: str | None = None) -> str:
        """Register a process in ``state`` and return its token (a new random one by default)."""
        token = secrets.token_urlsafe(24) if token is None else token
        with self._lock:
            if token in self._processes:
                raise ValueError(f"an import process with token {token!r} exists already")
            self._processes[token] = _Process(ImportState(state))
        return token

    def abort(self, token: str) -> AbortOutcome:
        with self._lock:
            process = self._processes.get(token)
            if process is None:
                return AbortOutcome.NOT_FOUND
            if process.abort_requested or process.state is ImportState.ABORTED:
                return AbortOutcome.ALREADY_REQUESTED
            if process.state.is_final:
                return AbortOutcome.FINISHED
            process.abort_requested = True
            if process.state is ImportState.PENDING:
                process.state = ImportState.ABORTED
            return AbortOutcome.REQUESTED

    def should_stop(self, token: str) -> bool:
        """Whether the import should stop after its current batch: one read, no lock."""
        return self._processes[token].abort_requested

    def start(self, token: str) -> bool:
        """Move a pending process to ``processing``; False if it was aborted before it began."""
        with self._lock:
            process = self._processes[token]
            if process.state is ImportState.ABORTED:
                return False
            self._move(token, process, ImportState.PROCESSING)
            return True

    def set_state(self, token: str, state: ImportState) -> None:
        """Record a move of a running process: pause, block, resume, or its end."""
        with self._lock:
            self._move(token, self._processes[token], ImportState(state))

    def snapshot(self, token: str) -> ProcessSnapshot:
        """The process's state and abort flag, read together."""
        with self._lock:
            process = self._processes[token]
            return ProcessSnapshot(token, process.state, process.abort_requested)

    def state(self, token: str) -> ImportState:
        """The process's current state; ``KeyError`` for an unknown token."""
        return self._processes[token].state

    def tokens(self) -> list[str]:
        """Every registered token, oldest first."""
        with self._lock:
            return list(self._processes)

    @staticmethod
    def _move(token: str, process: _Process, state: ImportState) -> None:
        if state not in _ALLOWED.get(process.state, ()):
            raise InvalidTransition(
                f"import process {token!r} cannot go from {process.state.value} to {state.value}"
            )
        process.state = state
