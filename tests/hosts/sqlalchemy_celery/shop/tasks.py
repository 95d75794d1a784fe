"""The shop's product imports, as Celery tasks."""

import time

from flask_import_abort.processes import ImportRun
from flask_import_abort.processes.integrations.celery import CeleryImports

from . import Product, celery, db, registry

imports = CeleryImports(celery, registry)


@imports.task
def import_products(run: ImportRun, count: int, pause: float = 0.0) -> None:
    batches = (range(start, min(start + 100, count)) for start in range(0, count, 100))
    for batch in run.batches(batches):  # stops here, after the batch in hand, once aborted
        time.sleep(pause)
        db.session.add_all(Product(process_id=run.token, name=f"product {n}") for n in batch)
        db.session.commit()
