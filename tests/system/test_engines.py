"""Imports on Celery and RQ: real workers on RabbitMQ and Redis, aborted from anywhere."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_import_abort import ImportAbort, ImportState, reaper
from flask_import_abort.operators import reap_app
from flask_import_abort.operators.mirror import mirror_aborts
from flask_import_abort.processes import EndReason
from flask_import_abort.processes.sql import SQLImportRegistry

from .. import celery_app, engine_imports, rq_app
from ..databases import (
    TcpProxy,
    require_postgres,
    require_rabbitmq,
    require_redis,
    unique_table_name,
)
from ..helpers import AUTH, SECRET, abort_url, assert_error_model
from ..servers import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python

SIZE, PAUSE = 10, 0.2  # a batch: ten rows, a fifth of a second
LEASE, DEADLINE = 1.5, 1.0


def _wait_for(condition: Callable[[], Any], timeout: float = 30.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return found


@dataclass
class Engine:
    """A worker of one engine, on one database, with the host app that aborts its imports."""

    name: str
    registry: SQLImportRegistry
    client: FlaskClient
    app: Flask
    environ: dict[str, str]
    worker: subprocess.Popen[bytes]
    log: Path
    forced: list[str]

    def rows(self, token: str) -> int:
        """The rows the import ``token`` has written."""
        products = engine_imports.products_table(self.registry.table.name)
        query = select(func.count()).where(products.c.process_id == token)
        with self.registry.engine.connect() as connection:
            return int(connection.scalar(query))

    def abort(self, token: str) -> Any:
        return self.client.post(abort_url(token), headers=AUTH)

    def until_processed(self, token: str, records: int) -> None:
        _wait_for(lambda: self.registry.snapshot(token).processed >= records)

    def until_ended(self, token: str) -> Any:
        return _wait_for(lambda: (s := self.registry.snapshot(token)).state.is_final and s)

    def stuck(self, job: Any) -> str:
        """An import of ``job`` inside a thirty-second batch: it will not ask whether to stop
        in time."""
        token: str = job.options(total=3 * SIZE).enqueue(3, SIZE, 30.0)
        _wait_for(lambda: self.registry.snapshot(token).state is ImportState.PROCESSING)
        time.sleep(0.3)
        return token

    def abort_until_forced(self, token: str) -> tuple[Any, float]:
        """Abort ``token`` and reap until its end is forced; the end, and how long it took."""
        assert self.abort(token).status_code == 200
        aborted = time.monotonic()
        with reaper(self.app, 0.2):
            forced = _wait_for(lambda: (s := self.registry.snapshot(token)).forced and s)
            return forced, time.monotonic() - aborted


def _database(kind: str, folder: Path) -> str:
    return f"sqlite:///{folder / 'imports.db'}" if kind == "sqlite" else require_postgres()


@contextmanager
def _worker(command: list[str], environ: dict[str, str], log: Path) -> Iterator[Any]:
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environ},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool children too are signalled as one group
        )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def _ready(log: Path, line: str) -> Callable[[], bool]:
    return lambda: line in log.read_text(errors="replace")


@contextmanager
def _engine(
    name: str, kind: str, folder: Path, concurrency: int = 1, webhook_url: str | None = None
) -> Iterator[Engine]:
    """A worker of engine ``name`` with ``concurrency`` processes (Celery's pool, or as many
    RQ workers), on a database of ``kind``, and the host app beside it. With a
    ``webhook_url``, the registries write notices, and the worker delivers them: Celery's
    with its beat (``--beat``), RQ's with its scheduler (``--with-scheduler``)."""
    require_redis()
    url, table, queue = (
        _database(kind, folder),
        unique_table_name(),
        f"tests-{secrets.token_hex(4)}",
    )
    environ = {
        "ENGINE_TEST_DATABASE_URL": url,
        "ENGINE_TEST_TABLE": table,
        "ENGINE_TEST_QUEUE": queue,
        "ENGINE_TEST_LEASE": str(LEASE),
    }
    if webhook_url is not None:
        environ["ENGINE_TEST_WEBHOOK_URL"] = webhook_url
    module = celery_app if name == "celery" else rq_app
    registry = SQLImportRegistry(
        url, table_name=table, lease=LEASE, webhooks=webhook_url is not None
    )
    registry.create_table()
    engine_imports.products_table(table).create(registry.engine, checkfirst=True)
    previous = module.imports.registry
    module.imports.registry = registry  # the test process enqueues into this one
    forced: list[str] = []

    def force_stop(token: str) -> None:
        forced.append(token)
        module.imports.force_stop(token)

    app = Flask("host")
    app.config.update(
        TESTING=True,
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_STOP_DEADLINE=DEADLINE,
        IMPORT_ABORT_FORCE_STOP=lambda token: (
            forced.append(token),
            module.imports.force_stop(token),
        ),
    )
    ImportAbort(app, registry=registry)
    mirror = mirror_aborts(app, module.imports)
    log = folder / f"{name}-worker.log"
    if name == "celery":
        require_rabbitmq()
        celery_app.app.conf.task_default_queue = queue
        command = [
            *(sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"),
            *("--pool", "prefork", "--concurrency", str(concurrency), "--queues", queue),
            *("--hostname", f"{queue}@%h", "--loglevel", "INFO", "--without-mingle"),
            "--without-gossip",
        ]
        if webhook_url is not None:
            command += ["--beat", "--schedule", str(folder / "beat-schedule")]
        ready = "ready."
    else:
        rq_app.imports.queue = rq_app.Queue(queue, connection=rq_app.redis)
        command = [
            *(sys.executable, "-m", "rq.cli", "worker", queue, "--url", rq_app.REDIS_URL),
            *("--worker-ttl", "30", "--name", queue),  # the name last: more workers differ in it
        ]
        if webhook_url is not None:
            command[-2:-2] = ["--with-scheduler"]
        ready = "Listening on"
    try:
        with ExitStack() as workers:
            worker = workers.enter_context(_worker(command, environ, log))
            _wait_for(_ready(log, ready))
            for more in range(1, concurrency if name == "rq" else 1):
                more_log = folder / f"{name}-worker-{more}.log"
                named = [*command[:-1], f"{queue}-{more}"]
                workers.enter_context(_worker(named, environ, more_log))
                _wait_for(_ready(more_log, ready))
            yield Engine(name, registry, app.test_client(), app, environ, worker, log, forced)
    finally:
        mirror.wait()  # it reads the registry: tell the engine first
        module.imports.registry = previous
        engine_imports.products_table(table).drop(registry.engine, checkfirst=True)
        registry.drop_table()
        registry.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def celery_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with _engine("celery", request.param, tmp_path_factory.mktemp("celery")) as engine:
        yield engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rq_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with _engine("rq", request.param, tmp_path_factory.mktemp("rq")) as engine:
        yield engine


def _celery_state(token: str) -> str:
    from celery.result import AsyncResult

    return str(AsyncResult(token, app=celery_app.app).state)


def _named_job_runs(running: Engine, module: Any) -> None:
    """A job's keyword arguments may be named ``total`` and ``metadata``: they are the job's,
    and what the registry records comes from ``options``."""
    item = {"id": "Products", "format": "json"}
    token = module.import_named.options(total=9, metadata=item).enqueue(
        total=3, metadata=engine_imports.OWN_METADATA
    )

    ended = running.until_ended(token)

    assert (ended.state, ended.processed, ended.total) == (ImportState.SUCCEEDED, 3, 9)
    assert ended.metadata == item


def test_a_celery_tasks_arguments_are_its_own_and_its_options_go_to_the_registry(
    celery_engine: Engine,
) -> None:
    _named_job_runs(celery_engine, celery_app)


def test_an_rq_jobs_arguments_are_its_own_and_its_options_go_to_the_registry(
    rq_engine: Engine,
) -> None:
    _named_job_runs(rq_engine, rq_app)


# Celery.


def test_celery_an_endpoint_abort_stops_the_task_after_its_batch_never_as_success(
    celery_engine: Engine,
) -> None:
    token = celery_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
    celery_engine.until_processed(token, 3 * SIZE)

    answer = celery_engine.abort(token)
    rows_at_abort = celery_engine.rows(token)
    ended = celery_engine.until_ended(token)

    assert answer.get_json() == {"success": True}
    assert ended.state is ImportState.ABORTED
    assert rows_at_abort <= celery_engine.rows(token) <= rows_at_abort + SIZE  # the batch in hand
    assert celery_engine.rows(token) % SIZE == 0  # whole batches only
    assert ended.processed == celery_engine.rows(token)
    assert _wait_for(lambda: _celery_state(token) == "ABORTED")
    assert celery_engine.abort(token).get_json() == {"success": True}  # the harmless repeat


def test_celery_its_own_abort_stops_the_import_and_the_registry_agrees(
    celery_engine: Engine,
) -> None:
    from celery.contrib.abortable import AbortableAsyncResult

    token = celery_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
    celery_engine.until_processed(token, 2 * SIZE)

    AbortableAsyncResult(token, app=celery_app.app).abort()
    ended = celery_engine.until_ended(token)

    assert (ended.state, ended.abort_requested) == (ImportState.ABORTED, True)
    assert ended.processed == celery_engine.rows(token) < 50 * SIZE
    assert _celery_state(token) == "ABORTED"
    assert celery_engine.abort(token).get_json() == {"success": True}


def test_celery_a_task_aborted_while_queued_never_runs_a_batch(celery_engine: Engine) -> None:
    busy = celery_app.import_rows.options(total=8 * SIZE).enqueue(8, SIZE, PAUSE)  # the one worker
    queued = celery_app.import_rows.options(total=3 * SIZE).enqueue(3, SIZE, PAUSE)
    celery_engine.until_processed(busy, SIZE)

    assert celery_engine.abort(queued).get_json() == {"success": True}
    celery_engine.until_ended(busy)
    time.sleep(1.0)  # time for the worker to take, and drop, the queued task

    snapshot = celery_engine.registry.snapshot(queued)
    assert (snapshot.state, snapshot.started_at, snapshot.processed) == (
        ImportState.ABORTED,
        None,
        0,
    )


def test_celery_a_task_that_ignores_the_abort_is_forced_within_the_deadline(
    celery_engine: Engine,
) -> None:
    token = celery_engine.stuck(celery_app.import_rows)

    forced, forced_after = celery_engine.abort_until_forced(token)

    assert forced_after <= 2 * DEADLINE + 1.0
    assert celery_engine.forced.count(token) == 1
    assert (forced.state, forced.end_reason) == (ImportState.ABORTED, EndReason.STOP_DEADLINE)
    assert _wait_for(lambda: _celery_state(token) in ("ABORTED", "REVOKED"))
    time.sleep(0.5)  # the task ended on its signal, and wrote nothing more
    assert celery_engine.registry.snapshot(token) == forced
    assert celery_engine.rows(token) == 0


def test_celery_a_token_that_is_no_task_is_404_and_nothing_is_sent(
    celery_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        assert_error_model(celery_engine.abort("no_such_task"), 404, "30007")
        time.sleep(0.2)
    assert caplog.records == []


# RQ.


def test_rq_an_endpoint_abort_stops_the_job_after_its_batch(rq_engine: Engine) -> None:
    from rq.job import Job

    token = rq_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
    rq_engine.until_processed(token, 3 * SIZE)

    answer = rq_engine.abort(token)
    rows_at_abort = rq_engine.rows(token)
    ended = rq_engine.until_ended(token)

    assert answer.get_json() == {"success": True}
    assert ended.state is ImportState.ABORTED
    assert rows_at_abort <= rq_engine.rows(token) <= rows_at_abort + SIZE
    assert rq_engine.rows(token) % SIZE == 0
    _wait_for(lambda: Job.fetch(token, connection=rq_app.redis).is_finished)
    # Fetched again once finished: a job fetched before its worker saved its meta, whose status
    # is read afresh after, would say finished with the meta of before.
    job = Job.fetch(token, connection=rq_app.redis)
    assert job.meta["import_state"] == "aborted"


def test_rq_a_job_that_ignores_the_abort_is_stopped_by_force_and_ends_aborted(
    rq_engine: Engine,
) -> None:
    from rq.job import Job

    token = rq_engine.stuck(rq_app.import_rows)

    forced, forced_after = rq_engine.abort_until_forced(token)

    assert forced_after <= 2 * DEADLINE + 1.0
    assert rq_engine.forced == [token]
    job = _wait_for(lambda: (j := Job.fetch(token, connection=rq_app.redis)).is_stopped and j)
    assert job.is_stopped  # the work horse was killed
    assert rq_engine.registry.snapshot(token) == forced  # aborted, never failed
    rq_app.imports.force_stop(token)  # a repeat RQ refuses: harmless
    rq_engine.forced.clear()


def test_rq_a_job_stopped_from_rqs_own_command_ends_aborted(rq_engine: Engine) -> None:
    from rq.command import send_stop_job_command

    token = rq_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
    rq_engine.until_processed(token, SIZE)

    send_stop_job_command(rq_app.redis, token)
    ended = rq_engine.until_ended(token)

    assert (ended.state, ended.abort_requested) == (ImportState.ABORTED, True)
    assert rq_engine.abort(token).get_json() == {"success": True}  # the harmless repeat


def test_rq_a_job_aborted_while_queued_is_cancelled_and_never_runs(rq_engine: Engine) -> None:
    from rq.job import Job

    busy = rq_app.import_rows.options(total=6 * SIZE).enqueue(6, SIZE, PAUSE)
    queued = rq_app.import_rows.options(total=3 * SIZE).enqueue(3, SIZE, PAUSE)
    rq_engine.until_processed(busy, SIZE)

    assert rq_engine.abort(queued).get_json() == {"success": True}
    job = _wait_for(lambda: (j := Job.fetch(queued, connection=rq_app.redis)).is_canceled and j)
    rq_engine.until_ended(busy)
    time.sleep(0.5)

    assert job.is_canceled
    snapshot = rq_engine.registry.snapshot(queued)
    assert (snapshot.state, snapshot.started_at) == (ImportState.ABORTED, None)


# Faults: the engine unreachable when an abort comes in.


def _mirrored(registry: SQLImportRegistry, imports: Any) -> FlaskClient:
    """A host app on ``registry`` that tells ``imports``' engine of its aborts."""
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=registry)
    mirror_aborts(app, imports)
    return app.test_client()


def test_an_abort_while_redis_is_down_is_recorded_answers_200_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from redis import Redis
    from rq import Queue

    from flask_import_abort.processes.integrations.rq import RQImports

    proxy = TcpProxy(("127.0.0.1", 6379))  # Redis, then not
    with SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}") as registry:
        registry.create_table()
        imports = RQImports(Queue("down", connection=Redis(port=proxy.port)), registry)
        client = _mirrored(registry, imports)
        token = registry.register()  # queued: the mirror would cancel its job

        with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
            answer = client.post(abort_url(token), headers=AUTH)
            _wait_for(lambda: caplog.records)
            time.sleep(0.2)

        assert answer.get_json() == {"success": True}
        assert registry.snapshot(token).state is ImportState.ABORTED
        [warning] = caplog.records
        assert "its engine could not be told" in warning.getMessage()


