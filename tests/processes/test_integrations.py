"""How the engines' integrations declare and enqueue imports, in this process: a Celery task is
of the app's own task class (Flask's ``FlaskTask`` pattern holds), and a job's arguments are
all its own, whatever their names; what the registry records comes from ``options``. The
tests of real workers running them are in test_engines and tests/hosts."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest
from celery import Celery, Task
from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from flask_import_abort.processes import ImportRun, ImportState, InMemoryImportRegistry
from flask_import_abort.processes.integrations.celery import CeleryImports
from flask_import_abort.processes.integrations.options import ImportOptions
from flask_import_abort.processes.integrations.rq import ImportJob, RQImports

from ..databases import require_redis


def _flask_task_app(flask_app: Flask) -> Celery:
    """A Celery app whose task class is Flask's ``FlaskTask``, set after tasks are declared."""
    celery = Celery("declarations", broker="memory://", backend="cache+memory://")

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery.Task = FlaskTask
    return celery


def test_a_celery_import_task_is_of_the_apps_own_task_class_with_the_import_methods() -> None:
    flask_app = Flask("host")
    celery = _flask_task_app(flask_app)
    registry = InMemoryImportRegistry()
    imports = CeleryImports(celery, registry)
    seen: list[str] = []

    @imports.task
    def import_products(run: ImportRun) -> None:
        seen.append(current_app.name)  # inside the app's context, as FlaskTask runs it

    assert isinstance(import_products, celery.Task)
    assert import_products.imports is imports
    assert isinstance(import_products.options(total=3), ImportOptions)
    token = registry.register()
    import_products.apply(task_id=token)  # Celery's tracer calls the class's own __call__
    assert seen == ["host"]
    assert registry.snapshot(token).state is ImportState.SUCCEEDED


def test_a_parallel_imports_options_are_refused_by_a_single_enqueue_before_anything_is_kept() -> (
    None
):
    registry = InMemoryImportRegistry()
    imports = CeleryImports(Celery("declarations", broker="memory://"), registry)

    @imports.task
    def import_products(run: ImportRun) -> None:
        pass

    for options in ({"totals": [1, 2]}, {"continue_on_error": True}):
        with pytest.raises(TypeError, match="use enqueue_chunks"):
            import_products.options(**options).enqueue()
    assert registry.recent(10) == []


@pytest.fixture
def queue() -> Iterator[Queue]:
    connection = Redis.from_url(require_redis())
    found = Queue(f"declarations-{id(connection)}", connection=connection)
    try:
        yield found
    finally:
        found.delete(delete_jobs=True)
        connection.close()


def import_named(run: ImportRun, *, total: int, metadata: str) -> None:
    """A job whose keyword arguments are named as the options."""


def test_an_rq_job_is_enqueued_with_every_argument_and_registered_with_its_options(
    queue: Queue,
) -> None:
    registry = InMemoryImportRegistry()
    job = RQImports(queue, registry).job(import_named)
    assert isinstance(job, ImportJob)
    assert job.name == f"{__name__}.import_named"
    assert job.__doc__ == import_named.__doc__

    item = {"id": "Products", "format": "json"}
    token = job.options(total=9, metadata=item).enqueue(total=3, metadata="the job's own")

    enqueued = Job.fetch(token, connection=queue.connection)
    assert (enqueued.func_name, enqueued.args) == (job.name, ())
    assert enqueued.kwargs == {"total": 3, "metadata": "the job's own"}
    snapshot = registry.snapshot(token)
    assert (snapshot.state, snapshot.total, snapshot.metadata) == (ImportState.PENDING, 9, item)


#: Jobs run by an RQ worker in this process (``SimpleWorker``), which finds them here.
in_context = RQImports(Queue("placeholder", connection=Redis()), InMemoryImportRegistry())
apps_seen: list[str] = []


@in_context.job
def import_in_context(run: ImportRun) -> None:
    apps_seen.append(current_app.name)


@pytest.mark.parametrize("app_given", [True, False], ids=["init_app", "no app"])
def test_an_rq_job_runs_inside_the_app_given_to_init_app(queue: Queue, app_given: bool) -> None:
    in_context.queue, in_context.registry = queue, InMemoryImportRegistry()
    in_context.app = None
    apps_seen.clear()
    if app_given:
        in_context.init_app(Flask("worker-host"))
    token = import_in_context.enqueue()

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    state = in_context.registry.snapshot(token).state
    if app_given:
        assert (state, apps_seen) == (ImportState.SUCCEEDED, ["worker-host"])
    else:  # the job's own code needs an app context, and has none
        assert (state, apps_seen) == (ImportState.FAILED, [])


bodies_run: list[str] = []


@in_context.job
def import_reporting_first(run: ImportRun) -> None:
    bodies_run.append(run.token)
    for _ in run.batches([["a"], ["b"]], total=2):
        pass


def test_a_job_whose_process_was_aborted_before_it_was_dequeued_ends_quietly(
    queue: Queue,
) -> None:
    in_context.queue, in_context.registry = queue, InMemoryImportRegistry()
    in_context.app = None
    bodies_run.clear()
    aborted, running = import_reporting_first.enqueue(), import_reporting_first.enqueue()
    in_context.registry.abort(aborted)  # pending: it ends aborted at once

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert Job.fetch(aborted, connection=queue.connection).get_status() == "finished"
    assert bodies_run == [running]  # the aborted one's body never ran
    assert in_context.registry.snapshot(aborted).state is ImportState.ABORTED
    ran = in_context.registry.snapshot(running)
    assert (ran.state, ran.total, ran.processed) == (ImportState.SUCCEEDED, 2, 2)


def test_a_run_reports_its_total_only_once_started() -> None:
    registry = InMemoryImportRegistry()
    aborted = registry.register()
    registry.abort(aborted)

    with ImportRun(registry, aborted) as run:
        written = list(run.batches([["a"]], total=1))

    assert (run.started, written, run.state) == (False, [], ImportState.ABORTED)


@pytest.mark.parametrize(
    ("engine", "module", "extra"),
    [("celery", "celery", "celery"), ("rq", "rq", "rq")],
)
def test_an_engine_not_installed_is_one_import_error_naming_the_module_and_the_extra(
    monkeypatch: pytest.MonkeyPatch, engine: str, module: str, extra: str
) -> None:
    """Without its engine, an integration says which of its modules needs what, and how to
    install it."""
    integration = f"flask_import_abort.processes.integrations.{engine}"
    monkeypatch.setitem(sys.modules, module, None)  # what Python makes of a missing package
    monkeypatch.delitem(sys.modules, integration)
    with pytest.raises(ImportError) as refused:
        importlib.import_module(integration)
    assert str(refused.value).startswith(f"{integration} needs ")
    assert f"pip install 'flask-import-abort[{extra}]'" in str(refused.value)
