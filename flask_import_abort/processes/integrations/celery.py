"""Imports as Celery tasks: the task id is the process token, and an abort reaches any worker.

Needs the ``[celery]`` extra (Celery 5, with a result backend for Celery's own abort)::

    imports = CeleryImports(celery, registry)

    @imports.task
    def import_products(run, path):
        for batch in run.batches(read_batches(path)):
            write(batch)

    token = import_products.options(total=count).enqueue(path)  # registers, then sends
    token = import_products.enqueue_chunks([(path, 0, 5000), (path, 5000, 10000)])  # a group
    mirror_aborts(app, imports)           # Flower and Celery see the endpoint's (the web side)
    app.config["IMPORT_ABORT_FORCE_STOP"] = imports.force_stop

The task's body gets an :class:`~flask_import_abort.processes.ImportRun`: it stops after the
batch in hand when the endpoint aborts the process, and also when Celery's own abort is used
(``AbortableAsyncResult(token).abort()``, which Flower's ``POST /api/task/abort/<id>`` calls);
either way the registry records ``aborted`` and the task's Celery state is ``ABORTED``, never
``SUCCESS``. A task aborted while queued runs no batch. ``force_stop`` revokes the task with
``terminate=True`` and ``SIGUSR1``, which the prefork pool turns into ``SoftTimeLimitExceeded``
inside the task: it ends there, cleanly, as the forced end the registry already recorded.

A task revoked through Celery before it ran (``celery.control.revoke(token)``, Flower's Revoke
button), or one that expired in the queue, ends its process ``aborted``, with ``celery`` as
the actor: the worker that receives the revoked task sends ``task_revoked``, and the process
is aborted there. Celery tells a revoke to the workers running at that moment only, and they
keep it in memory (``--statedb`` keeps it across restarts): while no worker runs, a revoke
does nothing, and the process stays ``pending`` until a worker that knows of the revoke
receives the task. The endpoint's abort has no such gap: the store keeps it.

A parallel import (:meth:`ImportTask.enqueue_chunks`) is a ``group`` of the same task, one per
chunk, each under its chunk's token (``<token>-1``, ...). The endpoint's abort of the import
reaches every chunk through the store: a running one stops after its batch, a queued one is
refused when a worker receives it, however late or how often (``acks_late``); the chunks that
never started are revoked too (:meth:`CeleryImports.tell_of_abort`), so that workers drop them
unread. A revoke of one chunk through Celery is an abort of its import.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

try:
    import celery
except ImportError as missing:
    raise ImportError(
        "flask_import_abort.processes.integrations.celery needs Celery: "
        "pip install 'flask-import-abort[celery]'"
    ) from missing

from celery.contrib.abortable import ABORTED, AbortableAsyncResult
from celery.exceptions import Ignore
from celery.signals import task_revoked

from ..capabilities import WorkerRegistry, chunked
from ..contract import AbortOutcome, AbortRequest, failures
from ..lifecycle import ImportState, checked_seconds
from ..parallel import Chunks
from ..run import ImportRun
from ..signals import announce_end_of
from ..tokens import token_for_log
from ..webhooks import WebhookDispatcher
from .options import Enqueuing

__all__ = ["ABORTED", "CeleryImports", "ImportTask"]

log = logging.getLogger("flask_import_abort")


class ImportTask(Enqueuing):
    """What every task :meth:`CeleryImports.task` declares has, beside its Celery task class's
    own: ``enqueue(*args, **kwargs)`` registers its process and sends the task with every
    argument given, whatever its name; ``options(total=..., metadata=...)`` first says what the
    import is registered with (see
    :class:`~flask_import_abort.processes.integrations.options.ImportOptions`).

    The task's class is the Celery app's own (``Celery(task_cls=...)``, ``app.Task``), so that
    Flask's ``FlaskTask`` pattern, which runs each task inside the app's context, holds for
    import tasks too; these methods are set on it as task attributes.
    """

    #: Set on each task by :meth:`CeleryImports.task`.
    imports: CeleryImports

    def hand_over(self: Any, token: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Send the task under ``token`` as its task id."""
        self.apply_async(args, kwargs, task_id=token)

    def hand_over_chunks(self: Any, chunks: Chunks, kwargs: dict[str, Any]) -> None:
        """Send the chunks as one ``group``, each under its chunk's token."""
        signatures = (self.signature(part, kwargs, task_id=chunk) for chunk, part in chunks)
        celery.group(signatures).apply_async()

    def withdraw(self: Any, tokens: list[str]) -> None:
        """Revoke the chunks sent: workers drop them unread."""
        self.imports.celery.control.revoke(tokens)


#: What :class:`ImportTask` has, its own and :class:`.Enqueuing`'s, set on each task class as
#: its attributes.
_TASK_METHODS = {
    name: getattr(ImportTask, name) for name in dir(ImportTask) if not name.startswith("_")
}


#: The name of the task that delivers the webhooks' notices (see ``deliver_every``).
DELIVERY_TASK = "flask_import_abort.deliver_notices"


