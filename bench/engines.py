"""Imports on Celery and RQ: from the endpoint's abort to the import recording ``aborted``, and
from a stop deadline to the forced end, with real workers on RabbitMQ and Redis.

It runs the example app's own engine modules (``example_app.celery_app``, ``example_app.rq_app``)
on a products file of its own, a SQLite registry and a queue of its own: a prefork Celery
worker of one process, and an RQ worker, each started as ``make run EXECUTOR=...`` starts it.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import MetaData

from example_app.importer import runs_table
from example_app.products import products_table, write_products_file
from flask_import_abort import ImportAbort, ImportState, reaper
from flask_import_abort.operators.mirror import mirror_aborts
from flask_import_abort.processes.sql import SQLImportRegistry, create_tables

from .liveness import until as _until
from .stats import median

ROOT = Path(__file__).parent.parent
BATCH, SIZE, DEADLINE, INTERVAL = 0.2, 10, 1.0, 0.25
WORKERS = {
    "celery": [
        *("-m", "celery", "-A", "example_app.celery_app", "worker", "--pool", "prefork"),
        *("--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"),
        "--queues",
    ],
    "rq": ["-m", "rq.cli", "worker"],
}


@contextmanager
def _settings(folder: Path) -> Iterator[dict[str, str]]:
    """The demo's settings for the engine modules, in this process and the workers alike."""
    environ = {
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{folder / 'imports.db'}",
        "FLASK_DEMO_QUEUE": f"bench-{secrets.token_hex(4)}",
        "FLASK_DEMO_LEASE": "60",
    }
    before = {name: os.environ.get(name) for name in environ}
    os.environ.update(environ)
    try:
        yield environ
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def pointed(module: Any, engine: str, registry: Any, queue: str) -> Iterator[None]:
    """The example's engine ``module``, as this process enqueues with it, on ``registry`` and
    ``queue`` for the block: its own were made at its first import, which an earlier section
    may have made with other settings."""
    queue_of = "app.conf.task_default_queue" if engine == "celery" else "imports.queue"
    previous = module.imports.registry, _attribute(module, queue_of)
    module.imports.registry = registry
    if engine == "celery":
        module.app.conf.task_default_queue = queue
    else:
        module.imports.queue = type(module.imports.queue)(queue, connection=module.redis)
    try:
        yield
    finally:
        module.imports.registry = previous[0]
        owner, _, name = queue_of.rpartition(".")
        setattr(_attribute(module, owner), name, previous[1])


def _attribute(found: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        found = getattr(found, name)
    return found


@contextmanager
def _worker(engine: str, environ: dict[str, str], log: Path) -> Iterator[None]:
    arguments = [*WORKERS[engine], environ["FLASK_DEMO_QUEUE"]]
    ready = "ready." if engine == "celery" else "Listening on"
    with worker_process(arguments, log, ready, {**os.environ, **environ}):
        yield


@contextmanager
def worker_process(
    arguments: list[str], log: Path, ready: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    """``python *arguments``, a worker in a session of its own writing to ``log``, once it has
    written ``ready``; stopped warm, then killed with its children, afterwards."""
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            _until(lambda: ready in log.read_text(errors="replace"), timeout=60)
        except TimeoutError:
            raise RuntimeError(f"a worker did not start:\n{log.read_text()}") from None
        yield
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def measure(engine: str, trials: int, folder: Path) -> dict[str, Any]:
    folder.mkdir()
    products = folder / "products.json"
    write_products_file(products, count=SIZE * 200)
    with _settings(folder) as environ:
        module = importlib.import_module(f"example_app.{engine}_app")
        registry = SQLImportRegistry(environ["FLASK_DEMO_DATABASE_URL"], lease=60.0)
        with pointed(module, engine, registry, environ["FLASK_DEMO_QUEUE"]):
            metadata = MetaData()
            registry.create_table()
            create_tables(registry.engine, products_table(metadata), runs_table(metadata))
            app = Flask("bench")
            app.config.update(
                IMPORT_ABORT_BEARER_TOKENS=["bench"],
                IMPORT_ABORT_STOP_DEADLINE=DEADLINE,
                IMPORT_ABORT_FORCE_STOP=module.imports.force_stop,
            )
            ImportAbort(app, registry=registry)
            mirror_aborts(app, module.imports)
            client = app.test_client()

            def abort(token: str) -> None:
                path = f"/ccadmin/v1/importProcess/{token}/abort"
                answer = client.post(path, headers={"Authorization": "Bearer bench"})
                if answer.status_code != 200:
                    raise AssertionError(f"the abort answered {answer.status_code}")

            stops: list[float] = []
            forced: list[float] = []
            with _worker(engine, environ, folder / f"{engine}.log"):
                for _ in range(trials):
                    token = module.import_products.enqueue(str(products), SIZE, BATCH)
                    snapshot = partial(registry.snapshot, token)
                    _until(lambda: snapshot().processed >= 2 * SIZE)  # noqa: B023 - used at once
                    time.sleep(random.uniform(0, BATCH))  # anywhere in a batch
                    abort(token)
                    answered = time.monotonic()
                    ended = _until(lambda: snapshot().state.is_final)  # noqa: B023
                    if snapshot().state is not ImportState.ABORTED:
                        raise AssertionError("the import did not end aborted")
                    stops.append(ended - answered)
                for _ in range(trials):
                    token = module.import_products.enqueue(str(products), SIZE, 30.0)
                    snapshot = partial(registry.snapshot, token)
                    _until(lambda: snapshot().state is ImportState.PROCESSING)  # noqa: B023
                    time.sleep(0.3)  # inside its thirty-second batch: it never asks in time
                    abort(token)
                    due = time.monotonic() + DEADLINE
                    time.sleep(random.uniform(0, INTERVAL))
                    with reaper(app, INTERVAL):
                        forced.append(_until(lambda: snapshot().forced) - due)  # noqa: B023
        registry.close()
    return {
        "batch_ms": BATCH * 1000,
        "stop_median_ms": median(stops) * 1000,
        "stop_max_ms": max(stops) * 1000,
        "stop_median_bound_ms": BATCH * 1000 + 50,
        "stop_max_bound_ms": 2 * BATCH * 1000 + 100,
        "forced_median_s": median(forced),
        "forced_max_s": max(forced),
        "forced_bound_s": 1.0,
        "stops_ms": [stop * 1000 for stop in stops],
    }


def run(trials: int = 10) -> dict[str, Any]:
    random.seed(13)
    logging.getLogger("flask_import_abort").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as folder:
        return {
            engine: measure(engine, trials, Path(folder, engine)) for engine in ("celery", "rq")
        }
