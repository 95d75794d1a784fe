"""Imports as RQ jobs: the job id is the process token, and an abort reaches any worker.

Needs the ``[rq]`` extra (RQ 2 or newer)::

    imports = RQImports(Queue("imports", connection=redis), registry)

    @imports.job
    def import_products(run, path):
        for batch in run.batches(read_batches(path)):
            write(batch)

    token = import_products.options(total=count).enqueue(path)  # registers, then enqueues
    token = import_products.enqueue_chunks([(path, 0, 5000), (path, 5000, 10000)])  # one each
    mirror_aborts(app, imports)           # a queued job is cancelled (the web side)
    app.config["IMPORT_ABORT_FORCE_STOP"] = imports.force_stop
    imports.init_app(app)                 # where the worker makes the app: jobs run in its context

The job's body gets an :class:`~flask_import_abort.processes.ImportRun`: it stops after the
batch in hand when the endpoint aborts the process, and returns ``{"state": "aborted", ...}``
(RQ has no aborted status of its own; the job's ``meta["import_state"]`` says it too). A job
aborted while queued is cancelled, and never runs. ``force_stop`` is RQ's stop-job command,
which kills the work horse; the job's ``on_stopped`` callback records the end ``aborted`` in the
registry, so a job stopped from RQ's own tools ends ``aborted`` too, never ``failed`` nor left
``processing``. A repeat stop that RQ refuses (the job is no longer running) is harmless.

A queued job cancelled through RQ (``Job.cancel()``, ``rq cancel``) never runs: its process
ends ``aborted``, with ``rq`` as the actor, when a reap looks at the queue's canceled-jobs
registry (:meth:`RQImports.end_cancelled`; the web side's ``reap(app)`` and ``reaper(app)`` do
it for the engines given to ``mirror_aborts``).

A parallel import (``enqueue_chunks``) is one job per chunk, each under its chunk's token
(``<token>-1``, ...), in the same queue, so that as many workers run them at once. The
endpoint's abort of the import reaches every chunk through the store: a running one stops
after its batch, a queued one is refused when a worker takes it; the chunks still queued are
cancelled too (:meth:`RQImports.tell_of_abort`). A cancel of one chunk through RQ is an abort
of its import.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

try:
    import rq
except ImportError as missing:
    raise ImportError(
        "flask_import_abort.processes.integrations.rq needs RQ: "
        "pip install 'flask-import-abort[rq]'"
    ) from missing


from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, get_current_job
from rq.registry import CanceledJobRegistry

from ..capabilities import WorkerRegistry, chunked
from ..contract import AbortOutcome, AbortRequest
from ..lifecycle import (
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
    checked_seconds,
)
from ..run import ImportRun
from ..tokens import token_for_log
from .options import Enqueuing

# rq.job's from RQ 2.0 on; rq.callbacks, which holds it now, came later.
Callback = rq.job.Callback  # type: ignore[attr-defined]

__all__ = ["ImportJob", "RQImports"]

#: The abort of a parallel import whose chunks could not all be enqueued.
NOT_SENT = AbortRequest(reason="its chunks could not all be enqueued")

log = logging.getLogger("flask_import_abort")


class HasAppContext(Protocol):
    """A Flask app, as far as a job needs it: its ``app_context()``."""

    def app_context(self) -> contextlib.AbstractContextManager[Any]: ...


class RQImports:
    """Import jobs of one RQ queue, their processes kept in ``registry``; with ``app`` (or
    :meth:`init_app`), each job runs inside that Flask app's context."""

    def __init__(
        self, queue: rq.Queue, registry: WorkerRegistry, *, app: HasAppContext | None = None
    ) -> None:
        self.queue = queue
        self.registry = registry
        #: The Flask app whose context every job runs in (see :meth:`init_app`); None for none.
        self.app = app

    def end_cancelled(self) -> list[ProcessSnapshot]:
        """End ``aborted`` the processes whose queued jobs were cancelled through RQ (found in
        the queue's canceled-jobs registry), recorded as RQ's doing; return those ended. Each
        id is taken out of that registry once its cancellation is recorded (the job itself
        stays, cancelled), so that the registry never grows and every reap, in every process,
        reads only what is new."""
        canceled = CanceledJobRegistry(queue=self.queue)
        ended = []
        request = AbortRequest(actor="rq", reason="cancelled through RQ")
        for token in canceled.get_job_ids():
            try:
                outcome = self.registry.abort(token, request)
            except UnknownImport:  # another queue's job, or a process deleted since
                outcome = AbortOutcome.NOT_FOUND
            canceled.remove(token)  # recorded (or none of ours): never read again
            if outcome is AbortOutcome.REQUESTED:
                snapshot = self.registry.snapshot(token)
                if snapshot.parent is not None:  # a chunk's cancel aborted its import
                    snapshot = self.registry.snapshot(snapshot.parent)
                if snapshot.state.is_final:
                    ended.append(snapshot)
                log.warning(
                    "import job %s was cancelled through RQ: its process is aborted",
                    token_for_log(token),
                )
        return ended

    def init_app(self, app: HasAppContext) -> None:
        """Run every job of these imports inside ``app``'s context (a Flask app), as the host's
        own code in a job expects (``db.session``, ``current_app``). Call it where the worker
        makes the app, before it forks a work horse for each job."""
        self.app = app

    def job(self, function: Callable[..., object]) -> ImportJob:
        """Declare an import job: ``function(run, *args, **kwargs)`` runs its batch loop with
        ``run``, an :class:`~flask_import_abort.processes.ImportRun` of the job's process. The
        job is found by workers under ``function``'s own name, so declare it at a module's top
        level."""
        return ImportJob(self, function)

    def _run(
        self, function: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        job = get_current_job()
        if job is None:
            raise RuntimeError("an import job runs in an RQ worker, from enqueue()")
        with self.app.app_context() if self.app is not None else contextlib.nullcontext():
            run = ImportRun(self.registry, job.id)
            with run:
                if run.started:  # else aborted as it was dequeued: the job ends quietly
                    function(run, *args, **kwargs)
        result = {"state": run.state.value, "processed": run.processed}
        job.meta["import_state"] = run.state.value
        job.save_meta()  # type: ignore[no-untyped-call]
        if run.state is ImportState.FAILED:  # ended without its worker, which came back
            raise RuntimeError(f"import process {job.id!r} was ended failed while it ran")
        return result

    def _stopped(self, token: str) -> None:
        try:
            self.registry.abort(token)  # so that every later abort is the harmless repeat
            self.registry.finish(token, ImportState.ABORTED)
        except (InvalidTransition, UnknownImport):
            return  # already ended: forced by a stop deadline, or never started
        log.warning("import job %s was stopped by RQ: recorded aborted", token_for_log(token))

    def deliver_every(self, dispatcher: str, seconds: float) -> Job:
        """Deliver the webhooks' notices from RQ: a job that runs the dispatcher's
        ``deliver()`` on a worker and enqueues itself again ``seconds`` later (RQ's scheduler
        runs it: ``rq worker --with-scheduler``). ``dispatcher`` is the import string of the
        workers' own (``"myapp.jobs:dispatcher"``), built from the same settings as the web
        app's. Returns the first job."""
        checked_seconds(seconds, "seconds")
        return self.queue.enqueue(deliver_notices, dispatcher, seconds, job_timeout=-1)

    def force_stop(self, token: str) -> None:
        """Send RQ's stop-job command: the work horse running the job is killed
        (``IMPORT_ABORT_FORCE_STOP``). A job no longer running is left as it is."""
        try:
            send_stop_job_command(self.queue.connection, token)
        except (InvalidJobOperation, NoSuchJobError) as refused:
            log.info("import job %s was not running: %s", token_for_log(token), refused)

    def tell_of_abort(self, token: str) -> None:
        """Tell RQ of an abort the registry recorded: a queued job is cancelled, so it never
        runs; a running one stops after its batch, through the registry. For a parallel
        import, each of its chunks so. See
        :func:`flask_import_abort.operators.mirror.mirror_aborts`, which calls it for the
        endpoint."""
        snapshot = self.registry.snapshot(token)
        if snapshot.parent is not None:  # a chunk's abort is its import's
            snapshot = self.registry.snapshot(snapshot.parent)
            token = snapshot.token
        jobs = chunked(self.registry).chunks(token) if snapshot.chunks else [snapshot]
        for job_of in jobs:
            if job_of.state is not ImportState.ABORTED or job_of.started_at is not None:
                continue  # running: it stops after its batch, through the registry
            try:
                job = Job.fetch(job_of.token, connection=self.queue.connection)
            except NoSuchJobError:  # never enqueued: its import's enqueue failed first
                continue
            if job.get_status() in ("queued", "deferred", "scheduled"):
                job.cancel()


class ImportJob(Enqueuing):
    """An import job of :meth:`RQImports.job`, found by workers under its function's name.

    ``enqueue(*args, **kwargs)`` registers its process and enqueues the job with every
    argument given, whatever its name; ``options(total=..., metadata=...)`` first says what the
    import is registered with (an :class:`.ImportOptions`). A worker calls the job itself: it
    runs the function's batch loop with an :class:`~flask_import_abort.processes.ImportRun` of
    the job's process.
    """

    imports: RQImports
    not_sent = NOT_SENT

    def __init__(self, imports: RQImports, function: Callable[..., object]) -> None:
        self.imports = imports
        self.function = function
        functools.update_wrapper(self, function)
        #: Where workers find the job: its function's module and name.
        self.name = f"{function.__module__}.{function.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The job's body, in an RQ worker: ``function(run, *args, **kwargs)``."""
        return self.imports._run(self.function, args, kwargs)

    def on_stopped(self, job: Job, connection: object, *args: Any) -> None:
        """RQ's stop-job command killed the work horse: record the end ``aborted``."""
        self.imports._stopped(job.id)

    def hand_over(self, token: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Enqueue the job under ``token`` as its job id."""
        self.imports.queue.enqueue_call(
            self.name,
            args=args,
            kwargs=kwargs,
            job_id=token,
            timeout=-1,  # imports run long: a stop deadline bounds an unheeded abort
            on_stopped=Callback(f"{self.name}.on_stopped"),
        )


def deliver_notices(dispatcher: str, seconds: float) -> dict[str, int]:
    """The job of :meth:`RQImports.deliver_every`: deliver what is due with the dispatcher the
    import string ``dispatcher`` names, then come again in ``seconds``."""
    found = import_string(dispatcher)
    job = get_current_job()
    try:
        done = found.deliver()
    finally:
        if job is not None:  # once more, whatever this round met
            queue = rq.Queue(job.origin, connection=job.connection)
            queue.enqueue_in(
                timedelta(seconds=seconds), deliver_notices, dispatcher, seconds, job_timeout=-1
            )
    return {"delivered": done.delivered, "retried": done.retried, "failed": done.failed}


def import_string(name: str) -> Any:
    """The object ``"module:attribute"`` names."""
    module, _, attribute = name.partition(":")
    if not module or not attribute:
        raise ValueError(f"an import string is 'module:attribute'; got {name!r}.")
    return getattr(importlib.import_module(module), attribute)
