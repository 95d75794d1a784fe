"""The shop's product imports, as RQ jobs."""

import os
import time

from redis import Redis
from rq import Queue

from flask_import_abort.processes import ImportRun
from flask_import_abort.processes.integrations.rq import RQImports

from . import Product, db, registry

redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
imports = RQImports(Queue("imports", connection=redis), registry)


@imports.job
def import_products(run: ImportRun, count: int, pause: float = 0.0) -> None:
    batches = (range(start, min(start + 100, count)) for start in range(0, count, 100))
    for batch in run.batches(batches):  # stops here, after the batch in hand, once aborted
        time.sleep(pause)
        db.session.add_all(Product(process_id=run.token, name=f"product {n}") for n in batch)
        db.session.commit()
