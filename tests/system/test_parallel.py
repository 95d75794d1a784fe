"""Parallel imports on real Celery and RQ workers: one import split over four worker processes,
and one abort through the endpoint that stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import kombu
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from sqlalchemy import func, select

from flask_import_abort import ImportState, reaper
from flask_import_abort.processes import EndReason
from flask_import_abort.processes.sql import SQLImportRegistry

from .. import celery_app, engine_imports, rq_app
from ..databases import TcpProxy, require_rabbitmq, require_redis
from ..servers import ROOT
from .test_engines import DEADLINE, LEASE, PAUSE, SIZE, Engine, _engine, _wait_for, _worker

pytestmark = pytest.mark.slow  # real servers and workers: run once, on the newest Python

WORKERS = 4


@pytest.fixture(
    scope="module",
    params=[("celery", "postgresql"), ("rq", "postgresql"), ("celery", "sqlite"), ("rq", "sqlite")],
    ids=["celery-postgresql", "rq-postgresql", "celery-sqlite", "rq-sqlite"],
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """Four worker processes of one engine: Celery's prefork pool of four, or four RQ workers."""
    name, kind = request.param
    folder = tmp_path_factory.mktemp(f"{name}-{kind}")
    with _engine(name, kind, folder, concurrency=WORKERS) as running:
        yield running


def _job(engine: Engine) -> Any:
    return (celery_app if engine.name == "celery" else rq_app).import_rows


def _chunks(engine: Engine, token: str) -> list[Any]:
    return engine.registry.chunks(token)


def _rows_by_chunk(engine: Engine, token: str) -> dict[str, int]:
    products = engine_imports.products_table(engine.registry.table.name)
    chunks = [chunk.token for chunk in _chunks(engine, token)]
    query = (
        select(products.c.process_id, func.count())
        .where(products.c.process_id.in_(chunks))
        .group_by(products.c.process_id)
    )
    with engine.registry.engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(query)}


def _written(engine: Engine, token: str, records: int) -> bool:
    return bool(engine.registry.snapshot(token).processed >= records)


def _ended(engine: Engine, token: str) -> Any:
    return (snapshot := engine.registry.snapshot(token)).state.is_final and snapshot


def _all_running(engine: Engine, token: str, count: int, records: int = SIZE) -> None:
    _wait_for(
        lambda: (
            sum(
                chunk.state is ImportState.PROCESSING and chunk.processed >= records
                for chunk in _chunks(engine, token)
            )
            >= count
        )
    )


def test_one_abort_stops_every_chunk_after_its_batch_and_keeps_what_they_wrote(
    engine: Engine,
) -> None:
    batches = 50
    token = (
        _job(engine)
        .options(totals=[batches * SIZE] * WORKERS)
        .enqueue_chunks([(batches, SIZE, PAUSE)] * WORKERS)
    )
    _all_running(engine, token, WORKERS)

    answer = engine.abort(token)
    answered = time.monotonic()
    stopped = _wait_for(lambda: (s := engine.registry.snapshot(token)).state.is_final and s)
    took = time.monotonic() - answered

    assert answer.get_json() == {"success": True}
    assert stopped.state is ImportState.ABORTED
    chunks = _chunks(engine, token)
    assert [chunk.state for chunk in chunks] == [ImportState.ABORTED] * WORKERS
    rows = _rows_by_chunk(engine, token)
    assert all(rows[chunk.token] == chunk.processed for chunk in chunks)  # what they wrote stays
    assert all(chunk.processed % SIZE == 0 for chunk in chunks)  # whole batches
    assert stopped.processed == sum(rows.values()) < WORKERS * batches * SIZE
    assert took <= 2 * PAUSE + 1.0  # one batch, and the registry's reads


def test_queued_chunks_never_start_once_their_import_is_aborted(engine: Engine) -> None:
    count = 2 * WORKERS  # four run, four wait in the queue
    token = _job(engine).enqueue_chunks([(50, SIZE, PAUSE)] * count)
    _all_running(engine, token, WORKERS)

    assert engine.abort(token).get_json() == {"success": True}
    _wait_for(lambda: engine.registry.snapshot(token).state.is_final)
    time.sleep(1.0)  # what a worker would have taken from the queue by now

    chunks = _chunks(engine, token)
    queued = [chunk for chunk in chunks if chunk.started_at is None]
    assert len(queued) == WORKERS
    assert all(chunk.state is ImportState.ABORTED for chunk in queued)
    assert not set(_rows_by_chunk(engine, token)) & {chunk.token for chunk in queued}
    assert engine.registry.snapshot(token).state is ImportState.ABORTED
    # The engine was told too, the fast path beside the store: Celery revoked the queued
    # tasks (its worker dropped each as it came), RQ cancelled the queued jobs.
    for chunk in queued:
        _wait_for(partial(_dropped_by_the_engine, engine.name, chunk.token))


def _dropped_by_the_engine(name: str, token: str) -> bool:
    if name == "celery":
        from celery.result import AsyncResult

        return bool(AsyncResult(token, app=celery_app.app).state == "REVOKED")
    from rq.job import Job

    return bool(Job.fetch(token, connection=rq_app.redis).is_canceled)


