"""What a host implements so the endpoint can reach its import processes, and what it may raise."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "AbortOutcome",
    "AbortRequest",
    "EndReason",
    "ImportRegistry",
    "ProcessKind",
    "StoreOutdated",
    "StoreUnavailable",
    "failures",
]


def failures() -> tuple[type[BaseException], ...]:
    """What a registry or an authorizer may raise that still answers a 500 errorModel: every
    ``Exception``, and the two ``BaseException`` s a library raises on its own (an async
    registry's cancelled task, a generator closed early). ``KeyboardInterrupt``, ``SystemExit``
    and the others (say gevent's ``GreenletExit``) are how a server stops a worker: they go on.

    Written ``except failures():``, read when an exception is being matched: asyncio's
    ``CancelledError`` is among them once asyncio is loaded, as it is whenever one can be
    raised, so that the process layer need not load asyncio itself.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return (Exception, GeneratorExit)
    return (Exception, asyncio.CancelledError, GeneratorExit)


class AbortOutcome(enum.Enum):
    """What a registry did when asked to abort an import process."""

    #: The abort command was passed to the process now.
    REQUESTED = "requested"
    #: An abort was passed before, or the process already ended aborted.
    ALREADY_REQUESTED = "already_requested"
    #: The process already succeeded or failed; its state was left untouched.
    FINISHED = "finished"
    #: No process has that token.
    NOT_FOUND = "not_found"


@runtime_checkable
class ImportRegistry(Protocol):
    """What the host implements so the endpoint can reach its import processes.

    ``abort`` is called once per authorized, valid request, from the request's thread. It
    passes the abort command to the process and says what it did; it does not wait for the
    import to stop. Raise :class:`StoreUnavailable` when the store cannot be reached now (the
    endpoint answers 503 with ``Retry-After``); a werkzeug ``HTTPException`` keeps its status;
    any other exception answers 500.
    """

    def abort(self, token: str) -> AbortOutcome: ...


class EndReason(str, enum.Enum):
    """Why a process was ended by the package, or by its host, rather than by its worker."""

    #: Its heartbeat grew older than its lease: the worker died, hung or lost the database.
    WORKER_LOST = "worker_lost"
    #: An abort was not honoured within the stop deadline, so the end was forced.
    STOP_DEADLINE = "stop_deadline"
    #: Its host was shutting down and aborted it (the example app on Ctrl-C or SIGTERM).
    SHUTDOWN = "shutdown"
    #: A chunk of the same parallel import failed, and the import stops at its first failure
    #: (a chunk stopped so ends ``aborted``; its parent ends ``failed``).
    CHUNK_FAILED = "chunk_failed"


class ProcessKind(str, enum.Enum):
    """What a process does: an import, or an export (OCC's bulk export, which mirrors its
    import with the same three operations). Every rule of the life cycle is the same for both;
    a registry that records kinds keeps each kind's tokens unknown to the other kind's routes."""

    IMPORT = "import"
    EXPORT = "export"


def checked_kind(kind: object) -> ProcessKind:
    """``kind``, ``"import"`` or ``"export"`` (or the :class:`ProcessKind` itself); else a
    ``ValueError`` saying what it may be."""
    try:
        return ProcessKind(kind)
    except ValueError:
        raise ValueError(f"kind is 'import' or 'export'; got {kind!r}.") from None


@dataclass(frozen=True, slots=True)
class AbortRequest:
    """What the endpoint knows of an abort beyond its token: who asked, why, and how long the
    import has to stop.

    The endpoint passes it as a second argument to a registry whose ``abort`` takes one (every
    registry the package ships does, and keeps it with the first abort); a registry whose
    ``abort`` takes the token alone gets the token alone.
    """

    #: Seconds the import has to stop before its end is forced; None for no deadline.
    stop_deadline: float | None = None
    #: Who asked: a named bearer token's name, an authorizer's identity, ``anonymous``, or
    #: ``cli:<user>``; never a credential.
    actor: str | None = None
    #: Why, in the caller's words (at most 500 characters, none of them control characters).
    reason: str | None = None
    #: The request's ``X-Request-ID``, when it sent a usable one.
    request_id: str | None = None
    #: Why the process ends, recorded with the abort when given (an ``EndReason``, such as
    #: ``shutdown``); a lost worker's end is ``worker_lost`` all the same.
    end_reason: EndReason | None = None
    #: The kind of process the caller means (the route it came by); None for any (the
    #: command line). A registry that records kinds answers ``NOT_FOUND`` for a process of
    #: the other kind, so that an export's token never aborts an import; one that does not
    #: ignores it.
    kind: ProcessKind | None = None


class StoreUnavailable(Exception):
    """The store of the import processes cannot be reached, or is locked, or did not answer in
    time: a later try may succeed. The endpoint answers it with a 503 and ``Retry-After``."""

    def __init__(self, retry_after: int = 5, detail: str = "") -> None:
        super().__init__(detail or "the store of the import processes is unavailable")
        #: Seconds after which a try may succeed.
        self.retry_after = retry_after


class StoreOutdated(Exception):
    """The store's schema is older than this version of the package needs, or was upgraded
    halfway: no later try succeeds until an operator upgrades it, as the message says. The
    endpoint answers a 500 errorModel; the store has logged the ERROR line that says what to
    run, once, not once per call."""