def test_an_abort_while_the_celery_broker_is_down_is_recorded_and_answers_200(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from celery import Celery

    from flask_import_abort.processes.integrations.celery import CeleryImports

    down = f"amqp://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens there
    celery = Celery("down", broker=down, backend=f"redis://127.0.0.1:{free_port()}/0")
    celery.conf.update(broker_connection_retry=False, broker_connection_max_retries=0)
    with SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}") as registry:
        registry.create_table()
        client = _mirrored(registry, CeleryImports(celery, registry))
        token = registry.register()

        with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
            started = time.monotonic()
            answer = client.post(abort_url(token), headers=AUTH)
            took = time.monotonic() - started
            _wait_for(lambda: caplog.records, timeout=60)

    assert answer.get_json() == {"success": True}
    assert took < 2 * 1.0 + 1.0  # a second, doubled: the answer never waits for the engine
    assert "its engine could not be told" in caplog.records[0].getMessage()


# A killed Celery worker: the liveness of the registry applies.


def test_a_celery_worker_killed_mid_import_leaves_a_process_that_reaping_fails(
    tmp_path: Path,
) -> None:
    with _engine("celery", "sqlite", tmp_path) as engine:
        token = celery_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
        engine.until_processed(token, 2 * SIZE)

        os.killpg(engine.worker.pid, signal.SIGKILL)  # the worker and its pool
        engine.worker.wait()
        died = time.monotonic()
        with reaper(engine.app, 0.2):
            ended = engine.until_ended(token)
        took = time.monotonic() - died
        rows = engine.rows(token)

    assert (ended.state, ended.end_reason) == (ImportState.FAILED, EndReason.WORKER_LOST)
    assert took <= 2 * (LEASE + 0.2) + 1.0  # its lease and a reap interval
    assert rows % SIZE == 0