class CeleryImports:
    """Import tasks of one Celery app, their processes kept in ``registry``."""

    def __init__(
        self,
        celery_app: celery.Celery,
        registry: WorkerRegistry,
        *,
        terminate_signal: str = "SIGUSR1",
    ) -> None:
        self.celery = celery_app
        self.registry = registry
        self.terminate_signal = terminate_signal
        task_revoked.connect(self._revoked, weak=False)

    def _revoked(
        self,
        sender: object = None,
        request: Any = None,
        terminated: bool = False,
        expired: bool = False,
        **_: Any,
    ) -> None:
        """A worker dropped one of these tasks, revoked or expired: its process will never run
        a batch, so it ends ``aborted``, recorded as Celery's doing (``task_revoked``)."""
        if getattr(sender, "imports", None) is not self or request is None:
            return
        token = request.id
        why = "expired in Celery's queue" if expired else "revoked through Celery"
        try:
            outcome = self.registry.abort(token, AbortRequest(actor="celery", reason=why))
        except failures():
            log.exception("import task %s was %s; its abort failed", token_for_log(token), why)
            return
        if outcome is AbortOutcome.REQUESTED:
            log.warning("import task %s was %s: its process is aborted", token_for_log(token), why)
            announce_end_of(self.registry, token, of_import=True)

    def task(self, function: Callable[..., object] | None = None, **options: Any) -> Any:
        """Declare an import task: ``function(run, *args, **kwargs)`` runs its batch loop
        with ``run``, an :class:`~flask_import_abort.processes.ImportRun` of the task's process.
        ``options`` go to Celery's ``task`` decorator. The task's class is the app's own task
        class (Flask's ``FlaskTask``, when the app has one), with :class:`ImportTask`'s methods
        beside its own."""

        def declare(function: Callable[..., object]) -> Any:
            imports = self

            @functools.wraps(function)
            def body(task: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
                return imports._run(task, function, args, kwargs)

            # No base of ours: Celery makes the task's class from the app's own task class
            # when it makes the task, and sets these keyword arguments on it.
            return self.celery.task(bind=True, imports=self, **_TASK_METHODS, **options)(body)

        return declare(function) if function is not None else declare

    def _run(
        self,
        task: Any,
        function: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        token = task.request.id
        celery_abort = AbortableAsyncResult(token, app=self.celery)
        run = ImportRun(self.registry, token, aborted_elsewhere=celery_abort.is_aborted)
        try:
            with run:
                if run.started:  # else aborted as it was received: the task ends quietly
                    function(run, *args, **kwargs)
        except Exception:
            if run.state is not ImportState.ABORTED:
                raise
            # Stopped by force (force_stop's signal): the end recorded is the forced one.
            log.info("import task %s ended on its forced stop", token_for_log(token))
        result = {"state": run.state.value, "processed": run.processed}
        if run.state is ImportState.ABORTED:
            # Never SUCCESS over an aborted run: the state says so, and nothing overwrites it.
            task.update_state(state=ABORTED, meta=result)
            raise Ignore()
        if run.state is ImportState.FAILED:  # ended without its worker, which came back
            raise RuntimeError(f"import process {token!r} was ended failed while it ran")
        return result

    def deliver_every(self, dispatcher: WebhookDispatcher, seconds: float) -> Any:
        """Deliver the webhooks' notices from Celery beat: a task,
        ``flask_import_abort.deliver_notices``, that runs ``dispatcher.deliver()`` on a worker,
        put in the app's ``beat_schedule`` every ``seconds`` (``celery beat`` sends it). The
        dispatcher is the worker's own, built from the same settings as the web app's, where
        this module is imported (never pickled). Returns the task."""
        seconds = checked_seconds(seconds, "seconds")

        @self.celery.task(name=DELIVERY_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
        def deliver_notices() -> dict[str, int]:
            done = dispatcher.deliver()
            return {"delivered": done.delivered, "retried": done.retried, "failed": done.failed}

        schedule = dict(self.celery.conf.beat_schedule or {})
        schedule[DELIVERY_TASK] = {"task": DELIVERY_TASK, "schedule": seconds}
        self.celery.conf.beat_schedule = schedule
        return deliver_notices

    def force_stop(self, token: str) -> None:
        """Revoke the task and signal the process running it (``IMPORT_ABORT_FORCE_STOP``)."""
        self.celery.control.revoke(token, terminate=True, signal=self.terminate_signal)

    def tell_of_abort(self, token: str) -> None:
        """Tell Celery of an abort the registry recorded: a task that never started is revoked
        (workers drop it), a running one marked ``ABORTED`` (what Flower shows); for a
        parallel import, each of its chunks so. See
        :func:`flask_import_abort.operators.mirror.mirror_aborts`, which calls it for the
        endpoint."""
        snapshot = self.registry.snapshot(token)
        if snapshot.parent is not None:  # a chunk's abort is its import's
            snapshot = self.registry.snapshot(snapshot.parent)
            token = snapshot.token
        tasks = chunked(self.registry).chunks(token) if snapshot.chunks else [snapshot]
        never_started = [task.token for task in tasks if task.started_at is None]
        if never_started:
            self.celery.control.revoke(never_started)  # workers drop them
        for task in tasks:
            if task.started_at is not None:
                AbortableAsyncResult(task.token, app=self.celery).abort()
