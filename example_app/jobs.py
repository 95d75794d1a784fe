"""The demo's import, the same on every executor: a products file written batch by batch.

Each batch takes ``pause`` seconds (the time a real import spends validating and pricing it)
and is then written in one transaction, so an abort leaves whole batches behind. The file is
read when the import runs, not when it is queued, so queued imports cost no memory.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert

from flask_import_abort.processes import ImportRun, WorkerRegistry, split

from .products import read_products

log = logging.getLogger("example_app.importer")


def batches(records: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``records`` in slices of ``size``."""
    for start in range(0, len(records), size):
        yield records[start : start + size]


def import_products(
    run: ImportRun,
    registry: WorkerRegistry,
    products: Table,
    path: str,
    batch_size: int,
    pause: float,
    part: int = 0,
    parts: int = 1,
) -> None:
    """The body of an import, or of its chunk ``part`` of ``parts`` (a slice of the file): ``run``
    stops it after the batch in hand when it is aborted."""
    log.info("import %s runs in process %d", run.token, os.getpid())
    records = split(read_products(Path(path)), parts)[part]
    engine = registry.engine  # type: ignore[attr-defined]
    # The total goes through the run, which reports it once the process has started: an
    # import aborted just as its job was dequeued never started, and refuses it.
    for batch in run.batches(batches(records, batch_size), total=len(records)):
        time.sleep(pause)
        rows = [
            {
                "process_id": run.token,
                "product_id": product["id"],
                "display_name": product["displayName"],
                "list_price_cents": round(product["listPrice"] * 100),
                "stock": product["stock"],
            }
            for product in batch
        ]
        with engine.begin() as connection:
            connection.execute(insert(products), rows)