# Flower, the dashboard teams run beside Celery.


def test_flowers_own_abort_stops_the_import_and_the_endpoint_then_answers_the_repeat(
    celery_engine: Engine, tmp_path: Path
) -> None:
    import urllib.request

    port = free_port()
    flower_log = tmp_path / "flower.log"
    command = [
        *(sys.executable, "-m", "celery", "-A", "tests.celery_app", "flower"),
        *(f"--port={port}", "--address=127.0.0.1"),
    ]
    environ = {**celery_engine.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
    with _worker(command, environ, flower_log) as flower:
        wait_for_port(port, flower, timeout=30)
        token = celery_app.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
        celery_engine.until_processed(token, 2 * SIZE)

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/task/abort/{token}", method="POST", data=b""
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        ended = celery_engine.until_ended(token)

    assert ended.state is ImportState.ABORTED
    assert celery_engine.abort(token).get_json() == {"success": True}


# The engine's own cancel of a queued job: the process ends aborted, as the engine's doing.


def test_celery_a_queued_task_revoked_through_celery_ends_its_process_aborted(
    celery_engine: Engine,
) -> None:
    busy = celery_app.import_rows.options(total=8 * SIZE).enqueue(8, SIZE, PAUSE)  # the one worker
    queued = celery_app.import_rows.options(total=3 * SIZE).enqueue(3, SIZE, PAUSE)
    celery_engine.until_processed(busy, SIZE)

    celery_app.app.control.revoke(queued)  # what Flower's Revoke button sends
    ended = celery_engine.until_ended(queued)

    assert (ended.state, ended.started_at, ended.processed) == (ImportState.ABORTED, None, 0)
    assert (ended.aborted_by, ended.abort_reason) == ("celery", "revoked through Celery")
    assert celery_engine.abort(queued).status_code == 200  # the harmless repeat
    assert celery_engine.registry.snapshot(busy).state is not ImportState.ABORTED


def test_rq_a_queued_job_cancelled_through_rq_ends_its_process_aborted_at_a_reap(
    rq_engine: Engine,
) -> None:
    from rq.job import Job
    from rq.registry import CanceledJobRegistry

    busy = rq_app.import_rows.options(total=6 * SIZE).enqueue(6, SIZE, PAUSE)
    queued = rq_app.import_rows.options(total=3 * SIZE).enqueue(3, SIZE, PAUSE)
    rq_engine.until_processed(busy, SIZE)

    Job.fetch(queued, connection=rq_app.redis).cancel()
    assert rq_engine.registry.snapshot(queued).state is ImportState.PENDING
    ended = reap_app(rq_engine.app)

    assert [snapshot.token for snapshot in ended] == [queued]
    snapshot = rq_engine.registry.snapshot(queued)
    assert (snapshot.state, snapshot.started_at) == (ImportState.ABORTED, None)
    assert (snapshot.aborted_by, snapshot.abort_reason) == ("rq", "cancelled through RQ")
    assert reap_app(rq_engine.app) == []  # once
    canceled = CanceledJobRegistry(queue=rq_app.imports.queue)
    assert queued not in canceled.get_job_ids()  # taken out once recorded: it never grows
    assert Job.fetch(queued, connection=rq_app.redis).is_canceled  # the job stays cancelled
    rq_engine.until_ended(busy)
    assert rq_engine.registry.snapshot(busy).state is ImportState.SUCCEEDED


def test_a_long_queue_is_not_a_lost_one_pending_processes_are_never_reaped_by_age(
    rq_engine: Engine,
) -> None:
    busy = rq_app.import_rows.options(total=20 * SIZE).enqueue(20, SIZE, PAUSE)  # four seconds
    queued = rq_app.import_rows.options(total=SIZE).enqueue(1, SIZE, PAUSE)
    time.sleep(LEASE * 1.5)  # queued for longer than a running process may go unheard

    assert queued not in [snapshot.token for snapshot in reap_app(rq_engine.app)]
    assert rq_engine.registry.snapshot(queued).state is ImportState.PENDING
    rq_engine.until_ended(busy)
    assert rq_engine.until_ended(queued).state is ImportState.SUCCEEDED
