"""A Celery app for the tests, run by a real worker: ``celery -A tests.celery_app worker``.

Its broker, result backend and queue come from ENGINE_TEST_BROKER_URL, ENGINE_TEST_BACKEND_URL
and ENGINE_TEST_QUEUE, beside the settings of ``tests.engine_imports``.
"""

from __future__ import annotations

import os

from celery import Celery

from flask_import_abort import ImportRun
from flask_import_abort.processes.integrations.celery import CeleryImports

from .engine_imports import dispatcher, registry, write_batches
from .engine_imports import import_named as write_named

app = Celery(
    "engine-tests",
    broker=os.environ.get("ENGINE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    backend=os.environ.get("ENGINE_TEST_BACKEND_URL", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    task_default_queue=os.environ.get("ENGINE_TEST_QUEUE", "engine-tests"),
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
imports = CeleryImports(app, registry())
#: The webhooks' notices delivered from Celery beat, every half second, when a URL is given.
delivery = dispatcher(imports.registry)  # type: ignore[arg-type]
if delivery is not None:
    imports.deliver_every(delivery, 0.5)


@imports.task
def import_rows(run: ImportRun, count: int, size: int, pause: float) -> None:
    write_batches(imports.registry, run, count, size, pause)  # type: ignore[arg-type]


@imports.task
def import_named(run: ImportRun, *, total: int, metadata: str) -> None:
    write_named(imports.registry, run, total, metadata)  # type: ignore[arg-type]