def test_an_abort_during_the_last_batch_of_the_last_chunk_ends_the_import_aborted(
    engine: Engine,
) -> None:
    """The finish race across workers, repeated: whenever the endpoint answered 200, the import
    reads aborted once its last chunk has stopped, never succeeded."""
    landed_in_last_batch = 0
    for _ in range(6):
        token = _job(engine).enqueue_chunks([(1, SIZE, 0.0), (3, SIZE, PAUSE)])
        last = f"{token}-2"
        _wait_for(partial(_written, engine, last, 2 * SIZE), step=0.005)

        answer = engine.abort(token)
        ended = _wait_for(partial(_ended, engine, token))

        if answer.status_code == 200:
            assert ended.state is ImportState.ABORTED
            landed_in_last_batch += engine.registry.snapshot(last).processed == 3 * SIZE
        else:
            assert (answer.status_code, ended.state) == (409, ImportState.SUCCEEDED)
    assert landed_in_last_batch >= 3


def test_chunks_that_ignore_the_abort_are_each_forced_and_the_import_once(
    engine: Engine,
) -> None:
    token = _job(engine).enqueue_chunks([(3, SIZE, 30.0)] * 2)  # inside a thirty-second batch
    _wait_for(
        lambda: all(c.state is ImportState.PROCESSING for c in _chunks(engine, token)),
    )
    time.sleep(0.3)
    engine.forced.clear()

    assert engine.abort(token).status_code == 200
    aborted = time.monotonic()
    with reaper(engine.app, 0.2):
        ended = _wait_for(lambda: (s := engine.registry.snapshot(token)).state.is_final and s)
    took = time.monotonic() - aborted

    assert (ended.state, ended.forced) == (ImportState.ABORTED, True)
    assert sorted(engine.forced) == [f"{token}-1", f"{token}-2"]  # each chunk's worker
    assert took <= 2 * DEADLINE + 1.0
    for chunk in _chunks(engine, token):
        assert (chunk.state, chunk.end_reason) == (ImportState.ABORTED, EndReason.STOP_DEADLINE)
    engine.forced.clear()
    time.sleep(0.5)  # the forced workers come back for the next test


# A worker killed: the chunk is lost, and the import fails or goes on.


def _pool_children(pid: int) -> list[int]:
    found = subprocess.run(["/usr/bin/pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


@pytest.mark.parametrize("continue_on_error", [False, True], ids=["fail-fast", "continue"])
def test_kill_9_of_one_pool_child_loses_its_chunk_and_the_import_fails_or_goes_on(
    tmp_path: Path, continue_on_error: bool
) -> None:
    with _engine("celery", "postgresql", tmp_path, concurrency=WORKERS) as celery:
        batches = 12 if continue_on_error else 100
        token = celery_app.import_rows.options(continue_on_error=continue_on_error).enqueue_chunks(
            [(batches, SIZE, PAUSE)] * WORKERS
        )
        _all_running(celery, token, WORKERS)
        victim = _pool_children(celery.worker.pid)[0]

        os.kill(victim, signal.SIGKILL)  # one child of the pool of four
        with reaper(celery.app, 0.2):
            ended = _wait_for(
                lambda: (s := celery.registry.snapshot(token)).state.is_final and s, timeout=60
            )
        chunks = _chunks(celery, token)

    lost = [chunk for chunk in chunks if chunk.end_reason is EndReason.WORKER_LOST]
    assert [chunk.state for chunk in lost] == [ImportState.FAILED]
    assert (ended.state, ended.failed_chunk) == (ImportState.FAILED, lost[0].token)
    others = [chunk for chunk in chunks if chunk is not lost[0]]
    if continue_on_error:  # the others wrote all they had
        assert [c.state for c in others] == [ImportState.SUCCEEDED] * (WORKERS - 1)
        assert all(c.processed == batches * SIZE for c in others)
    else:  # the others were stopped
        assert [(c.state, c.end_reason) for c in others] == [
            (ImportState.ABORTED, EndReason.CHUNK_FAILED)
        ] * (WORKERS - 1)
        assert ended.end_reason is EndReason.WORKER_LOST
        assert all(c.processed < batches * SIZE for c in others)


# A partial submission: Redis goes away while the chunks are sent.


def test_chunks_sent_before_redis_went_away_never_run_and_the_import_ends_once(
    tmp_path: Path,
) -> None:
    redis_url = require_redis()
    proxy = TcpProxy(("127.0.0.1", 6379))
    proxy.start()
    queue_name = f"partial-{os.getpid()}-{time.monotonic_ns()}"
    direct = Redis.from_url(redis_url)
    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}", lease=LEASE)
    registry.create_table()
    engine_imports.products_table(registry.table.name).create(registry.engine)
    previous = rq_app.imports.queue, rq_app.imports.registry
    relayed = Redis(host="127.0.0.1", port=proxy.port)
    rq_app.imports.queue, rq_app.imports.registry = Queue(queue_name, connection=relayed), registry

    def cut_after_three() -> None:
        _wait_for(lambda: direct.llen(f"rq:queue:{queue_name}") >= 3, step=0.001)
        proxy.stop()

    cutter = threading.Thread(target=cut_after_three)
    cutter.start()
    try:
        with pytest.raises(RedisConnectionError):
            rq_app.import_rows.enqueue_chunks([(2, SIZE, 0.0)] * 2000)
    finally:
        cutter.join()
        rq_app.imports.queue, rq_app.imports.registry = previous

    [parent] = registry.recent(5)
    sent = direct.llen(f"rq:queue:{queue_name}")
    assert 3 <= sent < 2000
    assert (parent.state, parent.abort_reason) == (
        ImportState.ABORTED,
        "its chunks could not all be enqueued",
    )
    chunks = registry.chunks(parent.token)
    assert {chunk.state for chunk in chunks} == {ImportState.ABORTED}

    # A worker that comes to the queue later takes every job sent, and runs none.
    environ = {
        **os.environ,
        "ENGINE_TEST_DATABASE_URL": str(registry.engine.url),
        "ENGINE_TEST_TABLE": registry.table.name,
        "ENGINE_TEST_QUEUE": queue_name,
    }
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", queue_name, "--url", redis_url, "--burst"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    assert direct.llen(f"rq:queue:{queue_name}") == 0
    assert [chunk.started_at for chunk in registry.chunks(parent.token)] == [None] * 2000
    products = engine_imports.products_table(registry.table.name)
    with registry.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(products)) == 0
    assert registry.snapshot(parent.token).state is ImportState.ABORTED
    registry.close()


