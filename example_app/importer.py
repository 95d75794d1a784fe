"""The host's importer: registers each import and hands it to an executor.

``thread`` runs imports in threads of this process, at most ``DEMO_MAX_RUNNING_IMPORTS`` at a
time; one more is refused (:class:`TooManyImports`), so that no process ever waits on a queue
that dies with this process. ``celery`` and ``rq`` send them to the workers of the job engine,
on this machine or others, whose job ids are the process ids; their queues outlive any web
process.

With ``DEMO_PARALLELISM`` above 1, each import is a parallel import of that many chunks, each a
slice of the file: on a bounded pool of threads, as a Celery ``group``, or as RQ jobs. The
bound on running imports counts imports, not chunks.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from flask_import_abort import AbortRequest, ImportRun, ImportState
from flask_import_abort.operators.mirror import mirror_aborts
from flask_import_abort.processes import (
    ABORTABLE_STATES,
    EndReason,
    InvalidTransition,
    ProcessSnapshot,
    ThreadChunks,
    ThreadedImport,
)
from flask_import_abort.processes.sql import SQLImportRegistry, create_tables

from . import jobs

log = logging.getLogger("example_app.importer")

#: How the demo's own stop aborts what it has not finished.
SHUTDOWN = AbortRequest(
    actor="shutdown", reason="the demo app was stopped", end_reason=EndReason.SHUTDOWN
)


#: What the demo imports, as executeImport names it and OCC's webhook reports it (with the
#: file's name).
ITEM = {"mode": "standalone", "id": "Products", "format": "json"}
#: What the demo exports: the products table, as a JSON file.
EXPORT_ITEM = {"mode": "standalone", "id": "Products", "format": "json"}


class TooManyImports(Exception):
    """The thread executor runs as many imports as it may."""


def runs_table(metadata: MetaData) -> Table:
    """Which executor each import was handed to, and its file."""
    return Table(
        "demo_imports",
        metadata,
        Column("process_id", String(256), primary_key=True),
        Column("executor", String(16), nullable=False),
        Column("file_name", String(255), nullable=False),
    )


@dataclass
class Importer:
    """Registers product imports in ``registry`` and runs them on ``executor``."""

    registry: SQLImportRegistry
    products: Table
    batch_size: int
    pause: float
    executor: str = "thread"
    max_running: int = 2
    parallelism: int = 1
    #: Where exports write their files, and the address a file is served at (``{token}``).
    export_folder: str = "exports"
    export_link: str = "/ccadmin/v1/exportProcess/{token}/file"
    runs: Table = field(init=False)
    _threads: dict[str, threading.Thread] | None = field(init=False, default=None)
    _chunks: ThreadChunks | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.runs = runs_table(self.products.metadata)
        if self.executor == "thread":
            self._threads = {}
            if self.parallelism > 1:
                workers = self.parallelism * self.max_running
                self._chunks = ThreadChunks(self.registry, workers)
            return
        engine = self._engine()
        if engine.registry.engine.url != self.registry.engine.url:
            raise ValueError(
                f"The {self.executor} workers use {engine.registry.engine.url!r}, this app "
                f"{self.registry.engine.url!r}: set FLASK_DEMO_DATABASE_URL for both alike."
            )
        engine.imports.registry = self.registry  # one registry in this process, as the app's

    def _engine(self) -> ModuleType:
        """The engine's module, as its workers import it: the job, its registry, its hooks."""
        return importlib.import_module(f"{__package__}.{self.executor}_app")

    def create_tables(self) -> None:
        """The registry's table (upgraded from an older version's) and the demo's, safely from
        every booting worker at once."""
        self.registry.upgrade_table()
        create_tables(self.registry.engine, self.products, self.runs)

    def start(self, path: Path) -> str:
        """Register an import of the file at ``path``, hand it to the executor, and return its
        process id."""
        arguments = (str(path), self.batch_size, self.pause)
        item = {**ITEM, "fileName": path.name}
        parts = [(*arguments, part, self.parallelism) for part in range(self.parallelism)]
        if self._threads is not None:
            with self._lock:
                if len(self._threads) >= self.max_running:
                    raise TooManyImports(self.max_running)
                target: Callable[..., None]
                args: tuple[Any, ...]
                if self._chunks is not None:
                    threaded = self._chunks.submit(self._run_chunk, parts, metadata=item)
                    token = threaded.token
                    target, args = self._wait_here, (threaded,)
                else:
                    token = self.registry.register(metadata=item)
                    target, args = self._run_here, (token, *arguments)
                thread = threading.Thread(target=target, args=args, name=f"import-{token[:8]}")
                self._threads[token] = thread
            thread.start()
        elif self.parallelism > 1:
            token = self._engine().import_products.options(metadata=item).enqueue_chunks(parts)
        else:
            token = self._engine().import_products.options(metadata=item).enqueue(*arguments)
        with self.registry.engine.begin() as connection:
            row = {"process_id": token, "executor": self.executor, "file_name": path.name}
            connection.execute(insert(self.runs).values(row))
        return token

    def start_export(self) -> str:
        """Register an export of the products table, hand it to the executor, and return its
        process id. A thread's export counts towards ``max_running`` as an import does."""
        arguments = (self.export_folder, self.export_link, self.batch_size, self.pause)
        if self._threads is not None:
            with self._lock:
                if len(self._threads) >= self.max_running:
                    raise TooManyImports(self.max_running)
                token = self.registry.register(kind="export", metadata=EXPORT_ITEM)
                thread = threading.Thread(
                    target=self._run_here,
                    args=(token, *arguments),
                    kwargs={"job": jobs.export_products, "what": "export"},
                    name=f"export-{token[:8]}",
                )
                self._threads[token] = thread
            thread.start()
        else:
            job = self._engine().export_products.options(kind="export", metadata=EXPORT_ITEM)
            token = job.enqueue(*arguments)
        with self.registry.engine.begin() as connection:
            row = {"process_id": token, "executor": self.executor, "file_name": f"{token}.json"}
            connection.execute(insert(self.runs).values(row))
        return token

    def force_stop(self) -> Callable[[str], object] | None:
        """The engine's way to stop a worker by force, for ``IMPORT_ABORT_FORCE_STOP``."""
        return None if self._threads is not None else self._engine().imports.force_stop

    def mirror_aborts(self, app: Flask) -> None:
        """With an engine, tell it of each abort ``app`` records
        (``flask_import_abort.operators.mirror``)."""
        if self._threads is None:
            mirror_aborts(app, self._engine().imports)

    def _run_here(self, token: str, *arguments: Any, job: Any = None, what: str = "import") -> None:
        """Run the process ``token`` in this thread: ``job`` (the import's by default) with
        ``arguments``, its end recorded, and the thread's place given back."""
        job = jobs.import_products if job is None else job
        try:
            with ImportRun(self.registry, token) as run:
                job(run, self.registry, self.products, *arguments)
        except Exception:  # ImportRun recorded it failed; the traceback goes to the log
            log.exception("%s %s failed", what, token)
        else:
            log.info("%s %s ended %s", what, token, run.state.value)
        finally:
            with self._lock:
                self._threads.pop(token, None)  # type: ignore[union-attr]

    def _run_chunk(self, run: ImportRun, *arguments: Any) -> None:
        jobs.import_products(run, self.registry, self.products, *arguments)

    def _wait_here(self, threaded: ThreadedImport) -> None:
        threaded.wait()
        log.info(
            "import %s ended %s", threaded.token, self.registry.snapshot(threaded.token).state.value
        )
        with self._lock:
            self._threads.pop(threaded.token, None)  # type: ignore[union-attr]

    def close(self) -> None:
        """The imports this process runs in threads are aborted (actor and end reason
        ``shutdown``), and end after their batch: they could not outlive it."""
        with self._lock:
            running = dict(self._threads or {})
        for token in running:
            self.registry.abort(token, SHUTDOWN)
        for thread in running.values():
            thread.join()
        if self._chunks is not None:
            self._chunks.shutdown()

    def shut_down(self, patience: float) -> list[str]:
        """The demo stops (Ctrl-C, SIGTERM): abort every import that has not ended, as
        ``shutdown``. A queued job is dropped (revoked, cancelled: it never runs); a running
        one stops after its batch, waited for up to ``patience`` seconds. Answers the imports
        still running then, which the engine's worker has yet to stop."""
        if self._threads is not None:
            self.close()
            return []
        imports = self._engine().imports
        left = self.registry.recent(10_000, states=ABORTABLE_STATES)
        for snapshot in left:
            self.registry.abort(snapshot.token, SHUTDOWN)
            try:
                imports.tell_of_abort(snapshot.token)  # a queued job never runs
            except Exception:  # the engine's server may be gone: the store holds the abort
                log.warning("import %s: its engine could not be told", snapshot.token)
        deadline = time.monotonic() + patience
        running = [snapshot.token for snapshot in left]
        while running and time.monotonic() < deadline:
            running = [t for t in running if not self.registry.snapshot(t).state.is_final]
            time.sleep(0.05)
        return running

    def ended_with_its_worker(self, tokens: Sequence[str]) -> None:
        """Record ``aborted`` the imports whose worker was stopped before they ended (for a
        parallel import, each of its chunks, the last of which ends it)."""
        for token in tokens:
            chunks = [chunk.token for chunk in self.registry.chunks(token)] or [token]
            for chunk in chunks:
                with contextlib.suppress(InvalidTransition):
                    self.registry.finish(chunk, ImportState.ABORTED)

    def records_written(self, tokens: Sequence[str]) -> dict[str, int]:
        """How many products each process has in the table now (a parallel import's are its
        chunks')."""
        column = self.products.c.process_id
        query = select(column, func.count()).where(column.in_(tokens)).group_by(column)
        with self.registry.engine.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(query)}

    def records_written_by(self, snapshot: ProcessSnapshot) -> int:
        """How many products the process, or its chunks, have in the table now."""
        chunks = [f"{snapshot.token}-{index}" for index in range(1, snapshot.chunks + 1)]
        return sum(self.records_written([snapshot.token, *chunks]).values())

    def executors(self, tokens: Sequence[str]) -> dict[str, str]:
        """Which executor each process was handed to."""
        query = select(self.runs.c.process_id, self.runs.c.executor).where(
            self.runs.c.process_id.in_(tokens)
        )
        with self.registry.engine.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(query)}
