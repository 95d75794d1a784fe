"""Internal: the import side: run a process batch by batch until it is done or asked to stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sized
from types import TracebackType
from typing import TypeVar

from .lifecycle import ImportState, WorkerRegistry

log = logging.getLogger("flask_import_abort.worker")

Batch = TypeVar("Batch", bound=Sized)


class ImportRun:
    """One run of an import process, recording its start, progress and end in the registry.

    ::

        with ImportRun(registry, token) as run:
            for batch in run.batches(read_batches()):
                write(batch)

    Entering starts the process. Before each batch, :meth:`batches` asks the registry whether
    to stop; after it, it reports the records written so far. Leaving records the end:
    ``aborted`` if an abort stopped the loop, ``failed`` if the block raised (the exception
    goes on), ``succeeded`` otherwise. A process aborted before it began runs no batch and
    stays ``aborted``. :attr:`state` holds the end state afterwards.
    """

    def __init__(self, registry: WorkerRegistry, token: str) -> None:
        self.registry = registry
        self.token = token
        #: Records written, as counted by :meth:`batches`.
        self.processed = 0
        #: ``pending``, then ``processing`` once entered, then the end state.
        self.state = ImportState.PENDING
        self._started = False
        self._stopped = False

    def __enter__(self) -> ImportRun:
        self._started = self.registry.start(self.token)
        if not self._started:
            log.info("import process %r was aborted before it began", self.token)
            self.state = ImportState.ABORTED
        else:
            self.state = ImportState.PROCESSING
        return self

    def batches(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """Yield each batch until they run out or an abort is requested."""
        if not self._started:
            return
        for batch in batches:
            if self.registry.should_stop(self.token):
                log.info(
                    "import process %r stops on request after %d records",
                    self.token,
                    self.processed,
                )
                self._stopped = True
                return
            yield batch
            self.processed += len(batch)
            self.registry.report_progress(self.token, self.processed)

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._started:
            return
        if error is not None:
            log.error("import process %r failed after %d records", self.token, self.processed)
            state = ImportState.FAILED
        elif self._stopped:
            state = ImportState.ABORTED
        else:
            state = ImportState.SUCCEEDED
        self.registry.finish(self.token, state)
        self.state = state


def run_import(
    registry: WorkerRegistry,
    token: str,
    batches: Iterable[Batch],
    write: Callable[[Batch], object],
) -> ImportState:
    """Write each batch with ``write`` until done or asked to stop; return the end state."""
    with ImportRun(registry, token) as run:
        for batch in run.batches(batches):
            write(batch)
    return run.state