def _depth(url: str, queue: str) -> int:
    """Messages waiting in ``queue`` on the broker at ``url`` (0 while it does not exist)."""
    with kombu.Connection(url) as connection:
        try:
            return int(connection.default_channel.queue_declare(queue, passive=True).message_count)
        except Exception:  # not declared yet: the channel is closed with it
            return 0


def test_chunks_sent_before_the_broker_went_away_never_run_on_a_celery_worker(
    tmp_path: Path,
) -> None:
    from celery import Celery
    from celery.signals import before_task_publish

    from flask_import_abort.processes.integrations.celery import CeleryImports

    broker = require_rabbitmq()
    require_redis()
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.start()
    queue = f"partial-{os.getpid()}-{time.monotonic_ns()}"
    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}", lease=LEASE)
    registry.create_table()
    engine_imports.products_table(registry.table.name).create(registry.engine)
    relayed = Celery("partial", broker=f"amqp://guest:guest@127.0.0.1:{proxy.port}//")
    relayed.conf.update(
        task_default_queue=queue,
        broker_connection_retry=False,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
    )
    imports = CeleryImports(relayed, registry)

    # The same task as the tests' worker runs, sent through the relay.
    @imports.task(name=celery_app.import_rows.name)
    def import_rows(run: Any, count: int, size: int, pause: float) -> None:
        """Never run here: the worker runs its own."""

    published = [0]

    def cut_after_ten(sender: object = None, **_: Any) -> None:
        """The broker goes away while the chunks are sent: after the tenth, once the broker
        holds some of those sent (the relay may still hold the others: they are lost)."""
        published[0] += 1
        if published[0] == 10:
            _wait_for(lambda: _depth(broker, queue) >= 1)
            proxy.stop()

    before_task_publish.connect(cut_after_ten, weak=False)
    try:
        with pytest.raises(kombu.exceptions.OperationalError):
            import_rows.enqueue_chunks([(2, SIZE, 0.0)] * 3000)
    finally:
        before_task_publish.disconnect(cut_after_ten)

    [parent] = registry.recent(5)
    sent = _wait_for(lambda: _depth(broker, queue))
    assert 1 <= sent < 3000
    assert (parent.state, parent.abort_reason) == (
        ImportState.ABORTED,
        "its chunks could not all be sent",
    )
    assert {chunk.state for chunk in registry.chunks(parent.token)} == {ImportState.ABORTED}

    # A worker that comes to the queue later takes every task sent, and runs none.
    environ = {
        "ENGINE_TEST_DATABASE_URL": str(registry.engine.url),
        "ENGINE_TEST_TABLE": registry.table.name,
        "ENGINE_TEST_QUEUE": queue,
    }
    command = [
        *(sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"),
        *("--pool", "prefork", "--concurrency", "2", "--queues", queue),
        *("--hostname", f"{queue}@%h", "--without-mingle", "--without-gossip"),
    ]
    with _worker(command, environ, tmp_path / "worker.log"):
        _wait_for(lambda: _depth(broker, queue) == 0, timeout=120)
        time.sleep(1.0)  # the last ones taken have been refused
    assert [chunk.started_at for chunk in registry.chunks(parent.token)] == [None] * 3000
    products = engine_imports.products_table(registry.table.name)
    with registry.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(products)) == 0
    assert registry.snapshot(parent.token).state is ImportState.ABORTED
    registry.close()
