"""The demo's imports on Celery: ``celery -A example_app.celery_app worker -Q imports``.

Its broker, result backend and database come from the demo's settings
(``FLASK_DEMO_CELERY_BROKER_URL``, ``FLASK_DEMO_CELERY_RESULT_BACKEND``,
``FLASK_DEMO_DATABASE_URL``), as the web app reads them. ``celery -A example_app.celery_app
flower`` shows the same tasks, under the same ids as the dashboard's processes.
"""

from __future__ import annotations

from celery import Celery
from sqlalchemy import MetaData

from flask_import_abort.processes import ImportRun
from flask_import_abort.processes.integrations.celery import CeleryImports
from flask_import_abort.processes.sql import SQLImportRegistry

from . import jobs, settings
from .products import products_table

demo = settings.for_workers()
registry = SQLImportRegistry(
    demo["DEMO_DATABASE_URL"],
    lease=float(demo["DEMO_LEASE"]),
    webhooks=demo["DEMO_WEBHOOK_RECEIVER"],  # each end writes its notice; the web app delivers
)
products = products_table(MetaData())

app = Celery(
    "example_app",
    broker=demo["DEMO_CELERY_BROKER_URL"],
    backend=demo["DEMO_CELERY_RESULT_BACKEND"],
)
app.conf.update(
    task_default_queue=demo["DEMO_QUEUE"],
    worker_prefetch_multiplier=1,  # a worker takes one import at a time
    broker_connection_retry_on_startup=True,
)
imports = CeleryImports(app, registry)


@imports.task
def import_products(
    run: ImportRun, path: str, batch_size: int, pause: float, part: int = 0, parts: int = 1
) -> None:
    jobs.import_products(run, registry, products, path, batch_size, pause, part, parts)


@imports.task
def export_products(run: ImportRun, folder: str, link: str, batch_size: int, pause: float) -> None:
    jobs.export_products(run, registry, products, folder, link, batch_size, pause)
