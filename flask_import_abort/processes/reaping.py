"""Reaping: ending lost processes and unheeded aborts, and calling the host's ``force_stop``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, runtime_checkable

from .capabilities import Reapable
from .contract import StoreOutdated
from .lifecycle import EndReason, ProcessSnapshot
from .signals import announce_end
from .tokens import token_for_log
from .webhooks import WebhookDispatcher

__all__ = ["ForceStop", "Reaper", "reap"]

log = logging.getLogger("flask_import_abort")

#: A host's hook that stops an import's worker by force: it takes the process's token.
ForceStop = Callable[[str], object]


@runtime_checkable
class CancellingEngine(Protocol):
    """A job engine whose own cancel a reap turns into ends (``RQImports``)."""

    def end_cancelled(self) -> list[ProcessSnapshot]: ...


#: Seconds a reap waits for the ``force_stop`` calls, by default.
DEFAULT_FORCE_STOP_TIMEOUT = 10.0


def reap(
    registry: Reapable,
    *,
    force_stop: ForceStop | None = None,
    force_stop_timeout: float = DEFAULT_FORCE_STOP_TIMEOUT,
    dry_run: bool = False,
    engines: Iterable[object] = (),
) -> list[ProcessSnapshot]:
    """End ``registry``'s lost processes and unheeded aborts; return them as ended.

    Calls the registry's ``reap`` (see :meth:`WorkerRegistry.reap`), sends ``process_ended``
    and logs one WARNING line for each process it ended, and calls ``force_stop`` once for
    each end it forced, waiting at most ``force_stop_timeout`` seconds for them all. Safe from
    any number of processes at once: each end is recorded, and its hook called, exactly once.
    ``dry_run`` lists what would be ended and changes nothing. Each of ``engines`` that has
    an ``end_cancelled()`` (``RQImports``) ends the processes whose jobs it cancelled.
    """
    ended = registry.reap(dry_run=dry_run)
    if dry_run:
        return ended
    forced = []
    for snapshot in ended:
        announce_end(registry, snapshot)
        if _log_end(registry, snapshot, force_stop) and not snapshot.chunks:
            forced.append(snapshot.token)
    ended += _ends_of_cancelled(registry, engines)
    if forced and force_stop is not None:
        _force_stop(force_stop, forced, force_stop_timeout)
    return ended


def _log_end(registry: Reapable, snapshot: ProcessSnapshot, force_stop: ForceStop | None) -> bool:
    """Log the end a reap wrote of ``snapshot``: whether it was forced (its stop deadline
    passed)."""
    if snapshot.chunks and snapshot.end_reason is not EndReason.STOP_DEADLINE:
        # WARNING only for what a lost chunk made of it; else the reap merely wrote first
        # the end its last chunk was writing (or crashed before writing)
        lost = snapshot.end_reason is EndReason.WORKER_LOST
        log.log(
            logging.WARNING if lost else logging.INFO,
            "parallel import %s ended %s with its last chunk%s",
            token_for_log(snapshot.token),
            snapshot.state.value,
            " (a chunk's worker was lost)" if lost else "",
        )
        return False
    if snapshot.end_reason is EndReason.STOP_DEADLINE:
        # a parallel import has no worker to force: its chunks had theirs
        log.warning(
            "import process %s did not stop within %s s of its abort: recorded aborted "
            "(forced); %s",
            token_for_log(snapshot.token),
            _format(_deadline_of(snapshot)),
            "force_stop is called"
            if force_stop is not None
            else "no force_stop (an app's IMPORT_ABORT_FORCE_STOP) is given, so its worker "
            "is only told to stop",
        )
        return True
    log.warning(
        "import process %s lost its worker (no heartbeat for %s s): recorded %s",
        token_for_log(snapshot.token),
        _format(registry.lease),
        snapshot.state.value,
    )
    return False


def _ends_of_cancelled(registry: Reapable, engines: Iterable[object]) -> list[ProcessSnapshot]:
    """The ends each engine that cancels jobs (``RQImports``) wrote of its cancelled ones,
    each announced."""
    ended: list[ProcessSnapshot] = []
    for engine in engines:
        if isinstance(engine, CancellingEngine):
            try:
                cancelled = engine.end_cancelled()
            except Exception:  # the engine's server may be down: the next round tries again
                log.exception("reading the jobs %s cancelled failed", type(engine).__name__)
                continue
            for snapshot in cancelled:
                announce_end(registry, snapshot)
            ended += cancelled
    return ended


def _deadline_of(snapshot: ProcessSnapshot) -> float | None:
    if snapshot.stop_by is None or snapshot.abort_requested_at is None:
        return None
    return round((snapshot.stop_by - snapshot.abort_requested_at).total_seconds(), 3)


def _format(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:g}"


def _force_stop(hook: ForceStop, tokens: list[str], timeout: float) -> None:
    """Call ``hook`` for each token, each in a thread of its own; wait ``timeout`` at most."""
    calls = [
        threading.Thread(
            target=_call, args=(hook, token), name=f"force-stop-{token[:8]}", daemon=True
        )
        for token in tokens
    ]
    for call in calls:
        call.start()
    deadline = time.monotonic() + timeout
    for token, call in zip(tokens, calls, strict=True):
        call.join(max(0.0, deadline - time.monotonic()))
        if call.is_alive():
            log.warning(
                "force_stop of import process %s still runs after %g s; reaping goes on "
                "without it (its end is recorded)",
                token_for_log(token),
                timeout,
            )


def _call(hook: ForceStop, token: str) -> None:
    try:
        hook(token)
    except Exception:
        log.exception("force_stop of import process %s failed", token_for_log(token))


class Reaper:
    """Reaps ``registry`` now and then every ``interval`` seconds, in a daemon thread of its own.

    Every process of every machine may run one: each end is recorded exactly once. ``context``,
    when given, makes the context each round runs in (a Flask app's ``app_context``, say). A
    ``dispatcher`` delivers the webhooks' notices due every ``interval`` seconds too, in a
    thread of its own: a receiver that hangs never delays a reap.
    ``stop()`` ends the threads (it is also a context manager).
    """

    def __init__(
        self,
        registry: Reapable,
        interval: float,
        *,
        force_stop: ForceStop | None = None,
        force_stop_timeout: float = DEFAULT_FORCE_STOP_TIMEOUT,
        context: Callable[[], AbstractContextManager[object]] | None = None,
        engines: Iterable[object] = (),
        dispatcher: WebhookDispatcher | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds; got {interval!r}.")
        self.registry = registry
        self.interval = float(interval)
        self.force_stop = force_stop
        self.force_stop_timeout = force_stop_timeout
        self._context = context or nullcontext
        self.engines = engines
        #: Delivers the webhooks' notices due, on a schedule of its own.
        self.dispatcher = dispatcher
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, name="import-reaper", daemon=True)]
        if dispatcher is not None:
            self._threads.append(
                threading.Thread(target=self._deliver, name="import-notices", daemon=True)
            )

    def start(self) -> Reaper:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """End the threads: the reaping one at once, the delivering one once its attempt in
        flight ends (within the dispatcher's timeout for each URL)."""
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def __enter__(self) -> Reaper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            try:
                with self._context():
                    reap(
                        self.registry,
                        force_stop=self.force_stop,
                        force_stop_timeout=self.force_stop_timeout,
                        engines=self.engines,
                    )
            except StoreOutdated:  # the store has logged what to run, once
                pass
            except Exception:  # the database may be down: the next round tries again
                log.exception("reaping import processes failed")
            if self._stopping.wait(self.interval):
                return

    def _deliver(self) -> None:
        assert self.dispatcher is not None  # noqa: S101 - started only with one
        while not self._stopping.is_set():
            try:
                with self._context():
                    self.dispatcher.deliver(stop=self._stopping)
            except StoreOutdated:
                pass
            except Exception:  # the next round tries again
                log.exception("delivering the webhooks' notices failed")
            if self._stopping.wait(self.interval):
                return
