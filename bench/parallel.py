"""Parallel imports: one abort stopping every chunk on real Celery and RQ workers, the throughput
that chunks buy on this machine, and what chunks beating cost the registry.

The engines run the example app's own modules (``example_app.celery_app``, ``example_app.rq_app``)
on a products file of their own and a queue of their own, with as many worker processes as an
import has chunks: a prefork Celery worker of that concurrency, or that many RQ workers.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import MetaData, event

from example_app.products import products_table, write_products_file
from flask_import_abort import ImportAbort, ImportState
from flask_import_abort.operators.mirror import mirror_aborts
from flask_import_abort.processes.sql import SQLImportRegistry, create_tables

from .engines import pointed, worker_process
from .liveness import until
from .scaling import POSTGRES_URL
from .stats import median

ROOT = Path(__file__).parent.parent
#: The abort's batches: ten products, a fifth of a second each.
SIZE, BATCH = 10, 0.2
#: The throughput's import: the demo's file, in batches of 500 with no pause.
THROUGHPUT_BATCH = 500
CHUNKS = (4, 16)
THROUGHPUT_CHUNKS = (1, 2, 4)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _workers(engine: str, count: int, queue: str, log: Path) -> Iterator[None]:
    """``count`` worker processes of ``engine`` on ``queue``: one Celery worker with a pool of
    ``count``, or ``count`` RQ workers."""
    if engine == "celery":
        commands = [
            [
                *("-m", "celery", "-A", "example_app.celery_app", "worker", "--pool", "prefork"),
                *("--concurrency", str(count), "--without-mingle", "--without-gossip"),
                *("--loglevel", "INFO", "--queues", queue),
            ]
        ]
        ready = "ready."
    else:
        commands = [
            ["-m", "rq.cli", "worker", queue, "--name", f"{queue}-{n}"] for n in range(count)
        ]
        ready = "Listening on"
    with ExitStack() as stack:
        for index, command in enumerate(commands):
            output = log.with_suffix(f".{index}.log")
            stack.enter_context(worker_process(command, output, ready))
        yield


@contextmanager
def _engine(engine: str, url: str, folder: Path) -> Iterator[Any]:
    """The example's engine module, pointed at ``url`` and a queue of its own, in this process
    and in the workers that ``_workers`` starts afterwards."""
    queue = f"bench-{secrets.token_hex(4)}"
    values = {"FLASK_DEMO_DATABASE_URL": url, "FLASK_DEMO_QUEUE": queue, "FLASK_DEMO_LEASE": "60"}
    with _environment(values):
        module = importlib.import_module(f"example_app.{engine}_app")
        registry = SQLImportRegistry(url, lease=60.0)
        registry.upgrade_table()
        products = products_table(MetaData())
        create_tables(registry.engine, products)
        made: list[str] = []
        try:
            with pointed(module, engine, registry, queue):
                yield module, registry, queue, made
        finally:
            # What the runs wrote, and only that: the database may hold the demo's own.
            with registry.engine.begin() as connection:
                for token in made:
                    chunk_tokens = [chunk.token for chunk in registry.chunks(token)]
                    connection.execute(
                        products.delete().where(products.c.process_id.in_(chunk_tokens))
                    )
                    c = registry.table.c
                    connection.execute(
                        registry.table.delete().where(
                            (c.token == token) | (c.parent_token == token)
                        )
                    )
            registry.close()


def _ended(registry: SQLImportRegistry, token: str) -> bool:
    return registry.snapshot(token).state.is_final


def _running(registry: SQLImportRegistry, token: str, records: int) -> bool:
    chunks = registry.chunks(token)
    return all(c.state is ImportState.PROCESSING and c.processed >= records for c in chunks)


def abort_to_last_stop(engine: str, chunks: int, trials: int, folder: Path) -> dict[str, Any]:
    """From the endpoint's 200 to the last of ``chunks`` chunks stopped (the import ending
    ``aborted``), each chunk on a worker process of its own, the abort anywhere in a batch."""
    products = folder / f"products-{engine}-{chunks}.json"
    write_products_file(products, count=chunks * SIZE * 100)  # 100 batches a chunk
    stops: list[float] = []
    database = f"sqlite:///{folder / f'{engine}-{chunks}.db'}"
    with _engine(engine, database, folder) as (module, registry, queue, made):
        app = Flask("bench")
        app.config.update(IMPORT_ABORT_BEARER_TOKENS=["bench"])
        ImportAbort(app, registry=registry)
        mirror_aborts(app, module.imports)
        client = app.test_client()
        with _workers(engine, chunks, queue, folder / f"{engine}-{chunks}"):
            for _ in range(trials):
                parts = [(str(products), SIZE, BATCH, part, chunks) for part in range(chunks)]
                token = module.import_products.enqueue_chunks(parts)
                made.append(token)
                until(lambda: _running(registry, token, 2 * SIZE), timeout=60)  # noqa: B023
                time.sleep(random.uniform(0, BATCH))  # anywhere in a batch
                answer = client.post(
                    f"/ccadmin/v1/importProcess/{token}/abort",
                    headers={"Authorization": "Bearer bench"},
                )
                answered = time.monotonic()
                if answer.status_code != 200:
                    raise AssertionError(f"the abort answered {answer.status_code}")
                ended = until(lambda: _ended(registry, token))  # noqa: B023
                if registry.snapshot(token).state is not ImportState.ABORTED:
                    raise AssertionError("the import did not end aborted")
                stops.append(ended - answered)
    return {
        "chunks": chunks,
        "batch_ms": BATCH * 1000,
        "median_ms": median(stops) * 1000,
        "max_ms": max(stops) * 1000,
        "bound_ms": BATCH * 1000 + 100,
        "stops_ms": [stop * 1000 for stop in stops],
    }


def throughput(rounds: int, folder: Path) -> dict[str, Any]:
    """The demo's 20,000 products on PostgreSQL, batches of 500 with no pause, in 1, 2 and 4
    chunks on the same Celery pool of four processes: seconds from the enqueue to the import's
    end, and the speed-up over one chunk (medians of interleaved rounds)."""
    products = folder / "products-throughput.json"
    write_products_file(products)
    took: dict[int, list[float]] = {count: [] for count in THROUGHPUT_CHUNKS}
    pool = max(THROUGHPUT_CHUNKS)
    with ExitStack() as stack:
        module, registry, queue, made = stack.enter_context(_engine("celery", POSTGRES_URL, folder))
        stack.enter_context(_workers("celery", pool, queue, folder / "throughput"))
        for _ in range(rounds):
            for count in THROUGHPUT_CHUNKS:
                parts = [(str(products), THROUGHPUT_BATCH, 0.0, n, count) for n in range(count)]
                started = time.monotonic()
                token = module.import_products.enqueue_chunks(parts)
                made.append(token)
                ended = until(lambda: _ended(registry, token), timeout=300)  # noqa: B023
                if registry.snapshot(token).state is not ImportState.SUCCEEDED:
                    raise AssertionError("the import did not succeed")
                took[count].append(ended - started)
    one = median(took[1])
    return {
        str(count): {
            "seconds": median(took[count]),
            "products_per_s": 20_000 / median(took[count]),
            "speedup": one / median(took[count]),
        }
        for count in THROUGHPUT_CHUNKS
    }


#: Seconds between two heartbeats of one worker: a thousand times a real one's pace (a third of
#: the default lease of 60 s), and still short of saturating this machine's two cores with
#: sixteen of them, so that the figure is the registry's cost rather than the queue for a core.
PACE = 0.02


def _beating(url: str, table: str, token: str, count: int, start: Any, answers: Any) -> None:
    """One worker process beating ``token`` ``count`` times every :data:`PACE` seconds, once
    every process is ready: the CPU it spent and the statements it sent, per heartbeat."""
    with SQLImportRegistry(url, table_name=table) as registry:
        statements = [0]

        def counted(*_: Any) -> None:
            statements[0] += 1

        event.listen(registry.engine, "before_cursor_execute", counted)
        registry.heartbeat(token)  # a connection opened, the statement compiled
        statements[0] = 0
        start.wait()
        spent = 0.0
        for _ in range(count):
            started = time.process_time()
            registry.heartbeat(token)
            spent += time.process_time() - started
            time.sleep(PACE)
        answers.put((spent / count * 1e6, statements[0] / count))


def _beat(url: str, table: str, tokens: list[str], count: int) -> list[tuple[float, int]]:
    """Each of ``tokens`` beaten ``count`` times by a worker process of its own, all at once."""
    context = multiprocessing.get_context("spawn")
    start, answers = context.Barrier(len(tokens)), context.Queue()
    workers = [
        context.Process(target=_beating, args=(url, table, token, count, start, answers))
        for token in tokens
    ]
    for worker in workers:
        worker.start()
    found = [answers.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    return found


def heartbeats(beats: int, rounds: int) -> dict[str, Any]:
    """The registry's statements and CPU per heartbeat on PostgreSQL: each of 16 chunks of one
    import beaten by a worker process of its own, all at once, against one process beaten
    alone, each every :data:`PACE` seconds; medians over rounds. The import's own row is read
    before and after."""
    table = "bench_heartbeats"
    with SQLImportRegistry(POSTGRES_URL, table_name=table) as registry:
        registry.drop_table()
        registry.create_table()
        alone = registry.register()
        registry.start(alone)
        parallel = registry.register_chunks(16)
        for chunk in parallel.chunks:
            registry.start(chunk)
        before = registry.snapshot(parallel.token)
        single, chunks = [], []
        for _ in range(rounds):
            single += _beat(POSTGRES_URL, table, [alone], beats)
            chunks += _beat(POSTGRES_URL, table, list(parallel.chunks), beats)
        after = registry.snapshot(parallel.token)
        registry.drop_table()
    single_us = median([cpu for cpu, _ in single])
    chunk_us = median([cpu for cpu, _ in chunks])
    return {
        "single_cpu_us": single_us,
        "chunk_cpu_us": chunk_us,
        "cpu_ratio": chunk_us / single_us,
        "single_statements": max(statements for _, statements in single),
        "chunk_statements": max(statements for _, statements in chunks),
        "pace_s": PACE,
        "parent_row_untouched": (after.heartbeat_at, after.started_at)
        == (before.heartbeat_at, before.started_at),
    }


def run(trials: int = 10, rounds: int = 3, beats: int = 250) -> dict[str, Any]:
    random.seed(14)
    logging.getLogger("flask_import_abort").setLevel(logging.ERROR)
    results: dict[str, Any] = {"abort": {}}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as folder:
        for engine in ("celery", "rq"):
            for chunks in CHUNKS:
                measured = abort_to_last_stop(engine, chunks, trials, Path(folder))
                results["abort"][f"{engine} {chunks}"] = measured
        results["throughput"] = throughput(rounds, Path(folder))
    results["heartbeats"] = heartbeats(beats, rounds)
    return results
