"""The import side: run a process batch by batch until it is done or asked to stop."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from types import TracebackType
from typing import TypeVar

from .capabilities import WorkerRegistry
from .lifecycle import ImportState, InvalidTransition
from .signals import announce, announce_end_of, process_started

log = logging.getLogger("flask_import_abort.worker")

Batch = TypeVar("Batch", bound=Sized)
Result = TypeVar("Result")

#: How often :class:`ImportRun` tries a call through a locked or unreachable database, and how
#: long it waits before the first retry (doubling each time, at most 2 s): about 5 s in all,
#: beside the time each try waits for the database.
ATTEMPTS = 8
FIRST_RETRY_DELAY = 0.05


class ImportRun:
    """One run of an import process, recording its start, progress and end in the registry.

    ::

        with ImportRun(registry, token) as run:
            for batch in run.batches(read_batches()):
                write(batch)

    Entering starts the process; a process aborted before it began is not started
    (:attr:`started` is False), runs no batch and stays ``aborted``. Before each batch,
    :meth:`batches` asks the registry whether to stop; after it, it reports the records
    written so far. Leaving records the end:
    ``aborted`` if an abort stopped the loop, ``failed`` if the block raised (the exception
    goes on), ``succeeded`` otherwise; the registry records ``aborted`` instead whenever an
    abort was requested, even during the last batch. A process aborted before it began runs
    no batch and stays ``aborted``; one that the package ended while it ran (its heartbeat
    lapsed, or a stop deadline passed) runs no further batch, and its end stays as recorded.
    :attr:`state` holds the end state afterwards.

    ``aborted_elsewhere``, when given, is a second source of aborts, such as a job engine's own
    abort flag: asked before each batch after the registry; when it says so, the abort is
    recorded in the registry too, and the run stops as for any abort.

    While the run is inside a batch, a background thread beats the heartbeat every third of
    the registry's lease, so a batch longer than the lease does not make the process lost; it
    runs in a copy of the entering thread's context (its Flask app context, if any).
    Each call to the registry is tried again through its ``retryable_errors`` (a locked or
    unreachable database), :data:`ATTEMPTS` times over about five seconds, each logged.
    """

    def __init__(
        self,
        registry: WorkerRegistry,
        token: str,
        *,
        aborted_elsewhere: Callable[[], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.token = token
        #: A second source of aborts (a job engine's own), asked before each batch.
        self.aborted_elsewhere = aborted_elsewhere
        self._elsewhere_failed = False
        #: Records written, as counted by :meth:`batches`.
        self.processed = 0
        #: ``pending``, then ``processing`` once entered, then the end state.
        self.state = ImportState.PENDING
        self._started = False
        self._stopped = False
        self._beat: _Beat | None = None

    def __enter__(self) -> ImportRun:
        self._started = self.registry.start(self.token)
        if not self._started:
            log.info("import process %r was aborted before it began", self.token)
            self.state = ImportState.ABORTED
            return self
        self.state = ImportState.PROCESSING
        announce(process_started, self.registry, token=self.token)
        lease = getattr(self.registry, "lease", None)
        if lease:
            self._beat = _Beat(self.registry, self.token, lease / 3)
        return self

    @property
    def started(self) -> bool:
        """Whether the registry let the process start: False when it was aborted before it
        began (its job engine's job then ends quietly, its body never run)."""
        return self._started

    @property
    def stopped(self) -> bool:
        """Whether :meth:`batches` stopped before its batches ran out: the process was aborted,
        or ended by the package, or never started. An export names its file only when this is
        False after its loop: then every batch was written."""
        return self._stopped or not self._started

    def batches(self, batches: Iterable[Batch], *, total: int | None = None) -> Iterator[Batch]:
        """Yield each batch until they run out or the process should stop. ``total``, the
        records expected when known, is reported first, once the process has started: a job
        reports it here rather than to the registry before the loop, where a process aborted
        as its job was dequeued refuses it."""
        if not self._started:
            return
        if total is not None:
            try:
                self._patiently(
                    lambda token: self.registry.report_progress(token, self.processed, total=total),
                    "report its total",
                )
            except InvalidTransition:
                log.info("import process %r was ended before its first batch", self.token)
                self._stopped = True
                return
        for batch in batches:
            if (
                self._patiently(self.registry.should_stop, "ask whether to stop")
                or self._abort_from_elsewhere()
            ):
                log.info(
                    "import process %r stops on request after %d records",
                    self.token,
                    self.processed,
                )
                self._stopped = True
                return
            yield batch
            self.processed += len(batch)
            try:
                self._patiently(
                    lambda token: self.registry.report_progress(token, self.processed),
                    "report its progress",
                )
            except InvalidTransition:
                log.warning(
                    "import process %r was ended while it ran its batch; it stops after %d records",
                    self.token,
                    self.processed,
                )
                self._stopped = True
                return
            if self._beat is not None:
                self._beat.called()

    def _abort_from_elsewhere(self) -> bool:
        """Whether the other source says abort; if so, the abort is recorded in the registry
        first, so that both agree. A source that fails is logged once and left out."""
        if self.aborted_elsewhere is None or self._elsewhere_failed:
            return False
        try:
            aborted = self.aborted_elsewhere()
        except Exception as error:
            self._elsewhere_failed = True
            log.warning(
                "import process %r: its engine's abort flag could not be read (%s); the "
                "registry's alone is asked from now on",
                self.token,
                error,
            )
            return False
        if aborted:
            outcome = self._patiently(self.registry.abort, "record its engine's abort")
            log.info("import process %r aborted through its engine: %s", self.token, outcome)
        return bool(aborted)

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._beat is not None:
            self._beat.stop()
        if not self._started:
            return
        if error is not None:
            state = ImportState.FAILED
        elif self._stopped:
            state = ImportState.ABORTED
        else:
            state = ImportState.SUCCEEDED
        self.state, recorded_here = self._record_end(state)
        if recorded_here:  # an end someone else recorded (a reap) was announced by them
            announce_end_of(self.registry, self.token)
        if error is not None:
            if self.state is ImportState.FAILED:
                log.error("import process %r failed after %d records", self.token, self.processed)
            else:  # ended first by the package: the error is how its worker was stopped
                log.info(
                    "import process %r stopped (%s) after its end was recorded %s",
                    self.token,
                    type(error).__name__,
                    self.state.value,
                )

    def _record_end(self, state: ImportState) -> tuple[ImportState, bool]:
        """Record the end; the end the registry holds (``aborted`` after a requested abort, or
        the end the package recorded when it ended the process first), and whether it was
        recorded here."""
        try:
            recorded = self._patiently(
                lambda token: self.registry.finish(token, state), f"record its end ({state.value})"
            )
        except InvalidTransition:
            ended = self.registry.snapshot(self.token).state
            log.warning(
                "import process %r had already ended %s when its worker came to record %s",
                self.token,
                ended.value,
                state.value,
            )
            return ended, False
        # A registry of the host's may answer None; the package's answer the end they wrote.
        recorded = state if recorded is None else ImportState(recorded)
        if recorded is not state:
            log.info(
                "import process %r recorded %s: an abort was requested before it ended",
                self.token,
                recorded.value,
            )
        return recorded, True

    def _patiently(self, call: Callable[[str], Result], doing: str) -> Result:
        """``call(token)``, tried again through the registry's retryable errors (a locked or
        unreachable database), at most :data:`ATTEMPTS` times in all."""
        retryable = getattr(self.registry, "retryable_errors", ())
        delay = FIRST_RETRY_DELAY
        for attempt in range(1, ATTEMPTS):
            try:
                return call(self.token)
            except retryable as error:
                log.warning(
                    "import process %r could not %s (%s, try %d of %d); trying again in %.2f s",
                    self.token,
                    doing,
                    type(error).__name__,
                    attempt,
                    ATTEMPTS,
                    delay,
                )
                time.sleep(delay)
                delay = min(2 * delay, 2.0)
        try:
            return call(self.token)
        except retryable:
            log.error(
                "import process %r could not %s in %d tries; if its heartbeat lapses, reaping "
                "ends it",
                self.token,
                doing,
                ATTEMPTS,
            )
            raise


class _Beat:
    """A background thread that beats a run's heartbeat while its worker is busy elsewhere."""

    def __init__(self, registry: WorkerRegistry, token: str, interval: float) -> None:
        self._registry = registry
        self._token = token
        self._interval = interval
        self._last = time.monotonic()
        self._stopping = threading.Event()
        # In a copy of the worker's context: what the worker's thread sees (a Flask app
        # context, for a registry on Flask-SQLAlchemy), the beat sees too.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name=f"import-beat-{token[:8]}", daemon=True
        )
        self._thread.start()

    def called(self) -> None:
        """The worker just called the registry, which beat already."""
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval - (time.monotonic() - self._last)):
            if time.monotonic() - self._last < self._interval:
                continue
            try:
                self._registry.heartbeat(self._token)
            except Exception:  # the next beat, or the worker's next call, tries again
                log.warning("heartbeat of import process %r failed", self._token, exc_info=True)
            self._last = time.monotonic()


def run_import(
    registry: WorkerRegistry,
    token: str,
    batches: Iterable[Batch],
    write: Callable[[Batch], object],
    *,
    aborted_elsewhere: Callable[[], bool] | None = None,
) -> ImportState:
    """Write each batch with ``write`` until done or asked to stop; return the end state."""
    with ImportRun(registry, token, aborted_elsewhere=aborted_elsewhere) as run:
        for batch in run.batches(batches):
            write(batch)
    return run.state
