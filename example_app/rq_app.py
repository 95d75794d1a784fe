"""The demo's imports on RQ: ``rq worker imports``.

Redis and the database come from the demo's settings (``FLASK_DEMO_REDIS_URL``,
``FLASK_DEMO_DATABASE_URL``), as the web app reads them.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue
from sqlalchemy import MetaData

from flask_import_abort.processes import ImportRun
from flask_import_abort.processes.integrations.rq import RQImports
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
redis = Redis.from_url(demo["DEMO_REDIS_URL"])
imports = RQImports(Queue(demo["DEMO_QUEUE"], connection=redis), registry)


@imports.job
def import_products(
    run: ImportRun, path: str, batch_size: int, pause: float, part: int = 0, parts: int = 1
) -> None:
    jobs.import_products(run, registry, products, path, batch_size, pause, part, parts)


@imports.job
def export_products(run: ImportRun, folder: str, link: str, batch_size: int, pause: float) -> None:
    jobs.export_products(run, registry, products, folder, link, batch_size, pause)
