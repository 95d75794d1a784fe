"""Parallel imports: a source split into chunks, each an ``ImportRun`` of its own worker.

::

    parts = split(records, 4)                    # four slices, as even as can be
    running = ThreadChunks(registry, 4).submit(import_part, [(part,) for part in parts])
    running.token                                # what OCC's clients see and abort

    def import_part(run, part):                  # one chunk: the same loop as any import
        for batch in run.batches(slices(part, 500)):
            write(batch)

On Celery and RQ, ``enqueue_chunks`` of the integrations' tasks and jobs does the same with a
``group`` of tasks or one job per chunk. However they run, one abort of the import stops every
chunk: see :class:`~flask_import_abort.processes.Chunked`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from .capabilities import WorkerRegistry, chunked
from .contract import AbortRequest, ProcessKind
from .lifecycle import ChunkedImport, ImportState
from .run import ImportRun

__all__ = ["ThreadChunks", "ThreadedImport", "split"]

log = logging.getLogger("flask_import_abort.worker")

Item = TypeVar("Item")

#: The abort of a parallel import whose chunks could not all be handed to their workers.
NOT_SENT = AbortRequest(reason="its chunks could not all be sent")


def split(records: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """``records`` in ``count`` consecutive slices whose lengths differ by one at most (the
    first ones longer); fewer when there are fewer records, and one, empty, when none."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count is a whole number of chunks, at least 1; got {count!r}.")
    count = max(1, min(count, len(records)))
    size, longer = divmod(len(records), count)
    slices = []
    start = 0
    for index in range(count):
        stop = start + size + (index < longer)
        slices.append(records[start:stop])
        start = stop
    return slices


#: The chunks as they are handed to their workers: each chunk's token and its arguments.
Chunks = list[tuple[str, tuple[Any, ...]]]


def send_chunks(
    registry: WorkerRegistry,
    parts: Iterable[Sequence[Any]],
    send: Callable[[Chunks], object],
    *,
    not_sent: AbortRequest = NOT_SENT,
    failures: tuple[type[BaseException], ...] = (Exception,),
    undo: Callable[[list[str]], object] | None = None,
    **registration: Any,
) -> ChunkedImport:
    """Register a parallel import of one chunk per item of ``parts`` (``registration`` goes to
    ``register_chunks``: ``totals``, ``total``, ``continue_on_error``, ``metadata``) and hand
    its chunks to ``send``, which gives them to their workers. When ``send`` raises one of
    ``failures`` (the broker went away midway), the import is aborted with ``not_sent``, which
    ends it and every chunk at once, so that none sent ever runs; then ``undo`` is given the
    chunks' tokens (an engine's fast path: revoke them), and the error goes on."""
    arguments = [tuple(part) for part in parts]
    parallel = chunked(registry).register_chunks(len(arguments), **registration)
    try:
        send(list(zip(parallel.chunks, arguments, strict=True)))
    except failures:
        registry.abort(parallel.token, not_sent)
        if undo is not None:
            try:
                undo(list(parallel.chunks))
            except Exception:  # the engine's server is gone: the store refuses them all the same
                log.warning("the chunks of import %s could not be withdrawn", parallel.token)
        raise
    return parallel


@dataclass(frozen=True)
class ThreadedImport:
    """A parallel import handed to threads: its token, its chunks' and their futures (each
    the chunk's end state)."""

    token: str
    chunks: tuple[str, ...]
    futures: tuple[Future[ImportState], ...]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every chunk to end, ``timeout`` seconds at most; whether they all did."""
        _, running = wait(self.futures, timeout)
        return not running


class ThreadChunks:
    """Runs the chunks of parallel imports on a bounded pool of ``workers`` threads of this
    process: a chunk waits in the pool's queue until a thread is free, and one that is still
    waiting when its import is aborted never runs a batch."""

    def __init__(self, registry: WorkerRegistry, workers: int) -> None:
        self.registry = registry
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="import-chunk")

    def submit(
        self,
        work: Callable[..., object],
        parts: Iterable[Sequence[Any]],
        *,
        totals: Sequence[int | None] | None = None,
        total: int | None = None,
        continue_on_error: bool = False,
        metadata: Mapping[str, Any] | None = None,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> ThreadedImport:
        """Register a parallel import (or export, by ``kind``) of one chunk per item of
        ``parts`` and run each as ``work(run, *part)``, ``run`` the chunk's :class:`ImportRun`.
        When the pool takes no more (it was shut down), the import is aborted, which ends it
        and its chunks, and the error goes on."""
        futures: list[Future[ImportState]] = []

        def send(chunks: Chunks) -> None:
            for chunk, part in chunks:
                futures.append(self._pool.submit(self._run, chunk, work, part))

        parallel = send_chunks(
            self.registry,
            parts,
            send,
            failures=(RuntimeError,),
            totals=totals,
            total=total,
            continue_on_error=continue_on_error,
            metadata=metadata,
            kind=kind,
        )
        return ThreadedImport(parallel.token, parallel.chunks, tuple(futures))

    def _run(self, chunk: str, work: Callable[..., object], part: tuple[Any, ...]) -> ImportState:
        run = ImportRun(self.registry, chunk)
        try:
            with run:
                work(run, *part)
        except Exception:  # recorded failed by the run; the traceback goes to the log
            log.exception("chunk %s failed", chunk)
        return run.state

    def shutdown(self, wait: bool = True) -> None:
        """Take no more chunks; with ``wait``, wait for those handed over to end."""
        self._pool.shutdown(wait=wait)
